// Options: defaults, validation with a precise message for each bad value; the settings of
// `voxprep preprocess` and its config file.
import fs from 'node:fs';
import path from 'node:path';

export const CUT_MODES = ['automatic', 'simple', 'skip'] as const;
export const NORMALIZATIONS = ['none', 'pre', 'post'] as const;
export type CutMode = (typeof CUT_MODES)[number];
export type Normalization = (typeof NORMALIZATIONS)[number];

export const MIN_RATE = 8000;
export const MAX_RATE = 192000;

export interface PreprocessOptions {
  /** Target (training) sample rate in Hz. Default 40000. */
  sampleRate?: number;
  /** How files are cut into segments. Default 'automatic'. */
  cut?: CutMode;
  /** The 48 Hz high-pass. Default true. */
  highpass?: boolean;
  /** Peak normalization of the whole file ('pre') or of each segment ('post'). Default 'none'. */
  normalize?: Normalization;
  /** Simple cut: segment length in seconds. Default 3.0. */
  chunk?: number;
  /** Simple cut: overlap between segments in seconds. Default 0.3. */
  overlap?: number;
  /**
   * Noise reduction (Applio's, by non-stationary spectral gating) at this strength: 0 for
   * none (the default), else more than 0 and at most 1 (Applio's default strength is 0.7).
   * It runs after the high-pass and pre normalization, before cutting.
   */
  denoise?: number;
  /** Files processed at once. Default: all cores. */
  threads?: number;
  /**
   * Where the kernels run: 'auto' (the GPU when a usable one is present, else the CPU; the
   * default), 'cpu', 'cuda' (the first GPU; an error when none is usable) or 'cuda:N'.
   * 'emulate' runs the GPU path's batched code on the CPU, for tests (slow).
   */
  device?: string;
  /** Replace voxprep's outputs of an earlier run in the output folder. Default false. */
  overwrite?: boolean;
  /**
   * Finish the run whose manifest is in the output folder: keep the files it completed (when
   * they and their outputs are unchanged), redo the rest. Default false.
   */
  resume?: boolean;
  /** Process only the K-th of N parts of the sorted file list: "K/N" or { index: K, count: N }. Default: all. */
  shard?: string | ShardSpec | null;
}

/** The K-th (1-based) of N parts of the sorted file list: the files whose idx0 % N === K − 1. */
export interface ShardSpec {
  index: number;
  count: number;
}

export type ResolvedOptions = Required<Omit<PreprocessOptions, 'shard'>> & { shard: ShardSpec | null };

/** The most parts a file list may be split into. */
export const MAX_SHARDS = 100000;

/** Reads "K/N" (or { index, count }); throws UsageError unless 1 ≤ K ≤ N. */
export function parseShard(value: string | ShardSpec): ShardSpec {
  const bad = () =>
    new UsageError(
      `shard must be K/N, the K-th of N parts, with 1 ≤ K ≤ N ≤ ${MAX_SHARDS} (e.g. 2/8), got ${JSON.stringify(value)}`,
    );
  let index: number;
  let count: number;
  if (typeof value === 'string') {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
    if (!m) throw bad();
    index = Number(m[1]);
    count = Number(m[2]);
  } else if (value !== null && typeof value === 'object') {
    index = value.index;
    count = value.count;
  } else {
    throw bad();
  }
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 1 || count < 1 || index > count || count > MAX_SHARDS) throw bad();
  return { index, count };
}

/** --device: auto, cpu, cuda, cuda:N, and emulate (the GPU path on the CPU, for tests). */
export const DEVICE_PATTERN = /^(auto|cpu|cuda|cuda:\d{1,3}|emulate)$/;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULTS: Omit<ResolvedOptions, 'threads'> = {
  sampleRate: 40000,
  cut: 'automatic',
  highpass: true,
  normalize: 'none',
  chunk: 3.0,
  overlap: 0.3,
  denoise: 0,
  device: 'auto',
  overwrite: false,
  resume: false,
  shard: null,
};

