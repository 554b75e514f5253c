// The CUDA backend from Node: the build carries the kernels, one engine (and at most one CUDA
// initialization) for every worker thread, fork safety, the --device flag, and the batched
// GPU path. Without a GPU (CI) the batched path is checked through `device: 'emulate'` (the
// GPU's per-thread functions run on the CPU) and the GPU-only checks skip with a reason.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { preprocess, type PreprocessOptions } from '../lib/index.js';
import { native } from '../lib/native.js';
import { BIN, ROOT, scratchFolder, walkFiles } from './helpers/scratch.js';
import { readWav, speechLike, writeWav } from './helpers/wav.js';

const scratch = scratchFolder('voxprep-gpu-');
const GOLDEN = path.resolve(ROOT, '../shared/golden');

/** Whether the machine that built the addon had nvcc (the build then must carry the kernels). */
function nvccPresent(): boolean {
  if (process.env.CUDACXX && fs.existsSync(process.env.CUDACXX)) return true;
  if (spawnSync('nvcc', ['--version']).status === 0) return true;
  return fs.existsSync('/usr/local/cuda/bin/nvcc');
}

/** A usable GPU here? (null when there is one; otherwise why not.) */
function noGpuReason(): string | null {
  const probe = native().cudaProbe();
  return probe.usable ? null : probe.unusable || 'no usable CUDA device';
}

function makeDataset(dir: string): void {
  fs.mkdirSync(path.join(dir, '1'), { recursive: true });
  writeWav(path.join(dir, 'a.wav'), speechLike(48000, 9, 3), 48000);
  writeWav(path.join(dir, '1', 'b.wav'), speechLike(44100, 7, 5), 44100, { bits: 24 });
  writeWav(path.join(dir, 'c.wav'), speechLike(16000, 5, 7), 16000);
}

/** Every output of a run, file by file (paths relative to the output folder). */
function outputs(out: string): Map<string, Buffer> {
  const files = walkFiles(out).filter((f) => f.endsWith('.wav'));
  return new Map(files.map((f) => [f, fs.readFileSync(path.join(out, f))]));
}

