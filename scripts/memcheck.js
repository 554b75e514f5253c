#!/usr/bin/env node
// Peak resident memory of `voxprep preprocess` on a folder holding one long WAV
// (default 30 minutes of 48 kHz 16-bit speech-like audio, made here and cached), measured
// with /usr/bin/time -v. Usage: node scripts/memcheck.js [minutes] [limitMB] [-- extra CLI flags]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wavHeader } from './wav-header.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const dash = args.indexOf('--');
const extra = dash >= 0 ? args.slice(dash + 1) : [];
const [minutesArg, limitArg] = dash >= 0 ? args.slice(0, dash) : args;
const minutes = Number(minutesArg ?? 30);
const limitMb = Number(limitArg ?? 300);
if (!(minutes > 0) || !(limitMb > 0)) {
  process.stderr.write('usage: node scripts/memcheck.js [minutes] [limitMB] [-- extra CLI flags]\n');
  process.exit(2);
}
const rate = 48000;

const dataset = path.join(root, '.cache', `memcheck-${minutes}min`);
const file = path.join(dataset, 'long.wav');
const frames = Math.round(minutes * 60 * rate);
if (!fs.existsSync(file) || fs.statSync(file).size !== 44 + frames * 2) {
  fs.mkdirSync(dataset, { recursive: true });
  process.stderr.write(`making ${minutes} min of audio in ${file}\n`);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, wavHeader(frames * 2, { rate, channels: 1, bits: 16 }));
  // Voiced bursts with harmonics and pauses, written a block at a time.
  const block = Buffer.alloc(rate * 2 * 10);
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  let burstLeft = 0, pauseLeft = 0, f0 = 150, pos = 0, burstLen = 1;
  for (let written = 0; written < frames; ) {
    const n = Math.min(rate * 10, frames - written);
    for (let i = 0; i < n; i++, pos++) {
      if (burstLeft === 0 && pauseLeft === 0) {
        burstLen = burstLeft = Math.round(rate * (0.5 + rand() * 2));
        pauseLeft = Math.round(rate * (0.1 + rand()));
        f0 = 100 + rand() * 150;
      }
      let v = (rand() - 0.5) * 2e-4;
      if (burstLeft > 0) {
        const k = burstLen - burstLeft;
        const env = Math.sin((Math.PI * k) / burstLen);
        for (let h = 1; h <= 6; h++) v += (0.2 * env * Math.sin((2 * Math.PI * f0 * h * pos) / rate)) / h;
        burstLeft--;
      } else {
        pauseLeft--;
      }
      block.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32768))), i * 2);
    }
    fs.writeSync(fd, block, 0, n * 2);
    written += n;
  }
  fs.closeSync(fd);
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-memcheck-'));
const run = spawnSync('/usr/bin/time', ['-v', process.execPath, path.join(root, 'bin/voxprep.js'), 'preprocess', dataset, '-o', out, ...extra], {
  encoding: 'utf8',
});
fs.rmSync(out, { recursive: true, force: true });
process.stdout.write(run.stdout);
const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr);
if (!rss) {
  process.stderr.write(run.stderr);
  process.exit(1);
}
const peakMb = Number(rss[1]) / 1024;
const wall = /Elapsed \(wall clock\) time.*: (.*)/.exec(run.stderr)?.[1];
console.log(`memcheck: ${minutes} min WAV, flags [${extra.join(' ')}]: peak RSS ${peakMb.toFixed(1)} MB (limit ${limitMb} MB), wall ${wall}`);
process.exit(run.status === 0 && peakMb < limitMb ? 0 : 1);
