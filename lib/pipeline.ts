// Plans a run (files, options, output folder, what an earlier run left there), feeds it to
// the native engine in one batch, records each finished file in the run manifest, and
// gathers the per-file results.
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkOptionKeys, OPTION_KEYS, requireBoolean, requireCallback, requireObject, requirePath, resolveOptions, UsageError, type PreprocessOptions, type ResolvedOptions, type ShardSpec } from './config.js';
import { lockOutput } from './lock.js';
import { native, type DeviceChoice, type FileChecksum, type FileStatus, type NativeAddon, type NativeFileResult } from './native.js';
import { decodePlan, ffmpegDecoder } from './decode/index.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  SHARD_MANIFEST_FILE,
  SHARD_REPORT_FILE,
  HashPool,
  Journal,
  headerDifferences,
  inShard,
  listHash,
  manifestName,
  outputOptions,
  outputPath,
  readManifest,
  recordLine,
  removeFiles,
  reportName,
  SLICE_NAME,
  statInputNow,
  storedResult,
  type FileRecord,
  type ManifestHeader,
  type ManifestRead,
  type RecordedFile,
  type StoredResult,
} from './manifest.js';
import {
  MODEL_INFO,
  buildReport,
  datasetWarnings,
  notingFailure,
  refuseUnusableModelInfo,
  writeModelInfo,
  writeReport,
  type DatasetWarning,
  type Report,
} from './report.js';
import { voxprepVersion } from './version.js';
import { AUDIO_EXTENSIONS, walkDataset, type Dataset, type DatasetFile } from './walk.js';

export interface FileReport extends Omit<NativeFileResult, 'status' | 'error' | 'checksums' | 'inputChecksum' | 'inputStamp' | 'inputStampAfter'> {
  relative: string;
  sid: number;
  idx0: number;
  status: FileStatus;
  error?: string;
}

export interface ProgressEvent {
  done: number;
  total: number;
  file: FileReport;
}

export interface PreprocessResult {
  datasetDir: string;
  outDir: string;
  options: ResolvedOptions;
  threads: number;
  /** The files of this run (of its shard, with --shard), in idx0 order. */
  files: FileReport[];
  skippedFolders: string[];
  /** Folders that could not be listed, with the reason. */
  warnings: string[];
  /** What a trainer should know about the dataset (see WARNING_THRESHOLDS). */
  datasetWarnings: DatasetWarning[];
  slices: number;
  /** Sum of the loaded files' durations at the target rate: model_info.json's total_seconds. */
  totalSeconds: number;
  wallSeconds: number;
  layout: { slicedDir: string; sliced16kDir: string };
  /** What report.json holds. */
  report: Report;
  /** Where report.json was written; absent when `report: false` was given. */
  reportPath?: string;
  /** Where the run manifest is; absent when `manifest: false` was given. */
  manifestPath?: string;
  /** Where model_info.json was written; absent for a shard (`voxprep merge` writes it). */
  modelInfoPath?: string;
  /** The shard this run processed; null for the whole dataset. */
  shard: ShardSpec | null;
  /** How many files the whole dataset holds (all shards). */
  datasetFiles: number;
  /** Files an earlier run completed, found unchanged and kept (with `resume`), not processed again. */
  resumed: number;
  /** The run was stopped (the stop flag, a signal in the CLI) before every file was done. */
  stopped: boolean;
  /** Problems of the run itself rather than of a file (the manifest could not be written); each fails the run. */
  runErrors: string[];
  /** Where the kernels ran ("cpu", "cuda:0 NVIDIA H100 …"; for a merge, the shards' devices). */
  device: string;
}

/** `device: 'cuda'` (or cuda:N) when no usable GPU is there: a usage error (exit 2), not a silent fallback. */
export class DeviceUnavailableError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceUnavailableError';
  }
}

/** Resolves options.device with the engine (bringing CUDA up, once, when it may be used). */
export function chooseDevice(addon: NativeAddon, request: string): DeviceChoice {
  try {
    return addon.resolveDevice(request);
  } catch (err) {
    if ((err as { code?: string }).code === 'EVOXPREP_DEVICE') throw new DeviceUnavailableError((err as Error).message);
    throw err;
  }
}

/** Thrown when the stop flag is raised while a resumed run still checks what it may keep: nothing was changed. */
export class RunStoppedError extends Error {
  constructor() {
    super('stopped before any file was processed; nothing in the output folder was changed');
    this.name = 'RunStoppedError';
  }
}

