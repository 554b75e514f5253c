// Loads the native addon (prebuilt, or built from source at install) and describes its
// surface. A failure to load explains itself instead of surfacing a bare dlopen error.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type FileStatus = 'ok' | 'failed' | 'rejected' | 'skipped';

export interface NativeFileResult {
  status: FileStatus;
  error?: string;
  loaded: boolean;
  samples: number;
  seconds: number;
  inputRate: number;
  inputChannels: number;
  inputBits: number;
  inputFloat: boolean;
  /**
   * How the samples are coded: a WAV's G.711 µ-law or A-law is 8 bits (inputBits) standing for
   * 14 or 13. (The pipeline sets 'decoded' for a WAV that ffmpeg decoded from an encoding the
   * WAV reader does not take: the rate, channels and samples are the file's, the coding is not known.)
   */
  inputCoding: 'pcm' | 'float' | 'mulaw' | 'alaw' | 'decoded';
  /** Frames the input declares; -1 for a decoded stream. */
  inputFrames: number;
  /** Peak and RMS of the signal after resampling and the high-pass, before normalization. */
  peak: number;
  rms: number;
  /** Share of 15 ms hops below the slicer's −42 dB threshold. */
  silenceShare: number;
  /** Input frames with a channel at full scale. */
  clippedFrames: number;
  slices: number;
  warnings: string[];
  /** File names of the slices written (the same in both slice folders), in idx1 order. */
  sliceNames: string[];
  /** It failed writing its outputs (disk full, read-only folder, …); no new file starts after one. */
  writeError: boolean;
  /**
   * Size and checksum (XXH64, as the run manifest records it) of each output written whole,
   * with its path under the output folder ("sliced_audios/0_3_1.wav"); empty when none was.
   */
  checksums?: (FileChecksum & { file: string })[];
  /** The input's size and checksum, from the bytes read to process it; absent where the reader did not see the whole file (a decoded format). */
  inputChecksum?: FileChecksum;
  /**
   * The input's size and modification time (nanoseconds, as a bigint stat's mtimeNs, in
   * decimal) as the engine opened it, before reading it; absent if it was never opened.
   */
  inputStamp?: FileStamp;
  /** The same, once the engine had read it (by its path); present where inputChecksum is. */
  inputStampAfter?: FileStamp;
  /** Thread seconds per stage, for benchmarks. */
  times: { decode: number; resample: number; highpass: number; denoise: number; analysis: number; resample16k: number; write: number };
}

/** A file's size and modification time (nanoseconds since the epoch, in decimal), as the run manifest records them. */
export interface FileStamp {
  size: number;
  mtimeNs: string;
}

/** A file's size and checksum (XXH64, 16 hex digits), as the run manifest records them. */
export interface FileChecksum {
  size: number;
  xxh64: string;
}

export interface NativeJob {
  path: string;
  sid: number;
  idx0: number;
  /** A decoder command that writes the file as a WAV stream on stdout; absent for WAV files. */
  decoder?: string[];
}

export interface NativeOptions {
  sampleRate: number;
  cut: 'automatic' | 'simple' | 'skip';
  highpass: boolean;
  normalize: 'none' | 'pre' | 'post';
  chunk: number;
  overlap: number;
  /** Noise reduction strength, 0 for none. */
  denoise: number;
  outDir: string;
  /** auto, cpu, cuda, cuda:N or emulate; cpu when absent. */
  device?: string;
}

/** The device a run uses, as the engine chose it. */
export interface DeviceChoice {
  backend: 'cpu' | 'cuda' | 'emulate';
  /** The CUDA device's number; -1 for the others. */
  index: number;
  /** "cpu", "cuda:0 NVIDIA H100 80GB HBM3", "emulate". */
  name: string;
  /** Why this one: for auto, what was (not) found. */
  reason: string;
}

/** What the CUDA driver reports (cudaProbe runs the engine's once-only initialization). */
export interface CudaProbe {
  compiled: boolean;
  probed: boolean;
  /** CUDA version numbers as 1000·major + 10·minor; 0: no driver. */
  driverVersion: number;
  runtimeVersion: number;
  devices: { index: number; name: string; computeCapability: string; memoryBytes: number }[];
  usable: boolean;
  /** Why the GPU cannot be used ('' when it can). */
  unusable: string;
}

/** The engine's CUDA bookkeeping, over the life of the process. */
export interface EngineCounters {
  /** Times the once-only initialization ran: at most 1. */
  cudaInitAttempts: number;
  /** Of those, how many brought a GPU up (0 without one). */
  cudaInitializations: number;
  /** The thread that ran it (native thread id), or null. */
  initThread: string | null;
  /** The GPU brought up, or -1. */
  activeDevice: number;
  /** This process is a fork() of one that had loaded the engine: the GPU is off limits. */
  forkedChild: boolean;
  /** Why the GPU cannot be used ('' when it can, or before anything looked). */
  gpuUnusable: string;
  bytesToDevice: number;
  bytesFromDevice: number;
  launches: number;
  kernelSeconds: number;
  /** Launches the emulated GPU path (device 'emulate') ran on the CPU. */
  emulatedLaunches: number;
  /** Batches of segments whose 16 kHz outputs were made together (one launch each). */
  segmentBatches: number;
}

export interface SlicerSpec {
  hop: number;
  win: number;
  minLength: number;
  minInterval: number;
  maxSilKept: number;
  threshold: number;
}

