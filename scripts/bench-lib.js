// What the benchmarks share: the deterministic corpus, and one measured run of a command.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { wavFormat, wavHeader } from './wav-header.js';

// Where the corpus of `minutes` minutes is cached (makeCorpus makes it there once).
export function corpusDir(root, minutes) {
  return path.join(root, '.cache', `bench-corpus-${minutes}min`);
}

// Reads every file once, so that every measured run (the floor included) starts with its
// inputs in the page cache: otherwise the first run alone pays for the disk.
export function warmPageCache(dir) {
  for (const f of listFiles(dir)) fs.readFileSync(f);
}

// Files of 20 s to 3 min at several rates and WAV encodings: voiced bursts with harmonics
// and a little noise, pauses of varied lengths, as a dataset of speech would hold.
const FORMS = [
  { rate: 48000, bits: 16, channels: 1 },
  { rate: 44100, bits: 24, channels: 2 },
  { rate: 32000, bits: 32, float: true, channels: 1 },
  { rate: 22050, bits: 16, channels: 1 },
  { rate: 16000, bits: 16, channels: 1 },
  { rate: 48000, bits: 32, float: true, channels: 2 },
];

export function makeCorpus(dir, minutes) {
  makeDataset(dir, 20261128, (i, rand, total) =>
    total < minutes * 60
      ? {
          name: path.join(String(i % 3), `take_${String(i).padStart(3, '0')}.wav`),
          form: FORMS[i % FORMS.length],
          seconds: Math.min(20 + rand() * 160, minutes * 60 - total + 1),
        }
      : null,
  );
}

// Where the folder of `count` short clips is cached (makeClips makes it there once).
export function clipsDir(root, count) {
  return path.join(root, '.cache', `bench-clips-${count}`);
}

// The other common shape of a voice dataset: many short clips (1 to 5 s, one utterance or a
// few each), mono 16-bit at the usual rates, with the corpus's speech-like signal.
const CLIP_FORMS = [
  { rate: 48000, bits: 16, channels: 1 },
  { rate: 44100, bits: 16, channels: 1 },
  { rate: 22050, bits: 16, channels: 1 },
  { rate: 16000, bits: 16, channels: 1 },
];

export function makeClips(dir, count) {
  makeDataset(dir, 20261129, (i, rand) =>
    i < count
      ? { name: path.join(String(i % 3), `clip_${String(i).padStart(5, '0')}.wav`), form: CLIP_FORMS[i % CLIP_FORMS.length], seconds: 1 + rand() * 4 }
      : null,
  );
}

// Makes a dataset in `dir` once (a `.complete` stamp says it is whole; anything else there is
// replaced): `next(i, rand, total)` gives file i (its name under `dir`, form and length), or
// null when there are no more, drawing from the seeded generator that then writes its signal.
function makeDataset(dir, seed, next) {
  const stamp = path.join(dir, '.complete');
  if (fs.existsSync(stamp)) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  let total = 0;
  for (let i = 0, f; (f = next(i, rand, total)); i++) {
    total += f.seconds;
    const file = path.join(dir, f.name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeWav(file, f.form, f.seconds, rand);
  }
  fs.writeFileSync(stamp, `${total.toFixed(1)} s\n`);
}

function writeWav(file, form, seconds, rand) {
  const n = Math.round(form.rate * seconds);
  const bytes = form.bits / 8;
  const data = Buffer.alloc(n * form.channels * bytes);
  let burst = 0, pause = 0, len = 1, f0 = 150, gain = 0.2;
  for (let i = 0; i < n; i++) {
    if (burst === 0 && pause === 0) {
      len = burst = Math.round(form.rate * (0.3 + rand() * 2.5));
      pause = Math.round(form.rate * (0.05 + rand() * rand() * 1.5));
      f0 = 90 + rand() * 180;
      gain = 0.05 + rand() * 0.3;
    }
    let v = (rand() - 0.5) * 3e-4;
    if (burst > 0) {
      const k = len - burst;
      const env = Math.sin((Math.PI * k) / len);
      for (let h = 1; h <= 10; h++) v += (gain * env * Math.sin((2 * Math.PI * f0 * h * i) / form.rate)) / h;
      v += gain * env * (rand() - 0.5) * 0.05;
      burst--;
    } else {
      pause--;
    }
    for (let c = 0; c < form.channels; c++) {
      const at = (i * form.channels + c) * bytes;
      const s = c === 0 ? v : v * 0.9;
      if (form.float) data.writeFloatLE(s, at);
      else data.writeIntLE(Math.max(-(2 ** (form.bits - 1)), Math.min(2 ** (form.bits - 1) - 1, Math.round(s * 2 ** (form.bits - 1)))), at, bytes);
    }
  }
  fs.writeFileSync(file, Buffer.concat([wavHeader(data.length, form), data]));
}

export function timed(args) {
  // Each run starts with no dirty pages of an earlier one (half a gigabyte of outputs per
  // run), so that none pays for another's writeback.
  spawnSync('sync');
  const run = spawnSync('/usr/bin/time', ['-v', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (run.status !== 0) {
    process.stderr.write(run.stdout + run.stderr);
    throw new Error(`${args.join(' ')} failed`);
  }
  const field = (re) => re.exec(run.stderr)?.[1];
  const clock = field(/Elapsed \(wall clock\) time.*: (.*)/).split(':').map(Number);
  const wall = clock.reduce((s, v) => s * 60 + v, 0);
  const cpu = Number(field(/User time \(seconds\): (.*)/)) + Number(field(/System time \(seconds\): (.*)/));
  const rssMb = Number(field(/Maximum resident set size \(kbytes\): (\d+)/)) / 1024;
  return { wall, cpu, rssMb, stdout: run.stdout };
}

// A WAV file's length in seconds, from its header.
export function wavSeconds(file) {
  const f = wavFormat(fs.readFileSync(file));
  if (!f) throw new Error(`${file}: no fmt and data chunks`);
  return f.dataBytes / (f.channels * (f.bits / 8)) / f.rate;
}

// Splits a dataset's files into `parts` folders under `into` (part-0, part-1, …; fewer where
// there are fewer files) of about as many seconds of audio each, each file linked under its own
// sid folder, as it was. The longest files are placed first, each into the part with the
// fewest seconds so far.
export function splitDataset(dir, parts, into) {
  const files = listFiles(dir)
    .map((f) => ({ f, rel: path.relative(dir, f), seconds: wavSeconds(f) }))
    .sort((a, b) => b.seconds - a.seconds || (a.rel < b.rel ? -1 : 1));
  const load = new Array(Math.min(parts, files.length)).fill(0);
  const folders = load.map((_, k) => path.join(into, `part-${k}`));
  for (const { f, rel, seconds } of files) {
    const k = load.indexOf(Math.min(...load));
    load[k] += seconds;
    fs.mkdirSync(path.dirname(path.join(folders[k], rel)), { recursive: true });
    fs.symlinkSync(f, path.join(folders[k], rel));
  }
  return folders;
}

// Every file under dir (hidden ones left out: the corpus stamp).
export function listFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile() && !e.name.startsWith('.')) out.push(p);
  }
  return out;
}

// The middle value (the mean of the two middle ones for an even count).
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