/** Names the reference gives slices, and their temporaries while in flight (or while merge copies them). */
const SLICE_FILE = new RegExp(`^${SLICE_NAME}$`);
const SLICE_TEMP = new RegExp(`^\\.${SLICE_NAME}\\.voxprep-tmp$`);
const TEMP_FILE = /\.voxprep-tmp$/;
/** What the WAV reader (and the FLAC decoder process) say of an encoding they do not read (ffmpeg may). */
const ENCODING_REFUSED = /^unsupported (WAV encoding|sample size)\b/;
/** What the engine says of a file it never started, or abandoned: no outcome to record. */
const UNATTEMPTED = /^(not started|interrupted)\b/;

export function isUnattempted(r: { status: FileStatus; error?: string }): boolean {
  return r.status === 'skipped' && UNATTEMPTED.test(r.error ?? '');
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The real path of `p`, following symlinks in its deepest existing ancestor. */
export async function realOrResolved(p: string): Promise<string> {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let at = abs; ; at = path.dirname(at)) {
    try {
      return path.join(await fs.realpath(at), ...rest.reverse());
    } catch {
      if (path.dirname(at) === at) return abs;
      rest.push(path.basename(at));
    }
  }
}

export async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export interface SliceScan {
  /** Final-named slices (relative: sliced_audios/0_3_1.wav) whose idx0 is in scope. */
  slices: string[];
  /** Temporaries voxprep may remove (absolute): in a shard, only those of its own files. */
  temporaries: string[];
}

/** voxprep's files in the two slice folders that belong to `shard` (every one when null). */
export async function scanSlices(outDir: string, shard: ShardSpec | null): Promise<SliceScan> {
  const { slicedDir, sliced16kDir } = native().layout;
  const scan: SliceScan = { slices: [], temporaries: [] };
  for (const dir of [slicedDir, sliced16kDir]) {
    for (const name of await listOrEmpty(path.join(outDir, dir))) {
      const slice = SLICE_FILE.exec(name);
      if (slice) {
        if (inShard(Number(slice[2]), shard)) scan.slices.push(`${dir}/${name}`);
      } else if (TEMP_FILE.test(name)) {
        // A shard may share the folder with others still running: it leaves their temporaries alone.
        const temp = SLICE_TEMP.exec(name);
        if (shard === null || (temp && inShard(Number(temp[2]), shard))) scan.temporaries.push(path.join(outDir, dir, name));
      }
    }
  }
  return scan;
}

/** Temporaries of voxprep's own files at the top of the output folder (manifest, report, model_info.json). */
function ownTemporaries(outDir: string, shard: ShardSpec | null): string[] {
  const names = [manifestName(shard), reportName(shard), ...(shard ? [] : [MODEL_INFO])];
  return names.map((n) => path.join(outDir, `.${n}.voxprep-tmp`));
}

export interface RunOptions extends PreprocessOptions {
  /** Called once the files are known, before any is processed: `total` files to process, `resumed` kept from an earlier run. */
  onStart?: (event: { total: number; resumed: number; device: DeviceChoice }) => void;
  /** Called once per finished file (in completion order), with the file's result. */
  onProgress?: (event: ProgressEvent) => void;
  /** Write OUT/report.json. Default true. */
  report?: boolean;
  /** Keep the run manifest in OUT (what `resume` and `voxprep merge` read). Default true. */
  manifest?: boolean;
  /**
   * The engine's stop flag: an Int32Array over a SharedArrayBuffer. Atomics.store(stop, 0, 1)
   * starts no new file (those in flight finish); 2 abandons the files in flight too.
   */
  stop?: Int32Array;
}

/** RunOptions' keys beyond the library options (a record, so that the compiler holds it to the interface). */
const RUN_ONLY_KEYS = Object.keys({
  onStart: true,
  onProgress: true,
  report: true,
  manifest: true,
  stop: true,
} satisfies Record<Exclude<keyof RunOptions, keyof PreprocessOptions>, true>);

/** What the output folder holds of an earlier run, and what this run keeps of it. */
interface OutputPlan {
  keep: Map<number, FileRecord>;
  remove: string[];
}

/**
 * Decides what to do with what an earlier run left in the output folder, and checks the
 * outputs a resumed run keeps. Changes nothing: throws UsageError (refusals) or
 * RunStoppedError before anything is written.
 */
