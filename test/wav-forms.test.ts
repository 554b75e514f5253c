// WAV forms beyond the plain ones: each file is built here byte by byte (RF64, unknown data
// sizes, chunks in unusual places, odd chunk sizes, A-law and µ-law, many channels,
// WAVE_FORMAT_EXTENSIBLE float), run through the compiled CLI with nothing but the mix to
// mono (--cut skip --no-highpass --sr <input rate>), and the single output's samples are
// compared with the expected mono values. Run `npx tsc -p tsconfig.json` first: dist/ must exist.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWav } from './helpers/wav.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'voxprep.js');
const SLICED = 'sliced_audios';
const SLICED_16K = 'sliced_audios_16k';
/** Float32 rounding of values in [-1, 1] is below 6e-8; anything more is a decoding error. */
const TOLERANCE = 1e-7;

let tmp = '';

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npx tsc -p tsconfig.json` before these tests');
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-wav-forms-'));
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// a small RIFF chunk builder

/** One chunk: id, 32-bit size (the body's, unless `size` overrides it), body, pad byte if odd. */
function chunk(id: string, body: Buffer, size?: number): Buffer {
  if (id.length !== 4) throw new Error(`chunk id must be 4 characters: ${id}`);
  const head = Buffer.alloc(8);
  head.write(id, 0, 'ascii');
  head.writeUInt32LE(size ?? body.length, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
}

/** The file: 'RIFF'/'RF64', the size field (by default the true one), 'WAVE', the chunks. */
function riffFile(chunks: Buffer[], opts: { magic?: 'RIFF' | 'RF64'; size?: number } = {}): Buffer {
  const body = Buffer.concat(chunks);
  const head = Buffer.alloc(12);
  head.write(opts.magic ?? 'RIFF', 0, 'ascii');
  head.writeUInt32LE(opts.size ?? body.length + 4, 4);
  head.write('WAVE', 8, 'ascii');
  return Buffer.concat([head, body]);
}

interface FmtSpec {
  tag: number; // 1 PCM, 3 float, 6 A-law, 7 µ-law
  channels: number;
  rate: number;
  bits: number;
  /** fmt chunk of 18 bytes with cbSize 0 (the usual form for non-PCM tags). */
  cbSize?: boolean;
  /** WAVE_FORMAT_EXTENSIBLE carrying `tag` as its sub-format. */
  extensible?: { validBits: number; channelMask: number };
}

function fmtChunk(f: FmtSpec): Buffer {
  const size = f.extensible ? 40 : f.cbSize ? 18 : 16;
  const b = Buffer.alloc(size);
  const blockAlign = f.channels * (f.bits / 8);
  b.writeUInt16LE(f.extensible ? 0xfffe : f.tag, 0);
  b.writeUInt16LE(f.channels, 2);
  b.writeUInt32LE(f.rate, 4);
  b.writeUInt32LE(f.rate * blockAlign, 8);
  b.writeUInt16LE(blockAlign, 12);
  b.writeUInt16LE(f.bits, 14);
  if (f.extensible) {
    b.writeUInt16LE(22, 16); // cbSize
    b.writeUInt16LE(f.extensible.validBits, 18);
    b.writeUInt32LE(f.extensible.channelMask, 20);
    // Sub-format GUID {0000xxxx-0000-0010-8000-00AA00389B71}: the format tag, then the base.
    b.writeUInt16LE(f.tag, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 26);
  } else if (f.cbSize) {
    b.writeUInt16LE(0, 16);
  }
  return chunk('fmt ', b);
}

function factChunk(frames: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(frames, 0);
  return chunk('fact', b);
}

/** A LIST/INFO chunk with a title and a software entry (both odd-length strings padded). */
function listInfoChunk(): Buffer {
  const entry = (id: string, text: string) => chunk(id, Buffer.from(`${text}\0`, 'latin1'));
  return chunk('LIST', Buffer.concat([Buffer.from('INFO', 'ascii'), entry('INAM', 'take 1'), entry('ISFT', 'voxprep tests')]));
}

/** A 'cue ' chunk with two cue points. */
function cueChunk(): Buffer {
  const b = Buffer.alloc(4 + 2 * 24);
  b.writeUInt32LE(2, 0);
  for (let i = 0; i < 2; i++) {
    const at = 4 + i * 24;
    b.writeUInt32LE(i + 1, at); // id
    b.writeUInt32LE(i * 1000, at + 4); // position
    b.write('data', at + 8, 'ascii');
    b.writeUInt32LE(0, at + 12); // chunk start
    b.writeUInt32LE(0, at + 16); // block start
    b.writeUInt32LE(i * 1000, at + 20); // sample offset
  }
  return chunk('cue ', b);
}

/** A chunk body of non-zero bytes, so that reading it as audio would show. */
function filler(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[i] = (s >>> 24) | 1;
  }
  return b;
}

// ---------------------------------------------------------------------------------------
// sample encodings, written independently of voxprep

/** A deterministic test signal per channel: sines of different frequencies and phases. */
function tone(n: number, rate: number, channel: number, amplitude = 0.6): Float64Array {
  const x = new Float64Array(n);
  const f = 110 * (channel + 1) + 37;
  for (let i = 0; i < n; i++) {
    x[i] = amplitude * Math.sin((2 * Math.PI * f * i) / rate + channel * 0.7) + 0.05 * Math.sin((2 * Math.PI * 3 * f * i) / rate);
  }
  return x;
}

/** Quantizes channels to interleaved integer PCM; returns the bytes and the decoded values. */
function pcm(channels: Float64Array[], bits: number): { bytes: Buffer; values: Float64Array[] } {
  const n = channels[0].length;
  const ch = channels.length;
  const width = bits / 8;
  const full = 2 ** (bits - 1);
  const bytes = Buffer.alloc(n * ch * width);
  const values = channels.map(() => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < ch; c++) {
      const q = Math.max(-full, Math.min(full - 1, Math.round(channels[c][i] * full)));
      bytes.writeIntLE(q, (i * ch + c) * width, width);
      values[c][i] = q / full;
    }
  }
  return { bytes, values };
}

/** Interleaved 32-bit float; returns the bytes and the float32 values. */
function float32(channels: Float64Array[]): { bytes: Buffer; values: Float64Array[] } {
  const n = channels[0].length;
  const ch = channels.length;
  const bytes = Buffer.alloc(n * ch * 4);
  const values = channels.map(() => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < ch; c++) {
      bytes.writeFloatLE(channels[c][i], (i * ch + c) * 4);
      values[c][i] = Math.fround(channels[c][i]);
    }
  }
  return { bytes, values };
}

/** The mean of the channels, frame by frame. */
function mixMono(values: Float64Array[]): Float64Array {
  const n = values[0].length;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const v of values) s += v[i];
    y[i] = s / values.length;
  }
  return y;
}

/**
 * G.711 µ-law to 16-bit linear (ITU-T G.711): the code is stored inverted; sign bit, a 3-bit
 * segment e and a 4-bit step m; magnitude = (2m + 33)·2^(e+2) − 132 (bias 0x84).
 */
function ulawToLinear(byte: number): number {
  const code = ~byte & 0xff;
  const e = (code >> 4) & 7;
  const m = code & 0x0f;
  const magnitude = (2 * m + 33) * 2 ** (e + 2) - 132;
  return code & 0x80 ? -magnitude : magnitude;
}

/**
 * G.711 A-law to 16-bit linear: even bits inverted (xor 0x55); sign bit set means positive;
 * segment 0: (2m + 1)·8, segment e ≥ 1: (2m + 33)·2^(e+2).
 */
function alawToLinear(byte: number): number {
  const code = byte ^ 0x55;
  const e = (code >> 4) & 7;
  const m = code & 0x0f;
  const magnitude = e === 0 ? (2 * m + 1) * 8 : (2 * m + 33) * 2 ** (e + 2);
  return code & 0x80 ? magnitude : -magnitude;
}

// ---------------------------------------------------------------------------------------
// running voxprep

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function voxprep(...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function list(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** The raw header facts of an output WAV: it must be mono 32-bit float at `rate`. */
function outputFormat(file: string): { tag: number; channels: number; rate: number; bits: number } {
  const buf = fs.readFileSync(file);
  expect(buf.toString('ascii', 0, 4), file).toBe('RIFF');
  expect(buf.toString('ascii', 8, 12), file).toBe('WAVE');
  for (let pos = 12; pos + 8 <= buf.length; ) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    if (id === 'fmt ') {
      return {
        tag: buf.readUInt16LE(pos + 8),
        channels: buf.readUInt16LE(pos + 10),
        rate: buf.readUInt32LE(pos + 12),
        bits: buf.readUInt16LE(pos + 22),
      };
    }
    pos += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no fmt chunk`);
}

