#!/usr/bin/env node
// Peak resident memory of `voxprep preprocess` against the number of files: two folders of
// short clips (1.6 s of 16 kHz 16-bit audio each, one slice per clip; made here and cached),
// one with FEW files and one with MANY, each run with 2 threads and measured with
// /usr/bin/time -v. Prints both peaks and the growth per file between them, and fails when
// that growth is over the limit.
// Usage: node scripts/memcheck-files.js [few] [many] [limitKBPerFile]   (defaults 2500 10000 10)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wavHeader } from './wav-header.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [few, many, limitKb] = [2500, 10000, 10].map((d, i) => Number(process.argv[2 + i] ?? d));
if (!(Number.isInteger(few) && few > 0 && Number.isInteger(many) && many > few && limitKb > 0)) {
  process.stderr.write('usage: node scripts/memcheck-files.js [few] [many] [limitKBPerFile]  (few < many, whole numbers)\n');
  process.exit(2);
}
const rate = 16000;
const frames = Math.round(1.6 * rate);

/** A folder of `count` clips (cached): a tone in noise, each clip's noise its own. */
function dataset(count) {
  const dir = path.join(root, '.cache', `memcheck-files-${count}`);
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return dir;
  process.stderr.write(`making ${count} clips in ${dir}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, '0'), { recursive: true });
  const bytes = Buffer.alloc(44 + frames * 2);
  wavHeader(frames * 2, { rate, channels: 1, bits: 16 }).copy(bytes);
  let seed = 777;
  const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
  for (let n = 0; n < count; ++n) {
    for (let i = 0; i < frames; ++i) {
      const v = 0.3 * Math.sin((2 * Math.PI * 180 * i) / rate) + 0.01 * (rand() - 0.5);
      bytes.writeInt16LE(Math.round(v * 32767), 44 + i * 2);
    }
    fs.writeFileSync(path.join(dir, '0', `clip_${String(n).padStart(7, '0')}.wav`), bytes);
  }
  fs.writeFileSync(done, '');
  return dir;
}

function peakMb(count) {
  const input = dataset(count);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-memcheck-files-'));
  const run = spawnSync('/usr/bin/time', ['-v', process.execPath, path.join(root, 'bin/voxprep.js'), 'preprocess', input, '-o', out, '--threads', '2'], {
    encoding: 'utf8',
  });
  fs.rmSync(out, { recursive: true, force: true });
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr);
  if (run.status !== 0 || !rss) {
    process.stderr.write(run.stderr);
    process.exit(1);
  }
  return Number(rss[1]) / 1024;
}

const a = peakMb(few);
const b = peakMb(many);
const perFileKb = ((b - a) * 1024) / (many - few);
console.log(
  `memcheck-files: ${few} clips ${a.toFixed(1)} MB, ${many} clips ${b.toFixed(1)} MB peak RSS: ` +
    `${perFileKb.toFixed(1)} KB more per file (limit ${limitKb} KB)`,
);
process.exit(perFileKb <= limitKb ? 0 : 1);