function snrDb(a: Float64Array, b: Float64Array): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < a.length; i++) {
    signal += a[i] ** 2;
    noise += (a[i] - b[i]) ** 2;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/** Outputs of two runs: the same names and sample counts; the worst SNR of one against the other. */
function compareRuns(cpuOut: string, otherOut: string): { names: boolean; counts: boolean; worst: number; files: number } {
  const a = walkFiles(cpuOut).filter((f) => f.endsWith('.wav'));
  const b = walkFiles(otherOut).filter((f) => f.endsWith('.wav'));
  let counts = true;
  let worst = Infinity;
  for (const f of a.filter((x) => b.includes(x))) {
    const x = readWav(path.join(cpuOut, f)).samples;
    const y = readWav(path.join(otherOut, f)).samples;
    if (x.length !== y.length) counts = false;
    else worst = Math.min(worst, snrDb(x, y));
  }
  return { names: JSON.stringify(a) === JSON.stringify(b), counts, worst, files: a.length };
}

describe('the build', () => {
  it('carries the CUDA kernels whenever nvcc was there to build them', () => {
    const { cuda } = native().engineInfo();
    expect(cuda.compiled).toBe(nvccPresent());
    if (cuda.compiled) expect(cuda.architectures).toContain('sm_75');
  });
});

describe('one engine per process', () => {
  it('serves 4 worker threads at once with correct outputs and at most one CUDA initialization', async () => {
    const dataset = path.join(scratch.path, 'workers-dataset');
    makeDataset(dataset);
    // The reference: the same dataset on the CPU, in this thread.
    const reference = path.join(scratch.path, 'workers-ref');
    await preprocess(dataset, reference, { device: 'cpu', threads: 1 });
    const want = outputs(reference);

    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.lib).then(async ({ preprocess }) => {
        const r = await preprocess(workerData.dataset, workerData.out, { device: 'auto', threads: 2 });
        parentPort.postMessage({ slices: r.slices, device: r.device, failed: r.files.filter((f) => f.status !== 'ok').length });
      }).catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
    const lib = new URL(`file://${path.join(ROOT, 'dist', 'index.js')}`).href;
    const runs = await Promise.all(
      [0, 1, 2, 3].map(
        (k) =>
          new Promise<{ slices: number; device: string; failed: number; error?: string }>((resolve, reject) => {
            const w = new Worker(script, { eval: true, workerData: { lib, dataset, out: path.join(scratch.path, `workers-${k}`) } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const gpu = noGpuReason() === null;
    for (const [k, r] of runs.entries()) {
      expect(r.error).toBeUndefined();
      expect(r.failed).toBe(0);
      expect(r.slices).toBeGreaterThan(0);
      const got = outputs(path.join(scratch.path, `workers-${k}`));
      expect([...got.keys()]).toEqual([...want.keys()]);
      if (!gpu) {
        // On the CPU every thread gives the reference's bytes.
        for (const [name, bytes] of want) expect(got.get(name)!.equals(bytes), `${name} of worker ${k}`).toBe(true);
      }
    }
    const counters = native().engineCounters();
    // The worker threads and this thread share the engine: one initialization at most, by one thread.
    expect(counters.cudaInitAttempts).toBeLessThanOrEqual(1);
    expect(counters.cudaInitializations).toBe(gpu ? 1 : 0);
    if (counters.cudaInitAttempts === 1) expect(counters.initThread).toBeTypeOf('string');
    console.log(
      `4 worker threads: device ${runs[0].device}; CUDA initialization attempts ${counters.cudaInitAttempts}, ` +
        `initializations ${counters.cudaInitializations}`,
    );
  });

  it('lets a forked child finish on the CPU, with the GPU marked unusable there', async () => {
    const dataset = path.join(scratch.path, 'fork-dataset');
    makeDataset(dataset);
    const parentOut = path.join(scratch.path, 'fork-parent');
    // The engine runs in this process first (and brings CUDA up where there is a GPU).
    await preprocess(dataset, parentOut, { device: 'auto', threads: 2 });
    const childOut = path.join(scratch.path, 'fork-child');
    for (const d of ['sliced_audios', 'sliced_audios_16k']) fs.mkdirSync(path.join(childOut, d), { recursive: true });
    const jobs = [
      { path: path.join(dataset, '1', 'b.wav'), sid: 1, idx0: 0 },
      { path: path.join(dataset, 'a.wav'), sid: 0, idx0: 1 },
      { path: path.join(dataset, 'c.wav'), sid: 0, idx0: 2 },
    ];
    const options = { sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none', chunk: 3, overlap: 0.3, denoise: 0, outDir: childOut, device: 'auto' } as const;
    const { exitCode, report } = native().forkRunForTest(jobs, options);
    expect(exitCode).toBe(0);
    const child = JSON.parse(report) as { device: string; forkedChild: boolean; gpuUsable: boolean; allOk: boolean; slices: number; cudaInitializations: number };
    expect(child).toMatchObject({ device: 'cpu', forkedChild: true, gpuUsable: false, allOk: true, cudaInitializations: native().engineCounters().cudaInitializations });
    expect(child.slices).toBeGreaterThan(0);
    // The child's CPU outputs are the parent's CPU outputs (on a GPU parent: the same names).
    const parentFiles = outputs(parentOut);
    const childFiles = outputs(childOut);
    expect([...childFiles.keys()]).toEqual([...parentFiles.keys()]);
    if (noGpuReason() !== null) for (const [name, bytes] of parentFiles) expect(childFiles.get(name)!.equals(bytes), name).toBe(true);
    // The parent itself is no forked child.
    expect(native().engineCounters().forkedChild).toBe(false);
  });
});

describe('--device', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'preprocess', ...args], { encoding: 'utf8' });

  it('auto says what it chose, and gives the same bytes as the device it chose', () => {
    const dataset = path.join(scratch.path, 'flag-dataset');
    makeDataset(dataset);
    const auto = run([dataset, '-o', path.join(scratch.path, 'flag-auto'), '--device', 'auto']);
    expect(auto.status).toBe(0);
    const reason = noGpuReason();
    const chosen = reason === null ? 'cuda' : 'cpu';
    expect(auto.stderr).toMatch(new RegExp(`voxprep: device ${chosen}\\S* .*\\(auto: `));
    // auto is the default: it says so without the flag too.
    const byDefault = run([dataset, '-o', path.join(scratch.path, 'flag-default')]);
    expect(byDefault.status).toBe(0);
    expect(byDefault.stderr).toMatch(new RegExp(`voxprep: device ${chosen}\\S* .*\\(auto: `));
    const explicit = run([dataset, '-o', path.join(scratch.path, 'flag-explicit'), '--device', chosen]);
    expect(explicit.status).toBe(0);
    const a = outputs(path.join(scratch.path, 'flag-auto'));
    const b = outputs(path.join(scratch.path, 'flag-explicit'));
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
    const report = JSON.parse(fs.readFileSync(path.join(scratch.path, 'flag-auto', 'report.json'), 'utf8'));
    expect(report.options.device).toMatch(new RegExp(`^${chosen}`));
  });

  it('cuda without a usable GPU exits 2 with the reason, and writes nothing', (ctx) => {
    const reason = noGpuReason();
    if (reason === null) ctx.skip('a usable GPU is present: `--device cuda` runs');
    const out = path.join(scratch.path, 'flag-cuda');
    const r = run([path.join(scratch.path, 'flag-dataset'), '-o', out, '--device', 'cuda']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--device cuda: ${reason}`);
    expect(fs.existsSync(out)).toBe(false);
    // A device asked for by its number is named by it.
    const one = run([path.join(scratch.path, 'flag-dataset'), '-o', out, '--device', 'cuda:1']);
    expect(one.status).toBe(2);
    expect(one.stderr).toContain(`--device cuda:1: ${reason}`);
  });

  it('takes the device from a config file too, validated like the flag', () => {
    const dataset = path.join(scratch.path, 'config-dataset');
    makeDataset(dataset);
    const good = path.join(scratch.path, 'device-cpu.json');
    fs.writeFileSync(good, JSON.stringify({ dataset, out: path.join(scratch.path, 'flag-config'), device: 'cpu' }));
    const ok = spawnSync(process.execPath, [BIN, 'preprocess', '--config', good], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(scratch.path, 'flag-config', 'report.json'), 'utf8')).options.device).toBe('cpu');
    const bad = path.join(scratch.path, 'device-bad.json');
    fs.writeFileSync(bad, JSON.stringify({ dataset, out: path.join(scratch.path, 'flag-config-bad'), device: 'tpu' }));
    const r = spawnSync(process.execPath, [BIN, 'preprocess', '--config', bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('device must be auto, cpu, cuda or cuda:N');
  });

  it('rejects a device it does not know', () => {
    const r = run([path.join(scratch.path, 'flag-dataset'), '-o', path.join(scratch.path, 'flag-bad'), '--device', 'gpu']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('device must be auto, cpu, cuda or cuda:N');
  });
});

describe('the batched GPU path, emulated', () => {
  it("makes many files' 16 kHz outputs in few launches, with the CPU's results", async () => {
    const dataset = path.join(scratch.path, 'many-dataset');
    fs.mkdirSync(dataset, { recursive: true });
    // 24 short clips, as voice datasets often are.
    for (let k = 0; k < 24; k++) writeWav(path.join(dataset, `clip${String(k).padStart(2, '0')}.wav`), speechLike(44100, 2 + (k % 5), k + 1), 44100);
    const cpu = path.join(scratch.path, 'many-cpu');
    const emu = path.join(scratch.path, 'many-emulate');
    await preprocess(dataset, cpu, { device: 'cpu', threads: 2 });
    const before = native().engineCounters().segmentBatches;
    const r = await preprocess(dataset, emu, { device: 'emulate', threads: 2 });
    const batches = native().engineCounters().segmentBatches - before;
    expect(r.files.every((f) => f.status === 'ok')).toBe(true);
    // Each of the 2 workers gathers its files' segments: far fewer launches than files.
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(6);
    const c = compareRuns(cpu, emu);
    expect(c).toMatchObject({ names: true, counts: true });
    expect(c.files).toBeGreaterThan(24);
    expect(c.worst).toBeGreaterThanOrEqual(150);
    console.log(`24 files through the emulated GPU path: ${batches} batch launches for their 16 kHz outputs`);
  });

  it('files with digital silence in them: the CPU run\'s cuts (names and sample counts), high-pass off and on', async () => {
    // Speech with its middle third exact zeros, at rates the CPU resamples in its FFT and
    // cascade forms. Their rounding residue in the silence (1e-18, where the GPU's direct form
    // gives exact zeros) moved the slicer's "first quietest frame": cuts 90 ms apart.
    const dataset = path.join(scratch.path, 'silence-dataset');
    fs.mkdirSync(dataset, { recursive: true });
    for (const rate of [16000, 22050, 44100, 48000]) {
      for (const seed of [1, 2]) {
        const x = speechLike(rate, 5, seed);
        x.fill(0, Math.floor(x.length / 3), Math.floor((2 * x.length) / 3));
        writeWav(path.join(dataset, `gap_${rate}_${seed}.wav`), x, rate, { bits: 32, float: true });
      }
    }
    for (const highpass of [false, true]) {
      const cpu = path.join(scratch.path, `silence-cpu-${highpass}`);
      const emu = path.join(scratch.path, `silence-emulate-${highpass}`);
      await preprocess(dataset, cpu, { device: 'cpu', threads: 1, highpass });
      await preprocess(dataset, emu, { device: 'emulate', threads: 1, highpass });
      const c = compareRuns(cpu, emu);
      expect(c, `high-pass ${highpass}`).toMatchObject({ names: true, counts: true });
      expect(c.files).toBeGreaterThan(16);
      expect(c.worst).toBeGreaterThanOrEqual(150);
    }
  });
});

// The golden configurations (the last with noise reduction).
const CONFIGS: [string, PreprocessOptions][] = [
  ['sr40000-automatic-hpf', { sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none' }],
  ['sr48000-simple-hpf-post', { sampleRate: 48000, cut: 'simple', highpass: true, normalize: 'post', chunk: 3, overlap: 0.3 }],
  ['sr32000-skip-pre', { sampleRate: 32000, cut: 'skip', highpass: false, normalize: 'pre' }],
  ['sr40000-automatic-post', { sampleRate: 40000, cut: 'automatic', highpass: false, normalize: 'post' }],
  ['sr32000-simple-chunk2.5-overlap0.1', { sampleRate: 32000, cut: 'simple', highpass: false, normalize: 'none', chunk: 2.5, overlap: 0.1 }],
  ['sr40000-automatic-hpf-denoise0.7', { sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none', denoise: 0.7 }],
];

describe.each(CONFIGS)('the batched GPU path on the golden dataset, %s', (name, options) => {
  it('emulated on the CPU: the CPU run\'s names and sample counts, SNR ≥ 150 dB', async () => {
    const cpu = path.join(scratch.path, `golden-${name}-cpu`);
    const emu = path.join(scratch.path, `golden-${name}-emulate`);
    await preprocess(path.join(GOLDEN, 'dataset'), cpu, { ...options, device: 'cpu' });
    const before = native().engineCounters().emulatedLaunches;
    const r = await preprocess(path.join(GOLDEN, 'dataset'), emu, { ...options, device: 'emulate' });
    expect(r.device).toBe('emulate');
    // The batched path ran: its launches went through the host device (and the CPU run had none).
    expect(native().engineCounters().emulatedLaunches).toBeGreaterThan(before);
    const c = compareRuns(cpu, emu);
    // Outputs are float32: the block-parallel high-pass's 1e-12 differences flip an odd last bit.
    expect(c).toMatchObject({ names: true, counts: true });
    expect(c.files).toBeGreaterThan(0);
    expect(c.worst).toBeGreaterThanOrEqual(150);
  });

  it('on the GPU: the CPU run\'s names and sample counts, SNR ≥ 100 dB', async (ctx) => {
    const reason = noGpuReason();
    if (reason !== null) {
      console.log(`GPU golden parity (${name}) skipped: ${reason}`);
      ctx.skip(reason);
    }
    const cpu = path.join(scratch.path, `golden-${name}-cpu`);
    const gpu = path.join(scratch.path, `golden-${name}-cuda`);
    const r = await preprocess(path.join(GOLDEN, 'dataset'), gpu, { ...options, device: 'cuda' });
    expect(r.device).toMatch(/^cuda:/);
    const c = compareRuns(cpu, gpu);
    console.log(`GPU golden parity (${name}): ${c.files} outputs, worst SNR ${c.worst.toFixed(1)} dB against the CPU`);
    expect(c).toMatchObject({ names: true, counts: true });
    expect(c.worst).toBeGreaterThanOrEqual(100);
  });
});

