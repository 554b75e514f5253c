// Golden parity: voxprep's output against Applio's real output on the golden dataset
// (../shared/golden), for every configuration (noise reduction included) and every input of
// the golden dataset (WAV in several forms, FLAC, MP3, Ogg Vorbis): same names, same sample
// counts in both folders, SNR ≥ 60 dB per file, and model_info.json's total_seconds within
// 1e-6 relative. With noise reduction, one kind of difference in sample counts is allowed
// and checked for what it is: a near-tie of the slicer (see nearTieCut below).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preprocess, type PreprocessResult } from '../lib/index.js';
import { native } from '../lib/native.js';
import { readWav } from './helpers/wav.js';

const GOLDEN = path.resolve(import.meta.dirname, '../../shared/golden');
const MIN_SNR_DB = 60;

interface Manifest {
  config: {
    sample_rate: number;
    cut: 'automatic' | 'simple' | 'skip';
    highpass: boolean;
    normalization: 'none' | 'pre' | 'post';
    chunk_seconds: number;
    overlap_seconds: number;
    denoise: number;
  };
  files: { path: string; sid: number; idx0: number }[];
  skipped_folders: string[];
  total_seconds: number;
  slices: { name: string; source: string; frames: number; frames_16k: number }[];
}

/** SNR of `ours` against `golden` over their common length. */
function snrDb(golden: Float64Array, ours: Float64Array): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < Math.min(golden.length, ours.length); i++) {
    signal += golden[i] ** 2;
    noise += (golden[i] - ours[i]) ** 2;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}


// ---------------------------------------------------------------------------------------
// Near-ties of the slicer under noise reduction.
//
// A chunk ends at the quietest RMS frame of a silence (reference-pipeline.md §4: argmin over
// a range of frames). Noise reduction leaves silences as a floor of gated noise, and there two
// frames of a range can come within a few parts per million of each other. voxprep's signal
// before noise reduction differs from Applio's by about −85 dB at low frequencies (its
// resampler against soxr: within soxr_vhq's pass-band figures, but not bit-equal), which moves
// frame RMS values by some 1e-5 relative: enough to decide such a near-tie the other way, and
// then a slice ends a few frames earlier or later. (fed Applio's own pre-noise-reduction signal,
// voxprep's noise reduction matches Applio's output to about 150 dB, and picks Applio's frame.)
//
// So with noise reduction a slice may differ in length from its golden twin only if: it starts
// at the same sample; its end, in both runs, is a cut at a frame boundary inside a silence
// (both frames below the slicer's threshold); and the RMS of our signal at the two frames
// differs by at most NEAR_TIE relative. Its samples must still match with SNR ≥ 60 dB over
// their common length. Everything else is compared exactly as without noise reduction.
const NEAR_TIE = 1e-4;

interface NearTie {
  ok: boolean;
  why: string;
}

function rmsFrame(x: Float64Array, t: number, hop: number, win: number): number {
  let sum = 0;
  const from = t * hop - Math.floor(win / 2);
  for (let j = Math.max(0, from); j < Math.min(x.length, from + win); j++) sum += x[j] * x[j];
  return Math.sqrt(sum / win);
}

/** Where `slice` lies in `whole` (the same float32 values, so an exact match), or -1. */
function offsetIn(whole: Float64Array, slice: Float64Array): number {
  const probe = Math.min(slice.length, 256);
  outer: for (let at = 0; at + slice.length <= whole.length || at + probe <= whole.length; at++) {
    for (let i = 0; i < probe; i++) if (whole[at + i] !== slice[i]) continue outer;
    return at;
  }
  return -1;
}

/**
 * Checks a slice whose length differs from its golden twin's against the rule above. `whole`
 * is our whole processed file (same options, cut skip), `ours` and `golden` the two slices.
 */
function nearTieCut(whole: Float64Array, ours: Float64Array, golden: Float64Array, sr: number): NearTie {
  const { hop, win, threshold } = native().slicerSpec(sr);
  const start = offsetIn(whole, ours);
  if (start < 0) return { ok: false, why: 'our slice is not part of our whole file' };
  if (snrDb(golden, whole.subarray(start)) < 60) return { ok: false, why: 'the golden slice does not start where ours does' };
  const ends = [start + ours.length, start + golden.length];
  if (ends.some((e) => e % hop !== 0 || e >= whole.length)) return { ok: false, why: `ends ${ends} are not cuts at frame boundaries` };
  const [a, b] = ends.map((e) => rmsFrame(whole, e / hop, hop, win));
  if (a >= threshold || b >= threshold) return { ok: false, why: `frames ${ends.map((e) => e / hop)} are not silent` };
  const gap = Math.abs(a - b) / Math.min(a, b);
  return {
    ok: gap <= NEAR_TIE,
    why: `cut at frame ${ends[0] / hop} (ours) vs ${ends[1] / hop} (golden): RMS ${a} vs ${b}, relative gap ${gap.toExponential(2)} (near-tie bound ${NEAR_TIE})`,
  };
}

