// The library API: import { preprocess } from 'voxprep'.
import { native, type EngineCounters } from './native.js';
import { runPreprocess, type PreprocessResult, type RunOptions } from './pipeline.js';

export { UsageError, DEFAULTS, CUT_MODES, NORMALIZATIONS, parseShard } from './config.js';
export type { PreprocessOptions, CutMode, Normalization, ResolvedOptions, ShardSpec } from './config.js';
export { RunStoppedError, DeviceUnavailableError } from './pipeline.js';
export type { DeviceChoice, EngineCounters, CudaProbe } from './native.js';
export { mergeShards, formatMergeHeadline, MergeError } from './merge.js';
export type { MergeOptions, MergeResult, MergedShard } from './merge.js';
export { readManifest, MANIFEST_FILE, MANIFEST_FORMAT, manifestName, reportName } from './manifest.js';
export type { Manifest, ManifestHeader, FileRecord, OutputRecord, InputRecord } from './manifest.js';
export type { FileReport, PreprocessResult, ProgressEvent, RunOptions } from './pipeline.js';
export {
  formatSummary,
  formatDuration,
  buildReport,
  datasetWarnings,
  WARNING_THRESHOLDS,
  REPORT_FILE,
  REPORT_VERSION,
} from './report.js';
export type { DatasetWarning, Report, ReportFileEntry, WarningCode, SummaryOptions } from './report.js';
export { doctor, formatDoctor } from './doctor.js';
export type { DoctorReport } from './doctor.js';
export { inspectFile, formatInfo } from './info.js';
export type { FileInfo } from './info.js';
export { loadConfigFile, CONFIG_KEYS } from './config.js';
export type { Settings } from './config.js';
export { walkDataset, AUDIO_EXTENSIONS } from './walk.js';

/**
 * The engine's CUDA bookkeeping for this process: how often CUDA was initialized (at most
 * once) and by which thread, the GPU in use, bytes moved each way, kernel time.
 */
export function engineCounters(): EngineCounters {
  return native().engineCounters();
}

/**
 * Prepares the dataset in `datasetDir` for training into `outDir` (Applio's
 * logs/<model>/ layout): sliced_audios/, sliced_audios_16k/ and model_info.json.
 * Bad files do not stop the run: each gets a status and a reason in `files`.
 */
export function preprocess(datasetDir: string, outDir: string, options: RunOptions = {}): Promise<PreprocessResult> {
  return runPreprocess(datasetDir, outDir, options);
}
