#!/usr/bin/env node
// `npm run bench`: voxprep's speed and memory on a deterministic speech-like corpus, with the
// default options and with noise reduction (--denoise 0.7), against the I/O floor measured in
// the same run (reading the inputs and writing as many output bytes, with no processing).
// Prints one table ("cores": CPU seconds over wall seconds, the cores a run kept busy).
//
// Usage: node scripts/bench.js [--minutes 40] [--repeat N] [--skip-floor] [--skip-denoise] [--skip-clips]
//                               [--corpus-only] [-- '{"sampleRate":48000}']
// (the JSON after -- adds library options to every voxprep run). Besides the corpus of long
// takes, a folder of 1000 short clips (1 to 5 s: the other common shape of a dataset, where
// what a run spends per file shows) is measured with its own floor. With --repeat N each row
// is measured N times, the rows taking turns (so that a slow spell of the machine hits them
// all alike), and shows its fastest run. The default is one: on disk every run leaves half a
// gigabyte of outputs in the page cache (deleting them would slow the next runs' file
// creation, see below), and on these 24 GiB machines the third round already paid for
// reclaiming memory (in a tmpfs, where deleting costs nothing of the kind, each run's outputs
// go as soon as no row needs them).
// The corpus and the clips are made once and cached in .cache/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipsDir, corpusDir, listFiles, makeClips, makeCorpus, splitDataset, timed, warmPageCache } from './bench-lib.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const minutes = Number(argv[argv.indexOf('--minutes') + 1] || 40) || 40;
// The targets (on the bench corpus, with the default options): 1 thread's speed, its wall time
// against the I/O floor's, all threads' speed-up over 1 thread, and their extra memory.
const TARGETS = { realTime: 1500, ofFloor: 2, scaling: 1.7, memory: 0.2 };
const skipFloor = argv.includes('--skip-floor');
const skipDenoise = argv.includes('--skip-denoise');
const skipClips = argv.includes('--skip-clips');
const repeat = argv.includes('--repeat') ? Math.max(1, Number(argv[argv.indexOf('--repeat') + 1]) || 1) : 1;
const extra = argv.includes('--') ? argv.slice(argv.indexOf('--') + 1) : [];
const extraOptions = extra.length ? JSON.parse(extra[0]) : {};

const corpus = corpusDir(root, minutes);
process.stderr.write(`bench: corpus ${corpus} (${minutes} min)\n`);
makeCorpus(corpus, minutes);
const clipCount = 1000;
const clips = skipClips ? null : clipsDir(root, clipCount);
if (clips) {
  process.stderr.write(`bench: clips ${clips} (${clipCount} files)\n`);
  makeClips(clips, clipCount);
}
if (argv.includes('--corpus-only')) process.exit(0);
warmPageCache(corpus);
if (clips) warmPageCache(clips);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-bench-'));
const runner = path.join(root, 'scripts', 'bench-run.js');
// A tmpfs's files are memory: with gigabytes of earlier outputs left in one, every row paid
// for the kernel reclaiming memory (once, with 4 GB there, the floor took 0.77 s instead of
// about 0.3). Said under the table, so that such a table is not taken for a comparable one.
const kTmpfs = 0x01021994;
const scratchFs = fs.statfsSync(scratch);
const heldGb = scratchFs.type === kTmpfs ? ((scratchFs.blocks - scratchFs.bfree) * scratchFs.bsize) / 2 ** 30 : 0;
const threadsAll = os.availableParallelism();

// The same work as independent processes of 1 thread, one per core, each given a share of the
// corpus's files (about as many seconds each), started together: nothing shared between them
// but the machine. Threads of one process can do better than that only by what they share
// (one start instead of several), so it tells about what the all-threads row can gain here.
const shares = threadsAll > 1 ? splitDataset(corpus, threadsAll, path.join(scratch, 'shares')) : [];
// Each kind of run with 1 thread and with all cores; "vs 1 thr" compares with its own 1-thread row.
const kinds = [{ label: 'voxprep', options: extraOptions, dataset: corpus }];
if (!skipDenoise) kinds.push({ label: 'voxprep --denoise 0.7', options: { ...extraOptions, denoise: 0.7 }, dataset: corpus });
if (clips) kinds.push({ label: 'clips: voxprep', options: extraOptions, dataset: clips });
// The rows in the table's order; each round measures every row once.
const plan = [];
for (const kind of kinds) {
  for (const threads of [1, threadsAll]) {
    plan.push({ name: `${kind.label}, ${threads} thread${threads > 1 ? 's' : ''}`, kind: kind.label, dataset: kind.dataset, threads, options: kind.options, runs: [] });
  }
  if (kind === kinds[0]) {
    // The same run again into the 1-thread run's folder (bench-run passes overwrite), as a user
    // reruns with other settings: it first removes the earlier run's 2000 slices.
    const first = plan.length - 2;
    plan.push({ name: `${kind.label}, 1 thread, rerun (--overwrite)`, kind: `${kind.label} rerun`, dataset: kind.dataset, threads: 1, options: kind.options, runs: [], rerunOf: first });
    if (shares.length > 1) {
      plan.push({ name: `${kind.label}, ${shares.length} processes of 1 thread`, kind: `${kind.label} processes`, dataset: kind.dataset, threads: 1, processes: shares.length, options: kind.options, runs: [] });
    }
  }
}
// Each dataset's floor: its inputs read, and as many bytes written as its first run wrote.
const floorRows = skipFloor
  ? []
  : [
      { name: 'I/O floor (read inputs, write outputs)', dataset: corpus, runs: [] },
      ...(clips ? [{ name: 'clips: I/O floor', dataset: clips, runs: [] }] : []),
    ];
