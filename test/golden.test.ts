// Golden parity: voxprep's output against Applio's real output on the golden dataset
// (../shared/golden), for every configuration without noise reduction and every input of
// the golden dataset (WAV in several forms, FLAC, MP3, Ogg Vorbis): same names, same sample
// counts in both folders, SNR ≥ 60 dB per file, and model_info.json's total_seconds within
// 1e-6 relative.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preprocess, type PreprocessResult } from '../lib/index.js';
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

function snrDb(golden: Float64Array, ours: Float64Array): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < golden.length; i++) {
    signal += golden[i] ** 2;
    noise += (golden[i] - ours[i]) ** 2;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
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
    if (manifest.config.denoise > 0) continue; // noise reduction: another issue

    describe(name, () => {
      const out = path.join(scratch, name);
      const c = manifest.config;
      let result: PreprocessResult;
      const run = async () =>
        (result ??= await preprocess(path.join(GOLDEN, 'dataset'), out, {
          sampleRate: c.sample_rate,
          cut: c.cut,
          highpass: c.highpass,
          normalize: c.normalization,
          chunk: c.chunk_seconds,
          overlap: c.overlap_seconds,
        }));
      const expectedSlices = manifest.slices;

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
          expect(readWav(path.join(out, r.layout.slicedDir, s.name)).samples.length, s.name).toBe(s.frames);
          expect(readWav(path.join(out, r.layout.sliced16kDir, s.name)).samples.length, s.name).toBe(s.frames_16k);
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
