// The user-facing side of the CLI: progress display, summary, report.json and its warnings,
// Applio's flags, the config file, `voxprep info` and `voxprep doctor`. Runs the compiled CLI
// (bin/voxprep.js → dist/): run `npx tsc -p tsconfig.json` first.
import { describe, it, expect } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { putWav, readWav, speechLike, writeWav } from './helpers/wav.js';
import { BIN, ROOT, scratchFolder, walkFiles } from './helpers/scratch.js';

const SCHEMA = path.join(ROOT, 'schema', 'report.schema.json');
const ESC = '\u001b';

const scratch = scratchFolder('voxprep-ux-test-');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a plain user: no NO_COLOR / FORCE_COLOR from the test runner. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

function voxprep(args: string[], opts: SpawnSyncOptions = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: cleanEnv(), ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function fresh(name: string): string {
  const dir = path.join(scratch.path, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, '');
}

/** A small dataset of ordinary recordings: two speakers with about the same amount. */
function ordinaryDataset(name: string): string {
  const dataset = fresh(name);
  putWav(dataset, 'a.wav', speechLike(40000, 3.0, 1), 40000);
  putWav(dataset, 'b.wav', speechLike(44100, 2.5, 2), 44100);
  putWav(dataset, '1/c.wav', speechLike(48000, 3.0, 3), 48000, { bits: 24 });
  putWav(dataset, '1/d.wav', speechLike(40000, 2.5, 4), 40000);
  return dataset;
}

function hasScript(): boolean {
  const r = spawnSync('script', ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0 && /util-linux/.test(r.stdout + r.stderr);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------

describe('progress and summary', () => {
  const scriptAvailable = hasScript();
  if (!scriptAvailable) console.log('skipping the terminal tests: `script` from util-linux is not on PATH');

  it.skipIf(!scriptAvailable)('on a terminal: a live bar with files, audio, speed, ETA and device, then the summary', () => {
    const dataset = ordinaryDataset('tty/dataset');
    const out = path.join(scratch.path, 'tty/out');
    const cmd = [process.execPath, BIN, 'preprocess', dataset, '-o', out].map(shellQuote).join(' ');
    // script(1) runs the command on a pseudo-terminal: stdout and stderr are both a tty.
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const raw = r.stdout;
    expect(raw).toContain(ESC); // drawn with terminal control codes, in color
    expect(raw).toMatch(/\u001b\[3\dm/);
    const text = stripAnsi(raw).replace(/\r/g, '\n');
    const bar = /[█░]{14} (\d+)\/4 files \| [\d.]+ (min|h) audio \| ([\d.]+x|-) real time \| ETA (\d+h\d\dm|\d+m\d\ds|\d+s|-) \| cpu/g;
    const frames = [...text.matchAll(bar)];
    expect(frames.length, text).toBeGreaterThan(0);
    expect(frames.at(-1)![1]).toBe('4'); // the last frame shows every file done
    // The summary comes after the bar, and ends the output.
    const summaryAt = text.indexOf('voxprep: 4 files: 4 processed, 0 failed, 0 rejected, 0 skipped');
    expect(summaryAt).toBeGreaterThan(frames.at(-1)!.index!);
    const tail = text.slice(summaryAt);
    for (const label of ['slices written:', 'dataset duration:', 'wall time:', 'speed:', 'report:']) {
      expect(tail).toContain(label);
    }
    expect(tail).toMatch(/device: +cpu \(\d+ threads?\)/);
  });

  it.skipIf(!scriptAvailable)('NO_COLOR turns the colors off on a terminal', () => {
    const dataset = ordinaryDataset('nocolor/dataset');
    const out = path.join(scratch.path, 'nocolor/out');
    const cmd = [process.execPath, BIN, 'preprocess', dataset, '-o', out].map(shellQuote).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: cleanEnv({ NO_COLOR: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\u001b\[(1|22|3\d|39)m/); // no color or bold
    expect(stripAnsi(r.stdout)).toContain('4/4 files');
  });

  it('elsewhere: plain progress lines on stderr, no escape codes; --quiet prints nothing', () => {
    const dataset = ordinaryDataset('plain/dataset');
    // A newline in its name: printed as \n, so that the line stays one line.
    fs.writeFileSync(path.join(dataset, 'bro\nken.wav'), 'not a wav at all');
    const out = path.join(scratch.path, 'plain/out');
    const errFile = path.join(scratch.path, 'plain/stderr.txt');
    const fd = fs.openSync(errFile, 'w');
    let r;
    try {
      r = spawnSync(process.execPath, [BIN, 'preprocess', dataset, '-o', out], {
        encoding: 'utf8',
        timeout: 60_000,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', fd],
      });
    } finally {
      fs.closeSync(fd);
    }
    expect(r.status).toBe(1);
    const stderr = fs.readFileSync(errFile, 'utf8');
    expect(stderr).not.toContain(ESC);
    expect(r.stdout).not.toContain(ESC);
    const lines = stderr.split('\n').filter((l) => /^voxprep: \d+\/5 files, /.test(l));
    expect(lines.length, stderr).toBeGreaterThanOrEqual(1);
    for (const l of lines) {
      expect(l).toMatch(/^voxprep: \d+\/5 files, [\d.]+ (min|h) audio, ([\d.]+x|-) real time, ETA (\d+h\d\dm|\d+m\d\ds|\d+s|-), device cpu$/);
    }
    expect(lines.at(-1)).toMatch(/^voxprep: 5\/5 files/);
    // No time left is guessed from one file and the start-up.
    expect(lines[0]).toMatch(/^voxprep: 1\/5 files, .*, ETA -, device cpu$/);
    expect(stderr).toMatch(/^voxprep: failed: bro\\nken\.wav: \S/m);
    // The summary on stdout, problems grouped under their status, one per line.
    expect(r.stdout).toContain('voxprep: 5 files: 4 processed, 1 failed, 0 rejected, 0 skipped');
    expect(r.stdout).toMatch(/^failed \(1\):\n {2}failed: bro\\nken\.wav: \S.*$/m);

    const quietOut = path.join(scratch.path, 'plain/out-quiet');
    fs.rmSync(path.join(dataset, 'bro\nken.wav'));
    const q = voxprep(['preprocess', dataset, '-o', quietOut, '--quiet']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toBe('');
    expect(q.stderr).toBe('');
  });
});

// ---------------------------------------------------------------------------------------

describe('report.json', () => {
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA, 'utf8')));
  const checkSchema = (report: unknown) => {
    const ok = validate(report);
    expect(ok, JSON.stringify(validate.errors, null, 2)).toBe(true);
  };

  it('matches the schema, --json prints it, and each dataset warning fires on a dataset made for it', () => {
    const dataset = fresh('warn/dataset');
    const out = path.join(scratch.path, 'warn/out');
    // Speaker 0: most of the audio; among it a 16 kHz source, a clipped file and a silent one.
    putWav(dataset, 'clean.wav', speechLike(40000, 6, 11), 40000);
    putWav(dataset, 'low16k.wav', speechLike(16000, 4, 12), 16000);
    const loud = speechLike(44100, 3, 13).map((v) => v * 4); // clamped to full scale when written
    putWav(dataset, 'clipped.wav', loud, 44100);
    putWav(dataset, 'silent.wav', new Float64Array(40000 * 2), 40000);
    // Speaker 1: a sliver of it.
    putWav(dataset, '1/few.wav', speechLike(40000, 1.6, 14), 40000);

    const r = voxprep(['preprocess', dataset, '-o', out, '--normalize', 'pre', '--json']);
    expect(r.code, r.stderr).toBe(1); // the silent file is rejected
    const file = fs.readFileSync(path.join(out, 'report.json'), 'utf8');
    expect(r.stdout).toBe(file); // --json prints exactly report.json
    expect(r.stderr).toContain('voxprep: 5 files: 4 processed, 0 failed, 1 rejected, 0 skipped'); // the summary moved to stderr
    expect(r.stderr).toMatch(/rejected: silent\.wav: .*silent/);
    expect(fs.readdirSync(out).filter((f) => f.includes('voxprep-tmp'))).toEqual([]);

    const report = JSON.parse(file);
    checkSchema(report);
    expect(report.options).toMatchObject({ sampleRate: 40000, normalize: 'pre', cut: 'automatic', device: 'cpu' });
    expect(report.totals).toMatchObject({ files: 5, processed: 4, failed: 0, rejected: 1, skipped: 0 });
    expect(report.voxprep.version).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
    expect(report.totals.totalSeconds).toBe(info.total_seconds);

    const byPath = new Map(report.files.map((f: { path: string }) => [f.path, f]));
    const entry = (p: string) => byPath.get(p) as Record<string, any>;
    expect(report.files.map((f: { path: string }) => f.path)).toEqual(['1/few.wav', 'clean.wav', 'clipped.wav', 'low16k.wav', 'silent.wav']);
    expect(entry('1/few.wav')).toMatchObject({ sid: 1, idx0: 0, status: 'ok', reason: null });
    expect(entry('low16k.wav').source).toEqual({ format: 'wav', encoding: 'pcm16', rate: 16000, channels: 1, frames: 64000, duration: 4 });
    expect(entry('clean.wav').peak.dbfs).toBeCloseTo(20 * Math.log10(entry('clean.wav').peak.linear), 2);
    expect(entry('clean.wav').rmsDbfs).toBeLessThan(entry('clean.wav').peak.dbfs);
    expect(entry('clean.wav').clippedFrames).toBe(0);
    expect(entry('clipped.wav').clippedFrames).toBeGreaterThan(1000);
    expect(entry('silent.wav')).toMatchObject({ status: 'rejected', slices: 0, clippedFrames: null });
    expect(entry('silent.wav').reason).toMatch(/silent/);
    expect(entry('clean.wav').slices).toBeGreaterThan(0);
    expect(entry('clean.wav').silenceShare).toBeGreaterThan(0);
    expect(entry('clean.wav').silenceShare).toBeLessThan(1);

    const warnings = new Map(report.warnings.map((w: { code: string }) => [w.code, w]));
    const warning = (code: string) => warnings.get(code) as { message: string; files: string[] } | undefined;
    expect([...warnings.keys()].sort()).toEqual(['clipping', 'normalization-rejected', 'short-dataset', 'uneven-speakers', 'upsampled']);
    expect(warning('short-dataset')!.message).toMatch(/10 minutes/);
    expect(warning('upsampled')!.files).toEqual(['low16k.wav']);
    expect(warning('upsampled')!.message).toMatch(/16000 Hz/);
    expect(warning('clipping')!.files).toEqual(['clipped.wav']);
    expect(warning('normalization-rejected')!.files).toEqual(['silent.wav']);
    expect(warning('uneven-speakers')!.files).toEqual(['1/few.wav']);
    // The human summary lists them too.
    expect(r.stderr).toMatch(/dataset warnings \(5\):/);
  });

  it('names the files that gave no slices: silent, too quiet, or channels that cancel in the mono mix', () => {
    const dataset = fresh('empty/dataset');
    const out = path.join(scratch.path, 'empty/out');
    const voice = speechLike(40000, 3, 15);
    putWav(dataset, 'clean.wav', voice, 40000);
    putWav(dataset, 'silent.wav', new Float64Array(40000 * 2), 40000);
    putWav(dataset, 'quiet.wav', voice.map((v) => v * 1e-3), 40000);
    // Stereo, the right channel the left's negative: the mean of the two is zero.
    const cancel = new Float64Array(voice.length * 2);
    voice.forEach((v, i) => ((cancel[2 * i] = v), (cancel[2 * i + 1] = -v)));
    writeWav(path.join(dataset, 'cancel.wav'), cancel, 40000, { channels: 2 });
    const r = voxprep(['preprocess', dataset, '-o', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    checkSchema(report);
    expect(report.files.map((f: { path: string; slices: number }) => [f.path, f.slices > 0])).toEqual([
      ['cancel.wav', false],
      ['clean.wav', true],
      ['quiet.wav', false],
      ['silent.wav', false],
    ]);
    const w = report.warnings.find((x: { code: string }) => x.code === 'no-slices');
    expect(w.files).toEqual(['cancel.wav', 'quiet.wav', 'silent.wav']);
    expect(w.message).toMatch(/^3 files gave no slices: .*cancel when mixed to mono/);

    // The simple cut: a loud file shorter than one window gives none either, for that reason.
    const short = fresh('empty/short');
    putWav(short, 'short.wav', speechLike(40000, 2, 16), 40000);
    putWav(short, 'long.wav', speechLike(40000, 4, 17), 40000);
    const simple = voxprep(['preprocess', short, '-o', path.join(scratch.path, 'empty/out-simple'), '--cut', 'simple', '--json', '--quiet']);
    expect(simple.code, simple.stderr).toBe(0);
    const s = JSON.parse(simple.stdout).warnings.find((x: { code: string }) => x.code === 'no-slices');
    expect(s.files).toEqual(['short.wav']);
    expect(s.message).toBe(
      '1 file gave no slices: it is shorter than one 3 s window, and the simple cut drops a window shorter than the chunk length (as Applio does); its duration still counts in total_seconds',
    );
  });

  it('raises no warning but the short-dataset one on an ordinary dataset; --json --quiet prints only the JSON', () => {
    const dataset = ordinaryDataset('calm/dataset');
    const out = path.join(scratch.path, 'calm/out');
    const r = voxprep(['preprocess', dataset, '-o', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout);
    checkSchema(report);
    expect(report.warnings.map((w: { code: string }) => w.code)).toEqual(['short-dataset']);
    expect(report.totals.speakers.map((s: { sid: number }) => s.sid)).toEqual([0, 1]);
  });

  it("measures each file's level: peak, RMS and silence share of a tone then silence", () => {
    // 1.5 s of a 1 kHz tone with its second harmonic, 0.4·(sin θ + cos 2θ / 2): its negative
    // peak (−0.6) twice its positive one (far above the 48 Hz high-pass; 50 ms ramps keep its
    // transients out), then 1.5 s of silence: half of the 10 ms hops silent.
    const dataset = fresh('level/dataset');
    const out = path.join(scratch.path, 'level/out');
    const sr = 40000;
    const x = new Float64Array(3 * sr);
    const tone = 1.5 * sr, ramp = 0.05 * sr;
    for (let i = 0; i < tone; i++) {
      const fade = Math.min(1, i / ramp, (tone - i) / ramp);
      const theta = (2 * Math.PI * 1000 * i) / sr;
      x[i] = 0.4 * Math.sin((Math.PI * fade) / 2) ** 2 * (Math.sin(theta) + 0.5 * Math.cos(2 * theta));
    }
    const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    putWav(dataset, 'tone.wav', x, sr, { float: true, bits: 32 });
    const r = voxprep(['preprocess', dataset, '-o', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const [f] = JSON.parse(r.stdout).files;
    // (The high-pass turns the two harmonics' phases a little apart: within 1%.)
    expect(Math.abs(f.peak.linear - 0.6)).toBeLessThan(0.01);
    expect(f.rmsDbfs).toBeCloseTo(20 * Math.log10(rms), 2);
    expect(f.silenceShare).toBeGreaterThan(0.49);
    expect(f.silenceShare).toBeLessThan(0.51);
  });

  it('finds the peak wherever in its hop and its vector lanes the loudest sample falls', () => {
    // Quiet noise with one spike of 0.9, in each file one sample further on (16 places: every
    // lane of the level statistics' vectors, which take a hop's samples sixteen at a time).
    // A spike passes the 48 Hz high-pass nearly whole (within 2%: its first output sample is
    // the sections' leading coefficients' product, with the noise around it).
    const dataset = fresh('peaks/dataset');
    const out = path.join(scratch.path, 'peaks/out');
    const sr = 40000;
    for (let j = 0; j < 16; j++) {
      const x = new Float64Array(2 * sr);
      let seed = 12345 + j;
      for (let i = 0; i < x.length; i++) {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        x[i] = 0.02 * (seed / 2 ** 32 - 0.5);
      }
      x[1200 + j] = 0.9;  // hop 2 (hops of 600 samples at 40 kHz), offset j
      putWav(dataset, `spike${String(j).padStart(2, '0')}.wav`, x, sr, { float: true, bits: 32 });
    }
    const r = voxprep(['preprocess', dataset, '-o', out, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const peaks = JSON.parse(r.stdout).files.map((f: { peak: { linear: number } }) => f.peak.linear);
    expect(peaks).toHaveLength(16);
    for (const peak of peaks) expect(Math.abs(peak - 0.9)).toBeLessThan(0.02);
  });
});

// ---------------------------------------------------------------------------------------

describe("Applio's flags", () => {
  function snapshotOutputs(out: string): Map<string, Buffer> {
    const files = walkFiles(out).filter((f) => f === 'model_info.json' || /^sliced_audios(_16k)?\//.test(f));
    return new Map(files.map((f) => [f, fs.readFileSync(path.join(out, f))]));
  }

  function expectSame(a: Map<string, Buffer>, b: Map<string, Buffer>) {
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()].filter((f) => f.startsWith('sliced_audios/')).length).toBeGreaterThan(3);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);
  }

  it('an Applio command line and its voxprep twin write byte-identical outputs', () => {
    const dataset = fresh('applio/dataset');
    putWav(dataset, 'x.wav', speechLike(44100, 5.5, 21), 44100);
    putWav(dataset, '2/y.wav', speechLike(48000, 4.2, 22), 48000, { bits: 24 });
    putWav(dataset, '2/z.wav', speechLike(22050, 3.3, 23), 22050, { channels: 2 });
    const cwd = fresh('applio/work');

    // Applio's core.py spelling, output into logs/<model name> under the current folder.
    const applio = voxprep(
      [
        'preprocess',
        '--model_name', 'twin',
        '--dataset_path', dataset,
        '--sample_rate', '32000',
        '--cpu_cores', '2',
        '--cut_preprocess', 'Simple',
        '--process_effects', 'False',
        '--noise_reduction', 'False',
        '--noise_reduction_strength', '0.7',
        '--chunk_len', '2.0',
        '--overlap_len', '0.5',
        '--normalization_mode', 'post',
      ],
      { cwd },
    );
    expect(applio.code, applio.stderr).toBe(0);
    const twin = path.join(scratch.path, 'applio/voxprep-out');
    const ours = voxprep([
      'preprocess', dataset, '-o', twin, '--sr', '32000', '--threads', '1', '--cut', 'simple',
      '--no-highpass', '--chunk', '2', '--overlap', '0.5', '--normalize', 'post',
    ]);
    expect(ours.code, ours.stderr).toBe(0);
    expectSame(snapshotOutputs(path.join(cwd, 'logs', 'twin')), snapshotOutputs(twin));

    // The hyphenated spelling, a bare --process-effects, and the positional dataset.
    const second = path.join(cwd, 'second');
    const applio2 = voxprep(
      ['preprocess', dataset, '-o', second, '--sample-rate', '40000', '--cut-preprocess', 'automatic', '--process-effects',
        '--normalization-mode', 'pre'],
      { cwd },
    );
    expect(applio2.code, applio2.stderr).toBe(0);
    const twin2 = path.join(scratch.path, 'applio/voxprep-out2');
    const ours2 = voxprep(['preprocess', dataset, '-o', twin2, '--sr', '40000', '--cut', 'automatic', '--highpass', '--normalize', 'pre']);
    expect(ours2.code, ours2.stderr).toBe(0);
    expectSame(snapshotOutputs(second), snapshotOutputs(twin2));

    // A misspelt True/False is named as such, not taken for DATASET; a folder after the bare
    // flag still is DATASET.
    for (const flag of ['--process_effects', '--noise_reduction']) {
      const typo = voxprep(['preprocess', dataset, '-o', path.join(cwd, 'typo'), flag, 'Ture'], { cwd });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toBe(`voxprep: ${flag.replace(/_/g, '-')} takes True or False, got "Ture" (and no folder of that name is there to be DATASET)\n`);
    }
    expect(fs.existsSync(path.join(cwd, 'typo'))).toBe(false);
    const bare = voxprep(['preprocess', '--process_effects', dataset, '-o', path.join(cwd, 'bare'), '--json', '--quiet'], { cwd });
    expect(bare.code, bare.stderr).toBe(0);
    expect(JSON.parse(bare.stdout).options.highpass).toBe(true);
  });

  it('takes noise reduction as Applio spells it or as --denoise, with the same outputs; the config file too', () => {
    const dataset = fresh('denoise/dataset');
    putWav(dataset, 'x.wav', speechLike(44100, 4.5, 41), 44100);
    putWav(dataset, '1/y.wav', speechLike(40000, 3.5, 42), 40000, { bits: 24 });
    const cwd = fresh('denoise/work');
    const run = (args: string[], label: string) => {
      const r = voxprep(['preprocess', ...args, '--threads', '1', '--quiet'], { cwd });
      expect(r.code, `${label}: ${r.stderr}`).toBe(0);
    };
    const report = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));

    run(['--model_name', 'applio', '--dataset_path', dataset, '--noise_reduction', 'True', '--noise_reduction_strength', '0.5'], 'Applio');
    const ours = path.join(cwd, 'ours');
    run([dataset, '-o', ours, '--denoise', '0.5'], '--denoise');
    expectSame(snapshotOutputs(path.join(cwd, 'logs', 'applio')), snapshotOutputs(ours));
    expect(report(ours).options.denoise).toBe(0.5);

    // A bare --noise-reduction is Applio's default strength, 0.7; it changes the audio.
    const bare = path.join(cwd, 'bare');
    run([dataset, '-o', bare, '--noise-reduction'], 'bare');
    const strength = path.join(cwd, 'strength');
    run([dataset, '-o', strength, '--denoise', '0.7'], '--denoise 0.7');
    expectSame(snapshotOutputs(bare), snapshotOutputs(strength));
    const off = path.join(cwd, 'off');
    run([dataset, '-o', off], 'off');
    expect(report(off).options.denoise).toBe(0);
    const [a, b] = [snapshotOutputs(off), snapshotOutputs(bare)];
    expect([...a].some(([name, bytes]) => b.has(name) && !bytes.equals(b.get(name)!))).toBe(true);

    // The config file: "denoise", or Applio's pair; flags on the command line override it.
    const conf = path.join(cwd, 'voxprep.json');
    const fromFile = (config: object, flags: string[], label: string) => {
      fs.writeFileSync(conf, JSON.stringify(config));
      const out = path.join(cwd, `conf-${label}`);
      run(['--config', conf, dataset, '-o', out, ...flags], label);
      return report(out).options.denoise;
    };
    expect(fromFile({ denoise: 0.3 }, [], 'file')).toBe(0.3);
    expect(fromFile({ noise_reduction: true }, [], 'applio-file')).toBe(0.7);
    expect(fromFile({ noise_reduction: true }, ['--noise_reduction_strength', '0.4'], 'strength-flag')).toBe(0.4);
    expect(fromFile({ denoise: 0.3 }, ['--noise-reduction-strength', '0.6'], 'file-denoise-strength-flag')).toBe(0.6);
    expect(fromFile({ denoise: 0.3 }, ['--noise-reduction', 'False'], 'off-flag')).toBe(0);
    expect(fromFile({ noise_reduction: true, noise_reduction_strength: 0.2 }, ['--denoise', '0.9'], 'denoise-flag')).toBe(0.9);
  });

  it('refuses a bad noise reduction strength, disagreeing twins and a missing output folder, writing nothing', () => {
    const dataset = ordinaryDataset('applio-bad/dataset');
    const cwd = fresh('applio-bad/work');
    const cases: [string, string[], RegExp][] = [
      ['--denoise 0', [dataset, '--model-name', 'm', '--denoise', '0'], /more than 0 and at most 1.*got 0/],
      ['--denoise 1.5', [dataset, '--model-name', 'm', '--denoise', '1.5'], /more than 0 and at most 1.*got 1.5/],
      ['strength 0', [dataset, '--model-name', 'm', '--noise_reduction', 'True', '--noise_reduction_strength', '0'], /more than 0 and at most 1/],
      // With noise reduction off as well: a strength of 5 was taken without a word.
      ['strength 5, off', [dataset, '--model-name', 'm', '--noise_reduction_strength', '5'], /more than 0 and at most 1.*got 5/],
      ['strength -1, False', [dataset, '--model-name', 'm', '--noise_reduction', 'False', '--noise_reduction_strength', '-1'], /more than 0 and at most 1.*got -1/],
      ['--denoise vs False', [dataset, '--model-name', 'm', '--denoise', '0.5', '--noise_reduction', 'False'], /--denoise 0.5 and --noise-reduction False disagree/],
      ['--denoise vs strength', [dataset, '--model-name', 'm', '--denoise', '0.5', '--noise_reduction_strength', '0.7'], /disagree \(0.5 vs 0.7\)/],
      ['--sr vs --sample-rate', [dataset, '--model-name', 'm', '--sr', '32000', '--sample-rate', '40000'], /--sr and --sample-rate disagree/],
      ['no output', [dataset], /no output folder/],
      ['no dataset', ['--model-name', 'm'], /no dataset folder/],
      ['bad True/False', [dataset, '--model-name', 'm', '--process-effects', 'maybe'], /./],
      ['bad cut mode', [dataset, '--model-name', 'm', '--cut-preprocess', 'Sometimes'], /Skip, Simple or Automatic/],
    ];
    for (const [label, args, message] of cases) {
      const r = voxprep(['preprocess', ...args], { cwd });
      expect(r.code, `${label}: ${r.stderr}`).toBe(2);
      expect(r.stderr, label).toMatch(message);
    }
    expect(fs.readdirSync(cwd)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------

describe('config file', () => {
  it('rejects unknown keys, wrong types and bad values with exit 2, naming the key, writing nothing', () => {
    const dataset = ordinaryDataset('config-bad/dataset');
    const out = path.join(scratch.path, 'config-bad/out');
    const cases: [string, string, RegExp][] = [
      ['unknown key', JSON.stringify({ sr: 40000, smaple_rate: 40000 }), /unknown key "smaple_rate"/],
      ['wrong type', JSON.stringify({ sr: '40000' }), /"sr" must be a number, got string "40000"/],
      ['wrong type (boolean)', JSON.stringify({ highpass: 'yes' }), /"highpass" must be true or false/],
      ['bad choice', JSON.stringify({ cut: 'magic' }), /"cut" must be one of automatic, simple, skip/],
      ['not an object', JSON.stringify([1, 2]), /must hold a JSON object/],
      ['not JSON', '{ sr: 40000 ', /not valid JSON/],
      // Values the run refuses, named with the file and the key as written, like the rest.
      ['out of range', JSON.stringify({ threads: 0 }), /\.json, "threads": threads must be a whole number from 1 to 1024, got 0/],
      ['out of range, Applio key', JSON.stringify({ cpu_cores: 1.5 }), /\.json, "cpu_cores": threads must be a whole number from 1 to 1024, got 1.5/],
      ['overlap past the chunk', JSON.stringify({ overlap_len: 3.5 }), /\.json, "overlap_len": chunk \(3 s\) must be longer than overlap \(3.5 s\)/],
      ['strength out of range', JSON.stringify({ noise_reduction: true, noise_reduction_strength: 3 }), /\.json, "noise_reduction_strength": the noise reduction strength .* got 3/],
      ['two keys together', JSON.stringify({ cut: 'simple', chunk: 60, overlap: 0 }), /\.json, "cut" and "chunk": chunk 60 s with overlap 0 s keeps 1 window open/],
    ];
    cases.forEach(([label, text, message], i) => {
      const file = path.join(scratch.path, `config-bad/c${i}.json`);
      fs.writeFileSync(file, text);
      const r = voxprep(['preprocess', dataset, '-o', out, '--config', file]);
      expect(r.code, label).toBe(2);
      expect(r.stderr, label).toMatch(message);
      expect(r.stderr, label).toContain(file);
      expect(fs.existsSync(out), label).toBe(false);
    });
    // A bad value on the command line is the command line's, not the file's.
    const good = path.join(scratch.path, 'config-bad/good.json');
    fs.writeFileSync(good, JSON.stringify({ threads: 2 }));
    const flag = voxprep(['preprocess', dataset, '-o', out, '--config', good, '--threads', '0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/threads must be a whole number from 1 to 1024, got 0/);
    expect(flag.stderr).not.toContain(good);
    expect(fs.existsSync(out)).toBe(false);
    // Both bad: the file's, found first, is named with the file.
    const rate = path.join(scratch.path, 'config-bad/rate.json');
    fs.writeFileSync(rate, JSON.stringify({ sample_rate: 5 }));
    const both = voxprep(['preprocess', dataset, '-o', out, '--config', rate, '--threads', '0']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(`config file ${rate}: sample rate must be`);
    const missing = voxprep(['preprocess', dataset, '-o', out, '--config', path.join(scratch.path, 'config-bad/none.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not found/);
  });

  it('takes the options from the file; command-line flags override it', () => {
    const dataset = ordinaryDataset('config-ok/dataset');
    const dir = fresh('config-ok/conf');
    // Paths in the file are relative to its folder. Saved with a byte-order mark, as some
    // Windows editors do (it was refused as invalid JSON).
    fs.writeFileSync(
      path.join(dir, 'voxprep.json'),
      '\uFEFF' +
      JSON.stringify({
        $schema: 'ignored',
        dataset: '../dataset',
        out: 'from-file',
        sr: 16000,
        'cut-preprocess': 'Skip',
        highpass: false,
        normalization_mode: 'post',
        threads: 1,
      }),
    );
    const r = voxprep(['preprocess', '--config', path.join(dir, 'voxprep.json'), '--sr', '32000', '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.output).toBe(path.join(dir, 'from-file'));
    expect(report.dataset).toBe(dataset);
    expect(report.options).toMatchObject({ sampleRate: 32000, cut: 'skip', highpass: false, normalize: 'post', threads: 1 });
    // --cut skip: one slice per file, at the flag's rate.
    const slices = fs.readdirSync(path.join(dir, 'from-file', 'sliced_audios')).sort();
    expect(slices).toEqual(['0_2_0.wav', '0_3_0.wav', '1_0_0.wav', '1_1_0.wav']);
    expect(readWav(path.join(dir, 'from-file', 'sliced_audios', '0_2_0.wav')).rate).toBe(32000);

    // The output folder given as a model name on the command line replaces the file's "out".
    const named = voxprep(['preprocess', '--config', path.join(dir, 'voxprep.json'), '--model_name', 'mine', '--json', '--quiet'], { cwd: dir });
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout).output).toBe(path.join(dir, 'logs', 'mine'));
  });
});

// ---------------------------------------------------------------------------------------

describe('voxprep info and doctor', () => {
  it('info reports format, rate, channels, duration and peak, and leaves no temporary folder', () => {
    const dir = fresh('info');
    const file = path.join(dir, 'Take 1.wav');
    const x = speechLike(44100, 1.5, 31);
    putWav(dir, 'Take 1.wav', x, 44100, { channels: 2, bits: 24 });
    const peak = readWav(file).samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('voxprep-info-')));

    const r = voxprep(['info', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [info] = JSON.parse(r.stdout);
    expect(info).toMatchObject({ file, status: 'ok', reason: null, format: 'wav', encoding: 'pcm24', rate: 44100, channels: 2, frames: 66150 });
    expect(info.duration).toBeCloseTo(1.5, 9);
    expect(info.peak.rate).toBe(44100);
    expect(info.peak.linear).toBeCloseTo(peak, 6);
    expect(info.peak.dbfs).toBeCloseTo(20 * Math.log10(peak), 2);

    const text = voxprep(['info', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/rate: +44100 Hz/);
    expect(text.stdout).toMatch(/channels: +2/);
    expect(text.stdout).toMatch(/duration: +1\.500 s/);
    expect(text.stdout).toMatch(/24-bit PCM/);

    expect(info.warnings).toEqual([]);

    // A file's own warnings, as a run would give them: a header claiming more than is there.
    putWav(dir, 'cut.wav', speechLike(44100, 1.5, 32), 44100, { bits: 16 });
    const cut = path.join(dir, 'cut.wav');
    fs.writeFileSync(cut, fs.readFileSync(cut).subarray(0, 44 + 2 * 20000));
    const shortened = voxprep(['info', cut, '--json']);
    const message = 'the header declares 66150 frames but the file holds 20000; read what is there';
    expect(JSON.parse(shortened.stdout)[0]).toMatchObject({ status: 'ok', frames: 20000, warnings: [message] });
    expect(voxprep(['info', cut]).stdout).toContain(`\n  warning:   ${message}`);

    const bad = voxprep(['info', path.join(dir, 'missing.wav'), '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)[0]).toMatchObject({ status: 'failed', reason: 'no such file' });
    const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('voxprep-info-') && !before.has(f));
    expect(after).toEqual([]);
  });

  it('doctor --json names versions, addon, CPU features, threads, CUDA and the device auto picks', () => {
    const r = voxprep(['doctor', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.voxprep.version).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expect(d.node).toMatchObject({ version: process.version, napiVersion: Number(process.versions.napi), platform: process.platform, arch: process.arch });
    expect(d.addon.loaded).toBe(true);
    expect(d.addon.napiVersion).toBeGreaterThanOrEqual(8);
    expect(['prebuilt', 'source']).toContain(d.addon.origin);
    expect(fs.existsSync(d.addon.path)).toBe(true);
    if (process.arch === 'x64') expect(Object.keys(d.cpu.features).sort()).toEqual(['avx2', 'avx512f', 'fma', 'sse4_2']);
    expect(d.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(d.threads.default).toBeGreaterThanOrEqual(1);
    // Whether the kernels are in follows the build machine (test/gpu.test.ts holds it to nvcc's
    // presence); with them, the driver says whether a GPU is usable, and auto follows it.
    const text = voxprep(['doctor']);
    expect(text.code).toBe(0);
    if (d.cuda.compiled) {
      expect(d.cuda.architectures).toContain('sm_75');
      expect(d.cuda.runtime).toMatch(/^\d+\.\d+$/);
      expect(Array.isArray(d.cuda.devices)).toBe(true);
      expect(d.cuda.usable).toBe(d.cuda.devices.length > 0);
      expect(d.device.auto).toMatch(d.cuda.usable ? /^cuda:0 / : /^cpu$/);
      if (!d.cuda.usable) expect(d.device.reason).toBe(d.cuda.note);
      // The runtime is linked in: shown whether or not a driver is found.
      expect(text.stdout).toMatch(/cuda: +compiled in for sm_75.* \(CUDA runtime \d+\.\d+, linked in\)$/m);
      expect(text.stdout).toMatch(/cuda driver: +(CUDA \d+\.\d+|none found)$/m);
    } else {
      expect(d.cuda).toMatchObject({ architectures: [], driver: null, devices: null, usable: false });
      expect(d.device.auto).toBe('cpu');
      expect(text.stdout).toMatch(/cuda: +not compiled in/);
    }
    expect(text.stdout).toMatch(new RegExp(`--device auto: would use ${d.device.auto}`));
    expect(d.ok).toBe(true);
  });
});