const outputs = new Map(); // dataset → its first run's output sizes
for (let round = 1; round <= repeat; ++round) {
  for (const [row, p] of plan.entries()) {
    // A fresh folder for every run but a rerun (on disk, outputs are removed only at the end: see below).
    const out = path.join(scratch, `out-${p.rerunOf ?? row}-${round}`);
    process.stderr.write(`bench: round ${round}/${repeat}: ${p.name}\n`);
    if (p.processes) {
      const t = timedTogether(shares, out, p.options);
      p.runs.push({ ...t, audio: t.results.reduce((sum, r) => sum + r.totalSeconds, 0) });
      if (scratchFs.type === kTmpfs) fs.rmSync(out, { recursive: true, force: true });
      continue;
    }
    const t = timed([process.execPath, runner, p.dataset, out, String(p.threads), JSON.stringify(p.options)]);
    const result = JSON.parse(t.stdout);
    p.runs.push({ ...t, audio: result.totalSeconds, stages: result.stages });
    if (!outputs.has(p.dataset)) outputs.set(p.dataset, listFiles(out).map((f) => fs.statSync(f).size));
    // In a tmpfs, outputs are memory (some 0.5-0.7 GB a run): removed as soon as no row needs them.
    if (scratchFs.type === kTmpfs && !plan.some((q) => q.rerunOf === row)) fs.rmSync(out, { recursive: true, force: true });
  }
  for (const [i, floorRow] of floorRows.entries()) {
    process.stderr.write(`bench: round ${round}/${repeat}: ${floorRow.name}\n`);
    const sizesFile = path.join(scratch, `sizes-${i}.json`);
    fs.writeFileSync(sizesFile, JSON.stringify(outputs.get(floorRow.dataset)));
    const out = path.join(scratch, `floor-${i}-${round}`);
    const t = timed([process.execPath, path.join(root, 'scripts', 'bench-io-floor.js'), floorRow.dataset, out, sizesFile]);
    floorRow.runs.push({ ...t, audio: plan.find((p) => p.dataset === floorRow.dataset).runs[0].audio });
    if (scratchFs.type === kTmpfs) fs.rmSync(out, { recursive: true, force: true });
  }
}
// One 1-thread run per share, all started at once by one shell (whose own start is a
// millisecond, where node's would be tens), timed together: wall until the last ends, CPU of
// them all, and the largest one's peak memory. Each run's JSON goes to its own file.
function timedTogether(folders, out, options) {
  const args = [process.execPath, runner, JSON.stringify(options)];
  const lines = folders.map((folder, k) => {
    args.push(folder, path.join(out, `share-${k}`), path.join(out, `share-${k}.json`));
    const at = 3 + 3 * k; // $0 … $2 above, then three per share
    return `"$0" "$1" "\${${at}}" "\${${at + 1}}" 1 "$2" > "\${${at + 2}}" & p${k}=$!`;
  });
  const waits = folders.map((_, k) => `wait $p${k} || failed=1`);
  fs.mkdirSync(out, { recursive: true });
  const t = timed(['sh', '-c', [...lines, 'failed=0', ...waits, 'exit $failed'].join('\n'), ...args]);
  return { ...t, results: folders.map((_, k) => JSON.parse(fs.readFileSync(path.join(out, `share-${k}.json`), 'utf8'))) };
}

// Each row: its fastest run.
const fastest = (row) => ({ ...row, ...row.runs.reduce((a, b) => (b.wall < a.wall ? b : a)) });
const rows = plan.map(fastest);
for (const row of rows) {
  row.base = row.rerunOf !== undefined ? rows[row.rerunOf] : row.processes ? rows[0] : rows.find((r) => r.kind === row.kind && r.threads === 1);
}
const floors = floorRows.map(fastest);
for (const f of floors) f.base = rows.find((r) => r.dataset === f.dataset && r.threads === 1);
for (const row of rows) row.floor = floors.find((f) => f.dataset === row.dataset);
// Outputs on disk are removed only now, after every measurement: on ext4 without a journal
// (as on these machines) creating a file skips over every inode deleted in the last minutes,
// one lookup each, so a run that follows the deletion of another run's 2000 files spent up
// to a fifth of its time creating files (measured with perf: ext4 recently_deleted).
fs.rmSync(scratch, { recursive: true, force: true });

