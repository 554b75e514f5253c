// Bad input: each case builds a small dataset of two good WAV files and one bad input, runs
// the compiled CLI (or the library API where the case needs to act during the run), and
// checks that the run ends with the right exit status, that the summary names the bad file
// with its status and a specific reason, that nothing is written for it, that no temporary
// file is left in OUT, and that the good files are processed. A last test mixes good files
// with every kind of bad input and checks the good files' outputs are byte-identical to a
// run over the good files alone.
//
// Run `npx tsc -p tsconfig.json` first: dist/ (with dist/decode/child.js) must exist. The
// golden recordings are read from ../shared/golden relative to the repository. The
// permission case needs a non-root user: as root it runs the CLI as nobody via setpriv.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWav, speechLike, writeWav } from './helpers/wav.js';
import { preprocess } from '../lib/index.js';
import { temporaries } from './helpers/scratch.js';
import { xxh64 } from './helpers/xxh64.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'voxprep.js');
const GOLDEN = path.resolve(ROOT, '..', 'shared', 'golden', 'dataset');
const GOLDEN_FLAC = path.join(GOLDEN, '1', 'echo_48k.flac');
const GOLDEN_MP3 = path.join(GOLDEN, '2', 'foxtrot_441.mp3');
const GOLDEN_OGG = path.join(GOLDEN, '2', 'golf_48k.ogg');
const SLICED = 'sliced_audios';
const SLICED_16K = 'sliced_audios_16k';
const SLICE_NAME = /^(\d+)_(\d+)_(\d+)\.wav$/;
const NOBODY = 65534;
/** How a corrupt stretch in a compressed file is reported. */
const CORRUPTION_WARNING = {
  flac: /frame \d+ \(at [\d.]+ s\) is corrupt.*dropped/i,
  mp3: /\d+ samples \(about \d+ frames?\) lost to corrupt data: decoded \d+ of the \d+ samples/i,
};

