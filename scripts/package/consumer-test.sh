#!/usr/bin/env bash
# Installs the packed package into empty projects the way users do, and runs
# the README's examples there, compiled by a strict TypeScript consumer:
#   A  npm (hoisted), tensorkeep's install script denied (allowScripts), no
#      compiler on PATH: the prebuilt addon serves without it
#   B  npm --install-strategy=nested, the install script allowed, no compiler
#      on PATH: the script finds the prebuilt addon and builds nothing
#   C  npm (hoisted), --build-from-source: the addon compiles in a hoisted tree
#   D  pnpm (its symlinked store, a one-package workspace),
#      TENSORKEEP_BUILD_FROM_SOURCE=1: the same
# Each project compiles the examples (strict, skipLibCheck false), runs them
# twice over (the second training run resumes), imports tensorkeep and
# tensorkeep/tfjs from ESM and requires tensorkeep from CommonJS.
#   bash scripts/package/consumer-test.sh [A B C D]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
variants=${*:-A B C D}
work=$(mktemp -d /tmp/tensorkeep-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Runtime and typing dependencies of the examples; the versions the repository tests with.
peer_deps=(@tensorflow/tfjs-core@4 @tensorflow/tfjs-layers@4 @tensorflow/tfjs-backend-cpu@4 typescript@5.9 @types/node@20)
npm_flags=(--no-audit --no-fund --prefer-offline --loglevel=error)

echo "== npm pack"
tarball=$(cd "$root" && npm pack --silent --pack-destination "$work" 2> "$work/pack.log" | tail -n 1)
tarball=$work/$tarball
echo "packed $(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB"

# A PATH with node, npm and sh only: installing must not need a compiler or CMake.
mkdir "$work/bin"
for tool in node npm npx sh; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done

# $1 the project folder; $2 whether tensorkeep's install script may run (npm's allowScripts).
new_project() {
  local dir=$1 allow=$2
  mkdir -p "$dir/src" "$dir/run"
  cat > "$dir/package.json" <<JSON
{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module",
  "allowScripts": { "tensorkeep": $allow } }
JSON
  # pnpm's allow list (onlyBuiltDependencies) matches registry names, not a
  # tarball's file: identity; this project allows its builds wholesale.
  echo 'dangerouslyAllowAllBuilds: true' > "$dir/pnpm-workspace.yaml"
  cat > "$dir/tsconfig.json" <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "skipLibCheck": false, "types": ["node"], "outDir": "dist", "rootDir": "src" },
  "include": ["src"] }
JSON
  node "$root/scripts/package/readme-examples.mjs" "$dir/src" > /dev/null
  cat > "$dir/esm.mjs" <<'JS'
import * as tensorkeep from 'tensorkeep';
import * as tfjs from 'tensorkeep/tfjs';
if (typeof tensorkeep.open !== 'function' || typeof tfjs.tfjsHandler !== 'function') throw new Error('exports missing');
console.log('esm import: ok');
JS
  cat > "$dir/cjs.cjs" <<'JS'
const { open } = require('tensorkeep');
(async () => {
  const store = await open('run/cjs-store', { monitor: { loss: 'min' } });
  const info = await store.model('m').save({ w: new Float32Array([1, 2, 3]) }, { step: 1, metrics: { loss: 1 } });
  const loaded = await store.model('m').load(info.seq);
  await store.close();
  if (Array.from(loaded.tensors.w.data).join() !== '1,2,3') throw new Error('round trip differs');
  console.log('cjs require: ok');
})();
JS
}

