// The resampler meets the soxr_vhq response: pass band flat within 0.01 dB to 0.9115 of the
// lower Nyquist frequency, at least 140 dB rejection from 1.0 of it, linear phase with zero
// delay, and the reference's length rule.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native.js';
import { dB, fitTone, tone } from './helpers/measure.js';

const PAIRS: [number, number][] = [
  [44100, 40000],
  [48000, 40000],
  [40000, 16000],
  [16000, 40000],
  [22050, 48000],
];
const PASS_END = 0.9115;
const RIPPLE_DB = 0.01;
const REJECTION_DB = 140;

describe.each(PAIRS)('resampler %i -> %i', (rateIn, rateOut) => {
  const addon = native();
  const lowerNyquist = Math.min(rateIn, rateOut) / 2;
  const n = rateIn; // one second
  // The steady middle of the output: away from the zero-padded edges.
  const span = (len: number) => [Math.floor(len * 0.25), Math.floor(len * 0.75)] as const;

  it(`pass band: flat within ${RIPPLE_DB} dB up to ${PASS_END} of the lower Nyquist, zero phase`, () => {
    let worstDb = 0;
    let worstPhase = 0;
    for (const rel of [0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.88, 0.9, 0.905, 0.91, PASS_END]) {
      const hz = rel * lowerNyquist;
      const y = addon.resample(tone(rateIn, hz, n), rateIn, rateOut);
      const [from, to] = span(y.length);
      const fit = fitTone(y, hz / rateOut, from, to);
      worstDb = Math.max(worstDb, Math.abs(20 * Math.log10(fit.amplitude)));
      worstPhase = Math.max(worstPhase, Math.abs(fit.phase));
    }
    expect(worstDb).toBeLessThanOrEqual(RIPPLE_DB);
    // A sine in gives the same sine out at the output instants: no delay, no phase shift.
    expect(worstPhase).toBeLessThan(1e-6);
  });

  it(`stop band: at least ${REJECTION_DB} dB rejection from 1.0 of the lower Nyquist`, () => {
    let worst = -Infinity;
    if (rateIn > rateOut) {
      // Downsampling: input tones above the output's Nyquist must not alias into it.
      for (const rel of [1.0, 1.005, 1.02, 1.05, 1.1, 1.2, 1.5, 2.0]) {
        const hz = rel * lowerNyquist;
        if (hz >= rateIn / 2) continue;
        const y = addon.resample(tone(rateIn, hz, n), rateIn, rateOut);
        const [from, to] = span(y.length);
        let energy = 0;
        for (let k = from; k < to; k++) energy += y[k] ** 2;
        worst = Math.max(worst, dB(energy / (to - from) / 0.5));
      }
    } else {
      // Upsampling: a pass-band tone's images (above the input's Nyquist) must be rejected.
      for (const rel of [0.1, 0.5, 0.8, PASS_END]) {
        const hz = rel * lowerNyquist;
        const y = addon.resample(tone(rateIn, hz, n), rateIn, rateOut);
        const [from, to] = span(y.length);
        const fit = fitTone(y, hz / rateOut, from, to);
        worst = Math.max(worst, dB(fit.residual / 0.5));
      }
    }
    expect(worst).toBeLessThanOrEqual(-REJECTION_DB);
  });

  it('length rule: ceil(n * rateOut / rateIn) samples for any n', () => {
    for (const len of [0, 1, 2, 3, 7, 100, 1001, 44101, 48001]) {
      const y = addon.resample(new Float64Array(len).fill(0.5), rateIn, rateOut);
      expect(y.length).toBe(Math.ceil(len * (rateOut / rateIn)));
    }
  });
});

describe('resampler', () => {
  it('leaves the signal untouched at equal rates', () => {
    const x = tone(40000, 1234.5, 5000);
    expect(Array.from(native().resample(x, 40000, 40000))).toEqual(Array.from(x));
  });

  it('handles a rate pair too fine to tabulate (44101 -> 16000: 16000 phases) with the same response', () => {
    const [rateIn, rateOut] = [44101, 16000];
    const n = Math.round(rateIn * 0.5);
    for (const rel of [0.1, 0.9115]) {
      const hz = rel * (rateOut / 2);
      const y = native().resample(tone(rateIn, hz, n), rateIn, rateOut);
      expect(y.length).toBe(Math.ceil(n * (rateOut / rateIn)));
      const fit = fitTone(y, hz / rateOut, Math.floor(y.length * 0.25), Math.floor(y.length * 0.75));
      expect(Math.abs(20 * Math.log10(fit.amplitude))).toBeLessThanOrEqual(RIPPLE_DB);
      expect(Math.abs(fit.phase)).toBeLessThan(1e-6);
    }
    // A tone above the output's Nyquist frequency does not alias into it.
    const y = native().resample(tone(rateIn, 9000, n), rateIn, rateOut);
    let energy = 0;
    for (let k = Math.floor(y.length * 0.25); k < Math.floor(y.length * 0.75); k++) energy += y[k] ** 2;
    expect(dB(energy / Math.floor(y.length * 0.5) / 0.5)).toBeLessThanOrEqual(-REJECTION_DB);
  });

  it('computes round(n * ratio) samples and zero-pads to the ceil, as the reference (libsoxr one-shot, then librosa)', () => {
    // 1000 samples at 44100 -> 40000: 907.03 output samples: 907 computed, one zero after.
    const y = native().resample(new Float64Array(1000).fill(0.5), 44100, 40000);
    expect(y.length).toBe(908);
    expect(y[907]).toBe(0);
    expect(Math.abs(y[906])).toBeGreaterThan(0.1);
    // 1001 samples: 907.94, rounded up: all 908 computed.
    const z = native().resample(new Float64Array(1001).fill(0.5), 44100, 40000);
    expect(z.length).toBe(908);
    expect(Math.abs(z[907])).toBeGreaterThan(0.1);
  });

  it('rejects non-positive rates', () => {
    expect(() => native().resample(new Float64Array(10), 0, 16000)).toThrow(/positive/);
  });
});
