// What `npm pack` puts in the package: only what users need (the compiled
// library, the prebuilt addon, the sources of the fallback build, docs and
// licences), everything users need, and within a size budget.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
// Packed (gzip) and unpacked bytes; today about 1.2 MB and 4.2 MB.
const BUDGET = { size: 1.5e6, unpackedSize: 5e6 };

const ALLOWED = [
  /^(package\.json|README\.md|LICENSE|CMakeLists\.txt|binding\.gyp)$/,
  /^dist\/.+\.(js|cjs|d\.ts|d\.cts)$/,
  /^prebuilds\/[a-z0-9]+-[a-z0-9]+\/node\.napi(\.(glibc|musl))?\.node$/,
  /^native\/(core|addon)\/[a-z_]+\.(cc|h)$/,
  /^deps\/zstd\/(LICENSE|COPYING|lib\/.+\.(c|h|S))$/,
  /^deps\/xxhash\/xxhash\.h$/,
  /^scripts\/package\/install\.mjs$/,
  /^docs\/[A-Z]+\.md$/,
];
const REQUIRED = [
  'package.json', 'README.md', 'LICENSE', 'CMakeLists.txt', 'scripts/package/install.mjs',
  'dist/index.js', 'dist/index.d.ts', 'dist/adapters/tfjs/index.js', 'dist/adapters/tfjs/index.d.ts', 'dist/pipeline/worker.js', 'dist/pipeline/worker-entry.cjs',
  'deps/zstd/LICENSE', 'deps/zstd/lib/zstd.h', 'deps/xxhash/xxhash.h', 'native/core/format.h', 'native/addon/addon.cc',
];

const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const files = pack.files.map((f) => f.path);
const problems = [
  ...files.filter((f) => !ALLOWED.some((pattern) => pattern.test(f))).map((f) => `not for users: ${f}`),
  ...REQUIRED.filter((f) => !files.includes(f)).map((f) => `missing: ${f}`),
  ...(files.some((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`)) ? [] : [`no prebuilt addon for ${process.platform}-${process.arch}`]),
  ...Object.entries(BUDGET).filter(([key, max]) => pack[key] > max).map(([key, max]) => `${key} ${pack[key]} bytes is over the budget of ${max}`),
];
const summary = `${files.length} files, ${(pack.size / 1e6).toFixed(2)} MB packed, ${(pack.unpackedSize / 1e6).toFixed(2)} MB unpacked`;
if (problems.length) {
  console.error(`package contents (${summary}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`package contents: ${summary}; within the budget of ${BUDGET.size / 1e6} MB / ${BUDGET.unpackedSize / 1e6} MB`);
