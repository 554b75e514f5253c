// Plans a run (files, options, output folder), feeds it to the native engine in one batch,
// and gathers the per-file results.
import fs from 'node:fs/promises';
import path from 'node:path';
import { resolveOptions, UsageError, type PreprocessOptions, type ResolvedOptions } from './config.js';
import { native, type FileStatus, type NativeFileResult } from './native.js';
import { decodePlan } from './decode/index.js';
import { buildReport, datasetWarnings, writeModelInfo, writeReport, type DatasetWarning, type Report } from './report.js';
import { walkDataset, type DatasetFile } from './walk.js';

export interface FileReport extends Omit<NativeFileResult, 'status' | 'error'> {
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
}

/** Names the reference gives slices: <sid>_<idx0>_<idx1>.wav (see native OutputLayout). */
const SLICE_FILE = /^\d+_\d+_\d+\.wav$/;
const TEMP_FILE = /\.voxprep-tmp$/;

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The real path of `p`, following symlinks in its deepest existing ancestor. */
async function realOrResolved(p: string): Promise<string> {
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

async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Checks and prepares the output folders; throws UsageError before writing anything. */
async function prepareOutput(outDir: string, options: ResolvedOptions): Promise<void> {
  const { slicedDir, sliced16kDir } = native().layout;
  const dirs = [path.join(outDir, slicedDir), path.join(outDir, sliced16kDir)];
  const earlier: string[] = [];
  for (const dir of dirs) {
    for (const name of await listOrEmpty(dir)) if (SLICE_FILE.test(name)) earlier.push(path.join(dir, name));
  }
  if (earlier.length > 0 && !options.overwrite) {
    throw new UsageError(
      `${outDir} already holds ${earlier.length} slice file(s) of an earlier run; ` +
        'pass --overwrite to replace them, or choose another output folder',
    );
  }
  for (const dir of dirs) await fs.mkdir(dir, { recursive: true });
  // Only voxprep's own outputs go: slice files by their naming rule, and our temporaries.
  for (const file of earlier) await fs.rm(file, { force: true });
  for (const dir of dirs) {
    for (const name of await listOrEmpty(dir)) if (TEMP_FILE.test(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}

export interface RunOptions extends PreprocessOptions {
  /** Called once the files are known, before any is processed. */
  onStart?: (event: { total: number }) => void;
  /** Called once per finished file (in completion order), with the file's result. */
  onProgress?: (event: ProgressEvent) => void;
  /** Write OUT/report.json. Default true. */
  report?: boolean;
}

export async function runPreprocess(datasetDir: string, outDir: string, input: RunOptions = {}): Promise<PreprocessResult> {
  const started = process.hrtime.bigint();
  const addon = native();
  const { onProgress, onStart, report: writeReportFile = true, ...rest } = input;
  const options = resolveOptions(rest, addon.engineInfo().defaultThreads);

  const dataset = path.resolve(datasetDir);
  const stat = await fs.stat(dataset).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`dataset folder not found: ${datasetDir}`);
  const out = path.resolve(outDir);
  const outStat = await fs.stat(out).catch(() => undefined);
  if (outStat && !outStat.isDirectory()) throw new UsageError(`the output path ${outDir} exists and is not a folder`);
  if (isInside(await realOrResolved(out), await realOrResolved(dataset))) {
    throw new UsageError(`the output folder ${outDir} must not be inside the dataset folder ${datasetDir}`);
  }

  const walked = await walkDataset(dataset);
  await prepareOutput(out, options);

  const reports: FileReport[] = walked.files.map((f) => pendingReport(f));
  onStart?.({ total: reports.length });
  const jobs: { file: DatasetFile; decoder?: string[] }[] = [];
  let done = 0;
  for (const f of walked.files) {
    const plan = decodePlan(f.absolute);
    if ('skip' in plan) {
      reports[f.idx0] = { ...reports[f.idx0], status: 'skipped', error: plan.skip };
      onProgress?.({ done: ++done, total: reports.length, file: reports[f.idx0] });
    } else {
      jobs.push({ file: f, decoder: plan.decoder });
    }
  }
  const toReport = (f: DatasetFile, r: NativeFileResult): FileReport => ({ ...pendingReport(f), ...r });
  const results = await addon.processBatch(
    jobs.map(({ file, decoder }) => ({ path: file.absolute, sid: file.sid, idx0: file.idx0, ...(decoder ? { decoder } : {}) })),
    {
      sampleRate: options.sampleRate,
      cut: options.cut,
      highpass: options.highpass,
      normalize: options.normalize,
      chunk: options.chunk,
      overlap: options.overlap,
      outDir: out,
    },
    options.threads,
    (index, r) => onProgress?.({ done: ++done, total: reports.length, file: toReport(jobs[index].file, r) }),
  );
  results.forEach((r, i) => {
    reports[jobs[i].file.idx0] = toReport(jobs[i].file, r);
  });

  // In idx0 order, as the reference sums them.
  const totalSeconds = reports.reduce((sum, f) => (f.loaded ? sum + f.seconds : sum), 0);
  const warnings = walked.unreadable.map((u) => `cannot list ${u.relative}: ${u.reason}`);
  await writeModelInfo(out, totalSeconds);

  const base = {
    datasetDir: dataset,
    outDir: out,
    options,
    threads: options.threads,
    files: reports,
    skippedFolders: walked.skippedFolders,
    warnings,
    datasetWarnings: datasetWarnings({ files: reports, options, warnings }),
    slices: reports.reduce((n, f) => n + f.slices, 0),
    totalSeconds,
    wallSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    layout: { slicedDir: addon.layout.slicedDir, sliced16kDir: addon.layout.sliced16kDir },
  };
  const report = buildReport(base);
  const reportPath = writeReportFile ? await writeReport(out, report) : undefined;
  return { ...base, report, ...(reportPath ? { reportPath } : {}) };
}

function pendingReport(f: DatasetFile): FileReport {
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
    inputFrames: 0,
    peak: 0,
    rms: 0,
    silenceShare: 0,
    clippedFrames: 0,
    writeError: false,
    sliceNames: [],
    times: { decode: 0, resample: 0, highpass: 0, analysis: 0, resample16k: 0, write: 0 },
    slices: 0,
    warnings: [],
  };
}