export interface NativeAddon {
  /** Every job's result, in job order. */
  processBatch(jobs: NativeJob[], options: NativeOptions, threads: number): Promise<NativeFileResult[]>;
  /**
   * Each job's result goes to `onProgress` as its file ends, and only there: the batch keeps
   * none (a run of many files would otherwise hold them all twice), and settles with nothing.
   */
  processBatch(
    jobs: NativeJob[],
    options: NativeOptions,
    threads: number,
    onProgress: (index: number, result: NativeFileResult) => void,
    /** Element 0, set with Atomics.store: 1 starts no new file, 2 abandons those in flight too. */
    stop?: Int32Array,
  ): Promise<void>;
  resample(samples: Float64Array, rateIn: number, rateOut: number): Float64Array;
  resampledLength(n: number, rateIn: number, rateOut: number): number;
  highpass(samples: Float64Array, rate: number): Float64Array;
  highpassDesign(rate: number): { b: Float64Array; a: Float64Array };
  slicerSpec(rate: number): SlicerSpec;
  slice(samples: Float64Array, rate: number): { rms: Float64Array; chunks: [number, number][] };
  sliceName(sid: number, idx0: number, idx1: number): string;
  engineInfo(): {
    defaultThreads: number;
    poolThreads: number;
    cpu: Record<string, boolean>;
    cuda: { compiled: boolean; architectures: string[] };
    napiVersion: number;
  };
  /** Resolves a --device value; throws (code EVOXPREP_DEVICE) for cuda without a usable GPU. */
  resolveDevice(request: string): DeviceChoice;
  cudaProbe(): CudaProbe;
  engineCounters(): EngineCounters;
  /** Test helper: fork()s, runs the jobs in the child, and returns its one-line JSON report. */
  forkRunForTest(jobs: NativeJob[], options: NativeOptions): { exitCode: number; report: string };
  /** A file's size and XXH64 (the run manifest's checksum), read on libuv's thread pool; rejects with the reason. */
  hashFile(path: string): Promise<FileChecksum>;
  /**
   * For each file, 1 where it is a regular file of that size and XXH64 (and modification time,
   * a decimal string of nanoseconds, where not null), 2 where something else is there by its
   * name, 0 where nothing is; checked on libuv's thread pool.
   */
  checkFiles(paths: string[], sizes: number[], xxh64s: string[], mtimeNs: (string | null)[]): Promise<Uint8Array>;
  /** copy_verified for each file on libuv's thread pool: "" where it was copied, else the reason. */
  copyFiles(froms: string[], tos: string[], sizes: number[], xxh64s: string[]): Promise<string[]>;
  /** What processBatch makes each file's result with (load() sets fileResult). */
  setResultFactory(factory: typeof fileResult): void;
  layout: { slicedDir: string; sliced16kDir: string; rate16k: number };
}

/**
 * A file's result, from the values the addon passes in this order (native/addon.cc, to_js):
 * one call a file, with the object a literal here. (Made through Node-API property by property,
 * a result cost the main thread some 8 us: a sixth of its time on a folder of short clips.)
 * `checksums` comes flat (path, size, XXH64 of each output in turn); an absent input checksum
 * or stamp as undefined values.
 */
function fileResult(
  status: FileStatus,
  error: string | undefined,
  writeError: boolean,
  loaded: boolean,
  samples: number,
  seconds: number,
  inputRate: number,
  inputChannels: number,
  inputBits: number,
  inputFloat: boolean,
  inputCoding: NativeFileResult['inputCoding'],
  inputFrames: number,
  peak: number,
  rms: number,
  silenceShare: number,
  clippedFrames: number,
  slices: number,
  sliceNames: string[],
  checksumsFlat: (string | number)[],
  inputSize: number | undefined,
  inputXxh64: string | undefined,
  stampSize: number | undefined,
  stampMtimeNs: string | undefined,
  afterSize: number | undefined,
  afterMtimeNs: string | undefined,
  warnings: string[],
  decode: number,
  resample: number,
  highpass: number,
  denoise: number,
  analysis: number,
  resample16k: number,
  write: number,
): NativeFileResult {
  const checksums: (FileChecksum & { file: string })[] = [];
  for (let i = 0; i < checksumsFlat.length; i += 3) {
    checksums.push({ size: checksumsFlat[i + 1] as number, xxh64: checksumsFlat[i + 2] as string, file: checksumsFlat[i] as string });
  }
  return {
    status,
    error,
    writeError,
    loaded,
    samples,
    seconds,
    inputRate,
    inputChannels,
    inputBits,
    inputFloat,
    inputCoding,
    inputFrames,
    peak,
    rms,
    silenceShare,
    clippedFrames,
    slices,
    sliceNames,
    checksums,
    inputChecksum: inputSize === undefined ? undefined : { size: inputSize, xxh64: inputXxh64! },
    inputStamp: stampSize === undefined ? undefined : { size: stampSize, mtimeNs: stampMtimeNs! },
    inputStampAfter: afterSize === undefined ? undefined : { size: afterSize, mtimeNs: afterMtimeNs! },
    warnings,
    times: { decode, resample, highpass, denoise, analysis, resample16k, write },
  };
}

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    const loaded = nodeGypBuild(packageRoot);
    loaded.setResultFactory(fileResult);
    return loaded;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      [
        `could not load voxprep's native addon (${reason}).`,
        'Likely causes and fixes:',
        `- No prebuilt binary fits this platform (${process.platform}-${process.arch}, Node ${process.versions.node}) ` +
          'and the build from source did not run: install cmake (3.20 or newer) and a C++17 compiler, ' +
          'then run `npm rebuild voxprep` (or `npm run build:native` in a checkout).',
        '- Node is older than 20: voxprep needs Node 20 or newer.',
        '- The install ran with --ignore-scripts: run `npm rebuild voxprep`.',
      ].join('\n'),
    );
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}