function finite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${name} must be a number, got ${String(v)}`);
  return v;
}

/** The library's option names: every key resolveOptions takes (runPreprocess checks a caller's keys against them). */
export const OPTION_KEYS: readonly string[] = [...Object.keys(DEFAULTS), 'threads'];

/**
 * Throws UsageError for a key that is none of `known`, naming it and the option it was
 * probably meant as: a typo in a caller's options would otherwise run with the default, unseen.
 */
export function checkOptionKeys(input: object, known: readonly string[]): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const meant = meantOption(key, known);
    throw new UsageError(
      `unknown option "${key}"${meant ? ` (did you mean "${meant}"?)` : ''}; options: ${known.join(', ')}`,
    );
  }
}

/**
 * The option an unknown key probably stands for: the library name of a command-line or config
 * file spelling (sr, sample_rate, cpu-cores), else the nearest name in letters when near
 * enough to be a typo (thread → threads), else the name that shares its first five letters or
 * more (normalization → normalize).
 */
function meantOption(key: string, known: readonly string[]): string | undefined {
  const spec = CONFIG_KEYS[applioSpelling(key).replace(/_/g, '-')];
  if (spec && known.includes(spec.setting)) return spec.setting;
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(lower, name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 2))) return best;
  // Another form of the same word: the longest shared start, of five letters or more.
  let longest = 4;
  best = undefined;
  for (const name of known) {
    const shared = commonPrefixLength(lower, name.toLowerCase());
    if (shared > longest) [best, longest] = [name, shared];
  }
  return best;
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The most samples a simple-cut setting's windows may hold at once (each holds its own until written). */
export const MAX_OPEN_WINDOW_SAMPLES = 1 << 21;

export function resolveOptions(input: PreprocessOptions, defaultThreads: number): ResolvedOptions {
  const o = { ...DEFAULTS, threads: defaultThreads, ...stripUndefined(input) };
  const sr = finite('sample rate', o.sampleRate);
  if (!Number.isInteger(sr) || sr < MIN_RATE || sr > MAX_RATE) {
    throw new UsageError(`sample rate must be a whole number of Hz from ${MIN_RATE} to ${MAX_RATE}, got ${sr}`);
  }
  if (!CUT_MODES.includes(o.cut)) throw new UsageError(`cut must be one of ${CUT_MODES.join(', ')}, got ${String(o.cut)}`);
  if (!NORMALIZATIONS.includes(o.normalize)) {
    throw new UsageError(`normalize must be one of ${NORMALIZATIONS.join(', ')}, got ${String(o.normalize)}`);
  }
  // A string such as 'false' is truthy: taken loosely, `overwrite: 'false'` would replace an
  // earlier run.
  for (const key of ['highpass', 'overwrite', 'resume'] as const) requireBoolean(key, o[key]);
  const chunk = finite('chunk', o.chunk);
  const overlap = finite('overlap', o.overlap);
  if (chunk <= 0) throw new UsageError(`chunk must be more than 0 seconds, got ${chunk}`);
  if (overlap < 0) throw new UsageError(`overlap must be 0 seconds or more, got ${overlap}`);
  // The cut works in whole samples, as the reference truncates them.
  const chunkSamples = Math.trunc(sr * chunk);
  const overlapSamples = Math.trunc(sr * overlap);
  if (chunkSamples === 0) throw new UsageError(`chunk (${chunk} s) is less than one sample at ${sr} Hz`);
  if (chunkSamples <= overlapSamples) {
    throw new UsageError(`chunk (${chunk} s) must be longer than overlap (${overlap} s)`);
  }
  // Each simple window is held as it fills, so an overlap near the chunk keeps many open at
  // once (chunk 1 s, overlap 0.99995 s: 20 000 of them, 13 GB; 100 windows of 5 s at 48 kHz
  // took 1.2 GB). Applio's own range, chunk 0.5 to 5 s and overlap up to 0.4 s, holds at most
  // 2 windows of 5 s.
  const openWindows = Math.ceil(chunkSamples / (chunkSamples - overlapSamples));
  if (o.cut === 'simple' && openWindows * chunkSamples > MAX_OPEN_WINDOW_SAMPLES) {
    // A chunk too long on its own is refused too: say so, not that the overlap is near it.
    throw new UsageError(
      `chunk ${chunk} s with overlap ${overlap} s keeps ${openWindows} window${openWindows === 1 ? '' : 's'} open at once ` +
        `(${((openWindows * chunkSamples) / sr).toFixed(1)} s of audio held, more than the ${(MAX_OPEN_WINDOW_SAMPLES / sr).toFixed(1)} s allowed at ${sr} Hz): ` +
        (openWindows > 1 ? 'use a smaller overlap or a shorter chunk' : 'use a shorter chunk'),
    );
  }
  const denoise = finite('denoise', o.denoise);
  if (denoise < 0 || denoise > 1) throw new UsageError(`denoise must be from 0 (no noise reduction) to 1, got ${denoise}`);
  const threads = finite('threads', o.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new UsageError(`threads must be a whole number from 1 to 1024, got ${threads}`);
  }
  if (typeof o.device !== 'string' || !DEVICE_PATTERN.test(o.device)) {
    throw new UsageError(`device must be auto, cpu, cuda or cuda:N (a GPU's number), got ${JSON.stringify(o.device)}`);
  }
  const shard = o.shard === null || o.shard === undefined ? null : parseShard(o.shard);
  return { ...o, sampleRate: sr, chunk, overlap, denoise, threads, shard };
}

