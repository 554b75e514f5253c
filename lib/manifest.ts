// The run manifest: which input files a run has finished and what each one wrote, so that
// `--resume` can skip what is complete and unchanged, and `voxprep merge` can put shards
// together.
//
// It is a JSON-lines file in the output folder (voxprep-manifest.jsonl, or
// voxprep-manifest.shard-K-of-N.jsonl for a shard): a header line (format, voxprep version,
// the options that shape the output, the shard, the whole dataset's file list), then one line
// per input file whose outcome is final, appended as each file ends (written to the file at
// the end of that turn of the event loop). A file that was processed ("ok") is appended only
// after its outputs are in place, with its input's size, modification time and checksum and
// each output's size and checksum (XXH64). A crash loses nothing already written (at most the
// records of its last moment, whose files the next run does again); a torn last line is
// ignored. At the end of a run the file is rewritten
// (under a temporary name, synced, then renamed) in idx0 order, one line per file. It holds
// nothing that depends on the machine, the thread count or the clock, so the same inputs and
// options give the same manifest byte for byte, whether from one run, a resumed run or merged
// shards.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DEFAULTS, type ShardSpec } from './config.js';
import { native, type FileChecksum, type FileStamp, type FileStatus, type NativeFileResult } from './native.js';
import { writeAtomically } from './report.js';

/** Bumped when the manifest's lines change form or meaning. */
export const MANIFEST_FORMAT = 2; // 2: XXH64 checksums where format 1 had SHA-256
export const MANIFEST_FILE = 'voxprep-manifest.jsonl';
export const SHARD_MANIFEST_FILE = /^voxprep-manifest\.shard-(\d+)-of-(\d+)\.jsonl$/;
export const SHARD_REPORT_FILE = /^report\.shard-(\d+)-of-(\d+)\.json$/;

export type { ShardSpec };

export function manifestName(shard: ShardSpec | null): string {
  return shard ? `voxprep-manifest.shard-${shard.index}-of-${shard.count}.jsonl` : MANIFEST_FILE;
}

export function reportName(shard: ShardSpec | null): string {
  return shard ? `report.shard-${shard.index}-of-${shard.count}.json` : 'report.json';
}

export function inShard(idx0: number, shard: ShardSpec | null): boolean {
  return shard === null || idx0 % shard.count === shard.index - 1;
}

/** The options that decide what the outputs hold (threads and the like do not). */
export interface OutputOptions {
  sampleRate: number;
  cut: string;
  highpass: boolean;
  normalize: string;
  chunk: number;
  overlap: number;
  /** Noise reduction strength, 0 for none. */
  denoise: number;
}

/**
 * The options as the manifest records them. chunk and overlap shape the simple cut alone:
 * with another, their defaults are recorded whatever was given, so that the same outputs have
 * the same manifest (and a --resume with another --chunk is the same run).
 */
export function outputOptions(o: OutputOptions): OutputOptions {
  const simple = o.cut === 'simple';
  return {
    sampleRate: o.sampleRate,
    cut: o.cut,
    highpass: o.highpass,
    normalize: o.normalize,
    chunk: simple ? o.chunk : DEFAULTS.chunk,
    overlap: simple ? o.overlap : DEFAULTS.overlap,
    denoise: o.denoise,
  };
}

export interface ManifestHeader {
  voxprep: 'manifest';
  format: number;
  /** voxprep's version: another version may cut or round differently. */
  version: string;
  options: OutputOptions;
  shard: ShardSpec | null;
  /** How many files the whole dataset's list holds (all shards together). */
  files: number;
  /** SHA-256 of the whole list ("<idx0> <sid> <relative path>" lines): shards must agree on it. */
  list: string;
  skippedFolders: string[];
  unreadable: { relative: string; reason: string }[];
}

export interface OutputRecord {
  /** Relative to the output folder: sliced_audios/0_3_1.wav. */
  file: string;
  size: number;
  xxh64: string;
}

/** An input as recorded: its stamp (size, modification time in nanoseconds as an exact decimal string) and checksum. */
export interface InputRecord extends FileStamp {
  xxh64: string;
}

