#!/usr/bin/env node
// `npm run bench:compare -- BASE`: this tree's speed against another build's, the two taking
// turns on the bench corpus, reported as medians and their ratio. On a shared, noisy machine
// the same build's run can take twice as long from one hour to the next, so an absolute
// table says little about a change; runs of both builds in the same minutes do.
//
// Usage: node scripts/bench-compare.js BASE [--rounds 6] [--threads 1,2] [--minutes 40 | --dataset DIR]
//                                       [-- '{"denoise":0.7}']
// (--dataset: another dataset folder instead of the bench corpus, such as a folder of short
// clips that scripts/memcheck-files.js makes in .cache/memcheck-files-N.)
// BASE is a git revision (exported with `git archive` into .cache/bench-base/<commit>/ and
// built there once, with this tree's node_modules; the four most recently used such builds are
// kept) or the folder of another built checkout.
// Both must be built: this tree with `npm run build`. Each round runs every thread count
// once with each build, the order swapped from one round to the next. The first round's
// outputs of the two builds are compared file by file (the WAVs and model_info.json), and
// WAVs that differ, sample by sample.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusDir, listFiles, makeCorpus, median, timed, warmPageCache } from './bench-lib.js';
import { wavChunks } from './wav-header.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const extra = argv.includes('--') ? argv.splice(argv.indexOf('--')) : [];
const extraOptions = extra.length > 1 ? JSON.parse(extra[1]) : {};
const flag = (name, fallback) => (argv.includes(name) ? argv.splice(argv.indexOf(name), 2)[1] : fallback);
const rounds = Math.max(1, Number(flag('--rounds', 6)) || 6);
const threadCounts = String(flag('--threads', `1,${os.availableParallelism()}`)).split(',').map(Number);
const minutes = Number(flag('--minutes', 40)) || 40;
const dataset = flag('--dataset', undefined);
if (argv.length !== 1 || threadCounts.some((t) => !(t >= 1)) || (dataset !== undefined && !fs.existsSync(dataset))) {
  process.stderr.write('usage: node scripts/bench-compare.js BASE [--rounds N] [--threads 1,2] [--minutes M | --dataset DIR] [-- JSON]\n');
  process.exit(2);
}

// Exported builds stay for the next comparison with the same base, the most recently used
// few (each is some 50 MB: its sources and build, its node_modules a link to this tree's).
const KEPT_BASES = 4;

// Removes the exported builds past the KEPT_BASES most recently used (or never finished), but
// never `using`. fs.rmSync removes the node_modules link, not what it points to.
function pruneBases(using) {
  const dir = path.join(root, '.cache', 'bench-base');
  const bases = fs
    .readdirSync(dir)
    .filter((name) => /^[0-9a-f]{40}$/.test(name))
    .map((name) => {
      const stamp = path.join(dir, name, '.built');
      return { dir: path.join(dir, name), used: fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0 };
    })
    .sort((a, b) => b.used - a.used);
  for (const base of bases.slice(KEPT_BASES)) if (base.dir !== using) fs.rmSync(base.dir, { recursive: true, force: true });
}