async function planOutput(args: {
  out: string;
  outLabel: string;
  options: ResolvedOptions;
  header: ManifestHeader;
  files: DatasetFile[];
  existing: ManifestRead;
  manifestFile: string;
  stop: Int32Array;
}): Promise<OutputPlan> {
  const { out, outLabel, options, header, files, existing, manifestFile, stop } = args;
  const shard = options.shard;
  const scan = await scanSlices(out, shard);
  const remove = [...scan.temporaries, ...ownTemporaries(out, shard)];
  const keep = new Map<number, FileRecord>();
  const whose = shard ? `shard ${shard.index}/${shard.count}'s` : 'the';

  const earlier: string[] = [];
  if (scan.slices.length > 0) earlier.push(`${scan.slices.length} slice file(s)${shard ? ` of shard ${shard.index}/${shard.count}` : ''}`);
  if (existing.state !== 'missing') earlier.push(path.basename(manifestFile));

  // The folder's other manifests: a whole run's, and shards'.
  const others: { name: string; read: ManifestRead }[] = [];
  for (const name of await listOrEmpty(out)) {
    if (name === path.basename(manifestFile) || (name !== MANIFEST_FILE && !SHARD_MANIFEST_FILE.test(name))) continue;
    others.push({ name, read: await readManifest(path.join(out, name)) });
  }
  const compatible = others.flatMap((o) =>
    o.read.state === 'ok' && headerDifferences(o.read.manifest.header, header).length === 0 ? [o.read.manifest] : [],
  );

  // Shards sharing a folder must agree, or they will not merge: said now rather than after hours.
  if (shard && !options.overwrite) {
    for (const { name, read } of others) {
      const m = SHARD_MANIFEST_FILE.exec(name);
      if (!m || read.state !== 'ok') continue;
      const diff = headerDifferences(read.manifest.header, header);
      if (read.manifest.header.shard?.count !== shard.count) diff.push(`${m[2]} shards vs ${shard.count}`);
      if (diff.length > 0) {
        throw new UsageError(
          `${outLabel} holds ${name}, a shard run with other settings (${diff.join(', ')}; there vs now): the shards would not merge. ` +
            'Run every shard with the same options and the same N, or pass --overwrite to go on anyway',
        );
      }
    }
  }

  let fresh = true;
  if (earlier.length > 0) {
    if (!options.resume) {
      if (!options.overwrite) {
        const sharded = shard === null && others.some((o) => SHARD_MANIFEST_FILE.test(o.name));
        throw new UsageError(
          `${outLabel} already holds the outputs of an earlier run (${earlier.join(', ')}); ` +
            'pass --resume to finish that run (keeping what it completed), --overwrite to replace them, or choose another output folder' +
            (sharded ? ' (it holds the manifests of shards: `voxprep merge` puts finished shards together)' : ''),
        );
      }
    } else if (existing.state === 'ok') {
      const diff = headerDifferences(existing.manifest.header, header);
      if (diff.length === 0) {
        fresh = false;
      } else if (!options.overwrite) {
        throw new UsageError(
          `${outLabel} holds the outputs of a run with other options (${diff.join(', ')}; earlier vs now): ` +
            '--resume would mix them. Pass --overwrite to replace them, run with the earlier options, or choose another output folder',
        );
      }
    } else if (existing.state === 'missing' && compatible.length > 0) {
      // No manifest of this run's own, but one of the same options (shards, a whole run) made the slices.
      fresh = false;
    } else if (!options.overwrite) {
      throw new UsageError(
        existing.state === 'unreadable'
          ? `cannot read ${whose} manifest ${manifestFile} (${existing.reason}), so what the earlier run completed is unknown; ` +
              'pass --overwrite to replace its outputs, or choose another output folder'
          : `${outLabel} holds ${earlier.join(', ')} but no voxprep manifest of these options, so which options made ` +
              'them is unknown and --resume cannot continue them; pass --overwrite to replace them, or choose another output folder',
      );
    }
  }

  if (!fresh) {
    // Keep a completed file only if it is still the same file at the same place in the list,
    // and its outputs are all there as they were written. Its record may come from this run's
    // manifest or from another of the same options in the folder (shards before a whole run).
    const sources = [...(existing.state === 'ok' ? [existing.manifest] : []), ...compatible];
    const byIdx0 = new Map<number, FileRecord[]>();
    for (const m of sources) {
      for (const r of m.records.values()) {
        const f = files[r.idx0];
        if (!r.complete || !inShard(r.idx0, shard) || f === undefined || f.relative !== r.path || f.sid !== r.sid) continue;
        const recs = byIdx0.get(r.idx0);
        if (!recs) {
          byIdx0.set(r.idx0, [r]);
        } else if (!recs.some((other) => recordLine(other) === recordLine(r))) {
          recs.push(r); // the same record in two manifests is checked once
        }
      }
    }
    // Verifying is checksumming every kept input and output again, as many calls at once as
    // the run has workers (up to the pool's most): each file's first record, then the next
    // record of the files whose record did not hold.
    const hasher = new HashPool(options.threads);
    const stopped = () => {
      if (Atomics.load(stop, 0) !== 0) throw new RunStoppedError();
    };
    try {
      let open = [...byIdx0.values()].map((recs) => ({ recs, next: 0 }));
      while (open.length > 0) {
        const trying = open.map((o) => o.recs[o.next]);
        const held = await recordsHold(trying, files, out, hasher, stopped);
        const again: typeof open = [];
        open.forEach((o, i) => {
          if (held[i]) keep.set(trying[i].idx0, trying[i]);
          else if (++o.next < o.recs.length) again.push(o);
        });
        open = again;
      }
    } finally {
      await hasher.close();
    }
  }
  if (Atomics.load(stop, 0) !== 0) throw new RunStoppedError();

  // voxprep's own slices (by the naming rule) that no kept record accounts for: a replaced
  // run's, or a file the earlier run did not finish (a kill can leave some of its outputs).
  const kept = new Set<string>();
  for (const rec of keep.values()) for (const o of rec.outputs) kept.add(o.file);
  for (const rel of scan.slices) if (!kept.has(rel)) remove.push(path.join(out, ...rel.split('/')));
  if (fresh && options.overwrite) {
    // Manifests that describe slices this run replaces go too: a whole run's replaces the
    // shards' (and their reports); a shard's replaces a whole run's.
    for (const name of await listOrEmpty(out)) {
      const stale = shard === null ? SHARD_MANIFEST_FILE.test(name) || SHARD_REPORT_FILE.test(name) : name === MANIFEST_FILE;
      if (stale) remove.push(path.join(out, name));
    }
  }
  return { keep, remove };
}

