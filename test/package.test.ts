// The npm package: the release script (scripts/release.js) builds the prebuilt binary and
// packs the tarball; installing that tarball into an empty folder with no compiler, no cmake
// and no CUDA toolkit on PATH works, and the installed CLI runs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { speechLike, writeWav } from './helpers/wav.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOOLCHAIN = ['cmake', 'g++', 'gcc', 'cc', 'c++', 'clang', 'make', 'ninja', 'nvcc'];

let tmp = '';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-package-test-'));
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The npm CLI's own script (npm-cli.js), found from the npm on PATH. */
function npmCli(): string {
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  const npm = fs.realpathSync(which.stdout.trim());
  return npm;
}

/** Which of `names` an executable lookup on `PATH` finds. */
function resolvable(names: string[], PATH: string): string[] {
  const found: string[] = [];
  for (const name of names) {
    for (const dir of PATH.split(path.delimiter)) {
      if (!dir) continue;
      try {
        fs.accessSync(path.join(dir, name), fs.constants.X_OK);
        found.push(`${dir}/${name}`);
        break;
      } catch {
        // not here
      }
    }
  }
  return found;
}

/** The environment of a consumer: the given PATH, no npm_* variables inherited from a runner. */
function consumerEnv(PATH: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'PATH' || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, PATH, NO_COLOR: '1' };
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 240_000, ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('npm package', () => {
  it(
    'packs a tarball with dist/, types and a prebuilt binary that installs and runs with no toolchain',
    () => {
      // 1. The release build, as a maintainer runs it.
      const releaseDir = path.join(tmp, 'release');
      const rel = run(process.execPath, [path.join(ROOT, 'scripts', 'release.js'), '--out', releaseDir], { cwd: ROOT });
      expect(rel.code, rel.stderr.slice(-4000)).toBe(0);
      const tarball = rel.stdout.trim().split('\n').at(-1)!;
      expect(fs.existsSync(tarball), tarball).toBe(true);

      const listing = run('tar', ['-tzf', tarball], {}).stdout.split('\n').filter(Boolean);
      for (const f of [
        'package/package.json',
        'package/bin/voxprep.js',
        'package/dist/index.js',
        'package/dist/index.d.ts',
        'package/dist/cli.js',
        'package/dist/decode/child.js',
        'package/schema/report.schema.json',
        `package/prebuilds/${process.platform}-${process.arch}/voxprep.glibc.node`,
        // The sources for the build-from-source fallback.
        'package/CMakeLists.txt',
        'package/native/addon.cc',
      ]) {
        expect(listing, f).toContain(f);
      }
      expect(listing.filter((f) => f.startsWith('package/build/'))).toEqual([]);
      const packed = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], {}).stdout);
      expect(packed.scripts.install).toBe('node-gyp-build-test 2>/dev/null || cmake-js compile');
      expect(Object.keys(packed.dependencies)).toEqual(expect.arrayContaining(['cmake-js', 'node-addon-api', 'node-gyp-build']));

      // 2. A PATH with node, npm and the shell npm runs scripts with, and nothing else: no
      //    compiler, cmake or CUDA toolkit.
      const shim = path.join(tmp, 'bin');
      fs.mkdirSync(shim);
      fs.symlinkSync(process.execPath, path.join(shim, 'node'));
      fs.symlinkSync('/bin/sh', path.join(shim, 'sh'));
      const npm = npmCli();
      fs.symlinkSync(npm, path.join(shim, 'npm'));
      fs.symlinkSync(path.join(path.dirname(npm), 'npx-cli.js'), path.join(shim, 'npx'));
      expect(resolvable(TOOLCHAIN, shim)).toEqual([]);
      const env = consumerEnv(shim);

      // 3. Install the tarball into an empty project.
      const app = path.join(tmp, 'app');
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      const install = run(
        path.join(shim, 'npm'),
        ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
        { cwd: app, env },
      );
      expect(install.code, install.stdout + install.stderr).toBe(0);
      const installed = path.join(app, 'node_modules', 'voxprep');
      // The prebuilt binary was taken: nothing was compiled, and no TypeScript was needed.
      expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
      expect(fs.existsSync(path.join(app, 'node_modules', 'typescript'))).toBe(false);
      expect(resolvable(TOOLCHAIN, path.join(app, 'node_modules', '.bin'))).toEqual([]);

      // 4. The installed CLI: doctor, then a small preprocess.
      const doctor = run(path.join(shim, 'npx'), ['voxprep', 'doctor', '--json'], { cwd: app, env });
      expect(doctor.code, doctor.stderr).toBe(0);
      const d = JSON.parse(doctor.stdout);
      expect(d.addon).toMatchObject({ loaded: true, origin: 'prebuilt' });
      expect(d.addon.path).toBe(path.join(fs.realpathSync(installed), 'prebuilds', `${process.platform}-${process.arch}`, 'voxprep.glibc.node'));
      expect(d.voxprep.version).toBe(packed.version);
      // The prebuilt binary carries the CUDA kernels for every architecture of the release list
      // (sm_75 to sm_120 and PTX), and on this machine without a GPU, auto picks the CPU.
      expect(d.cuda.compiled).toBe(true);
      expect(d.cuda.architectures).toEqual(['sm_75', 'sm_80', 'sm_86', 'sm_89', 'sm_90', 'sm_100', 'sm_110', 'sm_120', 'compute_120']);
      expect(d.device.auto).toBe(d.cuda.usable ? expect.stringMatching(/^cuda:/) : 'cpu');

      const dataset = path.join(app, 'dataset');
      fs.mkdirSync(path.join(dataset, '1'), { recursive: true });
      writeWav(path.join(dataset, 'a.wav'), speechLike(44100, 4, 1), 44100);
      writeWav(path.join(dataset, '1', 'b.wav'), speechLike(40000, 3.5, 2), 40000, { bits: 24 });
      const pre = run(path.join(shim, 'npx'), ['voxprep', 'preprocess', 'dataset', '-o', 'logs/model'], { cwd: app, env });
      expect(pre.code, pre.stdout + pre.stderr).toBe(0);
      expect(pre.stdout).toContain('voxprep: 2 files: 2 processed, 0 failed, 0 rejected, 0 skipped');
      const out = path.join(app, 'logs', 'model');
      expect(fs.readdirSync(path.join(out, 'sliced_audios')).length).toBeGreaterThanOrEqual(2);
      expect(fs.readdirSync(path.join(out, 'sliced_audios_16k')).sort()).toEqual(fs.readdirSync(path.join(out, 'sliced_audios')).sort());
      const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
      expect(info.total_seconds).toBeCloseTo(7.5, 6);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).totals.processed).toBe(2);

      // 5. With no binary that loads: doctor says so (and does not claim a build without
      //    CUDA), and a run explains itself once.
      fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
      const broken = run(path.join(shim, 'npx'), ['voxprep', 'doctor'], { cwd: app, env });
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/addon: +NOT LOADED/);
      expect(broken.stdout).toMatch(/cuda: +unknown \(the addon did not load\)/);
      const failed = run(path.join(shim, 'npx'), ['voxprep', 'preprocess', 'dataset', '-o', 'logs/other'], { cwd: app, env });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/^voxprep: could not load voxprep's native addon \(/);
      expect(failed.stderr).toContain('npm rebuild voxprep');
    },
    300_000,
  );
});
