#!/usr/bin/env node
// voxprep demo: builds a small speech-like dataset in demo-output/dataset/ (recreated on
// every run) in several WAV forms, then runs the CLI on it:
//   node bin/voxprep.js preprocess demo-output/dataset -o demo-output/model --overwrite
// Exits with the CLI's exit code. Needs the compiled CLI (npx tsc -p tsconfig.json).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wavHeader } from './wav-header.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const datasetRel = 'demo-output/dataset';
const modelRel = 'demo-output/model';
const dataset = path.join(root, datasetRel);

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Speech-like mono signal: voiced bursts (a gliding pitch with harmonics shaped by two
 * formant-like peaks, a smooth syllable envelope), pauses of varied lengths (short gaps
 * between syllables, longer ones between phrases) and faint background noise.
 */
function speech(rate, seconds, seed) {
  const rand = rng(seed);
  const n = Math.round(rate * seconds);
  const x = new Float64Array(n);
  let t = Math.round(rate * (0.2 + rand() * 0.3)); // a little lead-in silence
  while (t < n) {
    const syllables = 2 + Math.floor(rand() * 5);
    for (let s = 0; s < syllables && t < n; s++) {
      const len = Math.round(rate * (0.15 + rand() * 0.35));
      const f0a = 90 + rand() * 160;
      const f0b = f0a * (0.85 + rand() * 0.3);
      const formant1 = 400 + rand() * 500;
      const formant2 = 1100 + rand() * 1200;
      const level = 0.15 + rand() * 0.2;
      let phase = 0;
      for (let i = 0; i < len && t + i < n; i++) {
        const u = i / len;
        const f0 = f0a + (f0b - f0a) * u;
        phase += (2 * Math.PI * f0) / rate;
        let v = 0;
        for (let h = 1; h * f0 < Math.min(4000, rate / 2 - 200); h++) {
          const f = h * f0;
          const gain = 1 / (1 + ((f - formant1) / 150) ** 2) + 0.5 / (1 + ((f - formant2) / 250) ** 2) + 0.05 / h;
          v += gain * Math.sin(h * phase);
        }
        const env = Math.sin(Math.PI * u) ** 1.5;
        x[t + i] = level * env * v * 0.5;
      }
      t += len + Math.round(rate * (0.03 + rand() * 0.12)); // gap between syllables
    }
    t += Math.round(rate * (rand() < 0.3 ? 0.6 + rand() * 0.9 : 0.15 + rand() * 0.35)); // pause between phrases
  }
  for (let i = 0; i < n; i++) x[i] = Math.max(-0.99, Math.min(0.99, x[i] + (rand() - 0.5) * 4e-4));
  return x;
}

/** Writes `mono` as a WAV: PCM 16/24-bit or IEEE float 32-bit, with `channels` copies. */
function writeWav(file, mono, rate, { bits = 16, float = false, channels = 1 } = {}) {
  const bytes = bits / 8;
  const data = Buffer.alloc(mono.length * channels * bytes);
  let at = 0;
  for (let i = 0; i < mono.length; i++) {
    for (let c = 0; c < channels; c++, at += bytes) {
      // A slightly different level per channel, so stereo is not just a copy.
      const v = mono[i] * (c === 0 ? 1 : 0.9);
      if (float) {
        data.writeFloatLE(v, at);
      } else {
        const full = 2 ** (bits - 1);
        data.writeIntLE(Math.max(-full, Math.min(full - 1, Math.round(v * full))), at, bytes);
      }
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([wavHeader(data.length, { rate, channels, bits, float }), data]));
}

const files = [
  { rel: 'intro.wav', rate: 48000, seconds: 11, opts: { bits: 16 } },
  { rel: 'reading.wav', rate: 44100, seconds: 12.5, opts: { bits: 24, channels: 2 } },
  { rel: 'chat.wav', rate: 32000, seconds: 9, opts: { bits: 32, float: true } },
  { rel: '1/phone_call.wav', rate: 16000, seconds: 10, opts: { bits: 16 } },
  { rel: '1/short_take.wav', rate: 16000, seconds: 4.5, opts: { bits: 16 } },
];

fs.rmSync(dataset, { recursive: true, force: true });
fs.mkdirSync(dataset, { recursive: true });
let totalSeconds = 0;
files.forEach((f, i) => {
  const x = speech(f.rate, f.seconds, 1000 + i);
  writeWav(path.join(dataset, f.rel), x, f.rate, f.opts);
  totalSeconds += x.length / f.rate;
});

console.log(`voxprep demo: made ${files.length} files (${totalSeconds.toFixed(1)} s of audio) in ${datasetRel}`);

if (!fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
  console.error('voxprep demo: dist/cli.js is missing; build first with `npx tsc -p tsconfig.json`');
  process.exit(2);
}

const r = spawnSync(
  process.execPath,
  [path.join(root, 'bin', 'voxprep.js'), 'preprocess', datasetRel, '-o', modelRel, '--overwrite'],
  { cwd: root, stdio: 'inherit' },
);
if (r.error) {
  console.error(`voxprep demo: could not run the CLI: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
