// `voxprep merge SHARD_DIR... -o OUT_DIR`: puts the shards of a sharded run together.
//
// Each shard (`voxprep preprocess --shard K/N`) leaves voxprep-manifest.shard-K-of-N.jsonl
// and report.shard-K-of-N.json in its output folder, next to its slices. Merge reads the
// manifests, refuses shards that disagree (options, voxprep version, N, the dataset's file
// list), overlap, or leave part of the list without a result; copies every slice from shard
// folders other than OUT_DIR (checking each against the checksum its shard recorded) or checks
// it in place; then writes OUT_DIR's voxprep-manifest.jsonl, report.json and model_info.json
// as one whole run would have: the manifest byte for byte, and total_seconds summed in idx0
// order.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkOptionKeys, requireBoolean, requireObject, requirePath, UsageError, type ResolvedOptions, type ShardSpec } from './config.js';
import { liveHolder, lockOutput } from './lock.js';
import {
  MANIFEST_FILE,
  SHARD_MANIFEST_FILE,
  HashPool,
  headerDifferences,
  inShard,
  manifestLines,
  outputPath,
  readManifest,
  removeFiles,
  reportName,
  type FileRecord,
  type Manifest,
  type ManifestHeader,
  type OutputRecord,
} from './manifest.js';
import { native } from './native.js';
import {
  datasetFacts,
  fileReportFromRecord,
  listOrEmpty,
  realOrResolved,
  scanSlices,
  type PreprocessResult,
} from './pipeline.js';
import { MODEL_INFO, buildReport, notingFailure, refuseUnusableModelInfo, writeAtomically, writeModelInfo, writeReport } from './report.js';

export interface MergeOptions {
  /** Remove voxprep slices in OUT_DIR that no shard wrote, and replace a manifest of other options there. Default false. */
  overwrite?: boolean;
  /** Write OUT/report.json. Default true. */
  report?: boolean;
}

/** MergeOptions' keys (a record, so that the compiler holds it to the interface). */
const MERGE_OPTION_KEYS = Object.keys({ overwrite: true, report: true } satisfies Record<keyof MergeOptions, true>) as (keyof MergeOptions)[];

export interface MergedShard extends ShardSpec {
  /** The shard's folder, as given. */
  dir: string;
}

export interface MergeResult extends PreprocessResult {
  shards: MergedShard[];
  /** Output files copied into OUT_DIR from other shard folders (each checked against its hash). */
  copied: number;
  /** Output files already in OUT_DIR, checked against their hash. */
  verified: number;
}

/** The shards' data disagrees with itself or with what is on disk (a hash mismatch, a missing slice). */
export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

interface FoundShard {
  spec: ShardSpec;
  dir: string;
  real: string;
  file: string;
  manifest: Manifest;
}

function label(s: FoundShard): string {
  return `shard ${s.spec.index}/${s.spec.count} (${s.file})`;
}

/** What a shard's report says about the run (wall time, threads, dataset folder); undefined if it cannot be read. */
async function shardReport(
  s: FoundShard,
): Promise<{ wallSeconds: number; threads: number; dataset: string; device: string } | undefined> {
  try {
    const r = JSON.parse(await fsp.readFile(path.join(s.dir, reportName(s.spec)), 'utf8')) as {
      wallSeconds?: unknown;
      dataset?: unknown;
      options?: { threads?: unknown; device?: unknown };
    };
    return {
      wallSeconds: typeof r.wallSeconds === 'number' ? r.wallSeconds : 0,
      threads: typeof r.options?.threads === 'number' ? r.options.threads : 1,
      dataset: typeof r.dataset === 'string' ? r.dataset : '',
      device: typeof r.options?.device === 'string' ? r.options.device : 'unknown',
    };
  } catch {
    return undefined;
  }
}

function sample(items: (string | number)[], n = 5): string {
  return items.slice(0, n).join(', ') + (items.length > n ? `, … (${items.length} in all)` : '');
}