/** Throws a UsageError unless `value` is true or false. */
export function requireBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw new UsageError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** A folder argument: a non-empty string (an empty one resolves to the current folder). */
export function requirePath(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${what} must be given as a path, got ${JSON.stringify(value)}`);
}

export function requireObject(what: string, value: unknown): asserts value is object {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${what} must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
}

export function requireCallback(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw new UsageError(`${name} must be a function, got ${typeof value}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------
// Settings of `voxprep preprocess`: from the command line and from a config file, under
// voxprep's names and Applio's.

/**
 * Everything `voxprep preprocess` takes, under one canonical name each: the library's
 * options (the shard as written, "K/N") and the command line's own.
 */
export interface Settings extends Omit<PreprocessOptions, 'shard'> {
  dataset?: string;
  out?: string;
  /** Applio's model name: the output goes to logs/NAME (relative to the current folder) when no out is given. */
  modelName?: string;
  /** "K/N". */
  shard?: string;
  quiet?: boolean;
  json?: boolean;
  /** Applio's noise reduction switch: with true, noise reduction at noiseReductionStrength. */
  noiseReduction?: boolean;
  /** Applio's noise reduction strength (default 0.7); it matters only with noiseReduction true. */
  noiseReductionStrength?: number;
}

/** Applio's default noise reduction strength. */
export const DEFAULT_NOISE_REDUCTION_STRENGTH = 0.7;

/**
 * The noise reduction strength that settings ask for, 0 for none: --denoise P, or Applio's
 * --noise-reduction True with --noise-reduction-strength P (0.7 when not given). Applio's
 * strength alone changes nothing, as in Applio. A --denoise that its Applio twins contradict
 * (--noise-reduction False, or another strength) is a UsageError, as is a strength outside
 * (0, 1], whether or not noise reduction is on.
 */
export function denoiseStrength(s: Settings): number {
  const inRange = (p: number, what: string) => {
    if (!(p > 0 && p <= 1)) {
      throw new UsageError(`${what} must be more than 0 and at most 1 (leave noise reduction off for none), got ${p}`);
    }
    return p;
  };
  // A strength out of range is refused even with noise reduction off: it is a mistake either way.
  if (s.noiseReductionStrength !== undefined) inRange(s.noiseReductionStrength, 'the noise reduction strength (--noise-reduction-strength)');
  if (s.denoise !== undefined) {
    if (s.noiseReduction === false) {
      throw new UsageError(`--denoise ${s.denoise} and --noise-reduction False disagree; give one of them`);
    }
    if (s.noiseReductionStrength !== undefined && s.noiseReductionStrength !== s.denoise) {
      throw new UsageError(
        `--denoise and --noise-reduction-strength disagree (${s.denoise} vs ${s.noiseReductionStrength}); give one of them`,
      );
    }
    return inRange(s.denoise, 'the noise reduction strength (--denoise)');
  }
  if (s.noiseReduction === true) {
    return inRange(s.noiseReductionStrength ?? DEFAULT_NOISE_REDUCTION_STRENGTH, 'the noise reduction strength (--noise-reduction-strength)');
  }
  return 0;
}

/**
 * Settings from a config file overridden by those from the command line. Noise reduction is
 * one setting under two spellings: a --denoise on the command line replaces the file's
 * Applio pair, and an Applio flag on the command line replaces the file's "denoise" (which
 * then stands for --noise-reduction True with its strength, so that a strength alone on the
 * command line adjusts it). The output folder is one setting too, given as "out" or as a model
 * name (logs/NAME): a --model-name on the command line replaces the file's "out".
 */
export function mergeSettings(file: Settings, line: Settings): Settings {
  const merged: Settings = { ...file, ...line };
  if (line.modelName !== undefined && line.out === undefined) delete merged.out;
  if (line.denoise !== undefined) {
    if (line.noiseReduction === undefined) delete merged.noiseReduction;
    if (line.noiseReductionStrength === undefined) delete merged.noiseReductionStrength;
  } else if ((line.noiseReduction !== undefined || line.noiseReductionStrength !== undefined) && file.denoise !== undefined) {
    delete merged.denoise;
    if (line.noiseReduction === undefined) merged.noiseReduction = true;
    if (line.noiseReductionStrength === undefined) merged.noiseReductionStrength = file.denoise;
  }
  return merged;
}

type SettingKind = 'number' | 'boolean' | 'path' | 'string' | 'choice';

interface KeySpec {
  setting: keyof Settings;
  kind: SettingKind;
  /** For 'choice': the accepted values as written; matched case-insensitively where `anyCase`. */
  choices?: readonly string[];
  anyCase?: boolean;
}

/** Applio's cut modes (its --cut_preprocess values) → voxprep's. */
export const APPLIO_CUT_MODES = ['Skip', 'Simple', 'Automatic'] as const;

/**
 * The config file's keys: the long flag names of `voxprep preprocess`, voxprep's and Applio's
 * (Applio's also with underscores, as Applio's core.py spells them: sample_rate).
 */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  dataset: { setting: 'dataset', kind: 'path' },
  out: { setting: 'out', kind: 'path' },
  sr: { setting: 'sampleRate', kind: 'number' },
  cut: { setting: 'cut', kind: 'choice', choices: CUT_MODES },
  highpass: { setting: 'highpass', kind: 'boolean' },
  normalize: { setting: 'normalize', kind: 'choice', choices: NORMALIZATIONS },
  chunk: { setting: 'chunk', kind: 'number' },
  overlap: { setting: 'overlap', kind: 'number' },
  denoise: { setting: 'denoise', kind: 'number' },
  threads: { setting: 'threads', kind: 'number' },
  device: { setting: 'device', kind: 'string' },
  overwrite: { setting: 'overwrite', kind: 'boolean' },
  resume: { setting: 'resume', kind: 'boolean' },
  shard: { setting: 'shard', kind: 'string' },
  quiet: { setting: 'quiet', kind: 'boolean' },
  json: { setting: 'json', kind: 'boolean' },
  // Applio's names.
  'dataset-path': { setting: 'dataset', kind: 'path' },
  'model-name': { setting: 'modelName', kind: 'string' },
  'sample-rate': { setting: 'sampleRate', kind: 'number' },
  'cut-preprocess': { setting: 'cut', kind: 'choice', choices: APPLIO_CUT_MODES, anyCase: true },
  'process-effects': { setting: 'highpass', kind: 'boolean' },
  'normalization-mode': { setting: 'normalize', kind: 'choice', choices: NORMALIZATIONS },
  'chunk-len': { setting: 'chunk', kind: 'number' },
  'overlap-len': { setting: 'overlap', kind: 'number' },
  'cpu-cores': { setting: 'threads', kind: 'number' },
  'noise-reduction': { setting: 'noiseReduction', kind: 'boolean' },
  'noise-reduction-strength': { setting: 'noiseReductionStrength', kind: 'number' },
};

