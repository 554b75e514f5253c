// Reporting: model_info.json (the keys Applio's trainer reads) and the end-of-run summary.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PreprocessResult } from './pipeline.js';

export const MODEL_INFO = 'model_info.json';

/** "HH:MM:SS" of whole seconds, truncated, as the reference writes it. */
export function formatDuration(totalSeconds: number): string {
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor(totalSeconds % 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(hours)}:${two(minutes)}:${two(seconds)}`;
}

/**
 * Writes total_dataset_duration and total_seconds into OUT/model_info.json, keeping every
 * other key of an existing file. A file that is not a JSON object is left alone: that is an
 * error, not something to overwrite.
 */
export async function writeModelInfo(outDir: string, totalSeconds: number): Promise<void> {
  const file = path.join(outDir, MODEL_INFO);
  let data: Record<string, unknown> = {};
  try {
    const text = await fs.readFile(file, 'utf8');
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('it does not hold a JSON object');
    }
    data = parsed as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot update ${file}: ${(err as Error).message}; it was left unchanged`);
    }
  }
  data.total_dataset_duration = formatDuration(totalSeconds);
  data.total_seconds = totalSeconds;
  const temp = path.join(outDir, `.${MODEL_INFO}.voxprep-tmp`);
  await fs.writeFile(temp, JSON.stringify(data, null, 4));
  await fs.rename(temp, file);
}

function hms(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${formatDuration(seconds)} (${seconds.toFixed(1)} s)`;
}

/** The human summary printed at the end of a run. */
export function formatSummary(r: PreprocessResult): string {
  const ok = r.files.filter((f) => f.status === 'ok').length;
  const problems = r.files.filter((f) => f.status !== 'ok');
  const speed = r.wallSeconds > 0 ? r.totalSeconds / r.wallSeconds : 0;
  const lines = [
    `voxprep: ${r.files.length} file${r.files.length === 1 ? '' : 's'}: ${ok} processed, ` +
      `${problems.filter((f) => f.status === 'failed').length} failed, ` +
      `${problems.filter((f) => f.status === 'rejected').length} rejected, ` +
      `${problems.filter((f) => f.status === 'skipped').length} skipped`,
    `  slices written:   ${r.slices} (in ${r.layout.slicedDir}/ and ${r.layout.sliced16kDir}/)`,
    `  audio duration:   ${hms(r.totalSeconds)}`,
    `  wall time:        ${r.wallSeconds.toFixed(2)} s (${speed.toFixed(0)}x real time, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
    `  output:           ${r.outDir}`,
  ];
  for (const folder of r.skippedFolders) {
    lines.push(`  skipped folder:   ${folder}/ (its name is not a speaker id)`);
  }
  for (const f of problems) lines.push(`  ${f.status}: ${f.relative}: ${f.error ?? 'unknown reason'}`);
  const warned = r.files.filter((f) => f.warnings.length > 0);
  for (const f of warned) for (const w of f.warnings) lines.push(`  warning: ${f.relative}: ${w}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
