// CMakeLists.txt (cmake-js) and binding.gyp (node-gyp) describe the same
// addon; this check fails when their source lists drift apart.
import { readFileSync } from 'node:fs';

const root = new URL('../..', import.meta.url);
const cmake = readFileSync(new URL('CMakeLists.txt', root), 'utf8');
const gyp = readFileSync(new URL('binding.gyp', root), 'utf8');

function cmakeSources() {
  const vars = { ZSTD_LIB: 'deps/zstd/lib' };
  const out = new Set();
  for (const m of cmake.matchAll(/set\((ZSTD_SOURCES|CORE_SOURCES|ADDON_SOURCES)([^)]*)\)/g))
    for (const item of m[2].split(/\s+/).filter(Boolean))
      out.add(item.replace(/\$\{CMAKE_SOURCE_DIR\}\//, '').replace(/\$\{(\w+)\}/g, (_, v) => vars[v]));
  return out;
}

function gypSources() {
  const zstdLib = /'zstd_lib':\s*'([^']+)'/.exec(gyp)[1];
  const out = new Set();
  for (const m of gyp.matchAll(/'sources':\s*\[([^\]]*)\]/g))
    for (const item of m[1].matchAll(/'([^']+)'/g)) out.add(item[1].replace('<(zstd_lib)', zstdLib));
  return out;
}

const a = cmakeSources();
const b = gypSources();
const onlyCmake = [...a].filter((s) => !b.has(s));
const onlyGyp = [...b].filter((s) => !a.has(s));
if (a.size === 0 || onlyCmake.length || onlyGyp.length) {
  console.error('source lists differ:', { onlyCmake, onlyGyp, cmakeCount: a.size });
  process.exit(1);
}
console.log(`CMakeLists.txt and binding.gyp list the same ${a.size} sources`);