/**
 * Writes `bytes` as the dataset's only file, runs voxprep so that the output is the input
 * mixed to mono, and checks the output against `expected` sample by sample.
 */
function checkForm(name: string, bytes: Buffer, rate: number, expected: Float64Array, warning?: RegExp): void {
  const dataset = path.join(tmp, name, 'dataset');
  const out = path.join(tmp, name, 'out');
  fs.mkdirSync(dataset, { recursive: true });
  fs.writeFileSync(path.join(dataset, `${name}.wav`), bytes);

  const r = voxprep('preprocess', dataset, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', String(rate));
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('1 file: 1 processed, 0 failed, 0 rejected');
  if (warning) expect(r.stdout).toMatch(new RegExp(`warning: ${name}\\.wav: ${warning.source}`));
  else expect(r.stdout, 'no warning about the file').not.toContain(`warning: ${name}.wav:`);
  expect(list(path.join(out, SLICED))).toEqual(['0_0_0.wav']);
  expect(list(path.join(out, SLICED_16K))).toEqual(['0_0_0.wav']);

  const file = path.join(out, SLICED, '0_0_0.wav');
  expect(outputFormat(file)).toEqual({ tag: 3, channels: 1, rate, bits: 32 });
  const y = readWav(file).samples;
  expect(y.length).toBe(expected.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < y.length; i++) {
    const d = Math.abs(y[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      worstAt = i;
    }
  }
  expect(worst, `largest difference at sample ${worstAt}: got ${y[worstAt]}, expected ${expected[worstAt]}`).toBeLessThanOrEqual(
    TOLERANCE,
  );
}

// ---------------------------------------------------------------------------------------

describe('WAV forms (built byte by byte, output = input mixed to mono)', () => {
  it('RF64: a ds64 chunk carries the 64-bit data size; the data chunk says 0xFFFFFFFF', () => {
    const rate = 44100;
    const n = 13_001;
    const { bytes: data, values } = pcm([tone(n, rate, 0), tone(n, rate, 1)], 24);
    // ds64: RIFF size, data size, sample count (64-bit each), table length 0.
    const fmt = fmtChunk({ tag: 1, channels: 2, rate, bits: 24 });
    const trailer = chunk('LIST', filler(300, 5)); // after data: must not be read as audio
    const ds64 = Buffer.alloc(28);
    const riffSize = 4 + (8 + 28) + fmt.length + 8 + data.length + trailer.length;
    ds64.writeBigUInt64LE(BigInt(riffSize), 0);
    ds64.writeBigUInt64LE(BigInt(data.length), 8);
    ds64.writeBigUInt64LE(BigInt(n), 16);
    ds64.writeUInt32LE(0, 24);
    const file = riffFile([chunk('ds64', ds64), fmt, chunk('data', data, 0xffffffff), trailer], {
      magic: 'RF64',
      size: 0xffffffff,
    });
    expect(data.length & 1).toBe(0);
    checkForm('rf64', file, rate, mixMono(values));
  });

  it('a plain RIFF file whose data size is 0xFFFFFFFF is read to the end of the file', () => {
    const rate = 22050;
    const n = 9_999;
    const { bytes: data, values } = pcm([tone(n, rate, 2)], 16);
    const file = riffFile([fmtChunk({ tag: 1, channels: 1, rate, bits: 16 }), chunk('data', data, 0xffffffff)], {
      size: 0xffffffff,
    });
    checkForm('riff-unknown-size', file, rate, mixMono(values));
  });

  it('a header never completed (RIFF and data sizes 0, or RIFF ending at the data chunk) is read to the end of the file, with a warning', () => {
    const rate = 16000;
    const n = 7_000;
    const { bytes: data, values } = pcm([tone(n, rate, 1), tone(n, rate, 2)], 16);
    const fmt = fmtChunk({ tag: 1, channels: 2, rate, bits: 16 });
    const warning = /the header was never completed \(it declares no audio\): read the 7000 frames the file holds/;
    checkForm('unfinished-0', riffFile([fmt, chunk('data', data, 0)], { size: 0 }), rate, mixMono(values), warning);
    checkForm('unfinished-36', riffFile([fmt, chunk('data', data, 0)], { size: 4 + fmt.length + 8 }), rate, mixMono(values), warning);
  });

  it("chunks before 'fmt ' ('JUNK', 'bext') are skipped", () => {
    const rate = 16000;
    const n = 8_000;
    const { bytes: data, values } = pcm([tone(n, rate, 0), tone(n, rate, 3)], 16);
    const bext = filler(602, 7); // a Broadcast WAV description block's size
    const file = riffFile([
      chunk('JUNK', Buffer.alloc(28)),
      chunk('bext', bext),
      fmtChunk({ tag: 1, channels: 2, rate, bits: 16 }),
      chunk('data', data),
    ]);
    checkForm('chunks-before-fmt', file, rate, mixMono(values));
  });

  it('an odd-sized chunk (LIST of 7 bytes) and its pad byte before data', () => {
    const rate = 32000;
    const n = 6_001;
    const { bytes: data, values } = float32([tone(n, rate, 1)]);
    const odd = chunk('LIST', Buffer.from('INFOabc', 'ascii')); // 8 + 7 + 1 pad byte
    expect(odd.length).toBe(16);
    expect(odd.readUInt32LE(4)).toBe(7);
    const file = riffFile([fmtChunk({ tag: 3, channels: 1, rate, bits: 32, cbSize: true }), odd, chunk('data', data)]);
    checkForm('odd-chunk', file, rate, mixMono(values));
  });

  it("'fact', 'LIST' and 'cue ' chunks between fmt and data", () => {
    const rate = 48000;
    const n = 12_000;
    const { bytes: data, values } = pcm([tone(n, rate, 4)], 32);
    const file = riffFile([
      fmtChunk({ tag: 1, channels: 1, rate, bits: 32 }),
      factChunk(n),
      listInfoChunk(),
      cueChunk(),
      chunk('data', data),
    ]);
    checkForm('fact-list-cue', file, rate, mixMono(values));
  });

  it('G.711 expansion tables (independent of voxprep) give the known values', () => {
    expect(ulawToLinear(0xff)).toBe(0);
    expect(ulawToLinear(0x7f) === 0).toBe(true); // the other zero (−0)
    expect(ulawToLinear(0x00)).toBe(-32124);
    expect(ulawToLinear(0x80)).toBe(32124);
    expect(ulawToLinear(0xfe)).toBe(8);
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
    // Both are odd-symmetric bijections onto 256 (µ-law: 255, with ±0) distinct values.
    expect(new Set(Array.from({ length: 256 }, (_, b) => alawToLinear(b))).size).toBe(256);
    expect(new Set(Array.from({ length: 256 }, (_, b) => ulawToLinear(b))).size).toBe(255);
  });

  for (const [label, tag, expand] of [
    ['A-law (format tag 6)', 6, alawToLinear],
    ['µ-law (format tag 7)', 7, ulawToLinear],
  ] as const) {
    it(`${label}, 8-bit: every code expands to G.711 16-bit linear / 32768`, () => {
      const rate = 8000;
      // Every byte value, in a scrambled order, many times over; then a ramp of known codes.
      const n = 256 * 24;
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 97 + (i >> 8)) & 0xff;
      const expected = Float64Array.from(data, (b) => expand(b) / 32768);
      const file = riffFile([fmtChunk({ tag, channels: 1, rate, bits: 8, cbSize: true }), factChunk(n), chunk('data', data)]);
      // The spot values of the brief, at the positions where those codes sit.
      const spots = tag === 7 ? { 0xff: 0, 0x00: -32124, 0x80: 32124 } : { 0xd5: 8, 0x55: -8, 0xaa: 32256, 0x2a: -32256 };
      for (const [code, linear] of Object.entries(spots)) {
        const at = data.indexOf(Number(code));
        expect(at).toBeGreaterThanOrEqual(0);
        expect(expected[at]).toBe(linear / 32768);
      }
      const name = tag === 6 ? 'alaw' : 'mulaw';
      checkForm(name, file, rate, expected);
      // Named as such, not as 8-bit PCM: by the report (also when --resume keeps the file) and by info.
      const out = path.join(tmp, name, 'out');
      const encoding = () => JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).files[0].source.encoding;
      expect(encoding()).toBe(name);
      const again = voxprep('preprocess', path.join(tmp, name, 'dataset'), '-o', out, '--cut', 'skip', '--no-highpass', '--sr', String(rate), '--resume');
      expect(again.stdout).toMatch(/resumed: +1 file completed by the earlier run/);
      expect(encoding()).toBe(name);
      const info = voxprep('info', path.join(tmp, name, 'dataset', `${name}.wav`));
      expect(info.stdout).toContain(`format:    WAV, 8-bit ${tag === 6 ? 'A-law' : 'µ-law'}`);
    });
  }

  it('6 channels: the output is the mean of the channels', () => {
    const rate = 48000;
    const n = 9_600;
    const channels = Array.from({ length: 6 }, (_, c) => tone(n, rate, c, 0.15 + 0.1 * c));
    const { bytes: data, values } = pcm(channels, 16);
    const file = riffFile([fmtChunk({ tag: 1, channels: 6, rate, bits: 16 }), chunk('data', data)]);
    checkForm('six-channels', file, rate, mixMono(values));
  });

  it('WAVE_FORMAT_EXTENSIBLE with the float sub-format (stereo 32-bit)', () => {
    const rate = 44100;
    const n = 11_025;
    const { bytes: data, values } = float32([tone(n, rate, 0, 0.9), tone(n, rate, 5, 0.4)]);
    const file = riffFile([
      fmtChunk({ tag: 3, channels: 2, rate, bits: 32, extensible: { validBits: 32, channelMask: 0x3 } }),
      factChunk(n),
      chunk('data', data),
    ]);
    checkForm('extensible-float', file, rate, mixMono(values));
  });
});
