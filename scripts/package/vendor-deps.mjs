// Copies the zstd and xxHash sources that the addon compiles into deps/,
// from the npm packages that ship them (zstd-napi's deps/zstd and
// xxhash-addon's xxHash, both devDependencies). The build then reads only
// files inside this package, wherever npm or pnpm places its dependencies.
//   node scripts/package/vendor-deps.mjs          refresh deps/ after a version bump
//   node scripts/package/vendor-deps.mjs --check  fail if deps/ differs from the packages
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'package.json'));
const packageDir = (name) => dirname(require.resolve(`${name}/package.json`));

// What deps/ holds, and where each part comes from.
const zstd = join(packageDir('zstd-napi'), 'deps/zstd');
const xxhash = join(packageDir('xxhash-addon'), 'xxHash');
const parts = [
  { from: join(zstd, 'LICENSE'), to: 'deps/zstd/LICENSE' },
  { from: join(zstd, 'COPYING'), to: 'deps/zstd/COPYING' },
  { from: join(zstd, 'lib'), to: 'deps/zstd/lib' },
  // The header carries xxHash's BSD-2-Clause licence in its first comment.
  { from: join(xxhash, 'xxhash.h'), to: 'deps/xxhash/xxhash.h' },
];

function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)));
}

function differences() {
  const found = [];
  for (const { from, to } of parts) {
    const target = join(root, to);
    const wanted = files(from).map((f) => relative(from, f));
    const present = new Set(files(target).map((f) => relative(target, f)));
    for (const rel of wanted) {
      const there = join(target, rel);
      if (!present.delete(rel)) found.push(`missing ${join(to, rel)}`);
      else if (!readFileSync(there).equals(readFileSync(join(from, rel)))) found.push(`differs ${join(to, rel)}`);
    }
    for (const rel of present) found.push(`extra ${join(to, rel)}`);
  }
  return found;
}

if (process.argv.includes('--check')) {
  const found = differences();
  if (found.length) {
    console.error(`deps/ is not what zstd-napi and xxhash-addon ship (run node scripts/package/vendor-deps.mjs):\n  ${found.join('\n  ')}`);
    process.exit(1);
  }
  console.log('deps/ matches the sources zstd-napi and xxhash-addon ship');
} else {
  for (const { from, to } of parts) {
    rmSync(join(root, to), { recursive: true, force: true });
    cpSync(from, join(root, to), { recursive: true });
  }
  console.log('deps/ refreshed from zstd-napi and xxhash-addon');
}