let tmp = '';

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js')) || !fs.existsSync(path.join(ROOT, 'dist', 'decode', 'child.js'))) {
    throw new Error('dist/ is missing or incomplete: run `npx tsc -p tsconfig.json` before these tests');
  }
  for (const f of [GOLDEN_FLAC, GOLDEN_MP3]) {
    if (!fs.existsSync(f)) throw new Error(`golden recording missing: ${f}`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-bad-input-'));
  // Traversable by the unprivileged user of the permission cases.
  fs.chmodSync(tmp, 0o755);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// running voxprep

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The command prefix that drops root to nobody, checked to exist and to work. */
function dropPrivileges(): string[] {
  const prefix = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
  const probe = spawnSync(prefix[0], [...prefix.slice(1), 'id', '-u'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0 || probe.stdout.trim() !== String(NOBODY)) {
    throw new Error(
      'running as root, and `setpriv --reuid=65534 --regid=65534 --clear-groups` does not work here ' +
        `(${probe.error?.message ?? probe.stderr.trim()}): the permission case needs a non-root user`,
    );
  }
  return prefix;
}

/** Runs the CLI; `unprivileged` runs it as nobody when we are root (so permissions apply). */
function voxprep(args: string[], opts: { unprivileged?: boolean } = {}): Run {
  const prefix = opts.unprivileged && isRoot ? dropPrivileges() : [];
  const argv = [...prefix, process.execPath, BIN, ...args];
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh folder under the test's temp root. */
function fresh(name: string, mode = 0o755): string {
  const dir = path.join(tmp, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, mode);
  return dir;
}

/** An output folder that nobody may write into (for the unprivileged runs). */
function outFolder(name: string): string {
  return fresh(name, 0o777);
}

// ---------------------------------------------------------------------------------------
// inputs

/** Deterministic pseudo-random bytes (a 32-bit LCG, high byte) from a fixed seed. */
function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

/** An Ogg file's pages (RFC 3533: 27-byte header, lacing values, body). */
function oggPages(b: Buffer): Buffer[] {
  const pages: Buffer[] = [];
  for (let p = 0; p < b.length; ) {
    if (b.toString('latin1', p, p + 4) !== 'OggS') throw new Error(`no page at byte ${p}`);
    const segments = b[p + 26];
    let body = 0;
    for (let i = 0; i < segments; i++) body += b[p + 27 + i];
    const end = p + 27 + segments + body;
    pages.push(b.subarray(p, end));
    p = end;
  }
  return pages;
}

/** A page moved to another logical stream: its serial number changed, its checksum made again. */
function withSerial(page: Buffer, serial: number): Buffer {
  const copy = Buffer.from(page);
  copy.writeUInt32LE(serial, 14);
  copy.writeUInt32LE(0, 22);
  let crc = 0;
  for (const byte of copy) {
    crc ^= byte << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    crc >>>= 0;
  }
  copy.writeUInt32LE(crc, 22);
  return copy;
}

function write(dataset: string, relative: string, bytes: Buffer): string {
  const file = path.join(dataset, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

interface Good {
  rel: string;
  rate: number;
  seconds: number;
  seed: number;
  opts: { channels?: number; bits?: number; float?: boolean };
}

/** The two good files of each case (one in a speaker folder), and a third for the mixed run. */
const GOOD: Good[] = [
  { rel: 'good_a.wav', rate: 44100, seconds: 2.2, seed: 61, opts: { bits: 16 } },
  { rel: '3/good_b.wav', rate: 16000, seconds: 2.0, seed: 62, opts: { bits: 24 } },
];
const GOOD_C: Good = { rel: '2/good_c.wav', rate: 48000, seconds: 2.4, seed: 63, opts: { bits: 32, float: true } };

function putGood(dataset: string, goods: Good[] = GOOD): string[] {
  for (const g of goods) {
    const file = path.join(dataset, g.rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeWav(file, speechLike(g.rate, g.seconds, g.seed), g.rate, g.opts);
  }
  return goods.map((g) => g.rel);
}

/** A WAV header (RIFF, 16-byte fmt, data) with the given fields, then `data`. */
function rawWav(f: { tag?: number; channels: number; rate: number; bits: number; blockAlign?: number }, data: Buffer): Buffer {
  const h = Buffer.alloc(44);
  const blockAlign = f.blockAlign ?? f.channels * (f.bits / 8);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(f.tag ?? 1, 20);
  h.writeUInt16LE(f.channels, 22);
  h.writeUInt32LE(f.rate, 24);
  h.writeUInt32LE(f.rate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(f.bits, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** 16-bit PCM bytes of a plausible signal, `frames` × `channels`. */
function pcm16(frames: number, channels: number, seed: number): Buffer {
  const x = speechLike(16000, frames / 16000, seed);
  const b = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) b.writeInt16LE(Math.round((x[i] ?? 0) * 32767 * (c ? 0.5 : 1)), (i * channels + c) * 2);
  }
  return b;
}

/** A 16-bit stereo WAV whose header declares `declared` frames but holds `held` and a half. */
function truncatedWav(rate: number, declared: number, held: number): Buffer {
  const full = rawWav({ channels: 2, rate, bits: 16 }, pcm16(declared, 2, 71));
  return full.subarray(0, 44 + held * 4 + 2); // and 2 bytes of the next frame
}

/** A 32-bit float WAV of 2 s at 40 kHz with `bad` at one frame past the first 64 Ki frames. */
function nonFiniteWav(bad: number): { bytes: Buffer; at: number } {
  const rate = 40000;
  const x = speechLike(rate, 2, 72);
  const at = 70_001;
  x[at] = bad;
  const file = path.join(tmp, `nonfinite-${String(bad)}.wav`);
  writeWav(file, x, rate, { bits: 32, float: true });
  const bytes = fs.readFileSync(file);
  fs.rmSync(file);
  return { bytes, at };
}

/** A copy of a golden recording with ~200 bytes of garbage written over its middle. */
function corruptCopy(source: string, start: number, seed: number): Buffer {
  const b = Buffer.from(fs.readFileSync(source));
  randomBytes(200, seed).copy(b, start);
  return b;
}

/** FLAC: garbage over the middle of the file (inside some frame). */
function corruptFlac(): Buffer {
  const size = fs.statSync(GOLDEN_FLAC).size;
  return corruptCopy(GOLDEN_FLAC, Math.floor(size / 2) - 100, 91);
}

/** The FLAC's STREAMINFO maximum block size (the most one dropped frame can cost). */
function flacMaxBlock(): number {
  const b = fs.readFileSync(GOLDEN_FLAC);
  expect(b.toString('ascii', 0, 4)).toBe('fLaC');
  return b.readUInt16BE(10);
}

/** MP3: garbage from just before the first frame header after the middle, over that header. */
function corruptMp3(): Buffer {
  const b = fs.readFileSync(GOLDEN_MP3);
  let at = Math.floor(b.length / 2);
  while (at + 1 < b.length && !(b[at] === 0xff && (b[at + 1] & 0xfe) === 0xfa)) at++; // MPEG-1 layer III sync
  if (at + 1 >= b.length) throw new Error('no MPEG-1 layer III frame header after the middle of the golden MP3');
  return corruptCopy(GOLDEN_MP3, at - 60, 92);
}

// ---------------------------------------------------------------------------------------
// reading the results

interface Counts {
  files: number;
  processed: number;
  failed: number;
  rejected: number;
  skipped: number;
}

function counts(stdout: string): Counts {
  const m = /voxprep: (\d+) files?: (\d+) processed, (\d+) failed, (\d+) rejected, (\d+) skipped/.exec(stdout);
  if (!m) throw new Error(`no summary line in:\n${stdout}`);
  const [files, processed, failed, rejected, skipped] = m.slice(1).map(Number);
  return { files, processed, failed, rejected, skipped };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The summary's `<status>: <rel>: <reason>` line for a file, if any. */
function problem(stdout: string, rel: string): { status: string; reason: string } | undefined {
  const m = new RegExp(`^\\s*(failed|rejected|skipped): ${escapeRe(rel)}: (.*)$`, 'm').exec(stdout);
  return m ? { status: m[1], reason: m[2] } : undefined;
}

/** The summary's `warning: <rel>: …` lines for a file. */
function warnings(stdout: string, rel: string): string[] {
  const re = new RegExp(`^\\s*warning: ${escapeRe(rel)}: (.*)$`, 'gm');
  return [...stdout.matchAll(re)].map((m) => m[1]);
}

function byteSort(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/** idx0 of each accepted input: its place in the byte order of the relative paths. */
function idx0Map(all: string[]): Map<string, number> {
  return new Map(byteSort(all).map((rel, i) => [rel, i]));
}

function list(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** Slice names with this idx0 in one output folder. */
function slicesOf(out: string, dir: string, idx0: number): string[] {
  return list(path.join(out, dir)).filter((n) => Number(SLICE_NAME.exec(n)?.[2] ?? -1) === idx0);
}

/** Every file under `dir` (hidden ones included), relative. */

/** The good files were processed: no problem line, slices in both folders with the same names. */
function expectProcessed(stdout: string, out: string, rel: string, idx0: number): void {
  expect(problem(stdout, rel), `${rel} should be processed`).toBeUndefined();
  const names = slicesOf(out, SLICED, idx0);
  expect(names.length, `${rel} (idx0 ${idx0}) should have slices`).toBeGreaterThan(0);
  expect(slicesOf(out, SLICED_16K, idx0), rel).toEqual(names);
}

/** Nothing was written for this input, in either folder. */
function expectNothingFor(out: string, rel: string, idx0: number): void {
  expect(slicesOf(out, SLICED, idx0), `${rel} (idx0 ${idx0}) in ${SLICED}/`).toEqual([]);
  expect(slicesOf(out, SLICED_16K, idx0), `${rel} (idx0 ${idx0}) in ${SLICED_16K}/`).toEqual([]);
}

interface BadCase {
  name: string;
  /** Writes the bad input(s) into the dataset; returns their relative paths. */
  make: (dataset: string) => string[];
  status: 'failed' | 'skipped' | 'rejected';
  reason: RegExp;
  args?: string[];
  unprivileged?: boolean;
}

/**
 * The common shape: two good files plus the bad input; exit 1; the bad file named with its
 * status and reason; nothing written for it; no temporaries; the good files processed.
 */
function runBadCase(c: BadCase): { run: Run; out: string; idx0: Map<string, number> } {
  const dataset = fresh(`${c.name}/dataset`);
  const out = outFolder(`${c.name}/out`);
  const good = putGood(dataset);
  const bad = c.make(dataset);
  const idx0 = idx0Map([...good, ...bad]);

  const run = voxprep(['preprocess', dataset, '-o', out, ...(c.args ?? [])], { unprivileged: c.unprivileged });
  expect(run.signal, 'the run must end by itself').toBeNull();
  expect(run.code, run.stdout + run.stderr).toBe(1);
  expect(counts(run.stdout)).toMatchObject({ files: good.length + bad.length, processed: good.length });
  for (const rel of bad) {
    const p = problem(run.stdout, rel);
    expect(p, `${rel} should be named in the summary:\n${run.stdout}`).toBeDefined();
    expect(p!.status, rel).toBe(c.status);
    expect(p!.reason, rel).toMatch(c.reason);
    expectNothingFor(out, rel, idx0.get(rel)!);
  }
  expect(temporaries(out)).toEqual([]);
  for (const rel of good) expectProcessed(run.stdout, out, rel, idx0.get(rel)!);
  return { run, out, idx0 };
}

// ---------------------------------------------------------------------------------------

describe('bad input (CLI)', () => {
  it('an empty .wav is failed as empty', () => {
    runBadCase({
      name: 'empty',
      make: (d) => (write(d, 'empty.wav', Buffer.alloc(0)), ['empty.wav']),
      status: 'failed',
      reason: /empty/,
    });
  });

  const RANDOM: [string, number, RegExp][] = [
    ['.wav', 1001, /not a WAV file/],
    ['.flac', 1002, /not a valid FLAC file/],
    ['.mp3', 1003, /not a valid MP3 file/],
    ['.ogg', 1004, /not a valid Ogg Vorbis file/],
  ];
  for (const [ext, seed, reason] of RANDOM) {
    it(`random bytes named ${ext} are failed as not being ${ext.slice(1)}`, () => {
      runBadCase({
        name: `random${ext}`,
        make: (d) => (write(d, `noise${ext}`, randomBytes(16_384, seed)), [`noise${ext}`]),
        status: 'failed',
        reason,
      });
    });
  }

  it('a header claiming more data than the file holds: processed with a warning, what is there', () => {
    const dataset = fresh('truncated/dataset');
    const out = outFolder('truncated/out');
    const good = putGood(dataset);
    const rate = 22050;
    const declared = 3 * rate;
    const held = 33_075;
    const bytes = truncatedWav(rate, declared, held);
    write(dataset, 'truncated.wav', bytes);
    const idx0 = idx0Map([...good, 'truncated.wav']);

    const run = voxprep(['preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', String(rate)]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(counts(run.stdout)).toMatchObject({ files: 3, processed: 3, failed: 0, rejected: 0, skipped: 0 });
    expect(problem(run.stdout, 'truncated.wav')).toBeUndefined();
    const w = warnings(run.stdout, 'truncated.wav');
    expect(w.length, run.stdout).toBe(1);
    expect(w[0]).toMatch(new RegExp(`declares ${declared} frames.*holds ${held}\\b`));

    const i = idx0.get('truncated.wav')!;
    expect(list(path.join(out, SLICED)).filter((n) => n.startsWith(`0_${i}_`))).toEqual([`0_${i}_0.wav`]);
    const y = readWav(path.join(out, SLICED, `0_${i}_0.wav`)).samples;
    expect(y.length).toBe(held);
    // The frames held, mixed to mono.
    for (let f = 0; f < held; f += 997) {
      const l = bytes.readInt16LE(44 + f * 4) / 32768;
      const r = bytes.readInt16LE(44 + f * 4 + 2) / 32768;
      expect(Math.abs(y[f] - (l + r) / 2), `frame ${f}`).toBeLessThanOrEqual(1e-7);
    }
    expect(temporaries(out)).toEqual([]);
    for (const rel of good) expectProcessed(run.stdout, out, rel, idx0.get(rel)!);
  });

  it('a fmt chunk after the data chunk (some writers put it last): read as the same file in the usual order', () => {
    const dataset = fresh('fmt-last/dataset');
    const out = outFolder('fmt-last/out');
    fs.mkdirSync(path.join(dataset, '0'));
    fs.mkdirSync(path.join(dataset, '1'));
    const usual = path.join(dataset, '0', 'take.wav');
    writeWav(usual, speechLike(22050, 4, 81), 22050, { channels: 1 });
    // The same chunks, data first: RIFF header, then data, then fmt.
    const bytes = fs.readFileSync(usual);
    const chunks = new Map<string, Buffer>();
    for (let at = 12; at + 8 <= bytes.length; ) {
      const size = bytes.readUInt32LE(at + 4);
      chunks.set(bytes.toString('latin1', at, at + 4), bytes.subarray(at, at + 8 + size + (size & 1)));
      at += 8 + size + (size & 1);
    }
    const reordered = Buffer.concat([bytes.subarray(0, 12), chunks.get('data')!, chunks.get('fmt ')!]);
    write(path.join(dataset, '1'), 'take.wav', reordered);

    const run = voxprep(['preprocess', dataset, '-o', out, '--threads', '1']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(counts(run.stdout)).toMatchObject({ files: 2, processed: 2, failed: 0 });
    const names = list(path.join(out, SLICED));
    const first = names.filter((n) => n.startsWith('0_0_'));
    expect(first.length).toBeGreaterThan(0);
    expect(names.filter((n) => n.startsWith('1_1_'))).toEqual(first.map((n) => n.replace(/^0_0_/, '1_1_')));
    for (const dir of [SLICED, SLICED_16K]) {
      for (const n of first) {
        expect(fs.readFileSync(path.join(out, dir, n.replace(/^0_0_/, '1_1_'))).equals(fs.readFileSync(path.join(out, dir, n))), n).toBe(true);
      }
    }
    // The manifest's checksum of the reordered file is of its bytes (read again for it, as
    // the reader went back to the audio).
    const record = fs.readFileSync(path.join(out, 'voxprep-manifest.jsonl'), 'utf8').split('\n').find((l) => l.includes('"1/take.wav"'))!;
    expect(JSON.parse(record).input.xxh64).toBe(xxh64(reordered));
  });

  it('a header with zero channels is failed', () => {
    runBadCase({
      name: 'zero-channels',
      make: (d) => (write(d, 'nochannels.wav', rawWav({ channels: 0, rate: 16000, bits: 16 }, pcm16(16000, 1, 73))), ['nochannels.wav']),
      status: 'failed',
      reason: /zero channels/,
    });
  });

  it('a header with a zero sample rate is failed', () => {
    runBadCase({
      name: 'zero-rate',
      make: (d) => (write(d, 'norate.wav', rawWav({ channels: 1, rate: 0, bits: 16 }, pcm16(16000, 1, 74))), ['norate.wav']),
      status: 'failed',
      reason: /sample rate.*\b0 Hz/,
    });
  });

  for (const rate of [4, 4_000_000]) {
    it(`an absurd sample rate (${rate} Hz) is failed`, () => {
      runBadCase({
        name: `rate-${rate}`,
        make: (d) => (write(d, `rate${rate}.wav`, rawWav({ channels: 1, rate, bits: 16 }, pcm16(16000, 1, 75))), [`rate${rate}.wav`]),
        status: 'failed',
        reason: new RegExp(`sample rate.*\\b${rate} Hz`),
      });
    });
  }

  for (const codec of ['flac', 'mp3'] as const) {
    const golden = codec === 'flac' ? GOLDEN_FLAC : GOLDEN_MP3;
    const rel = codec === 'flac' ? '1/echo_48k.flac' : '2/foxtrot_441.mp3';
    it(`a ${codec.toUpperCase()} with ~200 bytes of garbage in the middle: processed, the dropped frame named`, () => {
      // The clean recording's decoded length, at its own rate with nothing else done.
      const rate = codec === 'flac' ? 48000 : 44100;
      const args = ['--cut', 'skip', '--no-highpass', '--sr', String(rate)];
      const cleanSet = fresh(`corrupt-${codec}/clean`);
      const cleanOut = outFolder(`corrupt-${codec}/clean-out`);
      write(cleanSet, rel, fs.readFileSync(golden));
      const clean = voxprep(['preprocess', cleanSet, '-o', cleanOut, ...args]);
      expect(clean.code, clean.stdout + clean.stderr).toBe(0);
      const cleanLength = readWav(path.join(cleanOut, SLICED, list(path.join(cleanOut, SLICED))[0])).samples.length;

      const dataset = fresh(`corrupt-${codec}/dataset`);
      const out = outFolder(`corrupt-${codec}/out`);
      const good = putGood(dataset);
      write(dataset, rel, codec === 'flac' ? corruptFlac() : corruptMp3());
      const idx0 = idx0Map([...good, rel]);
      const run = voxprep(['preprocess', dataset, '-o', out, ...args]);

      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(counts(run.stdout)).toMatchObject({ files: 3, processed: 3, failed: 0, rejected: 0, skipped: 0 });
      expect(temporaries(out)).toEqual([]);
      for (const g of good) expectProcessed(run.stdout, out, g, idx0.get(g)!);
      expectProcessed(run.stdout, out, rel, idx0.get(rel)!);
      const names = slicesOf(out, SLICED, idx0.get(rel)!);
      expect(names.length).toBe(1);
      const length = readWav(path.join(out, SLICED, names[0])).samples.length;
      // At most the frames the garbage touches are lost (or concealed); the rest is decoded.
      const frameCost = codec === 'flac' ? 2 * flacMaxBlock() : 3 * 1152;
      expect(length, `decoded ${length} of the clean ${cleanLength} samples`).toBeLessThanOrEqual(cleanLength);
      expect(cleanLength - length, `decoded ${length} of the clean ${cleanLength} samples`).toBeLessThanOrEqual(frameCost);
      // The loss is reported: FLAC names the dropped frame; MP3 (mpg123 resynchronizes
      // without saying where) reports the samples lost against the LAME header's length.
      const w = warnings(run.stdout, rel);
      expect(
        w.some((line) => CORRUPTION_WARNING[codec].test(line)),
        `expected a warning reporting the loss in ${rel}; summary:\n${run.stdout}`,
      ).toBe(true);
    });
  }

  it('a FLAC damaged inside one frame (a flipped bit, zeroed or random bytes) loses that frame alone, wherever it is', () => {
    // Damage of this kind leaves the decoder yielding nothing for every later frame unless it
    // is reset: the file then lost everything after the damage, and still counted as processed.
    const b = fs.readFileSync(GOLDEN_FLAC);
    const syncs: number[] = [];
    for (let i = 8; i + 1 < b.length; i++) if (b[i] === 0xff && (b[i + 1] & 0xfe) === 0xf8) syncs.push(i);
    expect(syncs.length).toBeGreaterThan(30);
    const damaged: [string, Buffer][] = [];
    for (const [k, kind] of [[3, 'zeros'], [5, 'flip'], [10, 'flip'], [12, 'random'], [20, 'zeros']] as const) {
      const copy = Buffer.from(b);
      const mid = Math.floor((syncs[k] + syncs[k + 1]) / 2);
      if (kind === 'flip') copy[mid] ^= 0x10;
      else (kind === 'zeros' ? Buffer.alloc(10) : randomBytes(10, 93 + k)).copy(copy, mid);
      damaged.push([`${kind}_${k}.flac`, copy]);
    }
    const args = ['--cut', 'skip', '--no-highpass', '--sr', '48000'];
    const cleanSet = fresh('flac-frames/clean');
    write(cleanSet, 'clean.flac', b);
    const cleanOut = outFolder('flac-frames/clean-out');
    expect(voxprep(['preprocess', cleanSet, '-o', cleanOut, ...args]).code).toBe(0);
    const cleanLength = readWav(path.join(cleanOut, SLICED, '0_0_0.wav')).samples.length;
    const dataset = fresh('flac-frames/dataset');
    for (const [rel, bytes] of damaged) write(dataset, rel, bytes);
    const out = outFolder('flac-frames/out');
    const run = voxprep(['preprocess', dataset, '-o', out, ...args]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const idx0 = idx0Map(damaged.map(([rel]) => rel));
    for (const [rel] of damaged) {
      const names = slicesOf(out, SLICED, idx0.get(rel)!);
      expect(names.length, rel).toBe(1);
      const length = readWav(path.join(out, SLICED, names[0])).samples.length;
      expect(cleanLength - length, `${rel}: decoded ${length} of the clean ${cleanLength} samples`).toBeLessThanOrEqual(flacMaxBlock());
      expect(warnings(run.stdout, rel).filter((w) => CORRUPTION_WARNING.flac.test(w)).length, rel).toBe(1);
    }
  });

  it('an MP3 behind tags that hold frame-like bytes, or behind a tag over 64 KB: read as the plain file (channels, audio, loss check)', () => {
    const b = fs.readFileSync(GOLDEN_MP3); // stereo, behind an ID3v2 tag of its own
    /** An ID3v2.4 tag around `body` (its size in the syncsafe form). */
    const id3 = (body: Buffer) => {
      const size = body.length;
      const head = Buffer.from([0x49, 0x44, 0x33, 4, 0, 0, (size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f]);
      return Buffer.concat([head, body]);
    };
    // Inside a second tag, the bytes of a mono MPEG-1 Layer III frame header (as an Exif JPEG
    // can hold), with no frame after it.
    const fake = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), Buffer.from([0xff, 0xfb, 0x90, 0xc4]), Buffer.alloc(300, 0x11)]);
    const dataset = fresh('mp3-tags/dataset');
    write(dataset, 'plain.mp3', b);
    write(dataset, 'two-tags.mp3', Buffer.concat([id3(Buffer.alloc(40)), id3(fake), b]));
    write(dataset, 'big-tag.mp3', Buffer.concat([id3(Buffer.alloc(200_000)), b]));
    write(dataset, 'big-tag-corrupt.mp3', Buffer.concat([id3(Buffer.alloc(200_000)), corruptMp3()]));
    // Joined to itself with a tag between holding two frame headers of another rate (22.05 kHz,
    // 64 kbps: 208 bytes apart): a tag, not a change of rate.
    const otherRate = Buffer.alloc(600, 0x11);
    for (const at of [0, 208]) Buffer.from([0xff, 0xf3, 0x80, 0xc4]).copy(otherRate, at);
    write(dataset, 'joined.mp3', Buffer.concat([b, id3(otherRate), b]));
    const out = outFolder('mp3-tags/out');
    const run = voxprep(['preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '44100']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    const entry = (rel: string) => report.files.find((f: { path: string }) => f.path === rel);
    const slice = (rel: string) => fs.readFileSync(path.join(out, SLICED, `0_${entry(rel).idx0}_0.wav`));
    for (const rel of ['two-tags.mp3', 'big-tag.mp3']) {
      expect(entry(rel).source.channels, rel).toBe(2);
      expect(warnings(run.stdout, rel), rel).toEqual([]);
      expect(slice(rel).equals(slice('plain.mp3')), rel).toBe(true);
    }
    expect(warnings(run.stdout, 'big-tag-corrupt.mp3').some((w) => CORRUPTION_WARNING.mp3.test(w))).toBe(true);
    expect(entry('joined.mp3').status).toBe('ok');
  });

  it('an Ogg Vorbis file with damaged pages or cut short: processed, the loss said (the decoder passes over both in silence)', () => {
    const b = fs.readFileSync(GOLDEN_OGG);
    const dataset = fresh('ogg-damage/dataset');
    write(dataset, 'clean.ogg', b);
    write(dataset, 'garbage.ogg', corruptCopy(GOLDEN_OGG, Math.floor(b.length / 2) - 100, 94));
    const flipped = Buffer.from(b);
    flipped[Math.floor(b.length / 3)] ^= 0x01;
    write(dataset, 'flipped.ogg', flipped);
    write(dataset, 'half.ogg', b.subarray(0, Math.floor(b.length / 2)));
    // Chained: a file of two streams one after the other (here the same one twice), the
    // damage in the second.
    write(dataset, 'chained.ogg', Buffer.concat([b, b]));
    write(dataset, 'chained-damaged.ogg', Buffer.concat([b, flipped]));
    const last = Buffer.from(b);
    last[last.lastIndexOf('OggS') + 10] ^= 0x01; // the last page's header
    write(dataset, 'last.ogg', last);
    const out = outFolder('ogg-damage/out');
    const run = voxprep(['preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '48000']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(counts(run.stdout)).toMatchObject({ files: 7, processed: 7, failed: 0 });
    expect(warnings(run.stdout, 'clean.ogg')).toEqual([]);
    expect(warnings(run.stdout, 'chained.ogg')).toEqual([]);
    // The second link decoded as a file of its own (the decoder starts again at it, with its
    // setup): the first link's samples twice, not shifted by the decoder's carried overlap.
    const sliceOf = (rel: string) => {
      const entry = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).files.find((f: { path: string }) => f.path === rel);
      return readWav(path.join(out, SLICED, `0_${entry.idx0}_0.wav`)).samples;
    };
    const once = sliceOf('clean.ogg');
    const twice = sliceOf('chained.ogg');
    expect(twice.length).toBe(2 * once.length);
    expect(Buffer.from(twice.buffer, twice.byteOffset, twice.byteLength).equals(Buffer.concat([Buffer.from(once.buffer, once.byteOffset, once.byteLength), Buffer.from(once.buffer, once.byteOffset, once.byteLength)]))).toBe(true);
    for (const rel of ['garbage.ogg', 'flipped.ogg', 'chained-damaged.ogg']) {
      expect(warnings(run.stdout, rel).some((w) => /^1 page after [\d.]+ s damaged \(\d+ bytes fail the page checksum\): its audio is lost or damaged$/.test(w)), rel).toBe(true);
    }
    expect(warnings(run.stdout, 'half.ogg')).toContainEqual(expect.stringMatching(/^the stream ends inside a page, after [\d.]+ s \(the file was cut short\?\): the rest is lost$/));
    // What the decoder makes of the page cut short still comes out (here a second of it).
    const lastWhole = Number(/after ([\d.]+) s/.exec(warnings(run.stdout, 'half.ogg').join('\n'))![1]);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.files.find((f: { path: string }) => f.path === 'half.ogg').seconds).toBeGreaterThan(lastWhole + 0.5);
    expect(warnings(run.stdout, 'last.ogg')).toContainEqual(
      expect.stringMatching(/^the last \d+ bytes, after [\d.]+ s, are damaged \(they fail the page checksum\): the end is lost or damaged$/),
    );
  });

  it('an Ogg file of two streams played together: only the first Vorbis stream decoded, the other named', () => {
    const b = fs.readFileSync(GOLDEN_OGG);
    const one = oggPages(b);
    // A second stream: the same pages under another serial number, their pages interleaved
    // with the first's after both first pages (as a muxer writes them).
    const other = one.map((page) => withSerial(page, 0x5eca1));
    const muxed: Buffer[] = [one[0], other[0]];
    for (let i = 1; i < one.length; ++i) muxed.push(one[i], other[i]);
    const dataset = fresh('ogg-muxed/dataset');
    write(dataset, 'alone.ogg', b);
    write(dataset, 'muxed.ogg', Buffer.concat(muxed));
    // A page of the other stream missing: not a loss of the audio decoded.
    write(dataset, 'muxed-gap.ogg', Buffer.concat(muxed.filter((page) => page !== other[Math.floor(other.length / 2)])));
    // An Ogg Skeleton stream (an index of the others) in front: nothing played, nothing said.
    const fishead = Buffer.concat([Buffer.from('fishead\0', 'latin1'), Buffer.alloc(56)]);
    const skeletonPage = Buffer.concat([Buffer.from('OggS', 'latin1'), Buffer.from([0, 0x06]), Buffer.alloc(20), Buffer.from([1, fishead.length]), fishead]);
    write(dataset, 'skeleton.ogg', Buffer.concat([withSerial(skeletonPage, 0x51e1), b]));
    const out = outFolder('ogg-muxed/out');
    const run = voxprep(['preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '48000']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(warnings(run.stdout, 'alone.ogg')).toEqual([]);
    for (const rel of ['muxed.ogg', 'muxed-gap.ogg']) {
      expect(warnings(run.stdout, rel), rel).toEqual([
        'it holds another stream (Vorbis audio) beside the Vorbis audio, played with it: only the audio of the first Vorbis stream is used',
      ]);
    }
    // The first stream's audio, as the file of it alone gives it (not both streams' packets as one).
    expect(warnings(run.stdout, 'skeleton.ogg')).toEqual([]);
    for (const dir of [SLICED, SLICED_16K]) {
      for (const name of ['0_1_0.wav', '0_2_0.wav', '0_3_0.wav']) {
        expect(fs.readFileSync(path.join(out, dir, name)).equals(fs.readFileSync(path.join(out, dir, '0_0_0.wav'))), `${dir}/${name}`).toBe(true);
      }
    }
  });

  it('file names that are not UTF-8 (another code page): each fails naming why, the rest goes on', () => {
    const dataset = fresh('not-utf8/dataset');
    const out = outFolder('not-utf8/out');
    const good = putGood(dataset);
    const root = Buffer.from(dataset);
    // "Café" in Latin-1 and in CP-437: both read back as "Caf\uFFFD.wav".
    for (const byte of [0xe9, 0x82]) {
      fs.writeFileSync(Buffer.concat([root, Buffer.from('/Caf'), Buffer.from([byte]), Buffer.from('.wav')]), fs.readFileSync(path.join(dataset, good[0])));
    }
    fs.mkdirSync(Buffer.concat([root, Buffer.from('/sp'), Buffer.from([0xff])])); // a folder too
    const run = voxprep(['preprocess', dataset, '-o', out]);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(counts(run.stdout)).toMatchObject({ files: 4, processed: 2, failed: 2 });
    const failed = run.stdout.split('\n').filter((l) => /^ {2}failed: Caf\uFFFD\.wav: its name is not valid UTF-8 .*: rename it$/.test(l));
    expect(failed.length, run.stdout).toBe(2);
    expect(run.stdout).toMatch(/cannot list sp\uFFFD: its name is not valid UTF-8/);
  });

  it('a file that cannot be read (no permission) is failed', () => {
    runBadCase({
      name: 'unreadable',
      make: (d) => {
        const file = write(d, 'locked.wav', rawWav({ channels: 1, rate: 16000, bits: 16 }, pcm16(32000, 1, 76)));
        fs.chmodSync(file, 0o000);
        return ['locked.wav'];
      },
      status: 'failed',
      reason: /permission denied/i,
      unprivileged: true,
    });
  });

  it('a symlink loop in the dataset: the run ends and each real file is processed once', () => {
    const dataset = fresh('symlinks/dataset');
    const out = outFolder('symlinks/out');
    const good = putGood(dataset);
    fs.symlinkSync('..', path.join(dataset, '3', 'loop')); // 3/loop → the dataset itself
    fs.symlinkSync('.', path.join(dataset, 'self'));
    // A link to a speaker folder that sorts before it: the folder itself keeps its files.
    fs.symlinkSync('3', path.join(dataset, '2_alias'));
    const idx0 = idx0Map(good);

    const run = voxprep(['preprocess', dataset, '-o', out]);
    expect(run.signal, 'the run must end by itself').toBeNull();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(counts(run.stdout)).toMatchObject({ files: 2, processed: 2 });
    expect(run.stdout).not.toMatch(/^\s*(warning|failed|skipped|rejected).*\b(loop|self|2_alias)\b/m);
    // Only idx0 0 and 1 exist: no file was listed twice under another path.
    const idx0s = new Set(list(path.join(out, SLICED)).map((n) => Number(SLICE_NAME.exec(n)![2])));
    expect([...idx0s].sort()).toEqual([0, 1]);
    for (const rel of good) expectProcessed(run.stdout, out, rel, idx0.get(rel)!);
    // Each counted once in total_seconds.
    const expected = GOOD.reduce((s, g) => s + Math.ceil((Math.round(g.rate * g.seconds) * 40000) / g.rate) / 40000, 0);
    const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
    expect(info.total_seconds).toBeCloseTo(expected, 9);
    expect(temporaries(out)).toEqual([]);
  });

  for (const [label, value] of [
    ['NaN', NaN],
    ['+Infinity', Infinity],
  ] as const) {
    it(`${label} samples in a 32-bit float WAV: failed, nothing written (analysed first, or streamed)`, () => {
      const { bytes } = nonFiniteWav(value);
      const make = (d: string) => (write(d, 'nonfinite.wav', bytes), ['nonfinite.wav']);
      // Default options: the automatic cut measures the file before writing.
      runBadCase({ name: `nonfinite-${label}`, make, status: 'failed', reason: /non-finite|NaN|infinit/i });
      // --cut skip: the file streams straight to its output; the bad sample comes after the
      // first block has been written.
      runBadCase({
        name: `nonfinite-${label}-skip`,
        make,
        status: 'failed',
        reason: /non-finite|NaN|infinit/i,
        args: ['--cut', 'skip', '--no-highpass'],
      });
    });
  }

  it('a file shorter than one RMS frame (50 samples at 40 kHz) is skipped as too short', () => {
    runBadCase({
      name: 'short',
      make: (d) => (writeWav(path.join(d, 'tiny.wav'), speechLike(40000, 50 / 40000, 77), 40000), ['tiny.wav']),
      status: 'skipped',
      reason: /too short/,
    });
  });
});

describe('bad input (library API)', () => {
  it('a file removed while the run is under way is failed, and nothing is written for it', async () => {
    const dataset = fresh('removed/dataset');
    const out = outFolder('removed/out');
    const names = ['f0.wav', 'f1.wav', 'f2.wav', 'f3.wav', 'f4.wav', 'f5.wav'];
    // The files between the first and the last are long (some 30 ms of work each), so that the
    // last is removed (once the first is reported) before the engine reaches it: with 2 s files
    // a loaded machine let the engine read it first (once in CI).
    const seconds = (i: number) => (i === 0 || i === names.length - 1 ? 2 : 30);
    names.forEach((n, i) => writeWav(path.join(dataset, n), speechLike(44100, seconds(i), 80 + i), 44100));
    const last = names[names.length - 1];
    let removedAfter = -1;
    const result = await preprocess(dataset, out, {
      threads: 1,
      onProgress: (e) => {
        if (e.done === 1) {
          removedAfter = e.file.idx0;
          fs.rmSync(path.join(dataset, last));
        }
      },
    });
    expect(removedAfter).toBe(0);
    const gone = result.files.find((f) => f.relative === last)!;
    expect(gone.status).toBe('failed');
    expect(gone.error).toMatch(/no longer exists|cannot (be )?open|no such file/i);
    expect(gone.slices).toBe(0);
    expectNothingFor(out, last, names.length - 1);
    for (const f of result.files.filter((g) => g.relative !== last)) {
      expect(f.status, f.relative).toBe('ok');
      expect(slicesOf(out, SLICED, f.idx0).length, f.relative).toBeGreaterThan(0);
    }
    expect(temporaries(out)).toEqual([]);
  });
});

describe('bad input, all together', () => {
  it('good files among every kind of bad input come out byte-identical to a run without them', () => {
    const goods = [...GOOD, GOOD_C];
    const mixed = fresh('mixed/dataset');
    const mixedOut = outFolder('mixed/out');
    const goodRels = putGood(mixed, goods);

    interface Expect {
      rel: string;
      bytes: Buffer;
      /** failed/skipped with this reason, or processed with a warning matching it. */
      status: 'failed' | 'skipped' | 'warning';
      reason: RegExp;
    }
    const nan = nonFiniteWav(NaN).bytes;
    const inf = nonFiniteWav(Infinity).bytes;
    const bad: Expect[] = [
      { rel: 'empty.wav', bytes: Buffer.alloc(0), status: 'failed', reason: /empty/ },
      { rel: 'noise.wav', bytes: randomBytes(16_384, 1001), status: 'failed', reason: /not a WAV file/ },
      { rel: 'noise.flac', bytes: randomBytes(16_384, 1002), status: 'failed', reason: /not a valid FLAC file/ },
      { rel: 'noise.mp3', bytes: randomBytes(16_384, 1003), status: 'failed', reason: /not a valid MP3 file/ },
      { rel: 'noise.ogg', bytes: randomBytes(16_384, 1004), status: 'failed', reason: /not a valid Ogg Vorbis file/ },
      { rel: '3/truncated.wav', bytes: truncatedWav(22050, 66150, 33075), status: 'warning', reason: /declares 66150 frames.*holds 33075\b/ },
      { rel: 'nochannels.wav', bytes: rawWav({ channels: 0, rate: 16000, bits: 16 }, pcm16(16000, 1, 73)), status: 'failed', reason: /zero channels/ },
      { rel: 'norate.wav', bytes: rawWav({ channels: 1, rate: 0, bits: 16 }, pcm16(16000, 1, 74)), status: 'failed', reason: /sample rate.*\b0 Hz/ },
      { rel: 'rate4.wav', bytes: rawWav({ channels: 1, rate: 4, bits: 16 }, pcm16(16000, 1, 75)), status: 'failed', reason: /sample rate.*\b4 Hz/ },
      { rel: '2/rate4000000.wav', bytes: rawWav({ channels: 1, rate: 4_000_000, bits: 16 }, pcm16(16000, 1, 75)), status: 'failed', reason: /sample rate.*\b4000000 Hz/ },
      { rel: '1/echo_48k.flac', bytes: corruptFlac(), status: 'warning', reason: CORRUPTION_WARNING.flac },
      { rel: '2/foxtrot_441.mp3', bytes: corruptMp3(), status: 'warning', reason: CORRUPTION_WARNING.mp3 },
      { rel: 'locked.wav', bytes: rawWav({ channels: 1, rate: 16000, bits: 16 }, pcm16(32000, 1, 76)), status: 'failed', reason: /permission denied/i },
      { rel: 'nan.wav', bytes: nan, status: 'failed', reason: /non-finite|NaN/i },
      { rel: '3/inf.wav', bytes: inf, status: 'failed', reason: /non-finite|infinit/i },
      { rel: 'tiny.wav', bytes: rawWav({ channels: 1, rate: 40000, bits: 16 }, pcm16(50, 1, 77)), status: 'skipped', reason: /too short/ },
    ];
    for (const b of bad) write(mixed, b.rel, b.bytes);
    fs.chmodSync(path.join(mixed, 'locked.wav'), 0o000);
    fs.symlinkSync('..', path.join(mixed, '3', 'loop'));
    fs.symlinkSync('.', path.join(mixed, 'self'));
    const idx0Mixed = idx0Map([...goodRels, ...bad.map((b) => b.rel)]);

    const alone = fresh('alone/dataset');
    const aloneOut = outFolder('alone/out');
    putGood(alone, goods);
    const idx0Alone = idx0Map(goodRels);

    // Both runs as the same (unprivileged) user, so that locked.wav cannot be read.
    const r1 = voxprep(['preprocess', mixed, '-o', mixedOut], { unprivileged: true });
    const r2 = voxprep(['preprocess', alone, '-o', aloneOut], { unprivileged: true });
    expect(r1.signal, 'the mixed run must end by itself').toBeNull();
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(r1.code, r1.stdout + r1.stderr).toBe(1);

    // Every input listed once (the symlink loops add nothing); every bad one named.
    const c = counts(r1.stdout);
    expect(c.files).toBe(goods.length + bad.length);
    const warned = bad.filter((b) => b.status === 'warning').length;
    expect.soft(c.processed, 'good files plus those processed with a warning').toBe(goods.length + warned);
    for (const b of bad) {
      if (b.status === 'warning') {
        expect.soft(problem(r1.stdout, b.rel), `${b.rel} should be processed`).toBeUndefined();
        expect.soft(warnings(r1.stdout, b.rel).some((w) => b.reason.test(w)), `${b.rel}: a warning matching ${b.reason}`).toBe(true);
      } else {
        const p = problem(r1.stdout, b.rel);
        expect.soft(p?.status, `${b.rel} should be named as ${b.status}`).toBe(b.status);
        expect.soft(p?.reason ?? '(not named)', b.rel).toMatch(b.reason);
        expect.soft(slicesOf(mixedOut, SLICED, idx0Mixed.get(b.rel)!), `${b.rel}: nothing written`).toEqual([]);
        expect.soft(slicesOf(mixedOut, SLICED_16K, idx0Mixed.get(b.rel)!), `${b.rel}: nothing written`).toEqual([]);
      }
    }
    expect(temporaries(mixedOut)).toEqual([]);

    // The good files' outputs: same slices, same bytes, with idx0 mapped by source file.
    for (const rel of byteSort(goodRels)) {
      const i1 = idx0Mixed.get(rel)!;
      const i2 = idx0Alone.get(rel)!;
      for (const dir of [SLICED, SLICED_16K]) {
        const a = slicesOf(mixedOut, dir, i1);
        const b = slicesOf(aloneOut, dir, i2);
        expect(b.length, `${rel} in ${dir}/`).toBeGreaterThan(0);
        const suffix = (n: string) => n.replace(SLICE_NAME, (_, sid, _i, k) => `${sid}_*_${k}`);
        expect(a.map(suffix), `${rel} in ${dir}/`).toEqual(b.map(suffix));
        for (let k = 0; k < a.length; k++) {
          const same = fs.readFileSync(path.join(mixedOut, dir, a[k])).equals(fs.readFileSync(path.join(aloneOut, dir, b[k])));
          expect(same, `${dir}/${a[k]} (mixed run) vs ${dir}/${b[k]} (good files alone), from ${rel}`).toBe(true);
        }
      }
    }
  });
});
