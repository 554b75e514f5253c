#!/usr/bin/env node
// Makes .cache/gpu-parity/: the golden dataset as WAV files, with jobs.tsv
// (relative_path<TAB>sid<TAB>idx0 a line), so that native/test/device_test.cc can run its
// whole-file GPU parity checks on real recordings on a machine without Node:
//   VOXPREP_PARITY_JOBS=$PWD/.cache/gpu-parity/jobs.tsv build-gpu/voxprep_device_test
// (scripts/gpu-check does this when the file is there).
//
// The file list, sid and idx0 come from voxprep's own walker, so they are the CLI's. WAV
// inputs are copied as they are; FLAC, MP3 and Ogg go through voxprep's own decoder process
// (the one the engine runs) and are stored as the float32 WAV stream it writes, with its
// sizes filled in: the engine reads the same samples either way.
//
// Usage: node scripts/gpu-prepare.js [DATASET] [--out DIR]
//   DATASET defaults to ../shared/golden/dataset, DIR to .cache/gpu-parity. Needs dist/
//   (npm run prepare compiles it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wavChunks, wavFormat } from './wav-header.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const outAt = argv.indexOf('--out');
const out = path.resolve(outAt >= 0 ? argv[outAt + 1] : path.join(root, '.cache', 'gpu-parity'));
const positional = argv.filter((a, i) => !a.startsWith('--') && (outAt < 0 || i !== outAt + 1));
const dataset = path.resolve(positional[0] ?? path.join(root, '..', 'shared', 'golden', 'dataset'));

if (!fs.existsSync(path.join(root, 'dist', 'walk.js'))) {
  console.error('gpu-prepare: dist/ is missing; compile the TypeScript first (npm run prepare)');
  process.exit(1);
}
if (!fs.statSync(dataset, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(`gpu-prepare: no dataset folder at ${dataset}`);
  process.exit(1);
}
const { walkDataset } = await import('../dist/walk.js');
const { decodePlan } = await import('../dist/decode/index.js');

// A WAV stream's sizes are 0xFFFFFFFF (length unknown while it is written): set the RIFF and
// data sizes from the bytes actually there, so that every WAV reader takes the file.
function fillSizes(wav) {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV stream');
  for (const c of wavChunks(wav)) {
    if (c.id === 'data') {
      wav.writeUInt32LE(wav.length - c.body, c.body - 4);
      wav.writeUInt32LE(wav.length - 8, 4);
      return wav;
    }
  }
  throw new Error('no data chunk in the WAV stream');
}

// What the file holds, for the listing: rate, channels, sample form, seconds.
function describe(wav) {
  const f = wavFormat(wav);
  if (!f) return '?';
  const seconds = f.dataBytes / (f.channels * (f.bits / 8)) / f.rate;
  return `${f.rate} Hz, ${f.channels} ch, ${f.bits}-bit${f.tag === 3 ? ' float' : ''}, ${seconds.toFixed(1)} s`;
}

const { files, skippedFolders } = await walkDataset(dataset);
fs.rmSync(out, { recursive: true, force: true }); // nothing stale from an earlier run
fs.mkdirSync(out, { recursive: true });
const lines = [];
let failed = 0;
console.log(`gpu-prepare: ${files.length} files from ${dataset}`);
for (const f of files) {
  const plan = decodePlan(f.absolute);
  let stored = path.join('dataset', f.relative);
  let wav;
  try {
    if ('skip' in plan) throw new Error(plan.skip);
    if (plan.decoder) {
      const [cmd, ...args] = plan.decoder;
      const run = spawnSync(cmd, args, { maxBuffer: 1 << 30 });
      if (run.status !== 0) throw new Error(run.stderr.toString().trim() || `decoder exit status ${run.status}`);
      for (const w of run.stderr.toString().split('\n').filter(Boolean)) console.log(`  ${f.relative}: ${w}`);
      wav = fillSizes(run.stdout);
      stored += '.wav';
    } else {
      wav = fs.readFileSync(f.absolute);
    }
  } catch (err) {
    console.log(`  ${f.relative}: NOT stored (${err.message})`);
    failed++;
    continue;
  }
  fs.mkdirSync(path.dirname(path.join(out, stored)), { recursive: true });
  fs.writeFileSync(path.join(out, stored), wav);
  lines.push(`${stored}\t${f.sid}\t${f.idx0}\n`);
  console.log(`  sid ${f.sid} idx0 ${f.idx0}  ${stored}  (${plan.decoder ? 'decoded' : 'copied'}; ${describe(wav)})`);
}
// Written last, under a temporary name: a jobs file is never a partial one.
fs.writeFileSync(path.join(out, 'jobs.tsv.tmp'), lines.join(''));
fs.renameSync(path.join(out, 'jobs.tsv.tmp'), path.join(out, 'jobs.tsv'));
if (skippedFolders.length) console.log(`  skipped folders (not speaker ids, as the CLI skips them): ${skippedFolders.join(', ')}`);
console.log(`gpu-prepare: wrote ${path.relative(process.cwd(), path.join(out, 'jobs.tsv')) || 'jobs.tsv'} (${lines.length} jobs${failed ? `, ${failed} files not stored` : ''})`);
process.exit(failed ? 1 : 0);
