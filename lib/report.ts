// Reporting: model_info.json (the keys Applio's trainer reads), report.json (every file's
// facts and the dataset warnings), and the end-of-run summary.
import fs from 'node:fs/promises';
import path from 'node:path';
import pc from 'picocolors';
import { UsageError } from './config.js';
import type { OutputOptions } from './manifest.js';
import type { FileStatus } from './native.js';
import type { FileReport, PreprocessResult } from './pipeline.js';
import { voxprepVersion } from './version.js';
import { skippedFolderReason } from './walk.js';

export const MODEL_INFO = 'model_info.json';
/** How the engine names a file it never started (the run was stopped, or an earlier file could not be written). */
const NOT_STARTED = /^not started: /;
export const REPORT_FILE = 'report.json';
/** Bumped when a field of report.json changes meaning or goes away. */
export const REPORT_VERSION = 1;
/** voxprep has one backend today. */

/** "HH:MM:SS" of whole seconds, truncated, as the reference writes it. */
export function formatDuration(totalSeconds: number): string {
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor(totalSeconds % 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(hours)}:${two(minutes)}:${two(seconds)}`;
}

/** How much of a text given in pieces writeAtomically gathers before each write. */
const WRITE_BLOCK = 1 << 20;

/**
 * Writes `text` to `file` under a temporary name in the same folder, then renames it into
 * place; `sync` flushes it to the disk first. On failure (disk full, …) the temporary goes
 * and `file` is left as it was. A text given as pieces (the manifest's lines, the report's
 * file entries) is written a block at a time, never joined: a dataset of a million files
 * makes a manifest past the longest string JavaScript can hold.
 */
export async function writeAtomically(
  file: string,
  text: string | Iterable<string> | AsyncIterable<string>,
  opts: { sync?: boolean } = {},
): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.voxprep-tmp`);
  try {
    const handle = await fs.open(temp, 'w');
    try {
      if (typeof text === 'string') {
        await handle.writeFile(text);
      } else {
        let block: string[] = [];
        let length = 0;
        for await (const piece of text) {
          block.push(piece);
          length += piece.length;
          if (length >= WRITE_BLOCK) {
            await handle.writeFile(block.join('')); // from where the last ended, all of it
            block = [];
            length = 0;
          }
        }
        if (length > 0) await handle.writeFile(block.join(''));
      }
      if (opts.sync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * What OUT_DIR/model_info.json holds ({} when there is none), whose other keys voxprep keeps.
 * Throws, naming the file, when it cannot be read or holds something other than a JSON object.
 */
export async function readModelInfo(outDir: string): Promise<Record<string, unknown>> {
  const file = path.join(outDir, MODEL_INFO);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {}; // no such file (or no such folder yet)
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${file} does not hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * Before a run or merge changes anything: a model_info.json it could not update is bad usage,
 * said now rather than after hours of processing.
 */
export async function refuseUnusableModelInfo(outDir: string): Promise<void> {
  await readModelInfo(outDir).catch((err: Error) => {
    throw new UsageError(`${err.message}; voxprep keeps its other keys and updates total_seconds: fix it or move it away, then run again`);
  });
}

/**
 * Writes total_dataset_duration and total_seconds into OUT/model_info.json, keeping every
 * other key of an existing file. A file that is not a JSON object is left alone: that is an
 * error, not something to overwrite.
 */
export async function writeModelInfo(outDir: string, totalSeconds: number): Promise<void> {
  const file = path.join(outDir, MODEL_INFO);
  const data = await readModelInfo(outDir).catch((err: Error) => {
    throw new Error(`cannot update model_info.json: ${err.message}; it was left unchanged`);
  });
  data.total_dataset_duration = formatDuration(totalSeconds);
  data.total_seconds = totalSeconds;
  await writeAtomically(file, JSON.stringify(data, null, 4)).catch((err: Error) => {
    throw new Error(`cannot write ${file}: ${err.message}`);
  });
}

// ---------------------------------------------------------------------------------------
// Dataset warnings: what a trainer wants to know before spending GPU hours.

/**
 * When each dataset warning fires (README: "Dataset warnings"). Audio counts only from files
 * that were processed (status ok): that is what the trainer gets.
 */
export const WARNING_THRESHOLDS = {
  /** short-dataset: less audio than this in all, in seconds (10 minutes). */
  minDatasetSeconds: 600,
  /** clipping: a file counts as clipped with at least this many clipped input frames … */
  minClippedFrames: 10,
  /** … that are also at least this share of its input frames (1 in 10 000). */
  minClippedShare: 1e-4,
  /** uneven-speakers: with two or more speakers, one has less than this share of the audio of the speaker with the most. */
  minSpeakerRatio: 0.2,
} as const;

export type WarningCode =
  | 'short-dataset'
  | 'upsampled'
  | 'clipping'
  | 'normalization-rejected'
  | 'no-slices'
  | 'uneven-speakers'
  | 'unreadable-folder';

export interface DatasetWarning {
  code: WarningCode;
  message: string;
  /** The files (relative paths) it concerns; empty when it concerns the dataset as a whole. */
  files: string[];
}

/**
 * A path as the summary and the log print it: control characters (a newline in a file name
 * would split its line in two) written as escapes.
 */
export function shownPath(p: string): string {
  return p.replace(/[\u0000-\u001f\u007f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

/** Whether a processed file counts as clipped by WARNING_THRESHOLDS. */
export function isClipped(f: FileReport): boolean {
  const frames = f.inputFrames > 0 ? f.inputFrames : f.inputRate > 0 ? Math.round(f.seconds * f.inputRate) : 0;
  return (
    f.status === 'ok' &&
    f.clippedFrames >= WARNING_THRESHOLDS.minClippedFrames &&
    frames > 0 &&
    f.clippedFrames / frames >= WARNING_THRESHOLDS.minClippedShare
  );
}

/** Segments that post normalization refused (the native engine names them in the file's warnings). */
function droppedSegments(f: FileReport): number {
  return f.warnings.filter((w) => /: not written, /.test(w)).length;
}

/** Audio seconds of the processed files by speaker id, speakers in ascending order. */
export function speakerSeconds(files: FileReport[]): { sid: number; files: number; seconds: number }[] {
  const by = new Map<number, { sid: number; files: number; seconds: number }>();
  for (const f of files) {
    if (f.status !== 'ok') continue;
    const s = by.get(f.sid) ?? { sid: f.sid, files: 0, seconds: 0 };
    s.files += 1;
    s.seconds += f.seconds;
    by.set(f.sid, s);
  }
  return [...by.values()].sort((a, b) => a.sid - b.sid);
}

export function datasetWarnings(r: Pick<PreprocessResult, 'files' | 'options' | 'warnings'>): DatasetWarning[] {
  const out: DatasetWarning[] = [];
  const T = WARNING_THRESHOLDS;
  const ok = r.files.filter((f) => f.status === 'ok');
  const audio = ok.reduce((s, f) => s + f.seconds, 0);
  const sr = r.options.sampleRate;

  if (audio < T.minDatasetSeconds) {
    out.push({
      code: 'short-dataset',
      message:
        `only ${seconds(audio)} of audio was processed, less than ${T.minDatasetSeconds / 60} minutes: ` +
        'a model trained on it will sound thin and unstable; record or gather more',
      files: [],
    });
  }

  const upsampled = ok.filter((f) => f.inputRate > 0 && f.inputRate < sr);
  if (upsampled.length > 0) {
    // (A loop: spread into Math.min's arguments, a few hundred thousand rates overflow the stack.)
    let lowest = Infinity;
    for (const f of upsampled) lowest = Math.min(lowest, f.inputRate);
    const share = audio > 0 ? upsampled.reduce((s, f) => s + f.seconds, 0) / audio : 0;
    out.push({
      code: 'upsampled',
      message:
        `${plural(upsampled.length, 'file')} (${percent(share)} of the audio) ${upsampled.length === 1 ? 'was' : 'were'} ` +
        `recorded below the target rate of ${sr} Hz (lowest ${lowest} Hz) and upsampled: ` +
        `${upsampled.length === 1 ? 'it holds' : 'they hold'} nothing above ${lowest / 2} Hz, ` +
        'so the model learns no real highs from them',
      files: upsampled.map((f) => f.relative),
    });
  }

  const clipped = ok.filter(isClipped);
  if (clipped.length > 0) {
    const worst = clipped.reduce((a, b) => (b.clippedFrames > a.clippedFrames ? b : a));
    out.push({
      code: 'clipping',
      message:
        `${plural(clipped.length, 'file')} ${clipped.length === 1 ? 'is' : 'are'} clipped (worst: ${worst.relative}, ` +
        `${plural(worst.clippedFrames, 'clipped frame')}): the model learns the distortion; ` +
        're-record them or lower their level at the source',
      files: clipped.map((f) => f.relative),
    });
  }

  const rejected = r.files.filter((f) => f.status === 'rejected');
  const dropping = r.files.filter((f) => droppedSegments(f) > 0);
  if (rejected.length > 0 || dropping.length > 0) {
    const parts: string[] = [];
    if (rejected.length > 0) parts.push(`${plural(rejected.length, 'file')} rejected`);
    if (dropping.length > 0) {
      const n = dropping.reduce((s, f) => s + droppedSegments(f), 0);
      parts.push(`${plural(n, 'segment')} of ${plural(dropping.length, 'file')} not written`);
    }
    out.push({
      code: 'normalization-rejected',
      message:
        `normalization (${r.options.normalize}) left audio out: ${parts.join(', ')} ` +
        '(silent, or with a peak above 2.5); see each file\'s reason',
      files: [...new Set([...rejected, ...dropping].map((f) => f.relative))].sort(),
    });
  }

  // Applio's slicer writes nothing for a file that never rises above its threshold, and its
  // simple cut nothing for one shorter than a window; without a word, such a file looked
  // processed.
  const empty = ok.filter((f) => f.slices === 0 && droppedSegments(f) === 0);
  if (empty.length > 0) {
    const one = empty.length === 1;
    const why =
      r.options.cut === 'simple'
        ? `${one ? 'it is' : 'they are'} shorter than one ${r.options.chunk} s window, and the simple cut drops a ` +
          'window shorter than the chunk length (as Applio does)'
        : `nothing in ${one ? 'it' : 'them'} rose above the slicer's threshold (−42 dB) for long enough ` +
          '(silence, or channels that cancel when mixed to mono)';
    out.push({
      code: 'no-slices',
      message: `${plural(empty.length, 'file')} gave no slices: ${why}; ${one ? 'its' : 'their'} duration still counts in total_seconds`,
      files: empty.map((f) => f.relative),
    });
  }

  const speakers = speakerSeconds(r.files);
  if (speakers.length >= 2) {
    const most = speakers.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    const few = speakers.filter((s) => s.seconds < most.seconds * T.minSpeakerRatio);
    if (few.length > 0) {
      const fewText = few.map((s) => `speaker ${s.sid}: ${seconds(s.seconds)}`).join(', ');
      out.push({
        code: 'uneven-speakers',
        message:
          `very uneven split between speakers: speaker ${most.sid} has ${seconds(most.seconds)}, ` +
          `${fewText} (less than ${percent(T.minSpeakerRatio)} of it); the smaller voices will be learned poorly`,
        files: r.files.filter((f) => f.status === 'ok' && few.some((s) => s.sid === f.sid)).map((f) => f.relative),
      });
    }
  }

  for (const w of r.warnings) out.push({ code: 'unreadable-folder', message: w, files: [] });
  return out;
}

// ---------------------------------------------------------------------------------------
// report.json

export interface ReportFileEntry {
  path: string;
  sid: number;
  idx0: number;
  status: FileStatus;
  reason: string | null;
  source: {
    /** The file's extension, lower case, without the dot: wav, flac, mp3, ogg, … */
    format: string;
    /** WAV only: pcm8, pcm16, pcm24, pcm32, float32, float64, mulaw or alaw (G.711). */
    encoding: string | null;
    rate: number | null;
    channels: number | null;
    /** Frames the file declares; null for a decoded stream (FLAC, MP3, …) or an unread file. */
    frames: number | null;
    /** The input's duration in seconds. */
    duration: number | null;
  };
  /** Duration at the target rate, counted into model_info.json's total_seconds. */
  seconds: number;
  /** After resampling and the high-pass, before normalization. */
  peak: { linear: number; dbfs: number | null } | null;
  /** Input frames with a channel at full scale. */
  clippedFrames: number | null;
  rmsDbfs: number | null;
  /** Share of 15 ms hops below the slicer's −42 dB threshold. */
  silenceShare: number | null;
  slices: number;
  warnings: string[];
}

export interface Report {
  reportVersion: number;
  voxprep: { version: string; node: string };
  createdAt: string;
  dataset: string;
  output: string;
  options: OutputOptions & {
    threads: number;
    overwrite: boolean;
    device: string;
  };
  totals: {
    files: number;
    processed: number;
    failed: number;
    rejected: number;
    skipped: number;
    slices: number;
    /** model_info.json's total_seconds: every loaded file at the target rate. */
    totalSeconds: number;
    totalDuration: string;
    /** Audio of the processed files. */
    processedSeconds: number;
    speakers: { sid: number; files: number; seconds: number }[];
    wallSeconds: number;
    /** Audio seconds per wall-clock second. */
    speed: number;
  };
  wallSeconds: number;
  thresholds: typeof WARNING_THRESHOLDS;
  warnings: DatasetWarning[];
  skippedFolders: string[];
  files: ReportFileEntry[];
}

/** dBFS of a linear level (full scale 1.0); null for silence. */
export function dbfs(linear: number): number | null {
  return linear > 0 ? Math.round(20 * Math.log10(linear) * 100) / 100 : null;
}

/** The source format: the extension, and for WAV the sample encoding. */
export function sourceFormat(f: Pick<FileReport, 'relative' | 'inputBits' | 'inputCoding' | 'inputRate'>): {
  format: string;
  encoding: string | null;
} {
  const format = path.extname(f.relative).slice(1).toLowerCase();
  if (format !== 'wav' || f.inputRate <= 0 || f.inputCoding === 'decoded') return { format, encoding: null };
  const companded = f.inputCoding === 'mulaw' || f.inputCoding === 'alaw';
  return { format, encoding: companded ? f.inputCoding : `${f.inputCoding}${f.inputBits}` };
}

export function fileEntry(f: FileReport): ReportFileEntry {
  const read = f.inputRate > 0;
  const measured = f.status === 'ok';
  const { format, encoding } = sourceFormat(f);
  const frames = read && f.inputFrames >= 0 ? f.inputFrames : null;
  const duration = frames !== null ? frames / f.inputRate : f.loaded ? f.seconds : null;
  // A rejected file's peak is known: it is the reason for the rejection.
  const peakKnown = measured || (f.status === 'rejected' && f.loaded);
  return {
    path: f.relative,
    sid: f.sid,
    idx0: f.idx0,
    status: f.status,
    reason: f.status === 'ok' ? null : (f.error ?? 'unknown reason'),
    source: {
      format,
      encoding,
      rate: read ? f.inputRate : null,
      channels: read ? f.inputChannels : null,
      frames,
      duration,
    },
    seconds: f.loaded ? f.seconds : 0,
    peak: peakKnown ? { linear: f.peak, dbfs: dbfs(f.peak) } : null,
    clippedFrames: measured ? f.clippedFrames : null,
    rmsDbfs: measured ? dbfs(f.rms) : null,
    silenceShare: measured ? f.silenceShare : null,
    slices: f.slices,
    warnings: [...f.warnings],
  };
}

/** How many files end with each status, in one pass. */
function counts(files: FileReport[]): Record<FileStatus, number> {
  const n: Record<FileStatus, number> = { ok: 0, failed: 0, rejected: 0, skipped: 0 };
  for (const f of files) n[f.status]++;
  return n;
}

export function buildReport(r: Omit<PreprocessResult, 'report' | 'reportPath'>): Report {
  const processedSeconds = r.files.reduce((s, f) => (f.status === 'ok' ? s + f.seconds : s), 0);
  const speed = r.wallSeconds > 0 ? r.totalSeconds / r.wallSeconds : 0;
  const n = counts(r.files);
  return {
    reportVersion: REPORT_VERSION,
    voxprep: { version: voxprepVersion(), node: process.version },
    createdAt: new Date().toISOString(),
    dataset: r.datasetDir,
    output: r.outDir,
    options: {
      sampleRate: r.options.sampleRate,
      cut: r.options.cut,
      highpass: r.options.highpass,
      normalize: r.options.normalize,
      chunk: r.options.chunk,
      overlap: r.options.overlap,
      denoise: r.options.denoise,
      threads: r.options.threads,
      overwrite: r.options.overwrite,
      device: r.device,
    },
    totals: {
      files: r.files.length,
      processed: n.ok,
      failed: n.failed,
      rejected: n.rejected,
      skipped: n.skipped,
      slices: r.slices,
      totalSeconds: r.totalSeconds,
      totalDuration: formatDuration(r.totalSeconds),
      processedSeconds,
      speakers: speakerSeconds(r.files),
      wallSeconds: r.wallSeconds,
      speed,
    },
    wallSeconds: r.wallSeconds,
    thresholds: WARNING_THRESHOLDS,
    warnings: r.datasetWarnings,
    skippedFolders: r.skippedFolders,
    files: r.files.map(fileEntry),
  };
}

/** How many file entries reportJson puts in each piece. */
export const REPORT_ENTRIES_A_PIECE = 1000;

/**
 * report.json's text, `JSON.stringify(report, null, 2)` and a newline, in pieces: the files'
 * entries REPORT_ENTRIES_A_PIECE at a time, since for a million files the whole would not fit
 * in one string.
 */
export function* reportJson(report: Report): Generator<string> {
  // The rest of the report as it stands, `files` in its place held by a marker.
  const marker = '\u0000voxprep: the files go here\u0000';
  const text = JSON.stringify({ ...report, files: marker }, null, 2);
  const at = text.indexOf(JSON.stringify(marker));
  yield text.slice(0, at);
  if (report.files.length === 0) {
    yield '[]';
  } else {
    yield '[\n';
    // Entries stringified as the value of a key of an object are indented as in the report: a
    // call for many entries, where one for each (then indented line by line) cost the end of a
    // run of 10 000 clips some 40 ms.
    const [opening, closing] = ['{\n  "files": [\n', '\n  ]\n}'];
    const count = report.files.length;
    for (let i = 0; i < count; i += REPORT_ENTRIES_A_PIECE) {
      const text = JSON.stringify({ files: report.files.slice(i, i + REPORT_ENTRIES_A_PIECE) }, null, 2);
      yield `${text.slice(opening.length, -closing.length)}${i + REPORT_ENTRIES_A_PIECE < count ? ',\n' : '\n'}`;
    }
    yield '  ]';
  }
  yield `${text.slice(at + JSON.stringify(marker).length)}\n`;
}

/** Writes OUT/report.json (or a shard's report.shard-K-of-N.json) atomically; returns its path. */
export async function writeReport(outDir: string, report: Report, name = REPORT_FILE): Promise<string> {
  const file = path.join(outDir, name);
  await writeAtomically(file, reportJson(report)).catch((err: Error) => {
    throw new Error(`cannot write ${file}: ${err.message}`);
  });
  return file;
}

/**
 * What a run or merge writes last (model_info.json, the report) may still fail, a full disk:
 * the failure goes into `errors`, said with the summary and the report rather than instead
 * of them. The work's value, or undefined when it failed.
 */
export async function notingFailure<T>(errors: string[], work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (err) {
    errors.push((err as Error).message);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The human summary.

export interface SummaryOptions {
  /** Colors (ANSI escapes); off unless asked. */
  color?: boolean;
}

function hms(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${formatDuration(s)} (${s.toFixed(1)} s)`;
}

/** The human summary printed at the end of a run. */
export function formatSummary(r: PreprocessResult, opts: SummaryOptions = {}): string {
  const c = pc.createColors(opts.color ?? false);
  const { ok, failed, rejected, skipped } = counts(r.files);
  const speed = r.wallSeconds > 0 ? r.totalSeconds / r.wallSeconds : 0;
  const n = (v: number, paint: (s: string) => string) => (v > 0 ? paint(String(v)) : String(v));
  const part = r.shard ? `shard ${r.shard.index}/${r.shard.count} (of ${plural(r.datasetFiles, 'file')}): ` : '';
  const lines = [
    `${c.bold('voxprep')}: ${part}${plural(r.files.length, 'file')}: ${n(ok, c.green)} processed, ` +
      `${n(failed, c.red)} failed, ${n(rejected, c.red)} rejected, ${n(skipped, c.yellow)} skipped`,
  ];
  if (r.resumed > 0) lines.push(`  resumed:          ${plural(r.resumed, 'file')} completed by the earlier run, found unchanged and kept`);
  lines.push(
    `  slices written:   ${r.slices} (in ${r.layout.slicedDir}/ and ${r.layout.sliced16kDir}/)`,
    `  dataset duration: ${hms(r.totalSeconds)}`,
    `  wall time:        ${r.wallSeconds.toFixed(2)} s`,
    `  speed:            ${speed.toFixed(0)}x real time`,
    `  device:           ${r.device} (${plural(r.threads, 'thread')})`,
    `  output:           ${r.outDir}`,
  );
  if (r.reportPath) lines.push(`  report:           ${r.reportPath}`);
  if (r.manifestPath) lines.push(`  manifest:         ${r.manifestPath}`);
  if (r.shard) lines.push(`  model_info.json:  not written by a shard: \`voxprep merge\` writes it once every shard is done`);

  // Problems, grouped by status; each line "  <status>: <path>: <reason>".
  const groups: [FileStatus, string, (s: string) => string][] = [
    ['failed', 'failed', c.red],
    ['rejected', 'rejected', c.red],
    ['skipped', 'skipped', c.yellow],
  ];
  for (const [status, title, paint] of groups) {
    const files = r.files.filter((f) => f.status === status);
    if (files.length === 0) continue;
    lines.push(paint(`${title} (${files.length}):`));
    // Files a stopped run never started share one line: after a stop there may be thousands.
    // (Told apart by a Set: looked up in the array, a stop early in a run of 250 000 files
    // took its summary some 5 s.)
    const notStarted = files.filter((f) => status === 'skipped' && NOT_STARTED.test(f.error ?? ''));
    const folded = new Set(notStarted.length > 3 ? notStarted : []);
    for (const f of files) {
      if (folded.has(f)) continue;
      lines.push(paint(`  ${status}: ${shownPath(f.relative)}: ${f.error ?? 'unknown reason'}`));
    }
    if (notStarted.length > 3) {
      const reasons = [...new Set(notStarted.map((f) => f.error))];
      const span = `${shownPath(notStarted[0].relative)} … ${shownPath(notStarted[notStarted.length - 1].relative)}`;
      lines.push(paint(`  ${status}: ${notStarted.length} files (${span}): ${reasons.length === 1 ? reasons[0] : 'not started'}`));
    }
  }
  if (r.skippedFolders.length > 0) {
    lines.push(c.yellow(`skipped folders (${r.skippedFolders.length}):`));
    for (const folder of r.skippedFolders) lines.push(`  skipped folder:   ${folder}/ (${skippedFolderReason(folder)})`);
  }
  const writeFailure = r.files.find((f) => f.writeError);
  if (writeFailure) {
    lines.push(
      c.red(`write error: ${shownPath(writeFailure.relative)}: ${writeFailure.error ?? 'unknown reason'}`),
      '  no new file was started once it was met; make room (or fix the output folder), then run again with --resume',
    );
  }
  for (const e of r.runErrors) lines.push(c.red(`error: ${e}`));
  if (r.stopped && !writeFailure) {
    lines.push(c.yellow('stopped: the run was stopped before every file was done; run it again with --resume to finish it'));
  }
  const warned = r.files.filter((f) => f.warnings.length > 0);
  if (warned.length > 0) {
    lines.push(c.yellow(`file warnings (${warned.reduce((s, f) => s + f.warnings.length, 0)}):`));
    for (const f of warned) for (const w of f.warnings) lines.push(`  warning: ${shownPath(f.relative)}: ${w}`);
  }
  if (r.datasetWarnings.length > 0) {
    lines.push(c.yellow(`dataset warnings (${r.datasetWarnings.length}):`));
    for (const w of r.datasetWarnings) lines.push(`  warning: ${w.message}`);
  }
  return lines.join('\n');
}
