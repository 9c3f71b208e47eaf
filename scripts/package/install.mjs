// npm's install step for tensorkeep. The package ships a prebuilt addon for
// the platforms it was packed on (prebuilds/<platform>-<arch>/, Node-API, so
// one binary serves every Node version): when one loads here, nothing is
// built. Otherwise, or with --build-from-source, the addon is compiled from
// the sources in the package (native/, deps/) with cmake-js.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'package.json'));

const truthy = (value) => /^(1|true|yes)$/i.test(value ?? '');
const fromSource = truthy(process.env.npm_config_build_from_source) || truthy(process.env.TENSORKEEP_BUILD_FROM_SOURCE);

/** The prebuilt addon for this platform, if the package has one that loads; else the reason. */
function prebuiltAddon() {
  process.env.PREBUILDS_ONLY = '1'; // look past any build/ left by an earlier build
  try {
    const path = require('node-gyp-build').path(root);
    require(path);
    return { path };
  } catch (err) {
    return { reason: err.message.split('\n')[0] };
  }
}

if (!fromSource) {
  const prebuilt = prebuiltAddon();
  if (prebuilt.path) process.exit(0);
  console.log(`tensorkeep: ${prebuilt.reason}; building the addon from source (needs CMake >= 3.15 and a C++17 compiler)`);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin/cmake-js');
const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('tensorkeep: building the native addon failed (see above). It needs CMake >= 3.15 and a C++17 compiler (g++ or clang++).');
  process.exit(build.status ?? 1);
}