// The base build's folder: a checkout given as such, or a revision exported and built once.
function baseTree(spec) {
  if (fs.existsSync(path.join(spec, 'scripts', 'bench-run.js'))) return { dir: path.resolve(spec), label: spec };
  const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  let commit;
  try {
    commit = git('rev-parse', '--verify', `${spec}^{commit}`);
  } catch {
    throw new Error(`${spec}: neither a built voxprep checkout nor a git revision of this one`);
  }
  const dir = path.join(root, '.cache', 'bench-base', commit);
  const label = commit.startsWith(spec) ? commit.slice(0, 7) : `${spec} (${commit.slice(0, 7)})`;
  if (fs.existsSync(path.join(dir, '.built'))) {
    const now = new Date();
    fs.utimesSync(path.join(dir, '.built'), now, now); // used now
    pruneBases(dir);
    return { dir, label };
  }
  process.stderr.write(`bench-compare: building ${label} in ${dir}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: root, stdio: 'inherit' });
  if (!fs.existsSync(path.join(dir, 'scripts', 'bench-run.js'))) throw new Error(`${label} has no scripts/bench-run.js`);
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const bin = (name) => path.join(root, 'node_modules', '.bin', name);
  execFileSync(bin('cmake-js'), ['compile'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  fs.writeFileSync(path.join(dir, '.built'), `${commit}\n`);
  pruneBases(dir);
  return { dir, label };
}

// The float32 samples of one of voxprep's outputs (its data chunk), or null if it has none.
function outputSamples(bytes) {
  for (const c of wavChunks(bytes)) {
    if (c.id === 'data') {
      const data = bytes.subarray(c.body, c.body + c.size);
      return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    }
  }
  return null;
}

// The files whose bytes must not depend on the build: every WAV and model_info.json. For
// WAVs that differ but have the same number of samples, by how much: the samples that differ,
// the largest difference, and each file's signal-to-difference ratio (the base's output as the
// signal), of which the lowest is reported.
function compareOutputs(a, b) {
  const rel = (dir) =>
    listFiles(dir)
      .map((f) => path.relative(dir, f))
      .filter((f) => f.endsWith('.wav') || f === 'model_info.json')
      .sort();
  const fa = new Set(rel(a)), fb = new Set(rel(b));
  const names = new Set([...fa, ...fb]);
  const differ = [];
  const by = { samples: 0, differing: 0, largest: 0, worstDb: Infinity, worstFile: null, unlike: 0 };
  for (const f of names) {
    if (!fa.has(f) || !fb.has(f)) {
      differ.push(f);
      ++by.unlike;
      continue;
    }
    const x = fs.readFileSync(path.join(a, f)), y = fs.readFileSync(path.join(b, f));
    if (x.equals(y)) continue;
    differ.push(f);
    const sx = f.endsWith('.wav') ? outputSamples(x) : null, sy = f.endsWith('.wav') ? outputSamples(y) : null;
    if (!sx || !sy || sx.length !== sy.length) {
      ++by.unlike;
      continue;
    }
    let signal = 0, noise = 0;
    for (let i = 0; i < sx.length; ++i) {
      const d = sy[i] - sx[i];
      if (d !== 0) ++by.differing;
      by.largest = Math.max(by.largest, Math.abs(d));
      signal += sx[i] * sx[i];
      noise += d * d;
    }
    by.samples += sx.length;
    const db = noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
    if (db < by.worstDb) Object.assign(by, { worstDb: db, worstFile: f });
  }
  return { files: names.size, differ, by };
}

const base = baseTree(argv[0]);
const builds = [
  { name: 'base', dir: base.dir },
  { name: 'this', dir: root },
];
for (const b of builds) {
  if (!fs.existsSync(path.join(b.dir, 'dist', 'index.js'))) throw new Error(`${b.dir} is not built (no dist/index.js)`);
}
const corpus = dataset ? path.resolve(dataset) : corpusDir(root, minutes);
if (!dataset) makeCorpus(corpus, minutes);
warmPageCache(corpus);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-compare-'));
// Each run's outputs are removed after it (after the first round's comparison), to keep the
// page cache from filling over dozens of runs. Both builds take turns after such a removal,
// so whatever it costs the next run's file creation, they pay alike.
const runs = new Map(threadCounts.map((t) => [t, { base: [], this: [] }]));
let comparison = null;
try {
  for (let round = 1; round <= rounds; ++round) {
    for (const threads of threadCounts) {
      const order = round % 2 ? builds : [...builds].reverse();
      const outs = {};
      for (const b of order) {
        process.stderr.write(`bench-compare: round ${round}/${rounds}, ${threads} thread(s): ${b.name}\n`);
        const out = path.join(scratch, `${b.name}-${threads}-${round}`);
        const runner = path.join(b.dir, 'scripts', 'bench-run.js');
        const t = timed([process.execPath, runner, corpus, out, String(threads), JSON.stringify(extraOptions)]);
        t.audio = JSON.parse(t.stdout).totalSeconds;
        runs.get(threads)[b.name].push({ ...t, round });
        outs[b.name] = out;
      }
      if (!comparison) comparison = compareOutputs(outs.base, outs.this);
      for (const out of Object.values(outs)) fs.rmSync(out, { recursive: true, force: true });
    }
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

// ---- the table --------------------------------------------------------------------------
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const audio = runs.get(threadCounts[0]).this[0].audio;
console.log(
  `\nvoxprep bench-compare: this tree (${root}) against ${base.label}; ${(audio / 60).toFixed(1)} min of audio, ` +
    `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores; ${rounds} round(s), the builds taking turns` +
    (extra.length > 1 ? `; options ${extra[1]}` : ''),
);
console.log(`${pad('run', 20)}${lpad('base s', 9)}${lpad('this s', 9)}${lpad('speed-up', 10)}${lpad('rounds', 16)}${lpad('base CPU', 10)}${lpad('this CPU', 10)}`);
for (const [threads, r] of runs) {
  const wallBase = median(r.base.map((x) => x.wall)), wallThis = median(r.this.map((x) => x.wall));
  // Each round's own ratio: how far the speed-up moves with the machine.
  const ratios = r.base.map((x, i) => x.wall / r.this[i].wall);
  console.log(
    pad(`${threads} thread${threads > 1 ? 's' : ''}, wall`, 20) +
      lpad(wallBase.toFixed(2), 9) +
      lpad(wallThis.toFixed(2), 9) +
      lpad((wallBase / wallThis).toFixed(2) + 'x', 10) +
      lpad(`${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x`, 16) +
      lpad(median(r.base.map((x) => x.cpu)).toFixed(2), 10) +
      lpad(median(r.this.map((x) => x.cpu)).toFixed(2), 10),
  );
}
console.log('(medians; "speed-up" is base over this; "rounds" the range of the rounds\' own ratios; CPU in seconds)');
console.log(
  comparison.differ.length === 0
    ? `outputs (first round, ${threadCounts[0]} thread${threadCounts[0] > 1 ? 's' : ''}): all ${comparison.files} files byte-identical`
    : `outputs DIFFER (first round): ${comparison.differ.length} of ${comparison.files} files, e.g. ${comparison.differ.slice(0, 3).join(', ')}`,
);
if (comparison.by.samples > 0) {
  const { by } = comparison;
  console.log(
    `  in those of the same length: ${by.differing} of ${by.samples} float32 samples differ, by at most ${by.largest.toExponential(1)}; ` +
      `the lowest signal-to-difference ratio ${by.worstDb.toFixed(1)} dB (${by.worstFile})` +
      (by.unlike ? `; ${by.unlike} file(s) missing on one side, of other lengths or not WAV` : ''),
  );
}