export async function mergeShards(shardDirs: string[], outDir: string, opts: MergeOptions = {}): Promise<MergeResult> {
  const { slicedDir, sliced16kDir } = native().layout;
  if (!Array.isArray(shardDirs)) throw new UsageError(`the shard folders must be given as an array of paths, got ${typeof shardDirs}`);
  if (shardDirs.length === 0) throw new UsageError('no shard folder given: voxprep merge SHARD_DIR... -o OUT_DIR');
  for (const dir of shardDirs) requirePath('a shard folder', dir);
  requirePath('the output folder', outDir);
  requireObject('the options', opts);
  checkOptionKeys(opts, MERGE_OPTION_KEYS);
  // A string such as 'false' is truthy: taken loosely, `overwrite: 'false'` would replace what
  // OUT_DIR holds.
  for (const key of MERGE_OPTION_KEYS) if (opts[key] !== undefined) requireBoolean(key, opts[key]);
  const out = path.resolve(outDir);
  const outStat = await fsp.stat(out).catch(() => undefined);
  if (outStat && !outStat.isDirectory()) throw new UsageError(`the output path ${outDir} exists and is not a folder`);
  const outReal = await realOrResolved(out);

  // Find the shards: every shard manifest in every folder given (a shared folder holds them all).
  const found = new Map<number, FoundShard>();
  const dirsSeen = new Set<string>();
  for (const dir of shardDirs) {
    const st = await fsp.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new UsageError(`shard folder not found: ${dir}`);
    const real = await realOrResolved(dir);
    if (dirsSeen.has(real)) continue;
    dirsSeen.add(real);
    const names = (await listOrEmpty(dir)).filter((n) => SHARD_MANIFEST_FILE.test(n)).sort();
    if (names.length === 0) {
      throw new UsageError(
        `${dir} holds no shard manifest (voxprep-manifest.shard-K-of-N.jsonl): ` +
          `it is not the output folder of \`voxprep preprocess --shard K/N\`, or that run has not started`,
      );
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const read = await readManifest(file);
      if (read.state !== 'ok') throw new UsageError(`cannot read the shard manifest ${file}: ${read.state === 'unreadable' ? read.reason : 'it is gone'}`);
      const m = SHARD_MANIFEST_FILE.exec(name)!;
      const spec = read.manifest.header.shard;
      if (!spec || spec.index !== Number(m[1]) || spec.count !== Number(m[2])) {
        throw new UsageError(`${file} does not hold the manifest of shard ${m[1]}/${m[2]} (its header says ${spec ? `${spec.index}/${spec.count}` : 'a whole run'})`);
      }
      const shard: FoundShard = { spec, dir, real, file, manifest: read.manifest };
      const twin = found.get(spec.index);
      if (twin) {
        if (twin.spec.count === spec.count) {
          throw new UsageError(`shard ${spec.index}/${spec.count} is in two folders: ${twin.file} and ${file}; give each shard once`);
        }
        throw new UsageError(`the shards do not agree on N: ${label(twin)} and ${label(shard)}; merge the shards of one run`);
      }
      found.set(spec.index, shard);
    }
  }
  const shards = [...found.values()].sort((a, b) => a.spec.index - b.spec.index);
  const first = shards[0];
  const count = first.spec.count;
  const total = first.manifest.header.files;

  // They must be parts of one run: same options, same version, same N, same file list.
  for (const s of shards.slice(1)) {
    const h = s.manifest.header;
    const diff = headerDifferences(first.manifest.header, h);
    if (s.spec.count !== count) diff.push(`${count} shards vs ${s.spec.count}`);
    if (h.files !== total || h.list !== first.manifest.header.list) {
      diff.push(`the dataset's file list (${total} files vs ${h.files}${h.files === total ? ', with other names' : ''})`);
    }
    if (diff.length > 0) {
      throw new UsageError(
        `${label(s)} and ${label(first)} are not parts of one run: ${diff.join('; ')}. ` +
          'Run every shard on the same dataset with the same options and N (--overwrite replaces a shard\'s outputs), then merge',
      );
    }
  }
  const missingShards = [];
  for (let k = 1; k <= count; k++) if (!found.has(k)) missingShards.push(`${k}/${count}`);
  if (missingShards.length > 0) {
    throw new UsageError(
      `shard(s) ${missingShards.join(', ')} missing: found ${shards.map((s) => `${s.spec.index}/${count} in ${s.dir}`).join(', ')}; ` +
        `give the folders of all ${count} shards (a folder may hold several)`,
    );
  }

  // Every file of the list has one result, from the shard it belongs to.
  const records = new Map<number, { rec: FileRecord; shard: FoundShard }>();
  for (const s of shards) {
    for (const rec of s.manifest.records.values()) {
      if (!inShard(rec.idx0, s.spec) || rec.idx0 >= total) {
        throw new UsageError(`${label(s)} records idx0 ${rec.idx0} (${rec.path}), which is not part of that shard: the manifests overlap or are damaged`);
      }
      records.set(rec.idx0, { rec, shard: s });
    }
  }
  for (const s of shards) {
    const owned: number[] = [];
    const missing: number[] = [];
    for (let i = s.spec.index - 1; i < total; i += count) {
      owned.push(i);
      const r = records.get(i)?.rec;
      if (!r || (r.status === 'ok' && !r.complete)) missing.push(i);
    }
    if (missing.length > 0) {
      // A shard still at work (in a folder shared with the merge, say) is not to be resumed.
      const running = await liveHolder(s.dir, s.spec);
      if (running) {
        throw new UsageError(`${label(s)} is still running (${running}): ${missing.length} of its ${owned.length} files have no result yet; merge once it has ended`);
      }
      throw new UsageError(
        `${label(s)} has not finished: ${missing.length} of its ${owned.length} files have no result (idx0 ${sample(missing)}); ` +
          'run it again with --resume, then merge',
      );
    }
  }

  const header: ManifestHeader = { ...first.manifest.header, shard: null };
  const ordered = [...records.values()].sort((a, b) => a.rec.idx0 - b.rec.idx0);

  // OUT_DIR for this merge alone: no run or merge into it, and no shard running in it.
  const lock = await lockOutput(out, null, outDir);
  try {
    // What OUT_DIR holds already: a whole run's manifest of other options, or slices no shard wrote.
    const wholeFile = path.join(out, MANIFEST_FILE);
    const whole = await readManifest(wholeFile);
    if (!opts.overwrite && whole.state !== 'missing') {
      const diff = whole.state === 'ok' ? headerDifferences(whole.manifest.header, header) : [`it cannot be read: ${whole.reason}`];
      if (whole.state === 'ok' && whole.manifest.header.list !== header.list) diff.push('the dataset\'s file list');
      if (diff.length > 0) {
        throw new UsageError(`${outDir} holds ${MANIFEST_FILE} of another run (${diff.join('; ')}); pass --overwrite to replace it, or merge into another folder`);
      }
    }
    await refuseUnusableModelInfo(out);
    const expected = new Set<string>();
    for (const { rec } of ordered) for (const o of rec.outputs) expected.add(o.file);
    const scan = await scanSlices(out, null);
    const stray = scan.slices.filter((f) => !expected.has(f));
    if (stray.length > 0 && !opts.overwrite) {
      throw new UsageError(
        `${outDir} holds ${stray.length} slice file(s) that no shard wrote (${sample(stray, 3)}); ` +
          'pass --overwrite to remove them, or merge into another folder',
      );
    }

    // The slices: copied from other folders, checked where they are.
    for (const dir of [slicedDir, sliced16kDir]) await fsp.mkdir(path.join(out, dir), { recursive: true });
    await removeFiles(scan.temporaries);
    const tasks: { o: OutputRecord; shard: FoundShard }[] = [];
    for (const { rec, shard } of ordered) for (const o of rec.outputs) tasks.push({ o, shard });
    const problems: string[] = [];
    let copied = 0;
    let verified = 0;
    // Files already in place are checksummed where they are (one at a time per core, up to the pool's most).
    const hasher = new HashPool(os.availableParallelism());
    try {
      const toCopy: typeof tasks = [];
      const others: string[] = []; // slices by these names already there, with other bytes
      // Already in place (the shard wrote into OUT_DIR, or the folders were copied together).
      const found = await hasher.check(tasks, ({ o }) => ({ file: outputPath(out, o), size: o.size, xxh64: o.xxh64 }));
      tasks.forEach((task, i) => {
        const { o, shard } = task;
        if (found[i] === 'same') {
          verified++;
        } else if (shard.real === outReal) {
          problems.push(`${o.file} (shard ${shard.spec.index}/${count}) is missing from ${shard.dir} or differs from what the shard recorded`);
        } else {
          if (found[i] === 'other') others.push(o.file);
          toCopy.push(task);
        }
      });
      // A file by a slice's name that no shard wrote (Applio's own slices, a run whose manifest
      // is gone) is the user's: replaced only with --overwrite, or where OUT_DIR holds this
      // run's manifest (then it is a damaged copy of what the merge writes).
      if (others.length > 0 && !opts.overwrite && whole.state !== 'ok') {
        throw new UsageError(
          `${outDir} holds ${others.length} file(s) by the names of the shards' slices but with other contents ` +
            `(${sample(others.sort(), 3)}); pass --overwrite to replace them, or merge into another folder`,
        );
      }
      const reasons = await hasher.copy(toCopy, ({ o, shard }) => ({ from: outputPath(shard.dir, o), to: outputPath(out, o), size: o.size, xxh64: o.xxh64 }));
      toCopy.forEach(({ o, shard }, i) => {
        if (reasons[i] === '') copied++;
        else problems.push(`${o.file} (shard ${shard.spec.index}/${count}): cannot copy it from ${shard.dir}: ${reasons[i]}`);
      });
    } finally {
      await hasher.close();
    }
    if (problems.length > 0) {
      problems.sort();
      throw new MergeError(
        `${problems.length} slice file(s) could not be merged:\n${problems.slice(0, 20).map((p) => `  ${p}`).join('\n')}` +
          `${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}\n` +
          `no manifest, report or ${MODEL_INFO} was written into ${outDir}; run the shards concerned again with --resume ` +
          '(it redoes what does not match its record), then merge again',
      );
    }
    await removeFiles(stray.map((rel) => path.join(out, ...rel.split('/'))));

    // The whole run's manifest, model_info.json and report.
    const manifestPath = wholeFile;
    await writeAtomically(manifestPath, manifestLines(header, ordered.map((o) => o.rec)), { sync: true });
    const files = ordered.map(({ rec }) => fileReportFromRecord(rec));
    const reports = (await Promise.all(shards.map(shardReport))).filter((r) => r !== undefined);
    const threads = Math.max(1, ...reports.map((r) => r.threads));
    const options: ResolvedOptions = {
      ...DEFAULT_RUN_OPTIONS,
      sampleRate: header.options.sampleRate,
      cut: header.options.cut as ResolvedOptions['cut'],
      highpass: header.options.highpass,
      normalize: header.options.normalize as ResolvedOptions['normalize'],
      chunk: header.options.chunk,
      overlap: header.options.overlap,
      denoise: header.options.denoise,
      threads,
      overwrite: Boolean(opts.overwrite),
    };
    const facts = datasetFacts(files, header.unreadable, options);
    const runErrors: string[] = [];
    const modelInfoPath = await notingFailure(runErrors, writeModelInfo(out, facts.totalSeconds).then(() => path.join(out, MODEL_INFO)));

    const base = {
      datasetDir: reports.find((r) => r.dataset !== '')?.dataset ?? '',
      outDir: out,
      options,
      threads,
      files,
      skippedFolders: header.skippedFolders,
      ...facts,
      // The shards ran side by side: the longest one is the run's wall time.
      wallSeconds: Math.max(0, ...reports.map((r) => r.wallSeconds)),
      layout: { slicedDir, sliced16kDir },
      shard: null,
      datasetFiles: total,
      resumed: 0,
      stopped: false,
      runErrors,
      device: [...new Set(reports.map((r) => r.device))].join(', ') || 'unknown',
      manifestPath,
      ...(modelInfoPath ? { modelInfoPath } : {}),
    };
    const report = buildReport(base);
    const reportPath = opts.report === false ? undefined : await notingFailure(runErrors, writeReport(out, report));
    return {
      ...base,
      report,
      ...(reportPath ? { reportPath } : {}),
      shards: shards.map((s) => ({ index: s.spec.index, count: s.spec.count, dir: s.dir })),
      copied,
      verified,
    };
  } finally {
    await lock.release();
  }
}

const DEFAULT_RUN_OPTIONS: Pick<ResolvedOptions, 'resume' | 'shard' | 'device'> = { resume: false, shard: null, device: 'auto' };

/** The line merge prints above the summary. */
export function formatMergeHeadline(r: MergeResult): string {
  const n = r.shards.length;
  return (
    `voxprep merge: ${n} shard${n === 1 ? '' : 's'} into ${r.outDir}: ` +
    `${r.copied} output file(s) copied, ${r.verified} checked in place (checksum as recorded); ` +
    `${MODEL_INFO} written for the whole dataset`
  );
}