// ---- the table --------------------------------------------------------------------------
const one = rows[0];
// Each dataset's floor above its rows.
const all = [];
for (const r of rows) {
  if (r.floor && !all.includes(r.floor)) all.push(r.floor);
  all.push(r);
}
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const clipRow = rows.find((r) => r.dataset === clips);
console.log(
  `\nvoxprep bench: ${(one.audio / 60).toFixed(1)} min of audio in ${listFiles(corpus).length} WAV files` +
    (clipRow ? ` (clips: ${(clipRow.audio / 60).toFixed(1)} min in ${clipCount} files of 1-5 s)` : '') +
    `, ${os.cpus()[0]?.model ?? 'cpu'}, ${threadsAll} cores; ${repeat > 1 ? `each row the fastest of ${repeat} runs, the rows taking turns` : 'one run a row'}`,
);
console.log(`${pad('run', 42)}${lpad('wall s', 9)}${lpad('CPU s', 9)}${lpad('cores', 7)}${lpad('peak MB', 9)}${lpad('x real', 9)}${lpad('vs 1 thr', 10)}${lpad('vs floor', 10)}`);
for (const r of all) {
  console.log(
    pad(r.name, 42) +
      lpad(r.wall.toFixed(2), 9) +
      lpad(r.cpu.toFixed(2), 9) +
      lpad((r.cpu / r.wall).toFixed(2), 7) +
      lpad(r.rssMb.toFixed(0), 9) +
      lpad((r.audio / r.wall).toFixed(0), 9) +
      lpad((r.base.wall / r.wall).toFixed(2) + 'x', 10) +
      lpad(r.floor || floors.includes(r) ? (r.wall / (r.floor ?? r).wall).toFixed(2) + 'x' : '-', 10),
  );
}
for (const r of rows.filter((row) => row.threads === 1 && row.rerunOf === undefined && !row.processes && row.dataset === corpus)) {
  const sum = Object.values(r.stages).reduce((a, b) => a + b, 0);
  console.log(
    `stage shares (${r.name}, thread time): ` +
      Object.entries(r.stages)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${((100 * v) / sum).toFixed(0)}%`)
        .join(', '),
  );
  if (r.stages.denoise > 0) {
    console.log(`noise reduction stage alone (1 thread): ${(r.audio / r.stages.denoise).toFixed(0)}x real time (${r.stages.denoise.toFixed(2)} thread s)`);
  }
}
const last = rows.filter((r) => r.kind === one.kind).at(-1);
// "cores": CPU seconds over wall seconds, the cores a run kept busy on average. With 1 thread
// voxprep's reading and writing threads (and the kernel's file work) run beside its worker,
// so with all threads it can be at most (cores / the 1-thread run's cores) times as fast on
// this machine, however well the threads scale.
const apart = rows.find((r) => r.processes);
if (threadsAll > 1) {
  const busy = one.cpu / one.wall;
  console.log(
    `scaling ceiling: with 1 thread voxprep keeps ${busy.toFixed(2)} cores busy, so on ${threadsAll} cores ${threadsAll} threads ` +
      `can be at most ${(threadsAll / busy).toFixed(2)}x as fast (measured: ${(one.wall / last.wall).toFixed(2)}x` +
      (apart ? `; ${apart.processes} independent processes, a share of the files each: ${(one.wall / apart.wall).toFixed(2)}x)` : ')'),
  );
}
console.log(`memory, ${threadsAll} threads vs 1: ${((last.rssMb / one.rssMb - 1) * 100).toFixed(0)}% higher`);
// The speed and memory targets this bench measures (the 2-hour file's memory is
// scripts/memcheck.js's), each with what this run measured.
const corpusFloor = floors.find((f) => f.dataset === corpus);
const targets = [
  [`1 thread at least ${TARGETS.realTime}x real time`, `${(one.audio / one.wall).toFixed(0)}x`, one.audio / one.wall >= TARGETS.realTime],
  ...(corpusFloor
    ? [[`1 thread within ${TARGETS.ofFloor}x of the I/O floor`, `${(one.wall / corpusFloor.wall).toFixed(2)}x`, one.wall <= TARGETS.ofFloor * corpusFloor.wall]]
    : []),
  ...(threadsAll > 1
    ? [
        [
          `${threadsAll} threads at least ${TARGETS.scaling}x as fast as 1`,
          `${(one.wall / last.wall).toFixed(2)}x` + (apart ? ` (${apart.processes} independent processes: ${(one.wall / apart.wall).toFixed(2)}x)` : ''),
          one.wall >= TARGETS.scaling * last.wall,
        ],
        [`${threadsAll} threads at most ${TARGETS.memory * 100}% more memory than 1`, `${((last.rssMb / one.rssMb - 1) * 100).toFixed(0)}%`, last.rssMb <= (1 + TARGETS.memory) * one.rssMb],
      ]
    : []),
];
if (extra.length === 0) console.log(`targets: ${targets.map(([what, got, met]) => `${what}: ${got}, ${met ? 'met' : 'NOT met'}`).join('; ')}`);
if (heldGb >= 1) {
  console.log(
    `warning: the scratch tmpfs (${os.tmpdir()}) held ${heldGb.toFixed(1)} GB of other files when the bench began; ` +
      'the rows are slower than on an empty one and not comparable with its tables (empty it and run again)',
  );
}
