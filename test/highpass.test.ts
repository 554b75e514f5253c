// The 48 Hz 5th-order Butterworth high-pass: its measured response equals the analytic
// bilinear-transform Butterworth magnitude at every rate.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native.js';
import { fitTone, tone } from './helpers/measure.js';

const CUTOFF = 48;
const ORDER = 5;

/** |H(f)| of the digital Butterworth high-pass: the analog one at the pre-warped frequency. */
function analytic(hz: number, rate: number): number {
  const ratio = Math.tan((Math.PI * CUTOFF) / rate) / Math.tan((Math.PI * hz) / rate);
  return 1 / Math.sqrt(1 + ratio ** (2 * ORDER));
}

describe.each([16000, 32000, 40000, 48000])('high-pass at %i Hz', (rate) => {
  it('measured magnitude matches the analytic Butterworth within 0.001 dB', () => {
    for (const hz of [15, 25, 35, 48, 60, 80, 120, 250, 1000, 5000]) {
      const n = rate * 4;
      const y = native().highpass(tone(rate, hz, n), rate);
      // Measure after the start-up transient has died away.
      const fit = fitTone(y, hz / rate, rate * 2, n);
      const measuredDb = 20 * Math.log10(fit.amplitude);
      const expectedDb = 20 * Math.log10(analytic(hz, rate));
      expect(Math.abs(measuredDb - expectedDb), `${hz} Hz`).toBeLessThan(0.001);
    }
  });

  it('is -3.01 dB at 48 Hz and blocks DC', () => {
    expect(20 * Math.log10(analytic(CUTOFF, rate))).toBeCloseTo(-3.0103, 3);
    const y = native().highpass(new Float64Array(rate * 3).fill(1), rate);
    expect(Math.abs(y[y.length - 1])).toBeLessThan(1e-6);
  });

  it('has the Butterworth high-pass transfer function: zeros all at z = 1, a[0] = 1', () => {
    const { b, a } = native().highpassDesign(rate);
    expect(a[0]).toBe(1);
    const binomial = [1, -5, 10, -10, 5, -1];
    for (let i = 0; i <= ORDER; i++) expect(b[i] / b[0]).toBeCloseTo(binomial[i], 10);
    // Unit gain at Nyquist: H(-1) = Σ b_i (-1)^i / Σ a_i (-1)^i.
    const at = (c: Float64Array) => c.reduce((s, v, i) => s + v * (i % 2 ? -1 : 1), 0);
    expect(at(b) / at(a)).toBeCloseTo(1, 9);
  });
});