/**
 * Whether each record's input is unchanged (size, modification time, checksum) and its
 * outputs are all there as recorded: all their files checked in one HashPool.check.
 */
async function recordsHold(recs: FileRecord[], files: DatasetFile[], out: string, hasher: HashPool, before: () => void): Promise<boolean[]> {
  // Each record's files in turn: its input (k = -1), then its outputs.
  const wanted: { rec: FileRecord; k: number }[] = [];
  const spans = recs.map((rec) => {
    const from = wanted.length;
    if (rec.input) for (let k = -1; k < rec.outputs.length; k++) wanted.push({ rec, k });
    return [from, wanted.length];
  });
  const found = await hasher.check(
    wanted,
    ({ rec, k }): RecordedFile =>
      k < 0
        ? { file: files[rec.idx0].absolute, size: rec.input!.size, xxh64: rec.input!.xxh64, mtimeNs: rec.input!.mtimeNs }
        : { file: outputPath(out, rec.outputs[k]), size: rec.outputs[k].size, xxh64: rec.outputs[k].xxh64 },
    before,
  );
  // (A record without its input holds nothing: an empty span.)
  return spans.map(([from, to]) => to > from && found.slice(from, to).every((f) => f === 'same'));
}

/** A processed file's slices in both folders, as paths under the output folder ("sliced_audios/0_3_1.wav"). */
function sliceFiles(r: { sliceNames: string[] }): string[] {
  const { slicedDir, sliced16kDir } = native().layout;
  return [slicedDir, sliced16kDir].flatMap((dir) => r.sliceNames.map((name) => `${dir}/${name}`));
}

/** A processed file's checksums: its input's, and each of its outputs' in sliceFiles order. */
type Checksums = { input: FileChecksum; outputs: FileChecksum[] };

/** The output checksums that came with a processed file's result, in the order of `rels` (undefined where one did not). */
function resultChecksums(r: NativeFileResult, rels: string[]): (FileChecksum | undefined)[] {
  const known = new Map(r.checksums?.map((c) => [c.file, c]));
  return rels.map((rel) => known.get(rel));
}

/**
 * A processed file's checksums where all came with its result, as they do for a WAV input
 * (from the bytes read to process it) and outputs written whole (as they were written): its
 * record then needs no reading back. Undefined where any did not.
 */
function checksumsIfComplete(input: FileChecksum | undefined, outputs: (FileChecksum | undefined)[]): Checksums | undefined {
  return input && outputs.every((c) => c !== undefined) ? { input, outputs: outputs as FileChecksum[] } : undefined;
}

