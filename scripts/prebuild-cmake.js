#!/usr/bin/env node
// Stand-in for node-gyp under prebuildify (`prebuildify --node-gyp scripts/prebuild-cmake.js`).
// prebuildify 6 only knows node-gyp: it runs `<node-gyp> rebuild --target=V --devdir=D
// --arch=A --release` in the package folder and then takes build/Release/*.node. voxprep
// builds with cmake-js, so this runs `cmake-js rebuild` there instead. --target and --devdir
// are ignored: the addon uses Node-API only, so one binary serves every Node version, and
// cmake-js takes the Node-API headers from the node-api-headers package, not a download.
//
// Extra CMake definitions come from the environment, as a JSON array of cmake-js
// arguments: VOXPREP_CMAKE_ARGS='["--CDNAME=value"]' (scripts/release.js sets it).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  process.stderr.write(`prebuild-cmake: only "rebuild" is supported, got ${args.join(' ')}\n`);
  process.exit(2);
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const forward = ['rebuild'];
for (const a of args.slice(1)) {
  if (a === '--debug') forward.push('--debug');
  const arch = /^--arch=(.+)$/.exec(a);
  if (arch) forward.push('--arch', arch[1]);
}
const extra = process.env.VOXPREP_CMAKE_ARGS ? JSON.parse(process.env.VOXPREP_CMAKE_ARGS) : [];
if (!Array.isArray(extra) || !extra.every((a) => typeof a === 'string')) {
  process.stderr.write('prebuild-cmake: VOXPREP_CMAKE_ARGS must be a JSON array of strings\n');
  process.exit(2);
}
forward.push(...extra);
const r = spawnSync(process.execPath, [cmakeJs, ...forward], { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