/** What the engine said about a file, less its timings. */
export type StoredResult = Omit<NativeFileResult, 'times' | 'checksums' | 'inputChecksum' | 'inputStamp' | 'inputStampAfter'>;

export interface FileRecord {
  idx0: number;
  path: string;
  sid: number;
  status: FileStatus;
  /** Processed, with every output in place and hashed: --resume may keep it. */
  complete: boolean;
  input: InputRecord | null;
  outputs: OutputRecord[];
  result: StoredResult;
}

export interface Manifest {
  header: ManifestHeader;
  /** By idx0; a later line for the same idx0 replaces an earlier one. */
  records: Map<number, FileRecord>;
  /** Lines that could not be read (a torn last line after a crash). */
  ignoredLines: number;
}

export type ManifestRead = { state: 'missing' } | { state: 'unreadable'; reason: string } | { state: 'ok'; manifest: Manifest };

// ---------------------------------------------------------------------------------------
// Canonical form: every line is built key by key here, so equal content gives equal bytes.

export function headerLine(h: ManifestHeader): string {
  return JSON.stringify({
    voxprep: 'manifest',
    format: h.format,
    version: h.version,
    options: outputOptions(h.options),
    shard: h.shard ? { index: h.shard.index, count: h.shard.count } : null,
    files: h.files,
    list: h.list,
    skippedFolders: [...h.skippedFolders],
    unreadable: h.unreadable.map((u) => ({ relative: u.relative, reason: u.reason })),
  });
}

export function storedResult(r: NativeFileResult | StoredResult): StoredResult {
  return {
    status: r.status,
    ...(r.error !== undefined ? { error: r.error } : {}),
    loaded: r.loaded,
    samples: r.samples,
    seconds: r.seconds,
    inputRate: r.inputRate,
    inputChannels: r.inputChannels,
    inputBits: r.inputBits,
    inputFloat: r.inputFloat,
    // Records written before the coding was kept: PCM or float, as inputFloat says.
    inputCoding: r.inputCoding ?? (r.inputFloat ? 'float' : 'pcm'),
    inputFrames: r.inputFrames,
    peak: r.peak,
    rms: r.rms,
    silenceShare: r.silenceShare,
    clippedFrames: r.clippedFrames,
    slices: r.slices,
    warnings: [...r.warnings],
    sliceNames: [...r.sliceNames],
    writeError: r.writeError,
  };
}

export function recordLine(r: FileRecord): string {
  return JSON.stringify({
    idx0: r.idx0,
    path: r.path,
    sid: r.sid,
    status: r.status,
    complete: r.complete,
    input: r.input ? { size: r.input.size, mtimeNs: r.input.mtimeNs, xxh64: r.input.xxh64 } : null,
    outputs: r.outputs.map((o) => ({ file: o.file, size: o.size, xxh64: o.xxh64 })),
    result: storedResult(r.result),
  });
}

/** The whole manifest in its consolidated form, line by line: header, then the records in idx0 order. */
export function* manifestLines(header: ManifestHeader, records: Iterable<FileRecord>): Generator<string> {
  for (const { line } of consolidatedLines(header, records)) yield line;
}

/** manifestLines with each record's idx0 (none for the header). */
function* consolidatedLines(header: ManifestHeader, records: Iterable<FileRecord>): Generator<{ idx0?: number; line: string }> {
  yield { line: `${headerLine(header)}\n` };
  for (const rec of [...records].sort((a, b) => a.idx0 - b.idx0)) yield { idx0: rec.idx0, line: `${recordLine(rec)}\n` };
}

/** SHA-256 of the whole dataset's list, as the header records it. */
export function listHash(files: { idx0: number; sid: number; relative: string }[]): string {
  const h = crypto.createHash('sha256');
  for (const f of files) h.update(`${f.idx0} ${f.sid} ${f.relative}\n`);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------
// Reading

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isChecksum = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v);
/**
 * The slice naming rule as a pattern: <sid>_<idx0>_<idx1>.wav (see native OutputLayout), the
 * numbers written without leading zeros, so that a user's 00_1_0.wav is never taken for one.
 */