const configs = fs.existsSync(path.join(GOLDEN, 'expected'))
  ? fs.readdirSync(path.join(GOLDEN, 'expected')).sort()
  : [];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-golden-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('golden parity', () => {
  it('finds the golden data beside the project', () => {
    expect(configs.length).toBeGreaterThanOrEqual(5);
  });

  for (const name of configs) {
    const dir = path.join(GOLDEN, 'expected', name);
    const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

    describe(name, () => {
      const out = path.join(scratch, name);
      const c = manifest.config;
      const options = {
        sampleRate: c.sample_rate,
        cut: c.cut,
        highpass: c.highpass,
        normalize: c.normalization,
        chunk: c.chunk_seconds,
        overlap: c.overlap_seconds,
        denoise: c.denoise,
      };
      let result: PreprocessResult;
      const run = async () => (result ??= await preprocess(path.join(GOLDEN, 'dataset'), out, options));
      const expectedSlices = manifest.slices;
      const sourceOf = new Map(manifest.files.map((f) => [f.path, f]));
      // Our whole processed files (cut skip), for checking near-ties; made once, when needed.
      let wholeDone: Promise<PreprocessResult> | undefined;
      const whole = async (source: string) => {
        const wholeOut = path.join(scratch, `${name}-whole`);
        await (wholeDone ??= preprocess(path.join(GOLDEN, 'dataset'), wholeOut, { ...options, cut: 'skip' }));
        const f = sourceOf.get(source)!;
        return readWav(path.join(wholeOut, result.layout.slicedDir, `${f.sid}_${f.idx0}_0.wav`)).samples;
      };
      /** A slice whose length differs from the golden one: fails unless it is a near-tie (noise reduction only). */
      const expectNearTie = async (s: Manifest['slices'][number], ours: Float64Array, golden: Float64Array) => {
        expect(c.denoise > 0, `${s.name}: ${ours.length} samples, golden ${golden.length}`).toBe(true);
        const tie = nearTieCut(await whole(s.source), ours, golden, c.sample_rate);
        expect(tie.ok, `${s.name}: ${ours.length} samples, golden ${golden.length}: ${tie.why}`).toBe(true);
      };

      it('numbers the files and skips the folders as the golden run did', async () => {
        const r = await run();
        expect(r.files.map((f) => [f.relative, f.sid, f.idx0])).toEqual(manifest.files.map((f) => [f.path, f.sid, f.idx0]));
        expect(r.skippedFolders).toEqual(manifest.skipped_folders);
        for (const f of r.files) expect(f.status, `${f.relative}: ${f.error}`).toBe('ok');
      });

      it('writes the same file names with the same sample counts in both folders', async () => {
        const r = await run();
        const ours = (sub: string) => fs.readdirSync(path.join(out, sub));
        const names = expectedSlices.map((s) => s.name).sort();
        expect(ours(r.layout.slicedDir).sort()).toEqual(names);
        expect(ours(r.layout.sliced16kDir).sort()).toEqual(names);
        for (const s of expectedSlices) {
          const ours = readWav(path.join(out, r.layout.slicedDir, s.name)).samples;
          const ours16k = readWav(path.join(out, r.layout.sliced16kDir, s.name)).samples;
          if (ours.length === s.frames) {
            expect(ours16k.length, s.name).toBe(s.frames_16k);
          } else {
            await expectNearTie(s, ours, readWav(path.join(dir, r.layout.slicedDir, s.name)).samples);
            expect(ours16k.length, s.name).toBe(Math.ceil((ours.length * 16000) / c.sample_rate));
          }
        }
      });

      it(`matches every golden file with SNR ≥ ${MIN_SNR_DB} dB`, async () => {
        const r = await run();
        for (const s of expectedSlices) {
          for (const sub of [r.layout.slicedDir, r.layout.sliced16kDir]) {
            const golden = readWav(path.join(dir, sub, s.name));
            const ours = readWav(path.join(out, sub, s.name));
            expect(ours.format).toBe(3);
            expect(ours.bits).toBe(32);
            expect(ours.rate).toBe(golden.rate);
            expect(snrDb(golden.samples, ours.samples), `${sub}/${s.name}`).toBeGreaterThanOrEqual(MIN_SNR_DB);
          }
        }
      });

      it('writes total_seconds within 1e-6 relative and keeps the duration format', async () => {
        const r = await run();
        const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
        const golden = JSON.parse(fs.readFileSync(path.join(dir, 'model_info.json'), 'utf8'));
        expect(Math.abs(info.total_seconds - golden.total_seconds) / golden.total_seconds).toBeLessThan(1e-6);
        expect(info.total_dataset_duration).toBe(golden.total_dataset_duration);
        expect(r.totalSeconds).toBe(info.total_seconds);
      });
    });
  }
});
