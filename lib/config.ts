// Options: defaults, validation with a precise message for each bad value.

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
  /** Files processed at once. Default: all cores. */
  threads?: number;
  /** Replace the slices of an earlier run in the output folder. Default false. */
  overwrite?: boolean;
}

export type ResolvedOptions = Required<PreprocessOptions>;

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
  overwrite: false,
};

function finite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${name} must be a number, got ${String(v)}`);
  return v;
}

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
  if (typeof o.highpass !== 'boolean') throw new UsageError('highpass must be true or false');
  const chunk = finite('chunk', o.chunk);
  const overlap = finite('overlap', o.overlap);
  if (chunk <= 0) throw new UsageError(`chunk must be more than 0 seconds, got ${chunk}`);
  if (overlap < 0) throw new UsageError(`overlap must be 0 seconds or more, got ${overlap}`);
  // The cut works in whole samples, as the reference truncates them.
  if (Math.trunc(sr * chunk) <= Math.trunc(sr * overlap)) {
    throw new UsageError(`chunk (${chunk} s) must be longer than overlap (${overlap} s)`);
  }
  const threads = finite('threads', o.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new UsageError(`threads must be a whole number from 1 to 1024, got ${threads}`);
  }
  return { ...o, sampleRate: sr, chunk, overlap, threads, overwrite: Boolean(o.overwrite) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
