// npm pack's prepack step: builds the addon (Release) and puts a stripped
// copy where node-gyp-build looks for it, under node-gyp-build's naming:
// prebuilds/<platform>-<arch>/node.napi[.<libc>].node. postpack removes it
// again, so a checkout never loads a stale prebuild instead of build/.
//   node scripts/package/prebuild.mjs          build and copy
//   node scripts/package/prebuild.mjs --clean  remove prebuilds/
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const prebuilds = join(root, 'prebuilds');
rmSync(prebuilds, { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);

const require = createRequire(join(root, 'package.json'));
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin/cmake-js');
// Output to stderr: `npm pack --json` prints its result on stdout.
const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn'], { cwd: root, stdio: ['ignore', 2, 2] });
if (build.status !== 0) process.exit(build.status ?? 1);

// A glibc build must not be chosen on musl (Alpine) and the reverse.
const libc = process.platform !== 'linux' ? '' : process.report.getReport().header.glibcVersionRuntime ? '.glibc' : '.musl';
const target = join(prebuilds, `${process.platform}-${process.arch}`, `node.napi${libc}.node`);
mkdirSync(dirname(target), { recursive: true });
copyFileSync(join(root, 'build/Release/tensorkeep.node'), target);
if (process.platform === 'linux') execFileSync('strip', ['--strip-unneeded', target]);
console.error(`prebuilt addon: ${target.slice(root.length + 1)}`);
