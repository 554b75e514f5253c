// Progress while a run goes on, on standard error: a live bar on a terminal, a plain line
// every few seconds elsewhere (logs, CI), or nothing. Fed by the pipeline's onStart and
// onProgress callbacks (once per finished file).
import type cliProgressModule from 'cli-progress';
import { createRequire } from 'node:module';
import pc from 'picocolors';
import { isUnattempted, type ProgressEvent } from './pipeline.js';

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  mode: ProgressMode;
  color: boolean;
  /** Plain mode: seconds between lines (the first and the last file always get one). Default 5. */
  interval?: number;
}

export interface ProgressDisplay {
  /** `device`: where the run's kernels run (shown with the bar and in each plain line). */
  start(total: number, device?: string): void;
  update(event: ProgressEvent): void;
  /** Ends the display (the bar's last state stays on screen); call before printing anything else. */
  stop(): void;
}

/** Whether colors go to `stream`: only on a terminal, never with NO_COLOR set (no-color.org). */
export function colorsFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

/** The mode for a run: none when quiet, a bar on a terminal, plain lines elsewhere. */
export function progressMode(stream: NodeJS.WriteStream, quiet: boolean): ProgressMode {
  if (quiet) return 'none';
  return stream.isTTY ? 'bar' : 'lines';
}

/** Audio done: hours, or minutes while under a tenth of an hour. */
function audioText(seconds: number): string {
  return seconds >= 360 ? `${(seconds / 3600).toFixed(2)} h` : `${(seconds / 60).toFixed(1)} min`;
}

/** 42s, 3m07s, 1h05m: short enough for the bar's line. */
export function compactDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** What both modes show, from the events so far. */
class Tally {
  readonly started = process.hrtime.bigint();
  total = 0;
  done = 0;
  audio = 0;
  /** Files a stop left unstarted (or abandoned): reported, but not done. */
  unstarted = 0;

  add(e: ProgressEvent): void {
    this.total = e.total;
    this.done = e.done;
    if (e.file.loaded) this.audio += e.file.seconds;
    if (isUnattempted(e.file)) this.unstarted++;
  }

  /** The files done, and after a stop how many it left: "11/120 files (109 not started: stopped)". */
  files(): string {
    const stopped = this.unstarted > 0 ? ` (${this.unstarted} not started: stopped)` : '';
    return `${this.done - this.unstarted}/${this.total} files${stopped}`;
  }

  elapsed(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  speed(): string {
    const t = this.elapsed();
    if (!(t > 0 && this.audio > 0)) return '-';
    const x = this.audio / t;
    return `${x.toFixed(x >= 100 ? 0 : 1)}x`;
  }

  /**
   * Time left, from the files' pace so far; none until a few are done (the first file and
   * the start-up alone said hours for a run of seconds).
   */
  eta(): string {
    if (this.unstarted > 0) return '-';
    if (this.done >= this.total) return compactDuration(0);
    if (this.done < Math.max(2, this.total / 50)) return '-';
    return compactDuration((this.elapsed() / this.done) * (this.total - this.done));
  }
}

export function createProgress(opts: ProgressOptions): ProgressDisplay {
  let device = '-';
  if (opts.mode === 'none') return { start() {}, update() {}, stop() {} };
  const c = pc.createColors(opts.color);
  const tally = new Tally();

  if (opts.mode === 'bar') {
    // Loaded here: most runs (piped, --quiet, the library) show no bar, and loading it cost
    // each start some 6 ms.
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
    const bar = new cliProgress.SingleBar(
      {
        stream: opts.stream,
        format:
          `${c.cyan('{bar}')} {files} | {audio} audio | {speed} real time | ETA {remaining} | ${c.bold('{device}')}`,
        barsize: 14,
        barCompleteChar: '\u2588',
        barIncompleteChar: '\u2591',
        hideCursor: false,
        clearOnComplete: false,
        stopOnComplete: false,
        fps: 5,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const payload = () => ({ files: tally.files(), audio: audioText(tally.audio), speed: tally.speed(), remaining: tally.eta(), device });
    return {
      start(total, on) {
        tally.total = total;
        if (on) device = on;
        bar.start(total, 0, payload());
        started = true;
      },
      update(e) {
        tally.add(e);
        if (!started) this.start(e.total);
        bar.update(e.done, payload());
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
  }

  // Plain lines: one when the first file is done, then at most every `interval` seconds, and the last.
  const interval = (opts.interval ?? 5) * 1e9;
  let last: bigint | undefined;
  let printedFinal = false;
  const line = () =>
    `voxprep: ${tally.files()}, ${audioText(tally.audio)} audio, ` +
    `${tally.speed()} real time, ETA ${tally.eta()}, device ${device}\n`;
  return {
    start(total, on) {
      tally.total = total;
      if (on) device = on;
    },
    update(e) {
      tally.add(e);
      const now = process.hrtime.bigint();
      const final = e.done >= e.total;
      if (last === undefined || final || now - last >= BigInt(interval)) {
        opts.stream.write(line());
        last = now;
        printedFinal = final;
      }
    },
    stop() {
      if (tally.done > 0 && !printedFinal) opts.stream.write(line());
      printedFinal = true;
    },
  };
}
