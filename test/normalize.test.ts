// Normalization, pre and post: the reference's formula x / peak · 0.675 + 0.25 · x, and its
// rejection rules (a peak above 2.5, or a silent file or segment), through the CLI.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, scratchFolder } from './helpers/scratch.js';
import { readWav, writeWav } from './helpers/wav.js';

const scratch = scratchFolder('voxprep-normalize-test-');
const SR = 40000;

function run(dataset: string, out: string, ...args: string[]) {
  return spawnSync(process.execPath, [BIN, 'preprocess', dataset, '-o', out, '--sr', String(SR), '--no-highpass', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
}

/** A 1 s tone of the given peak (float WAV, so peaks above full scale are possible). */
function tone(peak: number, seconds = 1): Float64Array {
  const x = new Float64Array(Math.round(SR * seconds));
  for (let i = 0; i < x.length; i++) x[i] = peak * Math.sin((2 * Math.PI * 220 * i) / SR);
  return x;
}

const maxAbs = (x: Float64Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** A tone with its second harmonic, 0.4·(sin θ + cos 2θ / 2): its negative peak (−0.6) twice its positive one. */
function lopsided(seconds = 1): Float64Array {
  const x = new Float64Array(Math.round(SR * seconds));
  for (let i = 0; i < x.length; i++) {
    const theta = (2 * Math.PI * 220 * i) / SR;
    x[i] = 0.4 * (Math.sin(theta) + 0.5 * Math.cos(2 * theta));
  }
  return x;
}

/** Runs `--cut skip --normalize MODE` on a folder holding one file of x; returns its one output. */
function wholeFileNormalized(name: string, x: Float64Array, mode: 'pre' | 'post'): Float64Array {
  const dataset = path.join(scratch.path, name);
  fs.mkdirSync(dataset);
  writeWav(path.join(dataset, 'a.wav'), x, SR, { bits: 32, float: true });
  const out = path.join(scratch.path, `${name}-out`);
  const r = run(dataset, out, '--cut', 'skip', '--normalize', mode);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return readWav(path.join(out, 'sliced_audios', '0_0_0.wav')).samples;
}

/** y is x by the reference's formula with x's peak (x/peak·0.675 + 0.25·x), as float32. */
function expectNormalizedByPeak(x: Float64Array, y: Float64Array) {
  const peak = maxAbs(x);
  expect(y.length).toBe(x.length);
  for (let i = 0; i < x.length; i += 97) expect(y[i]).toBeCloseTo(Math.fround((x[i] / peak) * 0.675 + 0.25 * x[i]), 6);
}

describe('normalization', () => {
  it('pre: scales the file by its peak (x/peak·0.675 + 0.25·x), and rejects a peak above 2.5', () => {
    const dataset = path.join(scratch.path, 'pre');
    fs.mkdirSync(dataset);
    writeWav(path.join(dataset, 'a_loud.wav'), tone(2.4), SR, { bits: 32, float: true });
    writeWav(path.join(dataset, 'b_too_loud.wav'), tone(3.0), SR, { bits: 32, float: true });
    // One float32 step above the limit: printed with the digits that show it.
    const edge = new Float64Array(SR).fill(0.5);
    edge[100] = Math.fround(2.5 + 2 ** -21);
    writeWav(path.join(dataset, 'c_just_too_loud.wav'), edge, SR, { bits: 32, float: true });
    const out = path.join(scratch.path, 'pre-out');
    const r = run(dataset, out, '--cut', 'skip', '--normalize', 'pre');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/rejected: b_too_loud\.wav: .*peak 3 is above 2\.5/);
    expect(r.stdout).toMatch(/rejected: c_just_too_loud\.wav: .*peak 2\.5000005 is above 2\.5/);
    expect(fs.readdirSync(path.join(out, 'sliced_audios'))).toEqual(['0_0_0.wav']);
    expectNormalizedByPeak(tone(2.4), readWav(path.join(out, 'sliced_audios', '0_0_0.wav')).samples);
  });

  it('pre: the peak is the largest magnitude, here a negative one', () => {
    const x = lopsided();
    expect(maxAbs(x)).toBeCloseTo(0.6, 3);
    expectNormalizedByPeak(x, wholeFileNormalized('pre-lopsided', x, 'pre'));
  });

  it('post with --cut skip: a file too long to hold (over 30 s), its one segment, by the peak a first pass measured', () => {
    const x = lopsided(32);
    expectNormalizedByPeak(x, wholeFileNormalized('post-skip', x, 'post'));
  });

  it('post: each segment by its own peak; a silent segment is not written and its number is skipped', () => {
    const dataset = path.join(scratch.path, 'post');
    fs.mkdirSync(dataset);
    // Three 1 s windows: quiet tone, silence, loud tone.
    const x = new Float64Array(SR * 3);
    x.set(tone(0.1), 0);
    x.set(tone(0.8), SR * 2);
    writeWav(path.join(dataset, 'v.wav'), x, SR, { bits: 32, float: true });
    const out = path.join(scratch.path, 'post-out');
    const r = run(dataset, out, '--cut', 'simple', '--chunk', '1', '--overlap', '0', '--normalize', 'post');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0_0_1\.wav: not written, silent/);
    expect(fs.readdirSync(path.join(out, 'sliced_audios')).sort()).toEqual(['0_0_0.wav', '0_0_2.wav']);
    for (const [name, peak] of [['0_0_0.wav', 0.1], ['0_0_2.wav', 0.8]] as const) {
      const y = readWav(path.join(out, 'sliced_audios', name)).samples;
      const segmentPeak = maxAbs(tone(peak));
      expect(maxAbs(y)).toBeCloseTo(0.675 + 0.25 * segmentPeak, 6);
      for (const v of y) expect(Number.isFinite(v)).toBe(true);
    }
  });
});
