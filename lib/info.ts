// `voxprep info FILE...`: what voxprep reads in a file.
//
// How: the addon has no "read the header" call, so this runs the normal pipeline on the file
// alone, in a temporary folder that is deleted afterwards: a dataset folder holding a symlink
// to the file (so discovery, decoding and the per-file checks are exactly those of a real
// run), `cut: skip`, no high-pass, no normalization, and nothing but the result kept. The
// input's rate, channels, frames and encoding come from that result. The file's rate is not
// known before the first pass, which therefore resamples to the default rate; when the file's
// own rate is a rate voxprep can target, a second pass at that rate measures the peak of the
// mono mix as it is, with no resampling in the way.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS, MAX_RATE, MIN_RATE } from './config.js';
import type { FileStatus } from './native.js';
import { runPreprocess, type FileReport } from './pipeline.js';
import { dbfs, sourceFormat } from './report.js';
import { AUDIO_EXTENSIONS } from './walk.js';

export interface FileInfo {
  file: string;
  status: FileStatus;
  reason: string | null;
  /** The extension, lower case: wav, flac, mp3, … */
  format: string;
  /** WAV only: pcm8, pcm16, pcm24, pcm32, float32, float64, mulaw or alaw (G.711). */
  encoding: string | null;
  rate: number | null;
  channels: number | null;
  /** Frames the file declares or, for a decoded stream (FLAC, MP3, …), decodes to; null when unknown. */
  frames: number | null;
  /** Seconds. */
  duration: number | null;
  /** Peak of the mono mix (mean of the channels), measured at `rate` Hz. */
  peak: { linear: number; dbfs: number | null; rate: number } | null;
  /** What a run would warn of in this file (a header that claims more than the file holds, a damaged stream, …). */
  warnings: string[];
}

async function onePass(file: string, work: string, sampleRate: number): Promise<FileReport | undefined> {
  const dataset = path.join(work, `dataset-${sampleRate}`);
  const out = path.join(work, `out-${sampleRate}`);
  await fs.mkdir(dataset, { recursive: true });
  await fs.symlink(file, path.join(dataset, path.basename(file)));
  const result = await runPreprocess(dataset, out, {
    sampleRate,
    cut: 'skip',
    highpass: false,
    normalize: 'none',
    threads: 1,
    report: false,
    manifest: false,
  });
  return result.files[0];
}

export async function inspectFile(file: string): Promise<FileInfo> {
  const abs = path.resolve(file);
  const format = path.extname(abs).slice(1).toLowerCase();
  const empty: FileInfo = {
    file,
    status: 'failed',
    reason: null,
    format,
    encoding: null,
    rate: null,
    channels: null,
    frames: null,
    duration: null,
    peak: null,
    warnings: [],
  };
  const st = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => err);
  if (st instanceof Error) return { ...empty, reason: st.code === 'ENOENT' ? 'no such file' : st.message };
  if (!st.isFile()) return { ...empty, reason: 'not a file' };
  if (!(AUDIO_EXTENSIONS as readonly string[]).includes(`.${format}`)) {
    return { ...empty, status: 'skipped', reason: `.${format} is not an audio format voxprep reads` };
  }

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'voxprep-info-'));
  try {
    const first = await onePass(abs, work, DEFAULTS.sampleRate);
    if (!first) return { ...empty, reason: 'not found by the dataset walk' };
    let measured: { report: FileReport; rate: number } = { report: first, rate: DEFAULTS.sampleRate };
    const rate = first.inputRate;
    if (first.status === 'ok' && rate !== DEFAULTS.sampleRate && rate >= MIN_RATE && rate <= MAX_RATE) {
      const second = await onePass(abs, work, rate);
      if (second?.status === 'ok') measured = { report: second, rate };
    }
    const read = first.inputRate > 0;
    // A decoded stream declares no length; the pass at its own rate counted its frames.
    const frames =
      read && first.inputFrames >= 0 ? first.inputFrames : measured.rate === rate && read ? measured.report.samples : null;
    const { encoding } = sourceFormat(first);
    return {
      file,
      status: first.status,
      reason: first.status === 'ok' ? null : (first.error ?? 'unknown reason'),
      format,
      encoding,
      rate: read ? first.inputRate : null,
      channels: read ? first.inputChannels : null,
      frames,
      duration: frames !== null ? frames / first.inputRate : first.loaded ? first.seconds : null,
      peak:
        measured.report.status === 'ok'
          ? { linear: measured.report.peak, dbfs: dbfs(measured.report.peak), rate: measured.rate }
          : null,
      warnings: first.warnings,
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The G.711 codings by their names; the others are said as "16-bit PCM", "32-bit float". */
const ENCODING_NAMES: Record<string, string> = { mulaw: '8-bit µ-law', alaw: '8-bit A-law' };

export function formatInfo(i: FileInfo): string {
  const lines = [i.file];
  if (i.status !== 'ok') lines.push(`  ${i.status}: ${i.reason ?? 'unknown reason'}`);
  if (i.rate !== null) {
    const encoding = i.encoding ? `, ${ENCODING_NAMES[i.encoding] ?? `${i.encoding.replace(/^(pcm|float)/, '')}-bit ${i.encoding.startsWith('float') ? 'float' : 'PCM'}`}` : '';
    lines.push(
      `  format:    ${i.format.toUpperCase()}${encoding}`,
      `  rate:      ${i.rate} Hz`,
      `  channels:  ${i.channels}`,
    );
  } else if (i.status === 'ok' || i.format) {
    lines.push(`  format:    ${i.format.toUpperCase()}`);
  }
  if (i.duration !== null) {
    lines.push(`  duration:  ${i.duration.toFixed(3)} s${i.frames !== null ? ` (${i.frames} frames)` : ''}`);
  }
  if (i.peak) {
    const level = i.peak.dbfs === null ? 'silent' : `${i.peak.dbfs.toFixed(2)} dBFS`;
    const where = i.peak.rate === i.rate ? 'of the mono mix' : `of the mono mix resampled to ${i.peak.rate} Hz`;
    lines.push(`  peak:      ${level} (${i.peak.linear.toFixed(4)}) ${where}`);
  }
  for (const w of i.warnings) lines.push(`  warning:   ${w}`);
  return lines.join('\n');
}