/** The same, with whatever did not come with the result read back; undefined when a file cannot be read. */
async function readChecksums(
  file: DatasetFile,
  input: FileChecksum | undefined,
  outputs: (FileChecksum | undefined)[],
  rels: string[],
  out: string,
  hasher: HashPool,
): Promise<Checksums | undefined> {
  try {
    const [inputRead, ...outputsRead] = await Promise.all([
      input ?? hasher.hash(file.absolute),
      ...rels.map((rel, i) => outputs[i] ?? hasher.hash(path.join(out, rel))),
    ]);
    return { input: inputRead, outputs: outputsRead };
  } catch {
    return undefined;
  }
}

/**
 * The manifest record of a processed file: its input (stat before and after, hash) and every
 * output in both folders. 'changed' when the input changed while it was processed (what was
 * read may be part old, part new, or cut short); undefined when it cannot be told (the input
 * never opened, or gone). The file is then not recorded, and --resume does it again.
 */
function processedRecord(file: DatasetFile, r: NativeFileResult, rels: string[], sums: Checksums, result: StoredResult): FileRecord | 'changed' | undefined {
  try {
    // The input as the engine opened it, before reading it, and after it was read (by the
    // engine; where it did not checksum the input, here, after it was read back).
    const before = r.inputStamp;
    const after = (r.inputChecksum && r.inputStampAfter) || statInputNow(file.absolute);
    if (!before) return undefined;
    if (before.size !== after.size || before.mtimeNs !== after.mtimeNs || sums.input.size !== after.size) return 'changed';
    return {
      idx0: file.idx0,
      path: file.relative,
      sid: file.sid,
      status: 'ok',
      complete: true,
      input: { size: after.size, mtimeNs: after.mtimeNs, xxh64: sums.input.xxh64 },
      outputs: rels.map((rel, i) => ({ file: rel, size: sums.outputs[i].size, xxh64: sums.outputs[i].xxh64 })),
      result,
    };
  } catch {
    return undefined;
  }
}

/** The record of a file that ended without outputs (failed, rejected, skipped): its outcome, for the report and merge. */
function outcomeRecord(file: DatasetFile, r: NativeFileResult, result: StoredResult): FileRecord {
  return {
    idx0: file.idx0,
    path: file.relative,
    sid: file.sid,
    status: r.status,
    complete: false,
    input: null,
    outputs: [],
    result,
  };
}

/**
 * A file's report: what the engine said of it (storedResult's copy), with its place and stage
 * times. The one shape of every report the run keeps, whether the engine processed the file
 * or its record was kept: rest patterns over the results had made slower, bigger objects
 * (some 4 us a file to make, and every later pass over a resumed run's files two to three
 * times slower).
 */
function fileReport(f: { relative: string; sid: number; idx0: number }, stored: StoredResult, times: FileReport['times']): FileReport {
  return { relative: f.relative, sid: f.sid, idx0: f.idx0, ...stored, times };
}

/** A file's report from its manifest record (a file kept by --resume, or one merged from a shard). */
export function fileReportFromRecord(rec: FileRecord): FileReport {
  const times = { decode: 0, resample: 0, highpass: 0, denoise: 0, analysis: 0, resample16k: 0, write: 0 };
  return fileReport({ relative: rec.path, sid: rec.sid, idx0: rec.idx0 }, rec.result, times);
}

function noRecordings(datasetDir: string, walked: Dataset): string {
  const skipped = walked.skippedFolders.length
    ? `; skipped, as their names are not speaker numbers: ${walked.skippedFolders.map((f) => `${f}/`).join(', ')}`
    : '';
  return (
    `no recordings in ${datasetDir}: voxprep reads ${AUDIO_EXTENSIONS.join(' ')} files in it (speaker 0) and in ` +
    `folders named by a speaker number${skipped}`
  );
}

