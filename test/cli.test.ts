// End-to-end tests of the compiled CLI (bin/voxprep.js → dist/) and of the library API,
// on small datasets generated here. Run `npx tsc -p tsconfig.json` first: dist/ must exist.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { putWav, readWav, speechLike } from './helpers/wav.js';
import { mergeShards, preprocess, walkDataset } from '../lib/index.js';
import { BIN, ROOT, scratchFolder, walkFiles } from './helpers/scratch.js';

const SLICED = 'sliced_audios';
const SLICED_16K = 'sliced_audios_16k';
const SLICE_NAME = /^(\d+)_(\d+)_(\d+)\.wav$/;

const scratch = scratchFolder('voxprep-cli-test-');

// ---------------------------------------------------------------------------------------
// helpers

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function voxprep(...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh folder under the test's temp root. */
function fresh(name: string): string {
  const dir = path.join(scratch.path, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** ceil(n * rateOut / rateIn) in exact integer arithmetic. */
function ceilRatio(n: number, rateOut: number, rateIn: number): number {
  return Number((BigInt(n) * BigInt(rateOut) + BigInt(rateIn) - 1n) / BigInt(rateIn));
}

/**
 * The reference's (librosa's) resampled length: ceil(n * ratio) in doubles with the ratio
 * taken first. It equals ceilRatio() except at rare rounding edges, e.g. 26460 samples at
 * 22050 -> 48000 Hz give 57601, not 57600; voxprep follows the reference there.
 */
function refLength(n: number, rateOut: number, rateIn: number): number {
  return Math.ceil(n * (rateOut / rateIn));
}

/** Raw header facts of a WAV (the format tag as written, not mapped through EXTENSIBLE). */
function inspectWav(file: string): { tag: number; channels: number; rate: number; bits: number; frames: number } {
  const buf = fs.readFileSync(file);
  expect(buf.toString('ascii', 0, 4)).toBe('RIFF');
  expect(buf.toString('ascii', 8, 12)).toBe('WAVE');
  let pos = 12;
  let fmt: { tag: number; channels: number; rate: number; bits: number } | undefined;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      fmt = {
        tag: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error(`${file}: data before fmt`);
      expect(body + size).toBe(buf.length); // the declared data is all there, nothing after it
      return { ...fmt, frames: size / ((fmt.bits / 8) * fmt.channels) };
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

/** The mono float32 samples of an output file, after checking its form. */
function readOutput(file: string, rate: number): Float64Array {
  const h = inspectWav(file);
  expect({ tag: h.tag, channels: h.channels, bits: h.bits, rate: h.rate }, file).toEqual({
    tag: 3,
    channels: 1,
    bits: 32,
    rate,
  });
  const w = readWav(file);
  expect(w.samples.length).toBe(h.frames);
  return w.samples;
}

function list(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(walkFiles(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

function parseName(name: string): { sid: number; idx0: number; idx1: number } {
  const m = SLICE_NAME.exec(name);
  if (!m) throw new Error(`not a slice name: ${name}`);
  return { sid: Number(m[1]), idx0: Number(m[2]), idx1: Number(m[3]) };
}

function formatHms(total: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(total / 3600))}:${two(Math.floor((total % 3600) / 60))}:${two(Math.floor(total % 60))}`;
}

function byteSort(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

function rms(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / x.length);
}

// ---------------------------------------------------------------------------------------

describe('dataset numbering', () => {
  it('idx0 follows the byte order of the UTF-8 paths, characters above U+FFFF included', async () => {
    const dataset = fresh('byte-order/dataset');
    // In UTF-16 an emoji's first unit (U+D83D) sorts before U+E000 and U+FF5A; in UTF-8 after.
    const names = ['\u{1F600}.wav', '\uFF5A.wav', '\uE000.wav', '\u00E9.wav', 'a.wav', 'Z.wav', '\u{1F600}a.wav', 'a\u{1F600}.wav', '0/\uFF5A.wav', '0/\u{10000}.wav'];
    for (const rel of names) {
      fs.mkdirSync(path.dirname(path.join(dataset, rel)), { recursive: true });
      fs.writeFileSync(path.join(dataset, rel), '');
    }
    const walked = await walkDataset(dataset);
    const want = [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    expect(walked.files.map((f) => f.relative)).toEqual(want);
    expect(walked.files.map((f) => f.idx0)).toEqual(want.map((_, i) => i));
    expect(want.slice(0, 4)).toEqual(['0/\uFF5A.wav', '0/\u{10000}.wav', 'Z.wav', 'a.wav']);
  });
});

describe('voxprep preprocess (CLI)', () => {
  it('numbers speakers and files, writes the Applio layout and model_info.json', () => {
    const dataset = fresh('layout/dataset');
    const out = path.join(scratch.path, 'layout/out');
    const outSkip = path.join(scratch.path, 'layout/out-skip');
    // Names chosen so that byte order differs from locale / case-insensitive order.
    const inputs: { rel: string; rate: number; seconds: number; sid: number }[] = [
      { rel: 'a.wav', rate: 44100, seconds: 2.3, sid: 0 },
      { rel: 'B.wav', rate: 22050, seconds: 1.7, sid: 0 },
      { rel: '_c.wav', rate: 48000, seconds: 2.05, sid: 0 },
      { rel: '3/b.wav', rate: 16000, seconds: 1.9, sid: 3 },
      { rel: '3/A.wav', rate: 40000, seconds: 2.6, sid: 3 },
    ];
    let seed = 10;
    const lengths = new Map<string, number>();
    for (const f of inputs) {
      const x = speechLike(f.rate, f.seconds, seed++);
      lengths.set(f.rel, x.length);
      putWav(dataset, f.rel, x, f.rate);
    }
    putWav(dataset, 'misc/m.wav', speechLike(16000, 1, 99), 16000); // not a speaker id: skipped
    // Past 2^53 − 1 a number cannot be held exactly: 2^53 + 1 became 2^53, and 2^63 fell on a
    // negative id in the file names. Skipped too, saying why.
    putWav(dataset, '9007199254740993/m.wav', speechLike(16000, 1, 98), 16000);

    const sr = 40000;
    const order = byteSort(inputs.map((f) => f.rel));
    expect(order).toEqual(['3/A.wav', '3/b.wav', 'B.wav', '_c.wav', 'a.wav']);
    const byIdx0 = order.map((rel) => inputs.find((f) => f.rel === rel)!);

    const r = voxprep('preprocess', dataset, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/skipped folder:\s+misc\/ \(its name is not a speaker id\)/);
    expect(r.stdout).toMatch(/skipped folder:\s+9007199254740993\/ \(its number is too large for a speaker id\)/);
    expect(r.stdout).toContain('5 files: 5 processed, 0 failed, 0 rejected');

    // Nothing but the two slice folders, model_info.json and voxprep's report.json and run manifest.
    expect(list(out)).toEqual(['model_info.json', 'report.json', SLICED, SLICED_16K, 'voxprep-manifest.jsonl']);
    const names = list(path.join(out, SLICED));
    expect(list(path.join(out, SLICED_16K))).toEqual(names);
    const idx1s = new Map<number, number[]>();
    for (const name of names) {
      const { sid, idx0, idx1 } = parseName(name);
      expect(idx0).toBeLessThan(byIdx0.length);
      expect(sid, name).toBe(byIdx0[idx0].sid);
      idx1s.set(idx0, [...(idx1s.get(idx0) ?? []), idx1]);
    }
    // Every file gave slices numbered 0..k-1; nothing from misc/.
    expect([...idx1s.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    for (const [, v] of idx1s) expect(v.sort((a, b) => a - b)).toEqual(v.map((_, i) => i));

    for (const name of names) {
      const full = readOutput(path.join(out, SLICED, name), sr);
      const small = readOutput(path.join(out, SLICED_16K, name), 16000);
      expect(full.length).toBeGreaterThan(0);
      expect(small.length, name).toBe(ceilRatio(full.length, 16000, sr));
    }

    // total_seconds: the sum of each file's length at the target rate.
    const expectedTotal = order.reduce((s, rel) => {
      const f = inputs.find((g) => g.rel === rel)!;
      const n = ceilRatio(lengths.get(rel)!, sr, f.rate);
      expect(refLength(lengths.get(rel)!, sr, f.rate)).toBe(n); // no rounding edge in these inputs
      return s + n / sr;
    }, 0);
    const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
    expect(Object.keys(info).sort()).toEqual(['total_dataset_duration', 'total_seconds']);
    expect(Math.abs(info.total_seconds - expectedTotal) / expectedTotal).toBeLessThan(1e-9);
    expect(info.total_dataset_duration).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(info.total_dataset_duration).toBe(formatHms(expectedTotal));

    // With --cut skip each file is one slice of its whole length: this pins idx0 to the file.
    const s = voxprep('preprocess', dataset, '-o', outSkip, '--cut', 'skip');
    expect(s.code, s.stderr).toBe(0);
    expect(list(path.join(outSkip, SLICED))).toEqual(byIdx0.map((f, i) => `${f.sid}_${i}_0.wav`).sort());
    byIdx0.forEach((f, i) => {
      const name = `${f.sid}_${i}_0.wav`;
      const n = ceilRatio(lengths.get(f.rel)!, sr, f.rate);
      expect(readOutput(path.join(outSkip, SLICED, name), sr).length, f.rel).toBe(n);
      expect(readOutput(path.join(outSkip, SLICED_16K, name), 16000).length, f.rel).toBe(ceilRatio(n, 16000, sr));
    });
  });

  it('reads every WAV form: 8/16/24/32-bit PCM, 32/64-bit float, EXTENSIBLE, stereo, 3 channels', () => {
    const dataset = fresh('forms/dataset');
    const out = path.join(scratch.path, 'forms/out');
    const forms: { rel: string; rate: number; opts: { channels?: number; bits?: number; float?: boolean; extensible?: boolean } }[] = [
      { rel: 'f0_pcm8.wav', rate: 16000, opts: { bits: 8 } },
      { rel: 'f1_pcm16.wav', rate: 22050, opts: { bits: 16 } },
      { rel: 'f2_pcm24.wav', rate: 44100, opts: { bits: 24 } },
      { rel: 'f3_pcm32.wav', rate: 48000, opts: { bits: 32 } },
      { rel: 'f4_float32.wav', rate: 16000, opts: { bits: 32, float: true } },
      { rel: 'f5_float64.wav', rate: 22050, opts: { bits: 64, float: true } },
      { rel: 'f6_ext_pcm24.wav', rate: 48000, opts: { bits: 24, extensible: true } },
      { rel: 'f7_ext_float32.wav', rate: 44100, opts: { bits: 32, float: true, extensible: true } },
      { rel: 'f8_stereo16.wav', rate: 44100, opts: { bits: 16, channels: 2 } },
      { rel: 'f9_3ch24.wav', rate: 48000, opts: { bits: 24, channels: 3, extensible: true } },
    ];
    const signals = forms.map((f, i) => {
      const x = speechLike(f.rate, 1.2, 200 + i);
      putWav(dataset, f.rel, x, f.rate, f.opts);
      return x;
    });
    const sr = 48000;
    const r = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', String(sr));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`${forms.length} files: ${forms.length} processed, 0 failed, 0 rejected`);
    expect(list(path.join(out, SLICED))).toEqual(forms.map((_, i) => `0_${i}_0.wav`).sort());
    forms.forEach((f, i) => {
      const y = readOutput(path.join(out, SLICED, `0_${i}_0.wav`), sr);
      expect(y.length, f.rel).toBe(refLength(signals[i].length, sr, f.rate));
      // Decoded right (scale, sign, channel mix): the level survives resampling.
      const ratio = rms(y) / rms(signals[i]);
      expect(ratio, f.rel).toBeGreaterThan(0.95);
      expect(ratio, f.rel).toBeLessThan(1.05);
    });
  });

  it('leaves audio untouched when nothing is asked (--cut skip --no-highpass at the target rate)', () => {
    const dataset = fresh('identity/dataset');
    const out = path.join(scratch.path, 'identity/out');
    const x = speechLike(40000, 2.5, 7);
    putWav(dataset, 'voice.wav', x, 40000, { bits: 32, float: true });
    const r = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass');
    expect(r.code, r.stderr).toBe(0);
    expect(list(path.join(out, SLICED))).toEqual(['0_0_0.wav']);
    const input = readWav(path.join(dataset, 'voice.wav')).samples; // x as float32
    const y = readOutput(path.join(out, SLICED, '0_0_0.wav'), 40000);
    expect(y.length).toBe(input.length);
    let differing = 0;
    for (let i = 0; i < y.length; i++) if (y[i] !== input[i]) differing++;
    expect(differing).toBe(0);
    expect(readOutput(path.join(out, SLICED_16K, '0_0_0.wav'), 16000).length).toBe(ceilRatio(x.length, 16000, 40000));
  });

  it('cuts fixed windows with --cut simple: starts at k*(L-O), full windows only, idx1 = k', () => {
    const dataset = fresh('simple/dataset');
    const out = path.join(scratch.path, 'simple/out');
    const sr = 40000;
    const n = 130000; // the window k=3 ends exactly at n; k=4 starts inside but is short
    const x = speechLike(sr, n / sr, 3);
    expect(x.length).toBe(n);
    putWav(dataset, 'long.wav', x, sr, { bits: 32, float: true });
    const r = voxprep(
      'preprocess', dataset, '-o', out, '--cut', 'simple', '--chunk', '1.0', '--overlap', '0.25', '--no-highpass',
    );
    expect(r.code, r.stderr).toBe(0);

    const L = Math.trunc(sr * 1.0);
    const O = Math.trunc(sr * 0.25);
    const expected: number[] = [];
    for (let k = 0, i = 0; i < n; k++, i = k * (L - O)) if (i + L <= n) expected.push(k);
    expect(expected).toEqual([0, 1, 2, 3]);

    const names = list(path.join(out, SLICED));
    expect(names.map((f) => parseName(f).idx1).sort((a, b) => a - b)).toEqual(expected);
    expect(names.every((f) => f.startsWith('0_0_'))).toBe(true);
    expect(list(path.join(out, SLICED_16K))).toEqual(names);
    const input = readWav(path.join(dataset, 'long.wav')).samples;
    for (const k of expected) {
      const y = readOutput(path.join(out, SLICED, `0_0_${k}.wav`), sr);
      expect(y.length).toBe(L);
      // The window's content is the input from k*(L-O) on.
      const start = k * (L - O);
      let differing = 0;
      for (let i = 0; i < L; i++) if (y[i] !== input[start + i]) differing++;
      expect(differing, `window ${k}`).toBe(0);
      expect(readOutput(path.join(out, SLICED_16K, `0_0_${k}.wav`), 16000).length).toBe(ceilRatio(L, 16000, sr));
    }
  });

  it('keeps and merges the other keys of an existing model_info.json', () => {
    const dataset = fresh('merge/dataset');
    const out = fresh('merge/out');
    putWav(dataset, 'v.wav', speechLike(40000, 1.5, 4), 40000);
    fs.writeFileSync(path.join(out, 'model_info.json'), JSON.stringify({ other: 1, nested: { a: [1, 2] } }));
    const r = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip');
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
    expect(info.other).toBe(1);
    expect(info.nested).toEqual({ a: [1, 2] });
    expect(info.total_seconds).toBe(1.5);
    expect(info.total_dataset_duration).toBe('00:00:01');
  });

  it('writes byte-identical output with --threads 1 and --threads 2', () => {
    const dataset = fresh('threads/dataset');
    const rates = [16000, 22050, 44100, 48000, 40000, 32000];
    rates.forEach((rate, i) => putWav(dataset, `${i % 2 ? '1/' : ''}t${i}.wav`, speechLike(rate, 1.5 + 0.3 * i, 300 + i), rate));
    const out1 = path.join(scratch.path, 'threads/out1');
    const out2 = path.join(scratch.path, 'threads/out2');
    const r1 = voxprep('preprocess', dataset, '-o', out1, '--threads', '1');
    const r2 = voxprep('preprocess', dataset, '-o', out2, '--threads', '2');
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r1.stdout).toContain('1 thread)');
    expect(r2.stdout).toContain('2 threads)');
    const a = snapshot(out1);
    const b = snapshot(out2);
    // report.json records the run itself (thread count, wall time): not part of the dataset.
    a.delete('report.json');
    b.delete('report.json');
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()].filter((f) => f.startsWith(`${SLICED}/`)).length).toBeGreaterThanOrEqual(rates.length);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);
  });

  it('exits 2 on bad usage and writes nothing', () => {
    const dataset = fresh('usage/dataset');
    putWav(dataset, 'v.wav', speechLike(16000, 1, 5), 16000);
    const cases: [string, string[], RegExp][] = [
      ['unknown --cut', ['--cut', 'magic'], /--cut/],
      ['--sr 1000', ['--sr', '1000'], /sample rate/],
      ['--chunk 0', ['--cut', 'simple', '--chunk', '0'], /chunk must be more than 0 seconds/],
      ['--chunk under a sample', ['--cut', 'simple', '--chunk', '0.00001', '--overlap', '0'], /chunk \(0\.00001 s\) is less than one sample at 40000 Hz/],
      ['--overlap > --chunk', ['--cut', 'simple', '--chunk', '1', '--overlap', '2'], /must be longer than overlap/],
      // Each window is held as it fills: this one would hold 200 at once (about 250 MB).
      ['--overlap near --chunk', ['--cut', 'simple', '--chunk', '1', '--overlap', '0.995'], /keeps 200 windows open at once \(200\.0 s of audio held, more than the 52\.4 s allowed at 40000 Hz\): use a smaller overlap or a shorter chunk$/m],
      // A chunk too long on its own: the overlap is not to blame.
      ['--chunk 60', ['--cut', 'simple', '--chunk', '60', '--overlap', '0'], /chunk 60 s with overlap 0 s keeps 1 window open at once \(60\.0 s of audio held, more than the 52\.4 s allowed at 40000 Hz\): use a shorter chunk$/m],
      ['--threads 0', ['--threads', '0'], /threads/],
      // Number() would take these as 40000 and 2.
      ['--sr in hex', ['--sr', '0x9C40'], /option '--sr <hz>' argument '0x9C40' is invalid\. --sr must be a decimal number\./],
      ['--threads in binary', ['--threads', '0b10'], /--threads must be a decimal number/],
    ];
    cases.forEach(([label, extra, message], i) => {
      const out = path.join(scratch.path, `usage/out${i}`);
      const r = voxprep('preprocess', dataset, '-o', out, ...extra);
      expect(r.code, label).toBe(2);
      expect(r.stderr, label).toMatch(message);
      expect(fs.existsSync(out), label).toBe(false);
    });
    // The same overlap with the automatic cut, which ignores it: taken.
    const automatic = voxprep('preprocess', dataset, '-o', path.join(scratch.path, 'usage/out-automatic'), '--chunk', '1', '--overlap', '0.995');
    expect(automatic.code, automatic.stderr).toBe(0);

    // Nothing to train on (the wrong folder, speakers in folders not named by numbers) ran
    // with exit 0 into an empty dataset; now refused, the output folder (and its missing
    // parents) left unmade.
    const noAudio = fresh('usage/no-audio');
    putWav(noAudio, 'alice/a.wav', speechLike(16000, 1, 6), 16000);
    fs.writeFileSync(path.join(noAudio, 'notes.txt'), 'takes\n');
    for (const [dir, skipped] of [[noAudio, '; skipped, as their names are not speaker numbers: alice/'], [fresh('usage/empty'), '']]) {
      const target = path.join(scratch.path, 'usage/new-parent/out');
      const none = voxprep('preprocess', dir, '-o', target);
      expect(none.code, dir).toBe(2);
      expect(none.stderr).toBe(
        `voxprep: no recordings in ${dir}: voxprep reads .wav .mp3 .flac .ogg .oga .m4a .aac .opus .wma .aiff .aif .webm files in it (speaker 0) and in folders named by a speaker number${skipped}\n`,
      );
      expect(fs.existsSync(path.join(scratch.path, 'usage/new-parent')), dir).toBe(false);
    }

    const missingOut = path.join(scratch.path, 'usage/out-missing');
    const missing = voxprep('preprocess', path.join(scratch.path, 'usage/no-such-dataset'), '-o', missingOut);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not found/);
    expect(fs.existsSync(missingOut)).toBe(false);

    const inside = path.join(dataset, 'out');
    const r = voxprep('preprocess', dataset, '-o', inside);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/inside/);
    expect(fs.existsSync(inside)).toBe(false);
    expect(walkFiles(dataset)).toEqual(['v.wav']);
  });

  it('refuses to replace an earlier run without --overwrite; with it, removes only stale slices', () => {
    const dataset = fresh('overwrite/dataset');
    const out = path.join(scratch.path, 'overwrite/out');
    putWav(dataset, 'a.wav', speechLike(40000, 3.2, 8), 40000);
    putWav(dataset, '2/b.wav', speechLike(22050, 2.6, 9), 22050);

    const first = voxprep('preprocess', dataset, '-o', out, '--cut', 'simple', '--chunk', '1.0', '--overlap', '0.2');
    expect(first.code, first.stderr).toBe(0);
    const firstNames = list(path.join(out, SLICED));
    expect(firstNames.length).toBeGreaterThan(2);
    const before = snapshot(out);

    const again = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip');
    expect(again.code).toBe(2);
    expect(again.stdout + again.stderr).toContain('--overwrite');
    const after = snapshot(out);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, bytes] of before) expect(after.get(name)!.equals(bytes), name).toBe(true);

    fs.writeFileSync(path.join(out, 'notes.txt'), 'my notes\n');
    fs.writeFileSync(path.join(out, SLICED, 'readme.txt'), 'keep me\n');
    const third = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip', '--overwrite');
    expect(third.code, third.stderr).toBe(0);
    expect(list(path.join(out, SLICED))).toEqual(['0_1_0.wav', '2_0_0.wav', 'readme.txt']);
    expect(list(path.join(out, SLICED_16K))).toEqual(['0_1_0.wav', '2_0_0.wav']);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('my notes\n');
    expect(fs.readFileSync(path.join(out, SLICED, 'readme.txt'), 'utf8')).toBe('keep me\n');
    // The surviving names hold the new (whole-file) slices, not the first run's.
    expect(readOutput(path.join(out, SLICED, '0_1_0.wav'), 40000).length).toBe(128000);
  });

  it('reports broken files, still writes the good ones, and leaves no temporaries', () => {
    const dataset = fresh('broken/dataset');
    const out = path.join(scratch.path, 'broken/out');
    let s = 12345;
    const junk = Buffer.alloc(5000);
    for (let i = 0; i < junk.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      junk[i] = s >>> 24;
    }
    fs.writeFileSync(path.join(dataset, 'bad.wav'), junk); // idx0 0
    fs.writeFileSync(path.join(dataset, 'empty.wav'), Buffer.alloc(0)); // idx0 1
    putWav(dataset, 'good1.wav', speechLike(44100, 2.2, 21), 44100); // idx0 2
    putWav(dataset, 'good2.wav', speechLike(16000, 2.4, 22), 16000); // idx0 3

    const r = voxprep('preprocess', dataset, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('4 files: 2 processed, 2 failed, 0 rejected');
    expect(r.stdout).toMatch(/failed: bad\.wav: \S.*/);
    expect(r.stdout).toMatch(/failed: empty\.wav: \S.*/);

    const names = list(path.join(out, SLICED));
    const idx0s = new Set(names.map((f) => parseName(f).idx0));
    expect([...idx0s].sort()).toEqual([2, 3]);
    expect(list(path.join(out, SLICED_16K))).toEqual(names);
    expect(walkFiles(out).filter((f) => f.endsWith('.voxprep-tmp'))).toEqual([]);
  });

  it('rejects a silent file under --normalize pre and writes no NaN', () => {
    const dataset = fresh('silent/dataset');
    const out = path.join(scratch.path, 'silent/out');
    putWav(dataset, 'a_voice.wav', speechLike(40000, 2.5, 31), 40000); // idx0 0
    putWav(dataset, 'b_silent.wav', new Float64Array(40000 * 2), 40000); // idx0 1
    putWav(dataset, 'c_voice.wav', speechLike(48000, 2, 32), 48000, { bits: 32, float: true }); // idx0 2

    const r = voxprep('preprocess', dataset, '-o', out, '--normalize', 'pre');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('3 files: 2 processed, 0 failed, 1 rejected');
    expect(r.stdout).toMatch(/rejected: b_silent\.wav: .*silent/);

    const names = list(path.join(out, SLICED));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((f) => parseName(f).idx0 === 1)).toEqual([]);
    expect(new Set(names.map((f) => parseName(f).idx0))).toEqual(new Set([0, 2]));
    for (const [dir, rate] of [[SLICED, 40000], [SLICED_16K, 16000]] as const) {
      for (const name of list(path.join(out, dir))) {
        const y = readOutput(path.join(out, dir, name), rate);
        expect(y.some((v) => !Number.isFinite(v)), `${dir}/${name}`).toBe(false);
      }
    }
  });
});

describe('library API', () => {
  it('preprocess() reports progress once per file and counts the slices it wrote', async () => {
    const dataset = fresh('api/dataset');
    const out = path.join(scratch.path, 'api/out');
    putWav(dataset, 'x.wav', speechLike(22050, 2, 41), 22050);
    putWav(dataset, 'y.wav', speechLike(40000, 2.5, 42), 40000, { bits: 24 });
    putWav(dataset, '5/z.wav', speechLike(16000, 3, 43), 16000);

    const events: { done: number; total: number; idx0: number; status: string }[] = [];
    const result = await preprocess(dataset, out, {
      threads: 2,
      onProgress: (e) => events.push({ done: e.done, total: e.total, idx0: e.file.idx0, status: e.file.status }),
    });

    expect(events.length).toBe(3);
    expect(events.map((e) => e.done)).toEqual([1, 2, 3]);
    expect(events.every((e) => e.total === 3 && e.status === 'ok')).toBe(true);
    expect(events.map((e) => e.idx0).sort()).toEqual([0, 1, 2]);

    expect(result.files.map((f) => [f.relative, f.sid, f.idx0, f.status])).toEqual([
      ['5/z.wav', 5, 0, 'ok'],
      ['x.wav', 0, 1, 'ok'],
      ['y.wav', 0, 2, 'ok'],
    ]);
    const written = list(path.join(out, SLICED));
    expect(result.slices).toBeGreaterThan(0);
    expect(result.slices).toBe(written.length);
    expect(list(path.join(out, SLICED_16K)).length).toBe(result.slices);
    expect(result.files.reduce((n, f) => n + f.slices, 0)).toBe(result.slices);
  });

  it('preprocess() rejects an unknown option key, naming it and the option meant, before writing anything', async () => {
    const dataset = fresh('api-keys/dataset');
    putWav(dataset, 'x.wav', speechLike(40000, 2, 44), 40000);
    const out = path.join(scratch.path, 'api-keys/out');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ normalization: 'post' }, /unknown option "normalization" \(did you mean "normalize"\?\)/],
      [{ sr: 48000 }, /unknown option "sr" \(did you mean "sampleRate"\?\)/],
      [{ threads: 1, thread: 2 }, /unknown option "thread" \(did you mean "threads"\?\)/],
      [{ onprogress: () => {} }, /unknown option "onprogress" \(did you mean "onProgress"\?\)/],
      [{ zzz: 1 }, /^unknown option "zzz"; options: sampleRate, cut, highpass, normalize, .*, stop$/],
    ];
    for (const [options, message] of cases) {
      await expect(preprocess(dataset, out, options as never)).rejects.toThrow(message);
      expect(fs.existsSync(out)).toBe(false);
    }
    // Every documented key is taken, the run-only ones too.
    const result = await preprocess(dataset, out, {
      sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none', chunk: 3, overlap: 0.3, denoise: 0,
      threads: 1, device: 'cpu', overwrite: false, resume: false, shard: null,
      onStart: () => {}, onProgress: () => {}, report: true, manifest: true, stop: new Int32Array(new SharedArrayBuffer(4)),
    });
    expect(result.files.map((f) => f.status)).toEqual(['ok']);
  });

  it('a model_info.json voxprep cannot update is refused before anything changes; one spoiled during the run is a run error, with the report still written', async () => {
    const dataset = fresh('api-model-info/dataset');
    putWav(dataset, 'x.wav', speechLike(40000, 2, 46), 40000);
    putWav(dataset, 'y.wav', speechLike(40000, 2.5, 47), 40000);
    const out = fresh('api-model-info/out');
    const info = path.join(out, 'model_info.json');
    for (const [text, reason] of [
      ['[1, 2]', 'does not hold a JSON object'],
      ['{"epochs": 300,', 'is not valid JSON'],
    ]) {
      fs.writeFileSync(info, text);
      await expect(preprocess(dataset, out, { threads: 1, device: 'cpu' })).rejects.toThrow(
        `${info} ${reason}`,
      );
      expect(fs.readdirSync(out)).toEqual(['model_info.json']);
      const cli = voxprep('preprocess', dataset, '-o', out, '--threads', '1');
      expect(cli.code).toBe(2);
      expect(fs.readdirSync(out)).toEqual(['model_info.json']);
    }
    fs.writeFileSync(info, '{"epochs": 300}');
    const result = await preprocess(dataset, out, { threads: 1, device: 'cpu', onProgress: () => fs.writeFileSync(info, '[') });
    expect(result.files.map((f) => f.status)).toEqual(['ok', 'ok']);
    expect(result.runErrors).toEqual([`cannot update model_info.json: ${info} is not valid JSON (Unexpected end of JSON input); it was left unchanged`]);
    expect(result.modelInfoPath).toBeUndefined();
    expect(fs.readFileSync(info, 'utf8')).toBe('[');
    expect(fs.existsSync(path.join(out, 'report.json'))).toBe(true);
  });

  it('preprocess() and mergeShards() refuse empty paths, non-object options, loose switches and non-function callbacks before anything is written', async () => {
    const dataset = fresh('api-args/dataset');
    putWav(dataset, 'x.wav', speechLike(40000, 2, 48), 40000);
    const out = path.join(scratch.path, 'api-args/out');
    const cases: [string, () => Promise<unknown>, string][] = [
      ['empty output path', () => preprocess(dataset, ''), 'the output folder must be given as a path, got ""'],
      ['empty dataset path', () => preprocess('', out), 'the dataset folder must be given as a path, got ""'],
      ['null options', () => preprocess(dataset, out, null as never), 'the options must be an object, got null'],
      ['onProgress 5', () => preprocess(dataset, out, { onProgress: 5 as never }), 'onProgress must be a function, got number'],
      ['onStart 5', () => preprocess(dataset, out, { onStart: 5 as never }), 'onStart must be a function, got number'],
      ['stop 5', () => preprocess(dataset, out, { stop: 5 as never }), 'stop must be an Int32Array over a SharedArrayBuffer'],
      // mergeShards alike: overwrite: 'false' is truthy, and would have replaced what OUT holds.
      ['merge, overwrite "false"', () => mergeShards([dataset], out, { overwrite: 'false' as never }), 'overwrite must be true or false, got "false"'],
      ['merge, null options', () => mergeShards([dataset], out, null as never), 'the options must be an object, got null'],
      ['merge, a path for the list', () => mergeShards(dataset as never, out), 'the shard folders must be given as an array of paths, got string'],
      ['merge, empty output path', () => mergeShards([dataset], ''), 'the output folder must be given as a path, got ""'],
    ];
    for (const [label, call, message] of cases) {
      await expect(call(), label).rejects.toMatchObject({ name: 'UsageError', message });
      expect(fs.existsSync(out), label).toBe(false);
    }
    // On the command line: -o "" wrote into the current folder, --model_name "" into logs/.
    const cwd = fresh('api-args/cwd');
    for (const args of [['-o', ''], ['--model_name', '']]) {
      const r = spawnSync(process.execPath, [BIN, 'preprocess', dataset, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(fs.readdirSync(cwd), args.join(' ')).toEqual([]);
    }
  });

  it('a callback that throws stops the run as the stop flag does, and the run rejects with its error; --resume finishes it', async () => {
    const dataset = fresh('api-throw/dataset');
    for (let i = 0; i < 3; i++) putWav(dataset, `t${i}.wav`, speechLike(40000, 2, 60 + i), 40000);
    const whole = path.join(scratch.path, 'api-throw/whole');
    await preprocess(dataset, whole, { threads: 1, device: 'cpu' });
    for (const callback of ['onProgress', 'onStart'] as const) {
      const out = path.join(scratch.path, `api-throw/${callback}`);
      const error = new Error(`${callback} failed`);
      let calls = 0;
      const thrower = () => {
        calls++;
        throw error;
      };
      await expect(preprocess(dataset, out, { threads: 1, device: 'cpu', [callback]: thrower })).rejects.toBe(error);
      expect(calls, callback).toBe(1);
      // Stopped, as after a signal: the report and the manifest are written. (From onStart no
      // file starts; from onProgress the files already started finish, how many depends on
      // timing.)
      const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
      const ok = report.files.filter((f: { status: string }) => f.status === 'ok').length;
      if (callback === 'onStart') expect(ok).toBe(0);
      else expect(ok).toBeGreaterThanOrEqual(1);
      const resumed = await preprocess(dataset, out, { threads: 1, device: 'cpu', resume: true });
      expect(resumed.files.map((f) => f.status)).toEqual(['ok', 'ok', 'ok']);
      for (const dir of [SLICED, SLICED_16K]) {
        expect(list(path.join(out, dir)), callback).toEqual(list(path.join(whole, dir)));
        for (const name of list(path.join(whole, dir))) {
          expect(fs.readFileSync(path.join(out, dir, name)).equals(fs.readFileSync(path.join(whole, dir, name))), name).toBe(true);
        }
      }
    }
  });

  it('preprocess() takes its switches only as true or false: overwrite: "false" leaves an earlier run alone', async () => {
    const dataset = fresh('api-switches/dataset');
    putWav(dataset, 'x.wav', speechLike(40000, 2, 45), 40000);
    const out = path.join(scratch.path, 'api-switches/out');
    await preprocess(dataset, out, { threads: 1, device: 'cpu' });
    const before = fs.readFileSync(path.join(out, SLICED, '0_0_0.wav'));
    for (const key of ['overwrite', 'resume', 'highpass', 'report', 'manifest']) {
      for (const value of ['false', 'no', 1, 0, null]) {
        await expect(preprocess(dataset, out, { threads: 1, device: 'cpu', sampleRate: 32000, [key]: value } as never)).rejects.toThrow(
          new RegExp(`^${key} must be true or false, got ${JSON.stringify(value)}$`),
        );
      }
    }
    expect(fs.readFileSync(path.join(out, SLICED, '0_0_0.wav')).equals(before)).toBe(true);
  });
});
