#!/usr/bin/env bash
# Builds the addon a second way, with node-gyp from binding.gyp, in a scratch
# copy of the sources, and checks that the result writes and reads a
# checkpoint. Proves binding.gyp is a working description, not a stale one.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/tensorkeep-gyp.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$root/binding.gyp" "$root/package.json" "$root/native" "$root/deps" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
# npm exposes its bundled node-gyp to scripts; fall back to the one next to npm.
gyp=${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
# Build against the headers of the running node (no header download).
nodedir=$(node -p "require('path').resolve(process.execPath, '../..')")
[ -f "$nodedir/include/node/node_api.h" ] || { echo "no Node headers under $nodedir/include/node"; exit 1; }
(cd "$work" && node "$gyp" rebuild --jobs 2 --loglevel warn --nodedir "$nodedir")
node --input-type=module -e "
import { createRequire } from 'node:module';
const addon = createRequire('$work/')('./build/Release/tensorkeep.node');
const data = new Float32Array(100000).map((_, i) => Math.sin(i));
addon.writeCheckpoint('$work/smoke.tkpt', [{ name: 'w', dtype: 'float32', shape: [data.length], data }], '{}', {}, false);
const reader = addon.openReader('$work/smoke.tkpt', false);
const out = new Float32Array(data.length);
reader.decode([{ tensor: 0, data: out }], true, 1, false);
if (!Buffer.from(out.buffer).equals(Buffer.from(data.buffer))) throw new Error('node-gyp build: round trip differs');
console.log('node-gyp build: writes and reads a checkpoint bit-exact');
"