export async function runPreprocess(datasetDir: string, outDir: string, input: RunOptions = {}): Promise<PreprocessResult> {
  const started = process.hrtime.bigint();
  const addon = native();
  requirePath('the dataset folder', datasetDir);
  requirePath('the output folder', outDir);
  requireObject('the options', input);
  checkOptionKeys(input, [...OPTION_KEYS, ...RUN_ONLY_KEYS]);
  const { onProgress, onStart, report: writeReportFile = true, manifest: keepManifest = true, stop: givenStop, ...rest } = input;
  requireBoolean('report', writeReportFile);
  requireBoolean('manifest', keepManifest);
  requireCallback('onProgress', onProgress);
  requireCallback('onStart', onStart);
  if (givenStop !== undefined && !(givenStop instanceof Int32Array && givenStop.buffer instanceof SharedArrayBuffer && givenStop.length > 0)) {
    throw new UsageError('stop must be an Int32Array over a SharedArrayBuffer');
  }
  const options = resolveOptions(rest, addon.engineInfo().defaultThreads);
  // Before anything changes: `cuda` without a usable GPU stops here.
  const device = chooseDevice(addon, options.device);
  const stop = givenStop ?? new Int32Array(new SharedArrayBuffer(4));
  const shard = options.shard;
  // A callback that throws stops the run as the stop flag does (no new file starts, those in
  // flight finish, the manifest and the report are written), and the run then rejects with
  // its error. Thrown into the engine's completion callback, it was lost (Node only warned),
  // and from onStart it left the manifest open.
  let callbackFailure: { error: unknown } | undefined;
  const guarded =
    <E>(fn: ((event: E) => void) | undefined) =>
    (event: E) => {
      if (!fn || callbackFailure) return;
      try {
        fn(event);
      } catch (error) {
        callbackFailure = { error };
        if (Atomics.load(stop, 0) === 0) Atomics.store(stop, 0, 1);
      }
    };
  const announceStart = guarded(onStart);
  const progress = guarded(onProgress);

  const dataset = path.resolve(datasetDir);
  const stat = await fs.stat(dataset).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`dataset folder not found: ${datasetDir}`);
  const out = path.resolve(outDir);
  const outStat = await fs.stat(out).catch(() => undefined);
  if (outStat && !outStat.isDirectory()) throw new UsageError(`the output path ${outDir} exists and is not a folder`);
  const outReal = await realOrResolved(out);
  const datasetReal = await realOrResolved(dataset);
  if (isInside(outReal, datasetReal)) {
    throw new UsageError(`the output folder ${outDir} must not be inside the dataset folder ${datasetDir}`);
  }
  // The slices would be written among the recordings (and read as recordings by the next run).
  for (const dir of [addon.layout.slicedDir, addon.layout.sliced16kDir]) {
    if (isInside(datasetReal, path.join(outReal, dir))) {
      throw new UsageError(`the dataset folder ${datasetDir} must not be inside the output folder's ${dir}/`);
    }
  }

  // A shard knows only part of the dataset: `voxprep merge` writes model_info.json.
  if (!shard) await refuseUnusableModelInfo(out);

  const lock = await lockOutput(out, shard, outDir);
  try {
    const walked = await walkDataset(dataset);
    // Nothing to train on is a mistake (the wrong folder, speakers in folders not named by
    // numbers), not a run that went well: an exit 0 and an empty dataset hid it.
    if (walked.files.length === 0) throw new UsageError(noRecordings(datasetDir, walked));
    const header: ManifestHeader = {
      voxprep: 'manifest',
      format: MANIFEST_FORMAT,
      version: voxprepVersion(),
      options: outputOptions(options),
      shard,
      files: walked.files.length,
      list: listHash(walked.files),
      skippedFolders: walked.skippedFolders,
      unreadable: walked.unreadable,
    };
    const manifestFile = path.join(out, manifestName(shard));
    const existing: ManifestRead = keepManifest ? await readManifest(manifestFile) : { state: 'missing' };
    const plan = await planOutput({
      out,
      outLabel: outDir,
      options,
      header,
      files: walked.files,
      existing,
      manifestFile,
      stop,
    });

    // From here on the output folder changes.
    const runErrors: string[] = [];
    const { slicedDir, sliced16kDir } = addon.layout;
    for (const dir of [slicedDir, sliced16kDir]) await fs.mkdir(path.join(out, dir), { recursive: true });
    const journal = keepManifest
      ? await Journal.create(manifestFile, header, plan.keep.values(), (message) => {
          runErrors.push(message);
          // Without a manifest the work cannot be resumed: take no new file.
          if (Atomics.load(stop, 0) === 0) Atomics.store(stop, 0, 1);
        }).catch((err: Error) => {
          throw new Error(`cannot write the run manifest ${manifestFile}: ${err.message}`);
        })
      : undefined;
    await removeFiles(plan.remove);

    const scope = walked.files.filter((f) => inShard(f.idx0, shard));
    const reports = new Map<number, FileReport>();
    for (const rec of plan.keep.values()) reports.set(rec.idx0, fileReportFromRecord(rec));
    const todo = scope.filter((f) => !plan.keep.has(f.idx0));
    announceStart({ total: todo.length, resumed: plan.keep.size, device });

    const pending: Promise<void>[] = [];
    // Every file that ended gets its outcome recorded, except those the engine never started or
    // abandoned, and those that could not be written (the disk, not the file, failed): those
    // have no outcome yet. A processed file whose checksums all came with its result (a WAV,
    // its outputs written whole) is recorded at once; the others one after another, each with
    // its files read back and checksummed off the main thread, about one file at a time for
    // every six workers (one thread reads and checksums some 3 GB/s, far more than six workers
    // write). A file that cannot be read back is not recorded (--resume does it again).
    let previous: Promise<void> = Promise.resolve();
    const changed = new Set<number>(); // processed files whose input changed meanwhile
    const hasher = journal ? new HashPool(Math.ceil(options.threads / 6)) : undefined;
    try {
      // `rels`: its slices (sliceFiles), which go if it changed while it was processed.
      const keep = (file: DatasetFile, rec: FileRecord | 'changed' | undefined, rels: string[]): Promise<void> | undefined => {
        if (rec === 'changed') {
          // Its slices may hold part of the old file and part of the new, or stop short.
          return removeFiles(rels.map((rel) => path.join(out, rel))).then(() => {
            changed.add(file.idx0);
          });
        }
        if (rec) journal!.append(rec);
        return undefined;
      };
      const record = (file: DatasetFile, r: NativeFileResult, result: StoredResult) => {
        if (!journal || !hasher || isUnattempted(r) || r.writeError) return;
        if (r.status !== 'ok') return void keep(file, outcomeRecord(file, r, result), []);
        const rels = sliceFiles(r);
        const given = resultChecksums(r, rels);
        const sums = checksumsIfComplete(r.inputChecksum, given);
        if (sums) {
          const removing = keep(file, processedRecord(file, r, rels, sums, result), rels);
          if (removing) pending.push(removing);
          return;
        }
        const task = previous.then(async () => {
          const read = await readChecksums(file, r.inputChecksum, given, rels, out, hasher);
          if (read) await keep(file, processedRecord(file, r, rels, read, result), rels);
        });
        previous = task.catch(() => undefined);
        pending.push(task);
      };

      const jobs: { file: DatasetFile; decoder?: string[] }[] = [];
      let done = 0;
      for (const f of todo) {
        // A name that reaches no file fails; a format with no decoder here is skipped.
        const plan = f.problem ? { failed: f.problem } : decodePlan(f.absolute);
        if ('failed' in plan || 'skip' in plan) {
          const ended = 'failed' in plan ? { status: 'failed' as const, error: plan.failed } : { status: 'skipped' as const, error: plan.skip };
          const r: FileReport = { ...pendingReport(f), ...ended };
          reports.set(f.idx0, r);
          record(f, r, storedResult(r));
          progress({ done: ++done, total: todo.length, file: r });
        } else {
          jobs.push({ file: f, decoder: plan.decoder });
        }
      }
      // A Ctrl-C on a terminal (or a scheduler's SIGTERM to a job's processes, or a closing
      // terminal's SIGHUP) reaches the decoder processes (FLAC, MP3, ffmpeg) too; one that has
      // not yet set itself to ignore it dies of it, possibly before this process has seen the
      // signal. Such a file was interrupted, not broken: it gets no record, and --resume does it
      // again.
      const settle = (r: NativeFileResult): NativeFileResult =>
        r.status === 'failed' && /decoder killed by signal (Interrupt|Terminated|Hangup)\b/.test(r.error ?? '')
          ? { ...r, status: 'skipped', error: `interrupted: a signal ended its decoder (${r.error}); run again with --resume`, slices: 0, sliceNames: [] }
          : r;
      // WAV files in an encoding the native reader does not take (ADPCM, 12- or 20-bit PCM, …),
      // and FLAC of sample sizes the npm decoder does not, go to ffmpeg when it is on PATH, in
      // a second batch: finding them up front would open every such file once more before the
      // run (4 s for 40 000 files here).
      const ffmpegAgain: DatasetFile[] = [];
      let writeFailure: string | undefined;
      const runBatch = (batch: typeof jobs) =>
        addon.processBatch(
          batch.map(({ file, decoder }) => ({ path: file.absolute, sid: file.sid, idx0: file.idx0, ...(decoder ? { decoder } : {}) })),
          {
            sampleRate: options.sampleRate,
            cut: options.cut,
            highpass: options.highpass,
            normalize: options.normalize,
            chunk: options.chunk,
            overlap: options.overlap,
            denoise: options.denoise,
            outDir: out,
            device: options.device,
          },
          options.threads,
          (index, raw) => {
            const { file, decoder } = batch[index];
            if (raw.status === 'failed' && ENCODING_REFUSED.test(raw.error ?? '')) {
              const ffmpeg = ffmpegDecoder(file.absolute);
              if (ffmpeg && decoder?.[0] !== ffmpeg[0]) {
                ffmpegAgain.push(file);
                return;
              }
            }
            if (raw.writeError) writeFailure ??= raw.error;
            // A WAV that ffmpeg decoded: its stream is ffmpeg's float, not the file's coding.
            const r = settle(decoder && file.absolute.toLowerCase().endsWith('.wav') ? { ...raw, inputCoding: 'decoded' } : raw);
            const stored = storedResult(r);
            record(file, r, stored);
            const report = fileReport(file, stored, r.times);
            reports.set(file.idx0, report);
            progress({ done: ++done, total: todo.length, file: report });
          },
          stop,
        );
      await runBatch(jobs);
      if (ffmpegAgain.length > 0) {
        if (writeFailure === undefined) {
          await runBatch(ffmpegAgain.map((file) => ({ file, decoder: ffmpegDecoder(file.absolute) })));
        } else {
          // As the engine says of the files it does not start after a write failure.
          for (const file of ffmpegAgain) {
            const r: FileReport = { ...pendingReport(file), status: 'skipped', error: `not started: an earlier file could not be written (${writeFailure})` };
            reports.set(file.idx0, r);
            progress({ done: ++done, total: todo.length, file: r });
          }
        }
      }
      await Promise.all(pending);
      for (const idx0 of changed) {
        const r = reports.get(idx0)!;
        reports.set(idx0, {
          ...r,
          status: 'failed',
          error: 'the file changed while it was read (its size or modification time); its slices were removed: run again with --resume',
          loaded: false,
          seconds: 0,
          slices: 0,
          sliceNames: [],
        });
      }
    } finally {
      await hasher?.close();
    }
    if (journal) await journal.finish(header);

    const files = scope.map((f) => reports.get(f.idx0)!);
    const facts = datasetFacts(files, walked.unreadable, options);
    // A shard knows only part of the dataset: `voxprep merge` writes model_info.json.
    const modelInfoPath = shard
      ? undefined
      : await notingFailure(runErrors, writeModelInfo(out, facts.totalSeconds).then(() => path.join(out, MODEL_INFO)));

    const base = {
      datasetDir: dataset,
      outDir: out,
      options,
      threads: options.threads,
      files,
      skippedFolders: walked.skippedFolders,
      ...facts,
      wallSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      layout: { slicedDir, sliced16kDir },
      shard,
      datasetFiles: walked.files.length,
      resumed: plan.keep.size,
      stopped: files.some(isUnattempted),
      runErrors,
      device: device.name,
      ...(journal ? { manifestPath: manifestFile } : {}),
      ...(modelInfoPath ? { modelInfoPath } : {}),
    };
    const report = buildReport(base);
    const reportPath = writeReportFile ? await notingFailure(runErrors, writeReport(out, report, reportName(shard))) : undefined;
    if (callbackFailure) throw callbackFailure.error;
    return { ...base, report, ...(reportPath ? { reportPath } : {}) };
  } finally {
    await lock.release();
  }
}