# The checks every installed project must pass; $1 the project, $2 where tensorkeep is.
check_project() {
  local dir=$1 installed=$2 out
  echo "-- tensorkeep installed at ${installed#"$dir"/}"
  # tfjs's own declarations are not strict-clean (they fail skipLibCheck: false
  # by themselves); every other file, tensorkeep's declarations included, must be.
  # pnpm puts them under node_modules/.pnpm/<package@version>/node_modules/.
  local tfjs='^node_modules/(\.pnpm/[^/]+/node_modules/)?@tensorflow/'
  out=$(cd "$dir" && node_modules/.bin/tsc -p . 2>&1) || true
  if grep -E '^[^ ].*error TS' <<< "$out" | grep -Evq "$tfjs"; then
    echo "$out"; echo "the strict TypeScript consumer does not compile"; exit 1
  fi
  echo "strict TypeScript consumer: compiled ($(grep -Ec "$tfjs.*error TS" <<< "$out" || true) errors in tfjs's own declarations, none elsewhere)"
  out=$(cd "$dir/run" && for f in ../dist/example-*.js; do node "$f" 2> /dev/null; done && node ../dist/example-1.js)
  grep -q '^fresh start$' <<< "$out" || { echo "$out"; echo "the first run did not start fresh"; exit 1; }
  grep -q '^replayed 100 records$' <<< "$out" || { echo "$out"; echo "the episode example failed"; exit 1; }
  grep -q '^store intact$' <<< "$out" || { echo "$out"; echo "verifyStore found problems"; exit 1; }
  grep -q '^resumed at step 1000$' <<< "$out" || { echo "$out"; echo "the second run did not resume"; exit 1; }
  echo "README examples: ran, and the second training run resumed at step 1000"
  (cd "$dir" && node esm.mjs && node cjs.cjs)
}

for variant in $variants; do
  dir=$work/$variant
  if [ "$variant" = A ]; then new_project "$dir" false; else new_project "$dir" true; fi
  started=$SECONDS
  case $variant in
    A)
      echo "== A: npm, hoisted, install script denied, no compiler on PATH"
      (cd "$dir" && PATH="$work/bin" npm install "${npm_flags[@]}" "$tarball" "${peer_deps[@]}")
      installed=$dir/node_modules/tensorkeep ;;
    B)
      echo "== B: npm --install-strategy=nested, install script allowed, no compiler on PATH"
      (cd "$dir" && PATH="$work/bin" npm install "${npm_flags[@]}" --install-strategy=nested \
        "$tarball" "${peer_deps[@]}")
      installed=$dir/node_modules/tensorkeep ;;
    C)
      echo "== C: npm, hoisted, --build-from-source"
      (cd "$dir" && npm install "${npm_flags[@]}" --build-from-source "$tarball" "${peer_deps[@]}")
      installed=$dir/node_modules/tensorkeep ;;
    D)
      echo "== D: pnpm, TENSORKEEP_BUILD_FROM_SOURCE=1"
      [ -x "$work/pnpm/node_modules/.bin/pnpm" ] || npm install "${npm_flags[@]}" --prefix "$work/pnpm" pnpm@10 > /dev/null
      (cd "$dir" && TENSORKEEP_BUILD_FROM_SOURCE=1 "$work/pnpm/node_modules/.bin/pnpm" add --reporter=silent \
        --store-dir "$work/pnpm-store" "$tarball" "${peer_deps[@]}")
      installed=$(cd "$dir" && node -p "require('path').dirname(require('fs').realpathSync('node_modules/tensorkeep/package.json'))") ;;
    *) echo "unknown variant $variant (A B C D)"; exit 2 ;;
  esac
  echo "installed in $((SECONDS - started)) s"
  case $variant in
    A|B)
      [ ! -e "$installed/build" ] || { echo "the install built the addon; the prebuilt one should have served"; exit 1; }
      echo "no build: the prebuilt addon serves" ;;
    C|D)
      [ -f "$installed/build/Release/tensorkeep.node" ] || { echo "no addon was built from source"; exit 1; }
      echo "built from source: ${installed#"$dir"/}/build/Release/tensorkeep.node" ;;
  esac
  check_project "$dir" "$installed"
done
echo "consumer-test: $variants passed"