/** Applio's flag names (hyphenated), which it spells with underscores. */
export const APPLIO_FLAGS = [
  'dataset-path',
  'model-name',
  'sample-rate',
  'cut-preprocess',
  'process-effects',
  'normalization-mode',
  'chunk-len',
  'overlap-len',
  'cpu-cores',
  'noise-reduction',
  'noise-reduction-strength',
] as const;

/** Python's strtobool words, which Applio's True/False flags go through. */
const TRUE_WORDS = ['y', 'yes', 't', 'true', 'on', '1'];
const FALSE_WORDS = ['n', 'no', 'f', 'false', 'off', '0'];

/** A boolean written as Applio takes it (True, False, yes, no, 1, 0, …); undefined if it is none. */
export function parseBooleanWord(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(v)) return true;
  if (FALSE_WORDS.includes(v)) return false;
  return undefined;
}

/** Maps a cut mode as Applio or voxprep writes it (Skip, simple, AUTOMATIC) to voxprep's. */
export function parseCutMode(value: string): CutMode | undefined {
  const v = value.trim().toLowerCase();
  return (CUT_MODES as readonly string[]).includes(v) ? (v as CutMode) : undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Reads and validates a config file (JSON object; keys in CONFIG_KEYS, plus "$schema").
 * Paths in it are relative to the file's folder. Throws UsageError naming the file and key.
 */
export function loadConfigFile(file: string): Settings {
  return readConfigFile(file).settings;
}

/** A config file's settings, and the key (as written) that set each. */
export function readConfigFile(file: string): { settings: Settings; keys: Partial<Record<keyof Settings, string>> } {
  const where = `config file ${file}`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${where} not found` : `cannot read ${where}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    // A byte-order mark (some editors save one) is not JSON, but says nothing against the file.
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${where} must hold a JSON object of options, got ${describe(data)}`);
  }
  const base = path.dirname(path.resolve(file));
  const settings: Settings = {};
  const setBy: Partial<Record<keyof Settings, string>> = {};
  for (const [rawKey, value] of Object.entries(data as Record<string, unknown>)) {
    if (rawKey === '$schema') continue;
    const key = applioSpelling(rawKey);
    const spec = CONFIG_KEYS[key];
    if (!spec) {
      throw new UsageError(`${where}: unknown key "${rawKey}"; known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`);
    }
    const converted = convertConfigValue(rawKey, spec, value, base, where);
    const earlier = setBy[spec.setting];
    if (earlier !== undefined && settings[spec.setting] !== converted) {
      throw new UsageError(`${where}: "${earlier}" and "${rawKey}" set the same option to different values; keep one`);
    }
    setBy[spec.setting] = rawKey;
    (settings as Record<string, unknown>)[spec.setting] = converted;
  }
  return { settings, keys: setBy };
}

/** chunk_len → chunk-len for Applio's underscore spellings; anything else unchanged. */
export function applioSpelling(name: string): string {
  const hyphenated = name.replace(/_/g, '-');
  return (APPLIO_FLAGS as readonly string[]).includes(hyphenated) ? hyphenated : name;
}

function convertConfigValue(key: string, spec: KeySpec, value: unknown, base: string, where: string): unknown {
  const bad = (expected: string) => new UsageError(`${where}: "${key}" must be ${expected}, got ${describe(value)}`);
  switch (spec.kind) {
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('a number');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad('true or false');
      return value;
    case 'string':
      if (typeof value !== 'string' || value === '') throw bad('a non-empty string');
      return value;
    case 'path':
      if (typeof value !== 'string' || value === '') throw bad('a path (a non-empty string)');
      return path.resolve(base, value);
    case 'choice': {
      const choices = spec.choices ?? [];
      if (typeof value !== 'string') throw bad(`one of ${choices.join(', ')}`);
      const match = choices.find((c) => (spec.anyCase ? c.toLowerCase() === value.toLowerCase() : c === value));
      if (match === undefined) throw bad(`one of ${choices.join(', ')}`);
      return spec.setting === 'cut' ? parseCutMode(match) : match;
    }
  }
}