export const SLICE_NAME = String.raw`(0|[1-9]\d*)_(0|[1-9]\d*)_(0|[1-9]\d*)\.wav`;
/** An output's place: one of the two slice folders, a name by the slice naming rule (nothing else is ever copied or removed). */
export const OUTPUT_FILE = new RegExp(`^(sliced_audios|sliced_audios_16k)/${SLICE_NAME}$`);

function parseHeader(v: unknown): ManifestHeader | undefined {
  if (!isObject(v) || v.voxprep !== 'manifest' || !isCount(v.format) || typeof v.version !== 'string') return undefined;
  const o = v.options;
  if (!isObject(o)) return undefined;
  if (typeof o.sampleRate !== 'number' || typeof o.cut !== 'string' || typeof o.highpass !== 'boolean') return undefined;
  if (typeof o.normalize !== 'string' || typeof o.chunk !== 'number' || typeof o.overlap !== 'number') return undefined;
  // Manifests from before noise reduction existed hold no strength: they ran without it.
  if (o.denoise !== undefined && typeof o.denoise !== 'number') return undefined;
  let shard: ShardSpec | null = null;
  if (v.shard !== null) {
    if (!isObject(v.shard) || !isCount(v.shard.index) || !isCount(v.shard.count)) return undefined;
    shard = { index: v.shard.index, count: v.shard.count };
  }
  if (!isCount(v.files) || !isSha256(v.list) || !Array.isArray(v.skippedFolders) || !Array.isArray(v.unreadable)) return undefined;
  return {
    voxprep: 'manifest',
    format: v.format,
    version: v.version,
    options: outputOptions({ ...(o as unknown as OutputOptions), denoise: typeof o.denoise === 'number' ? o.denoise : 0 }),
    shard,
    files: v.files,
    list: v.list,
    skippedFolders: v.skippedFolders.map(String),
    unreadable: (v.unreadable as unknown[]).filter(isObject).map((u) => ({ relative: String(u.relative), reason: String(u.reason) })),
  };
}

function parseRecord(v: unknown): FileRecord | undefined {
  if (!isObject(v) || !isCount(v.idx0) || typeof v.path !== 'string' || !isCount(v.sid)) return undefined;
  if (!['ok', 'failed', 'rejected', 'skipped'].includes(v.status as string) || typeof v.complete !== 'boolean') return undefined;
  let input: InputRecord | null = null;
  if (v.input !== null) {
    const i = v.input;
    if (!isObject(i) || !isCount(i.size) || typeof i.mtimeNs !== 'string' || !isChecksum(i.xxh64)) return undefined;
    input = { size: i.size, mtimeNs: i.mtimeNs, xxh64: i.xxh64 };
  }
  if (!Array.isArray(v.outputs)) return undefined;
  const outputs: OutputRecord[] = [];
  for (const o of v.outputs) {
    if (!isObject(o) || typeof o.file !== 'string' || !OUTPUT_FILE.test(o.file) || !isCount(o.size) || !isChecksum(o.xxh64)) return undefined;
    outputs.push({ file: o.file, size: o.size, xxh64: o.xxh64 });
  }
  const r = v.result;
  if (!isObject(r) || r.status !== v.status || typeof r.seconds !== 'number' || typeof r.loaded !== 'boolean') return undefined;
  if (!Array.isArray(r.warnings) || !Array.isArray(r.sliceNames) || !isCount(r.slices)) return undefined;
  if (v.complete && (v.status !== 'ok' || input === null)) return undefined;
  return {
    idx0: v.idx0,
    path: v.path,
    sid: v.sid,
    status: v.status as FileStatus,
    complete: v.complete,
    input,
    outputs,
    result: storedResult(r as unknown as StoredResult),
  };
}