/**
 * What a run's result (and a merge's) derives from its files: the dataset total (in idx0 order,
 * as the reference sums it), the slices, the folders that could not be listed, and the dataset
 * warnings.
 */
export function datasetFacts(
  files: FileReport[],
  unreadable: { relative: string; reason: string }[],
  options: ResolvedOptions,
): Pick<PreprocessResult, 'totalSeconds' | 'slices' | 'warnings' | 'datasetWarnings'> {
  const warnings = unreadable.map((u) => `cannot list ${u.relative}: ${u.reason}`);
  return {
    totalSeconds: files.reduce((sum, f) => (f.loaded ? sum + f.seconds : sum), 0),
    slices: files.reduce((n, f) => n + f.slices, 0),
    warnings,
    datasetWarnings: datasetWarnings({ files, options, warnings }),
  };
}

export function pendingReport(f: { relative: string; sid: number; idx0: number }): FileReport {
  return {
    relative: f.relative,
    sid: f.sid,
    idx0: f.idx0,
    status: 'failed',
    loaded: false,
    samples: 0,
    seconds: 0,
    inputRate: 0,
    inputChannels: 0,
    inputBits: 0,
    inputFloat: false,
    inputCoding: 'pcm',
    inputFrames: 0,
    peak: 0,
    rms: 0,
    silenceShare: 0,
    clippedFrames: 0,
    writeError: false,
    sliceNames: [],
    times: { decode: 0, resample: 0, highpass: 0, denoise: 0, analysis: 0, resample16k: 0, write: 0 },
    slices: 0,
    warnings: [],
  };
}

