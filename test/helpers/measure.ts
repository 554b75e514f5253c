// Measurements for the DSP tests: least-squares tone fits over a steady span.

/** Least-squares fit of a·sin(ωk) + b·cos(ωk) over y[from, to); returns amplitude and phase. */
export function fitTone(y: ArrayLike<number>, cyclesPerSample: number, from: number, to: number) {
  const w = 2 * Math.PI * cyclesPerSample;
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let k = from; k < to; k++) {
    const s = Math.sin(w * k), c = Math.cos(w * k);
    ss += s * s; cc += c * c; sc += s * c; ys += y[k] * s; yc += y[k] * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  let residual = 0, energy = 0;
  for (let k = from; k < to; k++) {
    const fit = a * Math.sin(w * k) + b * Math.cos(w * k);
    residual += (y[k] - fit) ** 2;
    energy += y[k] ** 2;
  }
  return { amplitude: Math.hypot(a, b), phase: Math.atan2(b, a), residual: residual / (to - from), energy: energy / (to - from) };
}

export function tone(rate: number, hz: number, n: number, amplitude = 1): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / rate);
  return x;
}

export const dB = (power: number) => 10 * Math.log10(power);