/** Reads a manifest; a line that does not parse (a torn last line) is skipped and counted. */
export async function readManifest(file: string): Promise<ManifestRead> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'unreadable', reason: (err as Error).message };
  }
  try {
    let header: ManifestHeader | undefined;
    const records = new Map<number, FileRecord>();
    let ignoredLines = 0;
    for await (const line of lines(handle)) {
      if (!header) {
        try {
          header = parseHeader(JSON.parse(line));
        } catch {
          header = undefined;
        }
        if (!header) return { state: 'unreadable', reason: 'its first line is not a voxprep manifest header' };
        continue;
      }
      if (line.trim() === '') continue;
      let rec: FileRecord | undefined;
      try {
        rec = parseRecord(JSON.parse(line));
      } catch {
        rec = undefined;
      }
      if (rec) records.set(rec.idx0, rec);
      else ignoredLines++;
    }
    if (!header) return { state: 'unreadable', reason: 'its first line is not a voxprep manifest header' };
    return { state: 'ok', manifest: { header, records, ignoredLines } };
  } catch (err) {
    return { state: 'unreadable', reason: (err as Error).message };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * A file's lines (UTF-8, split at each newline; the last one even when empty), read a block
 * at a time from the start: a manifest of a million files is longer than the longest string
 * JavaScript can hold, so it is never read whole. A newline byte is never part of a longer
 * UTF-8 character, so each line decodes on its own.
 */
async function* lines(handle: fsp.FileHandle): AsyncGenerator<string> {
  const block = Buffer.alloc(1 << 20);
  let carry: Buffer[] = [];
  let blockAt = 0; // where the block was read from
  for (;;) {
    const { bytesRead } = await handle.read(block, 0, block.length, blockAt);
    if (bytesRead === 0) break;
    let from = 0;
    for (let nl = block.indexOf(10, from); nl !== -1 && nl < bytesRead; nl = block.indexOf(10, from)) {
      carry.push(block.subarray(from, nl));
      yield Buffer.concat(carry).toString('utf8');
      carry = [];
      from = nl + 1;
    }
    // The start of a line that goes on in the next block: copied, as the block is reused.
    if (from < bytesRead) carry.push(Buffer.from(block.subarray(from, bytesRead)));
    blockAt += bytesRead;
  }
  yield Buffer.concat(carry).toString('utf8');
}

/** How two headers differ in what shapes the outputs; empty when they agree. */
export function headerDifferences(a: ManifestHeader, b: ManifestHeader): string[] {
  const out: string[] = [];
  if (a.format !== b.format) out.push(`manifest format ${a.format} vs ${b.format}`);
  if (a.version !== b.version) out.push(`voxprep ${a.version} vs ${b.version}`);
  const names: [keyof OutputOptions, string][] = [
    ['sampleRate', 'sample rate'],
    ['cut', 'cut'],
    ['highpass', 'high-pass'],
    ['normalize', 'normalize'],
    ['chunk', 'chunk'],
    ['overlap', 'overlap'],
    ['denoise', 'denoise'],
  ];
  // chunk and overlap shape the simple cut alone: the automatic one cuts 3 s pieces whatever they say.
  const simple = a.options.cut === 'simple' || b.options.cut === 'simple';
  for (const [key, label] of names) {
    if (!simple && (key === 'chunk' || key === 'overlap')) continue;
    if (a.options[key] !== b.options[key]) out.push(`${label} ${String(a.options[key])} vs ${String(b.options[key])}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Checksums

/**
 * A file's stamp now, without a trip through libuv's pool: for one file at a time on the main
 * thread, where that trip cost some 25 us of its time a file (a quarter of a second of it for
 * 10 000 clips) and this takes 3.
 */
export function statInputNow(file: string): FileStamp {
  return stampOf(fs.statSync(file, { bigint: true }));
}

function stampOf(st: fs.BigIntStats): FileStamp {
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
}

/** How HashPool.check finds a recorded file: as recorded, something else by its name, or nothing. */
export type Found = 'same' | 'other' | 'absent';
const FOUND: readonly Found[] = ['absent', 'same', 'other']; // by checkFiles' codes

/** A file as a record has it: size and checksum, and for an input its modification time. */
export interface RecordedFile {
  file: string;
  size: number;
  xxh64: string;
  /** Compared too where given (an input's, as a decimal string of nanoseconds). */
  mtimeNs?: string;
}

/**
 * Checksums off the main thread: each file's size and XXH64 (native/io/file_hash.h says why
 * that checksum), read and computed by the addon on libuv's thread pool, at most `size`
 * calls at a time (a file each, or a chunk of files to check). close() fails the calls still
 * queued.
 */
export class HashPool {
  /** Calls at once at most, whatever a caller asks for: libuv's pool has four threads, which the run's other file work shares. */
  static readonly MAX_AT_ONCE = 4;
  /** Files check() and copy() hand the addon in one call. */
  static readonly CHECK_CHUNK = 256;
  /** Calls this pool runs at once: the number asked for, from 1 to MAX_AT_ONCE. */
  readonly size: number;
  private running = 0;
  private readonly queued: { start: () => void; reject: (e: Error) => void }[] = [];
  private closed = false;
  private readonly idle: (() => void)[] = [];

  constructor(atOnce: number) {
    this.size = Math.min(HashPool.MAX_AT_ONCE, Math.max(1, atOnce));
  }

  /** Runs `work` once fewer than `size` calls run; its result or its error. */
  private slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('hashing closed'));
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        // (A synchronous throw, say the addon failing to load, becomes a rejection too.)
        Promise.resolve()
          .then(work)
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            const next = this.queued.shift();
            if (next) next.start();
            else if (this.running === 0) this.idle.splice(0).forEach((wake) => wake());
          });
      };
      if (this.running < this.size) start();
      else this.queued.push({ start, reject });
    });
  }

  hash(file: string): Promise<FileChecksum> {
    return this.slot(() =>
      native()
        .hashFile(file)
        .catch((err: unknown) => {
          throw new Error(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
        }),
    );
  }

  /**
   * How each item's file is found: as recorded (a regular file of its size and checksum, and
   * of its modification time where given), something else by its name, or nothing;
   * CHECK_CHUNK files to a call: one call and a stat through libuv's pool for each file cost
   * the main thread about 100 us a file, and a --resume of 250 000 clips 40 s. `recorded`
   * gives an item's file as a chunk's call is about to start (so that a run's paths are not
   * all made at once), and `before` runs then too; what it throws ends the check.
   */
  check<T>(items: readonly T[], recorded: (item: T) => RecordedFile, before: () => void = () => {}): Promise<Found[]> {
    return this.chunked(items, (chunk) => {
      before();
      const files = chunk.map(recorded);
      return native()
        .checkFiles(
          files.map((f) => f.file),
          files.map((f) => f.size),
          files.map((f) => f.xxh64),
          files.map((f) => f.mtimeNs ?? null),
        )
        .then((codes) => Array.from(codes, (c) => FOUND[c]));
    });
  }

  /**
   * Copies each item's file to its place through a temporary name, reads the copy back and
   * renames it into place if it is as recorded: "" for each file copied, else the reason (the
   * temporary removed). CHECK_CHUNK files to a call, as check().
   */
  copy<T>(items: readonly T[], copying: (item: T) => { from: string; to: string; size: number; xxh64: string }): Promise<string[]> {
    return this.chunked(items, (chunk) => {
      const files = chunk.map(copying);
      return native().copyFiles(
        files.map((f) => f.from),
        files.map((f) => f.to),
        files.map((f) => f.size),
        files.map((f) => f.xxh64),
      );
    });
  }

  /** `call` on CHECK_CHUNK items at a time, each through slot(); the results in the items' order. */
  private async chunked<T, R>(items: readonly T[], call: (chunk: T[]) => Promise<R[]>): Promise<R[]> {
    const chunks: Promise<R[]>[] = [];
    for (let at = 0; at < items.length; at += HashPool.CHECK_CHUNK) {
      const from = at;
      chunks.push(this.slot(() => call(items.slice(from, from + HashPool.CHECK_CHUNK))));
    }
    // Every call has ended (or never started) before this returns or throws.
    const settled = await Promise.allSettled(chunks);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.flatMap((s) => (s as PromiseFulfilledResult<R[]>).value);
  }

  /** Fails what is queued and waits for the calls running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queued.splice(0)) q.reject(new Error('hashing closed'));
    if (this.running > 0) await new Promise<void>((wake) => this.idle.push(wake));
  }
}

/** Removals under way at once (removeFiles). */
const REMOVALS_AT_ONCE = 16;

/**
 * Removes `files` (absent ones are fine), several at a time: one at a time, each removal is a
 * round trip through libuv's pool, and a rerun with --overwrite spent about 0.2 s on the
 * previous run's 2000 slices (a quarter of the run), ten times what overlapping them takes.
 * Every removal has ended when it returns or throws (the first error), so none can follow
 * the writing that comes next.
 */
export async function removeFiles(files: readonly string[]): Promise<void> {
  let failure: Error | undefined;
  let next = 0;
  const lane = async () => {
    while (failure === undefined && next < files.length) {
      const file = files[next++];
      await fsp.unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') failure ??= err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(REMOVALS_AT_ONCE, files.length) }, lane));
  if (failure) throw failure;
}

// ---------------------------------------------------------------------------------------
// Writing

/** The most bytes of consecutive records the consolidation reads at once. */
const READ_SPAN = 1 << 20;

/** The most bytes of records the journal holds before it writes them, whatever the turn. */
const APPEND_BLOCK = 1 << 20;

/**
 * Where each file's line lies in the journal (its last one), by idx0: a byte offset and a
 * length, in two growing typed arrays (some 12 bytes a file, where a Map of objects took
 * some 80).
 */
class LinePlaces {
  private at = new Float64Array(1024).fill(-1);
  private bytes = new Uint32Array(1024);
  /** One past the highest idx0 placed. */
  end = 0;

  set(idx0: number, at: number, bytes: number): void {
    if (idx0 >= this.at.length) {
      let length = this.at.length;
      while (length <= idx0) length *= 2;
      const grownAt = new Float64Array(length).fill(-1);
      grownAt.set(this.at);
      const grownBytes = new Uint32Array(length);
      grownBytes.set(this.bytes);
      this.at = grownAt;
      this.bytes = grownBytes;
    }
    this.at[idx0] = at;
    this.bytes[idx0] = bytes;
    this.end = Math.max(this.end, idx0 + 1);
  }

  get(idx0: number): { at: number; bytes: number } | undefined {
    return idx0 < this.end && this.at[idx0] >= 0 ? { at: this.at[idx0], bytes: this.bytes[idx0] } : undefined;
  }
}

/**
 * The manifest of a run under way: created with its header (and the records a resumed run
 * keeps), appended to as files end, consolidated at the end from what it holds. The records
 * are not kept in memory as well (for a million files, about a gigabyte of JavaScript heap),
 * except those that could not be appended; where each one's line lies is.
 */
export class Journal {
  private handle: fsp.FileHandle | undefined;
  /** The first write error, after which nothing more is appended. */
  error: string | undefined;
  /** Records the file does not hold (their append failed, or came after a failure), for the consolidation. */
  private readonly unwritten = new Map<number, FileRecord>();
  private readonly places = new LinePlaces();
  /** The journal's length: where the next line goes. */
  private size = 0;
  /** Records appended since the last write, with their lines (queued only while the journal is open and has not failed). */
  private queued: { idx0: number; record: FileRecord; line: string }[] = [];
  private queuedBytes = 0;
  /** Writes what is queued: at the end of the turn, or as the process exits (a third Ctrl-C) before that. */
  private readonly writeQueued = () => this.flush();

  private constructor(
    readonly file: string,
    private readonly onError: (message: string) => void,
  ) {}

  /** Writes the header and `records` (atomically), then opens the file for appending. */
  static async create(file: string, header: ManifestHeader, records: Iterable<FileRecord>, onError: (message: string) => void): Promise<Journal> {
    const j = new Journal(file, onError);
    const placed = function* (): Generator<string> {
      for (const { idx0, line } of consolidatedLines(header, records)) {
        j.place(idx0, line);
        yield line;
      }
    };
    await writeAtomically(file, placed(), { sync: true });
    j.handle = await fsp.open(file, 'a');
    return j;
  }

  /**
   * Appends one record, in the order asked for. The lines are written together once a turn
   * of the event loop (or every APPEND_BLOCK bytes), synchronously: a write a record cost the
   * main thread some 5 us (a syscall each; through libuv's pool, 14), a tenth of a second of
   * it for 10 000 clips. Either way a write only hands the lines to the page cache (the
   * manifest is synced when it is consolidated).
   */
  append(record: FileRecord): void {
    if (this.error !== undefined || !this.handle) {
      this.unwritten.set(record.idx0, record);
      return;
    }
    const line = `${recordLine(record)}\n`;
    this.queued.push({ idx0: record.idx0, record, line });
    this.queuedBytes += line.length;
    if (this.queued.length === 1) {
      process.on('exit', this.writeQueued);
      setImmediate(this.writeQueued);
    }
    if (this.queuedBytes >= APPEND_BLOCK) this.flush();
  }

  /** Writes the records appended so far. */
  flush(): void {
    if (this.queued.length === 0) return;
    process.off('exit', this.writeQueued);
    const queued = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    const block = Buffer.from(queued.map((q) => q.line).join(''));
    try {
      for (let at = 0; at < block.length; ) at += fs.writeSync(this.handle!.fd, block, at, block.length - at);
    } catch (err) {
      // Some of the lines may be in the file, the last one torn: none of them is used.
      for (const q of queued) this.unwritten.set(q.idx0, q.record);
      this.error = `cannot append to the manifest ${this.file}: ${(err as Error).message}`;
      this.onError(this.error);
      return;
    }
    for (const q of queued) this.place(q.idx0, q.line);
  }

  /** Notes that `line` (record idx0's, if any) is at the journal's end, which it extends. */
  private place(idx0: number | undefined, line: string): void {
    const bytes = Buffer.byteLength(line);
    if (idx0 !== undefined) this.places.set(idx0, this.size, bytes - 1); // the newline not counted
    this.size += bytes;
  }

  /**
   * Writes what is appended, then rewrites the manifest in its consolidated form: `header`,
   * then one line per file in idx0 order (the last of its records), each line as appended.
   */
  async finish(header: ManifestHeader): Promise<void> {
    this.flush();
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    try {
      await writeAtomically(this.file, this.consolidated(header), { sync: true });
    } catch (err) {
      const message = `cannot write the manifest ${this.file}: ${(err as Error).message} (the records appended during the run are kept)`;
      this.error ??= message;
      this.onError(message);
    }
  }

  private async *consolidated(header: ManifestHeader): AsyncGenerator<string> {
    const handle = await fsp.open(this.file, 'r');
    try {
      yield `${headerLine(header)}\n`;
      let end = this.places.end;
      for (const idx0 of this.unwritten.keys()) end = Math.max(end, idx0 + 1);
      for (let idx0 = 0; idx0 < end; ) {
        const unwritten = this.unwritten.get(idx0);
        const place = unwritten ? undefined : this.places.get(idx0);
        if (!place) {
          if (unwritten) yield `${recordLine(unwritten)}\n`;
          ++idx0;
          continue;
        }
        // The records after it in idx0 order that also follow it line by line in the file
        // (with one worker, all of them) come in the same read, up to READ_SPAN bytes: a read
        // for each record made the consolidation of 2500 files' records take 0.1-0.2 s.
        let last = place.at + place.bytes;
        for (++idx0; idx0 < end && !this.unwritten.has(idx0); ++idx0) {
          const next = this.places.get(idx0);
          if (!next || next.at !== last + 1 || next.at + next.bytes - place.at > READ_SPAN) break;
          last = next.at + next.bytes;
        }
        // Read synchronously: with several workers the records lie in the order files ended, not
        // in idx0 order, and a read each through libuv's pool (a round trip of tens of
        // microseconds) made 10 000 files' consolidation take 0.4 s. The journal was written by
        // this process moments ago: its pages are in memory, and a read takes microseconds.
        const bytes = Buffer.alloc(last - place.at);
        const bytesRead = fs.readSync(handle.fd, bytes, 0, bytes.length, place.at);
        if (bytesRead !== bytes.length) throw new Error(`${this.file} changed while it was consolidated`);
        yield `${bytes.toString('utf8')}\n`;
      }
    } finally {
      await handle.close();
    }
  }
}

/** Where a manifest output record points to, under an output folder. */
export function outputPath(outDir: string, rec: OutputRecord): string {
  return path.join(outDir, ...rec.file.split('/'));
}
