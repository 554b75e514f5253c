// The silence slicer: its parameters per rate and its chunk boundaries, checked against an
// implementation written here from the reference page (§4), independent of the native one.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native.js';
import { speechLike, } from './helpers/wav.js';
import { tone } from './helpers/measure.js';

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function spec(sr: number) {
  const hop = roundHalfEven((sr * 15) / 1000);
  const win = Math.min(roundHalfEven((sr * 400) / 1000), 4 * hop);
  return {
    hop,
    win,
    minLength: roundHalfEven((sr * 1500) / 1000 / hop),
    minInterval: roundHalfEven((sr * 400) / 1000 / hop),
    maxSilKept: roundHalfEven((sr * 500) / 1000 / hop),
    threshold: 10 ** (-42 / 20),
  };
}

function rmsFrames(x: Float64Array, hop: number, win: number): number[] {
  const pad = Math.floor(win / 2);
  const frames = 1 + Math.floor((x.length + 2 * pad - win) / hop);
  const out: number[] = [];
  for (let t = 0; t < frames; t++) {
    let sum = 0;
    for (let j = t * hop - pad; j < t * hop - pad + win; j++) if (j >= 0 && j < x.length) sum += x[j] * x[j];
    out.push(Math.sqrt(sum / win));
  }
  return out;
}

function referenceChunks(x: Float64Array, sr: number): [number, number][] {
  const s = spec(sr);
  const n = x.length;
  if (n <= s.minLength) return [[0, n]];
  const rms = rmsFrames(x, s.hop, s.win);
  const argmin = (a: number, b: number) => {
    let best = a;
    for (let i = a + 1; i <= Math.min(b, rms.length - 1); i++) if (rms[i] < rms[best]) best = i;
    return best;
  };
  const tags: [number, number][] = [];
  let silenceStart: number | null = null;
  let clipStart = 0;
  rms.forEach((v, i) => {
    if (v < s.threshold) {
      if (silenceStart === null) silenceStart = i;
      return;
    }
    if (silenceStart === null) return;
    const st: number = silenceStart;
    const leading = st === 0 && i > s.maxSilKept;
    const needsCut = i - st >= s.minInterval && i - clipStart >= s.minLength;
    if (!leading && !needsCut) {
      silenceStart = null;
      return;
    }
    if (i - st <= s.maxSilKept) {
      const p = argmin(st, i);
      tags.push(st === 0 ? [0, p] : [p, p]);
      clipStart = p;
    } else if (i - st <= 2 * s.maxSilKept) {
      const p = argmin(i - s.maxSilKept, st + s.maxSilKept);
      const l = argmin(st, st + s.maxSilKept);
      const r = argmin(i - s.maxSilKept, i);
      if (st === 0) {
        tags.push([0, r]);
        clipStart = r;
      } else {
        tags.push([Math.min(l, p), Math.max(r, p)]);
        clipStart = Math.max(r, p);
      }
    } else {
      const l = argmin(st, st + s.maxSilKept);
      const r = argmin(i - s.maxSilKept, i);
      tags.push(st === 0 ? [0, r] : [l, r]);
      clipStart = r;
    }
    silenceStart = null;
  });
  const total = rms.length;
  if (silenceStart !== null && total - silenceStart >= s.minInterval) {
    const p = argmin(silenceStart, Math.min(total, silenceStart + s.maxSilKept));
    tags.push([p, total + 1]);
  }
  if (tags.length === 0) return [[0, n]];
  const chunks: [number, number][] = [];
  const add = (a: number, b: number) => chunks.push([a * s.hop, Math.min(n, b * s.hop)]);
  if (tags[0][0] > 0) add(0, tags[0][0]);
  for (let k = 0; k + 1 < tags.length; k++) add(tags[k][1], tags[k + 1][0]);
  if (tags[tags.length - 1][1] < total) add(tags[tags.length - 1][1], total);
  return chunks;
}

/** Loud stretches separated by silences of the given lengths (seconds). */
function bursts(sr: number, pattern: number[]): Float64Array {
  const parts: Float64Array[] = [];
  pattern.forEach((seconds, i) => {
    const n = Math.round(sr * seconds);
    parts.push(i % 2 === 0 ? tone(sr, 220, n, 0.3) : new Float64Array(n));
  });
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('slicer parameters', () => {
  it.each([16000, 32000, 40000, 44100, 48000, 22050])('at %i Hz match the reference roundings', (sr) => {
    const got = native().slicerSpec(sr);
    const want = spec(sr);
    expect(got).toMatchObject({ ...want, threshold: expect.closeTo(want.threshold, 15) });
  });

  it('rounds half to even, as the reference does (44.1 kHz hop is 662, not 661)', () => {
    expect(native().slicerSpec(44100).hop).toBe(662);
  });
});

describe('slicer chunk boundaries', () => {
  it.each([
    ['speech-like, 40 kHz', 40000, speechLike(40000, 25, 3)],
    ['speech-like, 48 kHz', 48000, speechLike(48000, 20, 9)],
    ['speech-like, 44.1 kHz', 44100, speechLike(44100, 18, 5)],
    ['leading and trailing silence', 40000, bursts(40000, [0, 1.2, 3, 0.45, 2.5, 0.9, 2, 1.5])],
    ['short, medium and long silences', 32000, bursts(32000, [2, 0.3, 2, 0.6, 2.2, 0.8, 1.8, 2.5, 2])],
    ['no silence at all', 40000, tone(40000, 300, 40000 * 5, 0.2)],
    ['shorter than min_length', 40000, tone(40000, 300, 90, 0.2)],
  ] as const)('%s: same chunks as the reference walk', (_name, sr, x) => {
    const got = native().slice(x, sr).chunks;
    const want = referenceChunks(x, sr);
    expect(got).toEqual(want);
  });

  it('agrees with the reference walk on 300 random burst patterns (boundary cases included)', () => {
    // Silences and bursts of random lengths around the walk's thresholds (min_interval 0.4 s,
    // min_length 1.5 s, max_sil_kept 0.5 s), so that runs of exactly the limit lengths occur.
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const sr = 16000;
    for (let n = 0; n < 300; n++) {
      const pattern: number[] = [];
      for (let k = 0; k < 8; k++) pattern.push(k % 2 === 0 ? 0.2 + rand() * 2 : 0.05 + rand() * 1.2);
      const x = bursts(sr, pattern);
      expect(native().slice(x, sr).chunks, `pattern ${pattern.map((v) => v.toFixed(3)).join(',')}`).toEqual(referenceChunks(x, sr));
    }
  });

  it('cuts a 2 s tone / 1 s silence / 2 s tone into two chunks around the silence', () => {
    const sr = 40000;
    const x = bursts(sr, [2, 1, 2]);
    const chunks = native().slice(x, sr).chunks;
    expect(chunks.length).toBe(2);
    // The first chunk ends inside the silence, the second starts inside it.
    expect(chunks[0][0]).toBe(0);
    expect(chunks[0][1]).toBeGreaterThan(2 * sr);
    expect(chunks[1][0]).toBeLessThan(3 * sr);
    expect(chunks[1][0]).toBeGreaterThan(chunks[0][1]);
    expect(chunks[1][1]).toBe(x.length);
  });

  it('frames the signal as the reference: 1 + (n + 2·(win/2) − win) / hop RMS frames', () => {
    const sr = 40000;
    const x = speechLike(sr, 3.3, 1);
    const { rms } = native().slice(x, sr);
    const want = rmsFrames(x, spec(sr).hop, spec(sr).win);
    expect(rms.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(rms[i]).toBeCloseTo(want[i], 12);
  });
});
