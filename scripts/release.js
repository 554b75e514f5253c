#!/usr/bin/env node
// The release build: an npm tarball that installs with no compiler, cmake or CUDA toolkit.
//
//   node scripts/release.js [--out DIR]      (npm run release; default DIR: .release/)
//
// 1. Stages the package in .release/stage/, so that the checkout's build/, dist/ and
//    prebuilds/ are never touched (tests running beside a release keep their addon).
// 2. Builds the prebuilt binary there with prebuildify (Node-API, this platform and
//    architecture, stripped, tagged with the libc), driving cmake-js through the node-gyp
//    stand-in scripts/prebuild-cmake.js: prebuilds/<platform>-<arch>/voxprep.<libc>.node.
// 3. Compiles the TypeScript into the stage's dist/ (JavaScript and type declarations).
// 4. Packs the stage with `npm pack --ignore-scripts` (the stage is already built) and
//    checks that the tarball holds what an install needs.
//
// At install, node-gyp-build picks the prebuilt binary; where none fits (another platform,
// or musl), the package's install script builds from source with cmake-js instead.
// Prints the tarball's path as the last line of standard output.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------
// CMake flags of the release build, passed to cmake-js as --CD<NAME>=<value>: the CUDA
// kernels are required (a release without them would quietly lose the GPU backend), built
// as machine code for every architecture CUDA 13 supports from Turing (sm_75) to Blackwell
// (sm_120), plus sm_120's PTX for GPUs newer than this toolkit (the driver compiles it at
// load). The runtime is linked statically (CMakeLists.txt), so installing needs no toolkit
// and the addon loads where there is no driver.
export const RELEASE_CUDA_ARCHITECTURES = '75-real;80-real;86-real;89-real;90-real;100-real;110-real;120-real;120-virtual';
const CUDA_CMAKE_ARGS = ['--CDVOXPREP_CUDA_REQUIRED=ON', `--CDVOXPREP_CUDA_ARCHITECTURES=${RELEASE_CUDA_ARCHITECTURES}`];
const RELEASE_CMAKE_ARGS = ['--CDCMAKE_BUILD_TYPE=Release', ...CUDA_CMAKE_ARGS];
// ---------------------------------------------------------------------------------------

/** Everything the package ships besides what the build makes (see "files" in package.json). */
const SOURCES = ['package.json', 'README.md', 'CMakeLists.txt', 'bin', 'lib', 'native', 'schema', 'tsconfig.json'];

function parseArgs(argv) {
  let out = path.join(root, '.release');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out = path.resolve(argv[++i]);
    else if (argv[i].startsWith('--out=')) out = path.resolve(argv[i].slice(6));
    else {
      process.stderr.write(`release: unknown argument ${argv[i]}\nusage: node scripts/release.js [--out DIR]\n`);
      process.exit(2);
    }
  }
  return { out };
}

function step(title) {
  process.stderr.write(`\n== ${title}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    process.stderr.write(`release: ${path.basename(cmd)} ${args.join(' ')} exited with ${r.status}\n`);
    process.exit(1);
  }
  return r;
}

function binOf(pkg, name) {
  const manifest = require(`${pkg}/package.json`);
  const rel = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin[name ?? pkg];
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), rel);
}

const { out } = parseArgs(process.argv.slice(2));
// Inside the checkout, so that the build finds node-addon-api and cmake-js in its node_modules.
const stage = path.join(root, '.release', 'stage');

step(`staging the package in ${path.relative(root, stage)}/`);
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(stage, { recursive: true });
for (const entry of SOURCES) {
  const from = path.join(root, entry);
  if (!fs.existsSync(from)) continue;
  fs.cpSync(from, path.join(stage, entry), { recursive: true });
}

step('prebuilt binary: prebuildify --napi --strip --tag-libc, cmake-js as the node-gyp stand-in');
run(
  process.execPath,
  [
    binOf('prebuildify'),
    '--napi',
    '--strip',
    '--tag-libc',
    `--cwd=${stage}`,
    `--node-gyp=${path.join(root, 'scripts', 'prebuild-cmake.js')}`,
  ],
  { cwd: stage, env: { ...process.env, VOXPREP_CMAKE_ARGS: JSON.stringify(RELEASE_CMAKE_ARGS) } },
);
fs.rmSync(path.join(stage, 'build'), { recursive: true, force: true });
const platformDir = `${process.platform}-${process.arch}`;
const binaries = fs.readdirSync(path.join(stage, 'prebuilds', platformDir));
process.stderr.write(`prebuilds/${platformDir}/: ${binaries.join(', ')}\n`);

step('TypeScript: dist/ (JavaScript and declarations)');
run(process.execPath, [binOf('typescript', 'tsc'), '-p', path.join(stage, 'tsconfig.json')], { cwd: stage });

step('npm pack');
fs.mkdirSync(out, { recursive: true });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const packed = spawnSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', out], {
  cwd: stage,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
if (packed.error) throw packed.error;
if (packed.status !== 0) {
  process.stderr.write(`release: npm pack exited with ${packed.status}\n`);
  process.exit(1);
}
const [info] = JSON.parse(packed.stdout);
const files = new Set(info.files.map((f) => f.path));
const needed = [
  'dist/index.js',
  'dist/index.d.ts',
  'dist/cli.js',
  'dist/decode/child.js',
  'bin/voxprep.js',
  'schema/report.schema.json',
  'CMakeLists.txt',
  'native/addon.cc',
  ...binaries.map((b) => `prebuilds/${platformDir}/${b}`),
];
const missing = needed.filter((f) => !files.has(f));
if (missing.length > 0) {
  process.stderr.write(`release: the tarball lacks ${missing.join(', ')}\n`);
  process.exit(1);
}
const tarball = path.join(out, info.filename);
process.stderr.write(`${info.filename}: ${info.entryCount} files, ${(info.size / 1024 / 1024).toFixed(1)} MiB packed\n`);
fs.rmSync(stage, { recursive: true, force: true });
process.stdout.write(`${tarball}\n`);
