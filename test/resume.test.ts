// Runs that stop before they finish, and runs spread over hosts: SIGKILL at several points
// then --resume, SIGINT / SIGTERM, a write failure partway (a file-size limit), --shard K/N
// with `voxprep merge`, and the user's own files next to the outputs. Every case compares
// its end result byte for byte with one uninterrupted run over the same dataset.
//
// Runs the compiled CLI (bin/voxprep.js → dist/): run `npx tsc -p tsconfig.json` first. The
// signal cases use the CLI's test-only hook VOXPREP_TEST_PROGRESS=1 (one line per finished
// file on standard error) to act at a known point of the run.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Ajv from 'ajv';
import { speechLike, writeWav } from './helpers/wav.js';
import { preprocess, mergeShards } from '../lib/index.js';
import { HashPool, Journal, OUTPUT_FILE, headerDifferences, manifestLines, readManifest, removeFiles, type ManifestHeader } from '../lib/manifest.js';
import { REPORT_ENTRIES_A_PIECE, datasetWarnings, formatSummary, reportJson, writeAtomically } from '../lib/report.js';
import { pendingReport } from '../lib/pipeline.js';
import { resolveOptions } from '../lib/config.js';
import { native } from '../lib/native.js';
import { lockOutput, type OutputLock } from '../lib/lock.js';
import { BIN, ROOT, scratchFolder, walkFiles, temporaries } from './helpers/scratch.js';
import { patternBytes, xxh64, XXH64_VECTORS } from './helpers/xxh64.js';

const SLICED = 'sliced_audios';
const SLICED_16K = 'sliced_audios_16k';
const MANIFEST = 'voxprep-manifest.jsonl';
const SLICE_NAME = /^(\d+)_(\d+)_(\d+)\.wav$/;

const scratch = scratchFolder('voxprep-resume-test-');

// ---------------------------------------------------------------------------------------
// helpers

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const ENV = { ...process.env, NO_COLOR: '1' };

function voxprep(args: string[], opts: { shell?: string } = {}): Run {
  const argv = opts.shell
    ? ['bash', '-c', `${opts.shell}; exec "$@"`, 'bash', process.execPath, BIN, ...args]
    : [process.execPath, BIN, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: ENV });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

interface Step {
  /** Send the signal once this many files are reported done, or once standard error matches. */
  when: number | RegExp;
  signal: NodeJS.Signals;
  /** Run once the signal is sent, with the run's process. */
  also?: (child: ChildProcess) => void;
  /** Signal the run's whole process group (its decoder processes too), as a terminal does. */
  group?: boolean;
}

/** Runs the CLI with the test progress hook and sends each step's signal when its moment comes. */
function voxprepSignalled(args: string[], steps: Step[]): Promise<Run & { sent: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...ENV, VOXPREP_TEST_PROGRESS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, for signals to the group.
      detached: steps.some((s) => s.group),
    });
    let stdout = '';
    let stderr = '';
    let sent = 0;
    const check = () => {
      while (sent < steps.length) {
        const { when, signal, group } = steps[sent];
        const done = Math.max(0, ...[...stderr.matchAll(/^voxprep-test: done (\d+)\//gm)].map((m) => Number(m[1])));
        const due = typeof when === 'number' ? done >= when : when.test(stderr);
        if (!due) return;
        if (group) process.kill(-child.pid!, signal);
        else child.kill(signal);
        steps[sent].also?.(child);
        sent++;
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      check();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the run did not end in time:\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, sent });
    });
  });
}

function fresh(name: string): string {
  const dir = path.join(scratch.path, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A dataset of `seconds.length` speech-like WAVs at 44.1 kHz; every third in speaker folder 1/. */
function dataset(name: string, seconds: number[], seed = 500): string {
  const dir = fresh(name);
  seconds.forEach((s, i) => {
    const rel = `${i % 3 === 0 ? '1/' : ''}take${String(i).padStart(2, '0')}.wav`;
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeWav(path.join(dir, rel), speechLike(44100, s, seed + i), 44100);
  });
  return dir;
}


/** What makes the dataset: both slice folders, model_info.json and the manifest. */
function outputs(dir: string): Map<string, Buffer> {
  const files = walkFiles(dir, { missingIsEmpty: true }).filter((f) => f === 'model_info.json' || f === MANIFEST || /^sliced_audios(_16k)?\//.test(f));
  return new Map(files.map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

function expectSameOutputs(actual: string, expected: string): void {
  const a = outputs(actual);
  const b = outputs(expected);
  expect([...a.keys()]).toEqual([...b.keys()]);
  expect([...b.keys()].filter((f) => f.startsWith(`${SLICED}/`)).length).toBeGreaterThan(3);
  for (const [name, bytes] of b) expect(a.get(name)!.equals(bytes), `${name} differs from the uninterrupted run's`).toBe(true);
}

interface ManifestRecord {
  idx0: number;
  path: string;
  status: string;
  complete: boolean;
  outputs: { file: string; size: number; xxh64: string }[];
}

function manifest(dir: string, name = MANIFEST): { header: Record<string, unknown>; records: ManifestRecord[] } {
  const lines = fs.readFileSync(path.join(dir, name), 'utf8').split('\n').filter((l) => l !== '');
  const parsed: ManifestRecord[] = [];
  for (const l of lines.slice(1)) {
    try {
      parsed.push(JSON.parse(l));
    } catch {
      // a torn last line after SIGKILL
    }
  }
  return { header: JSON.parse(lines[0]), records: parsed };
}

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true });
const validateReport = ajv.compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'schema', 'report.schema.json'), 'utf8')));
function expectValidReport(file: string): Record<string, any> {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(validateReport(report), JSON.stringify(validateReport.errors, null, 2)).toBe(true);
  return report;
}

const checksum = (file: string) => xxh64(fs.readFileSync(file));

/** A record is written only after its outputs are in place: every complete record's outputs are there, as recorded. */
function expectRecordsBacked(out: string): ManifestRecord[] {
  const complete = manifest(out).records.filter((r) => r.complete);
  for (const r of complete) {
    expect(r.outputs.length, r.path).toBeGreaterThan(0);
    for (const o of r.outputs) expect(checksum(path.join(out, o.file)), `${o.file} of ${r.path}`).toBe(o.xxh64);
  }
  return complete;
}

/** No partial file: the slices in OUT are exactly the recorded ones' outputs, and no temporary is left. */
function expectOnlyRecordedSlices(out: string): void {
  const recorded = new Set(expectRecordsBacked(out).flatMap((r) => r.outputs.map((o) => o.file)));
  const present = walkFiles(out, { missingIsEmpty: true }).filter((f) => /^sliced_audios(_16k)?\//.test(f));
  expect(present.filter((f) => !recorded.has(f))).toEqual([]);
  expect(temporaries(out)).toEqual([]);
}

function resumedCount(stdout: string): number {
  const m = /resumed: +(\d+) files?/.exec(stdout);
  return m ? Number(m[1]) : 0;
}

/**
 * A run of f0…f4.wav stopped by a file-size limit at f2: f2 failed, f3 and f4 were not
 * written (`notWritten` says how the summary puts it), only f0 and f1 are recorded and
 * nothing else is in OUT; then `--resume` finishes it with `whole`'s outputs.
 */
function expectStoppedAtF2ThenResumed(r: Run, out: string, args: string[], whole: string, notWritten: RegExp): void {
  expect(r.signal).toBeNull();
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stdout).toContain('5 files: 2 processed, 1 failed, 0 rejected, 2 skipped');
  expect(r.stdout).toMatch(/failed: f2\.wav: .*(too large|EFBIG)/i);
  expect(r.stdout).toMatch(notWritten);
  expectOnlyRecordedSlices(out);
  expect(manifest(out).records.map((rec) => [rec.path, rec.complete])).toEqual([
    ['f0.wav', true],
    ['f1.wav', true],
  ]);
  const resumed = voxprep([...args, '--resume']);
  expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
  expect(resumedCount(resumed.stdout)).toBe(2);
  expectSameOutputs(out, whole);
}

// ---------------------------------------------------------------------------------------

describe('interrupted runs and --resume', () => {
  it('a reader of the output that goes away (| head) does not end the run: it finishes, as an uninterrupted run', async () => {
    const ds = dataset('epipe/dataset', [3, 4, 3.5, 4.5, 3, 4]);
    const whole = path.join(scratch.path, 'epipe/whole');
    const out = path.join(scratch.path, 'epipe/out');
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '1']).code).toBe(0);
    // Both pipes closed at the first progress line: every later line meets EPIPE.
    const run = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'preprocess', ds, '-o', out, '--threads', '1'], {
        cwd: ROOT,
        env: { ...ENV, VOXPREP_TEST_PROGRESS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stderr.once('data', () => {
        child.stderr.destroy();
        child.stdout.destroy();
      });
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    expect(run).toEqual({ code: 0, signal: null });
    expectSameOutputs(out, whole);
    expect(manifest(out).records.filter((r) => r.complete).length).toBe(6);
    expectValidReport(path.join(out, 'report.json'));
    expect(temporaries(out)).toEqual([]);
  });

  it('SIGKILL at several points, each time resumed: byte-identical to an uninterrupted run, no temporaries', async () => {
    // 12 files of 6 to 11 s, one thread: long enough to be killed mid-run at each point.
    const ds = dataset('kill/dataset', [6, 8, 11, 7, 9, 10, 6.5, 8.5, 10.5, 7.5, 9.5, 11]);
    const whole = path.join(scratch.path, 'kill/whole');
    const out = path.join(scratch.path, 'kill/out');
    const w = voxprep(['preprocess', ds, '-o', whole, '--threads', '1']);
    expect(w.code, w.stderr).toBe(0);
    const total = manifest(whole).records.length;
    expect(total).toBe(12);

    const args = ['preprocess', ds, '-o', out, '--threads', '1'];
    // Killed after 2 files are reported, then (resumed) after about 5 and 9 of the 12.
    const first = await voxprepSignalled(args, [{ when: 2, signal: 'SIGKILL' }]);
    expect(first.signal, first.stderr).toBe('SIGKILL');
    let completed = expectRecordsBacked(out).length;
    expect(completed).toBeLessThan(12);
    for (const after of [3, 4]) {
      const r = await voxprepSignalled([...args, '--resume'], [{ when: after, signal: 'SIGKILL' }]);
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const now = expectRecordsBacked(out).length;
      expect(now, 'the resumed run kept the earlier work and added to it').toBeGreaterThan(completed);
      expect(now).toBeLessThan(12);
      completed = now;
    }

    // What a kill can leave in the instant a file's outputs are renamed into place: some of
    // its final outputs, unrecorded; and temporaries of the files in flight.
    const unfinished = [...Array(12).keys()].find((i) => !manifest(out).records.some((r) => r.complete && r.idx0 === i))!;
    const junk = Buffer.from('RIFF partial');
    fs.writeFileSync(path.join(out, SLICED, `0_${unfinished}_99.wav`), junk);
    fs.writeFileSync(path.join(out, SLICED, `.0_${unfinished}_0.wav.voxprep-tmp`), junk);
    fs.writeFileSync(path.join(out, SLICED_16K, `.0_${unfinished}_1.wav.voxprep-tmp`), junk);

    const last = voxprep([...args, '--resume']);
    expect(last.code, last.stdout + last.stderr).toBe(0);
    expect(resumedCount(last.stdout)).toBe(completed);
    expect(last.stdout).toContain('12 files: 12 processed, 0 failed, 0 rejected, 0 skipped');
    expectSameOutputs(out, whole);
    expect(temporaries(out)).toEqual([]);

    // A torn last line (a kill while a record was appended) is read past, and the files whose
    // records are gone are done again.
    const text = fs.readFileSync(path.join(out, MANIFEST), 'utf8').split('\n');
    fs.writeFileSync(path.join(out, MANIFEST), `${text.slice(0, 11).join('\n')}\n${text[11].slice(0, 40)}`);
    const again = voxprep([...args, '--resume']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(resumedCount(again.stdout)).toBe(10);
    expectSameOutputs(out, whole);
  });

  // `emulate`: the GPU path's code (a worker's files wait in its batch until their outputs
  // are written) run on the CPU.
  it.each([
    ['SIGINT', 'cpu', 130],
    ['SIGINT', 'emulate', 130],
    ['SIGHUP', 'cpu', 129], // the terminal closed
  ] as const)('%s (device %s): files in flight finish, exit %i, no partial file, manifest and summary written; --resume completes it', async (signal, device, code) => {
    const ds = dataset(`${signal}-${device}/dataset`, [6, 8, 11, 7, 9, 10, 6.5, 8.5, 10.5], 700);
    const whole = path.join(scratch.path, `${signal}-${device}/whole`);
    const out = path.join(scratch.path, `${signal}-${device}/out`);
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '1', '--device', device]).code).toBe(0);

    const r = await voxprepSignalled(['preprocess', ds, '-o', out, '--threads', '1', '--device', device], [{ when: 2, signal }]);
    expect(r.sent).toBe(1);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(new RegExp(`^voxprep: ${signal}: stopping: no new file starts, the files in flight finish.*a second signal abandons`, 'm'));
    expect(r.stdout).toMatch(/^voxprep: 9 files: \d+ processed, 0 failed, 0 rejected, [1-9]\d* skipped$/m);
    expect(r.stdout).toMatch(/^ {2}skipped: (\S+\.wav|\d+ files \(\S+\.wav … \S+\.wav\)): not started: the run was stopped$/m);
    expect(r.stdout).toMatch(/stopped: .*--resume/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    const processed = report.totals.processed as number;
    expect(processed).toBeGreaterThanOrEqual(2);
    expect(processed).toBeLessThan(9);
    // The last progress line counts what was done, not the files the stop left (it said 9/9
    // files, ETA 0s).
    const lastLine = [...r.stderr.matchAll(/^voxprep: \d+\/9 files.*$/gm)].at(-1)![0];
    expect(lastLine).toMatch(new RegExp(`^voxprep: ${processed}/9 files \\(${9 - processed} not started: stopped\\), .* ETA -, device \\S+$`));
    // The consolidated manifest records exactly the processed files, and nothing else is in OUT.
    expect(expectRecordsBacked(out).length).toBe(processed);
    expectOnlyRecordedSlices(out);

    const resumed = voxprep(['preprocess', ds, '-o', out, '--threads', '2', '--resume', '--device', device]);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumedCount(resumed.stdout)).toBe(processed);
    expectSameOutputs(out, whole);
  });

  it('SIGHUP to the whole process group (a terminal closing) with compressed files: no file fails of its decoder getting it; --resume completes the run', async () => {
    // The FLAC, MP3 and Vorbis decoders run as child processes in the run's process group.
    const golden = path.resolve(ROOT, '..', 'shared', 'golden', 'dataset');
    const ds = fresh('hup-group/dataset');
    for (let copy = 0; copy < 4; copy++) {
      for (const rel of ['1/echo_48k.flac', '2/foxtrot_441.mp3', '2/golf_48k.ogg']) {
        const to = path.join(ds, path.dirname(rel), `${copy}_${path.basename(rel)}`);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.copyFileSync(path.join(golden, rel), to);
      }
    }
    const whole = path.join(scratch.path, 'hup-group/whole');
    const out = path.join(scratch.path, 'hup-group/out');
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '2']).code).toBe(0);
    const r = await voxprepSignalled(['preprocess', ds, '-o', out, '--threads', '2'], [{ when: 1, signal: 'SIGHUP', group: true }]);
    expect(r.code, r.stdout + r.stderr).toBe(129);
    // Decoders that died of it failed their files ("decoder killed by signal Hangup"), and
    // those records made merge take a shard as finished with them missing.
    expect(r.stdout).toMatch(/^voxprep: 12 files: \d+ processed, 0 failed, 0 rejected, [1-9]\d* skipped$/m);
    expectOnlyRecordedSlices(out);
    const resumed = voxprep(['preprocess', ds, '-o', out, '--threads', '2', '--resume']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expectSameOutputs(out, whole);
  });

  it.each(['cpu', 'emulate'])('SIGTERM twice (device %s): the second abandons the files in flight (nothing of them kept), exit 143; --resume completes it', async (device) => {
    const ds = dataset(`sigterm-${device}/dataset`, [9, 11, 10, 12, 9.5, 10.5], 800);
    const whole = path.join(scratch.path, `sigterm-${device}/whole`);
    const out = path.join(scratch.path, `sigterm-${device}/out`);
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '2', '--device', device]).code).toBe(0);

    const r = await voxprepSignalled(
      ['preprocess', ds, '-o', out, '--threads', '2', '--device', device],
      [
        { when: 1, signal: 'SIGTERM' },
        { when: /SIGTERM: stopping/, signal: 'SIGTERM' },
      ],
    );
    expect(r.sent).toBe(2);
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/SIGTERM: abandoning the files in flight/);
    expectOnlyRecordedSlices(out);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    for (const f of report.files.filter((g: { status: string }) => g.status === 'skipped')) {
      expect(f.reason).toMatch(/^(not started|interrupted)/);
      expect(f.slices).toBe(0);
    }

    const resumed = voxprep(['preprocess', ds, '-o', out, '--resume', '--device', device]);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expectSameOutputs(out, whole);
  });

  it.each(['cpu', 'emulate'])('a write failure as a piece is completed (device %s): that file fails, nothing after it is written; --resume completes it', (device) => {
    // Automatic cut: the short files' pieces stay under the limit, the 4 s tone (no silence)
    // makes a 3 s piece of 480 kB, which fails as it is completed (its 16 kHz twin, complete,
    // must not be left behind). On the GPU path, with one worker, all five files wait in one
    // batch, which is written in file order when the worker runs out of files.
    const ds = fresh(`efbig-${device}/dataset`);
    const tone = Float64Array.from({ length: 44100 * 4 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 44100));
    [1, 1.2, 0, 1, 0.8].forEach((s, i) => writeWav(path.join(ds, `f${i}.wav`), i === 2 ? tone : speechLike(44100, s, 950 + i), 44100));
    const whole = path.join(scratch.path, `efbig-${device}/whole`);
    const out = path.join(scratch.path, `efbig-${device}/out`);
    const args = ['preprocess', ds, '-o', out, '--threads', '1', '--device', device];
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '1', '--device', device]).code).toBe(0);

    const r = voxprep(args, { shell: 'ulimit -f 400' });
    expectStoppedAtF2ThenResumed(r, out, args, whole, /(interrupted|not started): an earlier file could not be written/);
  });

  it('the open-file limit reached (many threads, a low ulimit -n): inputs not started rather than failed; --resume completes it', () => {
    // Files long enough (1.5-3.5 s) that the 32 workers hold their inputs open at once: with
    // clips of under a second, workers that no longer wait at each file's end could finish
    // theirs before the last had started, and the limit was then at times never reached.
    const ds = dataset('emfile/dataset', Array.from({ length: 48 }, (_, i) => 1.5 + (i % 5) * 0.5), 990);
    const whole = path.join(scratch.path, 'emfile/whole');
    const out = path.join(scratch.path, 'emfile/out');
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '2']).code).toBe(0);
    const r = voxprep(['preprocess', ds, '-o', out, '--threads', '32'], { shell: 'ulimit -n 30' });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    // An input that could not be opened for want of descriptors is no fault of the file.
    expect(r.stdout).not.toMatch(/cannot open: Too many open files/);
    expect(r.stdout).toMatch(/not started: the open-file limit was reached \(Too many open files\): raise it \(ulimit -n\) or use fewer --threads/);
    expectOnlyRecordedSlices(out);
    const resumed = voxprep(['preprocess', ds, '-o', out, '--resume', '--threads', '2']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expectSameOutputs(out, whole);
  });

  it('a write failure partway (file-size limit): the file fails with its reason, nothing partial, no new file; --resume completes it', () => {
    // --cut skip writes each file whole: 1 s is 160 kB at 40 kHz (float32), 4 s is 640 kB.
    const ds = fresh('efbig/dataset');
    const lengths = [1, 1.2, 4, 1, 0.8];
    lengths.forEach((s, i) => writeWav(path.join(ds, `f${i}.wav`), speechLike(44100, s, 900 + i), 44100));
    const whole = path.join(scratch.path, 'efbig/whole');
    const out = path.join(scratch.path, 'efbig/out');
    const args = ['preprocess', ds, '-o', out, '--cut', 'skip', '--threads', '1'];
    expect(voxprep(['preprocess', ds, '-o', whole, '--cut', 'skip', '--threads', '1']).code).toBe(0);

    // No file may grow past 400 kB (ulimit -f counts 1024-byte blocks); Node ignores SIGXFSZ,
    // so the write fails with EFBIG instead of killing the process.
    const r = voxprep(args, { shell: 'ulimit -f 400' });
    expect(r.stdout).toMatch(/write error: f2\.wav: .*\n.*--resume/);
    // The log has a line for f2's failure, none for each file the stop left unstarted.
    expect(r.stderr).toMatch(/^voxprep: failed: f2\.wav: /m);
    expect(r.stderr).not.toMatch(/^voxprep: \w+: \S+\.wav: not started/m);
    expect(r.stderr).toMatch(/^voxprep: 3\/5 files \(2 not started: stopped\), /m);
    // Nothing of f2 (idx0 2) nor of the files after it; the two before are recorded.
    expect(walkFiles(out, { missingIsEmpty: true }).filter((f) => /^sliced_audios(_16k)?\/0_[234]_/.test(f))).toEqual([]);
    // The cause gone, --resume finishes the job.
    // f3 was under way when f2's outputs, written behind, failed: it is dropped unpublished.
    expectStoppedAtF2ThenResumed(r, out, args, whole, /skipped: f3\.wav: interrupted: an earlier file could not be written .*, so this one's outputs were not\n.*skipped: f4\.wav: not started: an earlier file could not be written/);
  });

  it('refuses a rerun without --resume or --overwrite, and --resume with other options; changes nothing', () => {
    const ds = dataset('refuse/dataset', [3, 4, 3.5]);
    const out = path.join(scratch.path, 'refuse/out');
    expect(voxprep(['preprocess', ds, '-o', out]).code).toBe(0);
    const before = outputs(out);
    const check = (args: string[], message: RegExp) => {
      const r = voxprep(['preprocess', ds, '-o', out, ...args]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      const after = outputs(out);
      expect([...after.keys()]).toEqual([...before.keys()]);
      for (const [k, v] of before) expect(after.get(k)!.equals(v), k).toBe(true);
    };
    check([], /already holds the outputs of an earlier run.*--resume.*--overwrite/);
    check(['--resume', '--sr', '48000'], /other options \(sample rate 40000 vs 48000.*--overwrite/);
    check(['--resume', '--cut', 'skip', '--no-highpass'], /cut automatic vs skip, high-pass true vs false/);
    check(['--resume', '--denoise', '0.7'], /other options \(denoise 0 vs 0.7;/);
    // chunk and overlap shape the simple cut alone: with the automatic one, the same run.
    const same = voxprep(['preprocess', ds, '-o', out, '--resume', '--chunk', '2', '--overlap', '0.1']);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(resumedCount(same.stdout)).toBe(3);
    check(['--resume', '--cut', 'simple'], /other options \(cut automatic vs simple/);
    // A manifest written before chunk and overlap were recorded as their defaults under other cuts.
    const header = manifest(out).header as unknown as ManifestHeader;
    const older = { ...header, options: { ...header.options, chunk: 2, overlap: 0.1 } };
    expect(headerDifferences(older, header)).toEqual([]);
    const simple = (h: ManifestHeader) => ({ ...h, options: { ...h.options, cut: 'simple' } });
    expect(headerDifferences(simple(older), simple(header))).toEqual(['chunk 2 vs 3', 'overlap 0.1 vs 0.3']);
    check(['--shard', '0/3'], /shard must be K\/N/);
    check(['--shard', '4/3'], /shard must be K\/N/);
    check(['--shard', 'two'], /shard must be K\/N/);

    // Slices with no manifest (another tool, an older voxprep): --resume cannot tell their options.
    fs.rmSync(path.join(out, MANIFEST));
    const r = voxprep(['preprocess', ds, '-o', out, '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no voxprep manifest.*--overwrite/);
    // --resume --overwrite with other options: a fresh run.
    const o = voxprep(['preprocess', ds, '-o', out, '--resume', '--overwrite', '--cut', 'skip']);
    expect(o.code, o.stderr).toBe(0);
    expect(walkFiles(path.join(out, SLICED), { missingIsEmpty: true })).toEqual(['0_1_0.wav', '0_2_0.wav', '1_0_0.wav']);
    expect(manifest(out).header).toMatchObject({ options: { cut: 'skip' } });
  });
});

// ---------------------------------------------------------------------------------------

describe('--resume checks what it keeps', () => {
  it('a file that changes while it is processed fails, its slices removed, and --resume does it again', async () => {
    const ds = dataset('changing/dataset', [3, 120, 4]);
    const out = path.join(scratch.path, 'changing/out');
    const whole = path.join(scratch.path, 'changing/whole');
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '1']).code).toBe(0);
    // take00 (in 1/) is idx0 0; once it is done, take01 (idx0 1) is touched: whatever it was
    // read as, the run cannot tell which version its slices hold. (The engine stats it once
    // it has read it: take01 is long enough, some 50 ms of work, for the touch to come first.)
    const touched = path.join(ds, 'take01.wav');
    const result = await preprocess(ds, out, {
      threads: 1,
      device: 'cpu',
      onProgress: (e) => {
        if (e.file.idx0 === 0) fs.utimesSync(touched, new Date(), new Date(Date.now() + 5000));
      },
    });
    const f = result.files.find((x) => x.relative === 'take01.wav')!;
    expect(f).toMatchObject({ status: 'failed', slices: 0 });
    expect(f.error).toMatch(/^the file changed while it was read .*run again with --resume$/);
    expect(fs.readdirSync(path.join(out, SLICED)).filter((n) => n.startsWith('0_1_'))).toEqual([]);
    expect(fs.readdirSync(path.join(out, SLICED_16K)).filter((n) => n.startsWith('0_1_'))).toEqual([]);
    expect(manifest(out).records.map((r) => r.path)).toEqual(['1/take00.wav', 'take02.wav']);
    const resumed = voxprep(['preprocess', ds, '-o', out, '--resume', '--threads', '1']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumedCount(resumed.stdout)).toBe(2);
    // The same slices and model_info.json (the manifest holds take01's new modification time).
    const a = outputs(out);
    const b = outputs(whole);
    a.delete(MANIFEST);
    b.delete(MANIFEST);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, bytes] of b) expect(a.get(name)!.equals(bytes), name).toBe(true);
  });

  it('redoes a file whose output or input changed in place (same size, same modification time), or whose input was touched (same bytes, a new time), and only those', async () => {
    const ds = dataset('inplace/dataset', [3, 3.5, 4, 2.5]);
    const out = path.join(scratch.path, 'inplace/out');
    const first = await preprocess(ds, out, { threads: 2 });
    expect(first.files.every((f) => f.status === 'ok')).toBe(true);
    const recs = manifest(out).records;
    // An output of file 0 and the input of file 2 get one byte changed, their size and
    // modification time kept: only their hashes can tell.
    const touch = (file: string) => {
      const st = fs.statSync(file);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 3] ^= 0x55;
      fs.writeFileSync(file, bytes);
      fs.utimesSync(file, st.atime, st.mtime);
    };
    touch(path.join(out, recs.find((r) => r.idx0 === 0)!.outputs[1].file));
    const input2 = path.join(ds, first.files.find((f) => f.idx0 === 2)!.relative);
    touch(input2);
    const input3 = path.join(ds, first.files.find((f) => f.idx0 === 3)!.relative);
    const st3 = fs.statSync(input3);
    fs.utimesSync(input3, st3.atime, new Date(st3.mtimeMs + 5000));
    const again = await preprocess(ds, out, { threads: 2, resume: true });
    expect(again.resumed).toBe(1); // only file 1 was still as recorded
    expect(again.files.map((f) => f.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const after = manifest(out).records;
    expect(after.find((r) => r.idx0 === 0)!.outputs[1].xxh64).toBe(recs.find((r) => r.idx0 === 0)!.outputs[1].xxh64);
    expect(checksum(input2)).not.toBe((recs.find((r) => r.idx0 === 2) as unknown as { input: { xxh64: string } }).input.xxh64);
  });

  it('a WAV whose segment is too long to hold whole (written as it comes: its checksum is read back, the 16 kHz one came with the result) is recorded with every checksum, and kept by --resume', async () => {
    // With --cut skip the file is its one segment: 8 s at 40 kHz is past the 2^18 samples a
    // writer holds, its 16 kHz copy is not.
    const ds = dataset('streamed/dataset', [8, 3]);
    const out = path.join(scratch.path, 'streamed/out');
    const first = await preprocess(ds, out, { threads: 1, cut: 'skip' });
    expect(first.files.map((f) => f.status)).toEqual(['ok', 'ok']);
    const recs = manifest(out).records;
    expect(recs.length).toBe(2);
    for (const r of recs) {
      expect(r.outputs.length).toBe(2);
      for (const o of r.outputs) expect(o.xxh64, o.file).toBe(checksum(path.join(out, o.file)));
    }
    const again = await preprocess(ds, out, { threads: 1, cut: 'skip', resume: true });
    expect(again.resumed).toBe(2);
    // As said above: of the long file's two outputs, the engine gives the 16 kHz one's checksum alone.
    const long = first.files.find((f) => f.samples > 1 << 18)!;
    const engineOut = fresh('streamed/engine');
    for (const folder of [native().layout.slicedDir, native().layout.sliced16kDir]) fs.mkdirSync(path.join(engineOut, folder), { recursive: true });
    const [r] = await native().processBatch(
      [{ path: path.join(ds, long.relative), sid: long.sid, idx0: long.idx0 }],
      { sampleRate: 40000, cut: 'skip', highpass: true, normalize: 'none', chunk: 3, overlap: 0.3, denoise: 0, outDir: engineOut },
      1,
    );
    expect(r.inputChecksum).toBeDefined();
    expect(r.checksums?.map((c) => c.file)).toEqual([`${native().layout.sliced16kDir}/${long.sid}_${long.idx0}_0.wav`]);
  });
});

describe('--shard K/N and voxprep merge', () => {
  it('3 shards run separately, then merged: byte-identical outputs and the same model_info.json as one whole run', () => {
    const ds = dataset('shards/dataset', [3, 4.5, 3.2, 5, 3.7, 4.1, 3.3, 4.8]);
    fs.writeFileSync(path.join(ds, 'broken.wav'), 'not a wav'); // a failed file is a result too
    const opts = ['--sr', '32000', '--threads', '1'];
    const whole = path.join(scratch.path, 'shards/whole');
    const w = voxprep(['preprocess', ds, '-o', whole, ...opts]);
    expect(w.code).toBe(1);
    const wholeReport = JSON.parse(fs.readFileSync(path.join(whole, 'report.json'), 'utf8'));

    // Three hosts, three folders, then copied together by merge.
    const dirs = [1, 2, 3].map((k) => path.join(scratch.path, `shards/host${k}`));
    dirs.forEach((dir, i) => {
      const r = voxprep(['preprocess', ds, '-o', dir, '--shard', `${i + 1}/3`, ...opts]);
      expect(r.code, r.stderr).toBe(i === 0 ? 1 : 0); // broken.wav is idx0 3 → shard 1
      expect(r.stdout).toMatch(new RegExp(`^voxprep: shard ${i + 1}/3 \\(of 9 files\\): 3 files:`, 'm'));
      expect(r.stdout).toContain('model_info.json:  not written by a shard');
      expect(fs.existsSync(path.join(dir, 'model_info.json'))).toBe(false);
      expect(fs.existsSync(path.join(dir, `voxprep-manifest.shard-${i + 1}-of-3.jsonl`))).toBe(true);
      expect(fs.existsSync(path.join(dir, `report.shard-${i + 1}-of-3.json`))).toBe(true);
      // The numbering of a whole run: this shard's idx0 are k-1, k-1+3, …
      for (const f of walkFiles(path.join(dir, SLICED), { missingIsEmpty: true })) expect(Number(SLICE_NAME.exec(f)![2]) % 3).toBe(i);
    });

    // Not all shards, or a shard of other options: refused, nothing written.
    const partial = path.join(scratch.path, 'shards/partial');
    const missing = voxprep(['merge', dirs[0], dirs[1], '-o', partial]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/shard\(s\) 3\/3 missing/);
    const odd = path.join(scratch.path, 'shards/odd');
    expect(voxprep(['preprocess', ds, '-o', odd, '--shard', '3/3', '--sr', '40000']).code).toBe(0);
    const mixed = voxprep(['merge', dirs[0], dirs[1], odd, '-o', partial]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/not parts of one run: sample rate 32000 vs 40000/);
    const twice = voxprep(['merge', ...dirs, path.join(scratch.path, 'shards/odd'), '-o', partial]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/shard 3\/3 is in two folders/);
    expect(fs.existsSync(partial)).toBe(false);

    // A shard with files left: still running (its lock held by a live process), or stopped.
    const running = path.join(scratch.path, 'shards/running3');
    fs.cpSync(dirs[2], running, { recursive: true });
    const shardManifest = path.join(running, 'voxprep-manifest.shard-3-of-3.jsonl');
    fs.writeFileSync(shardManifest, `${fs.readFileSync(shardManifest, 'utf8').split('\n')[0]}\n`);
    const lockFile = path.join(running, '.voxprep.shard-3-of-3.lock');
    fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: os.hostname(), started: 'now' }));
    const busy = voxprep(['merge', dirs[0], dirs[1], running, '-o', partial]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toBe(
      `voxprep: shard 3/3 (${shardManifest}) is still running (process ${process.pid} on ${os.hostname()}, started now): 3 of its 3 files have no result yet; merge once it has ended\n`,
    );
    fs.rmSync(lockFile);
    const stopped = voxprep(['merge', dirs[0], dirs[1], running, '-o', partial]);
    expect(stopped.code).toBe(2);
    expect(stopped.stderr).toMatch(/shard 3\/3 .* has not finished: 3 of its 3 files have no result .*run it again with --resume, then merge/);
    expect(fs.existsSync(partial)).toBe(false);

    // A file by a slice's name that no shard wrote (Applio's own slices, say) is the user's:
    // the merge refuses it without --overwrite (it replaced it).
    const theirs = path.join(scratch.path, 'shards/theirs');
    const name = manifest(dirs[1], 'voxprep-manifest.shard-2-of-3.jsonl').records.find((r) => r.complete)!.outputs[0].file;
    fs.mkdirSync(path.dirname(path.join(theirs, name)), { recursive: true });
    fs.writeFileSync(path.join(theirs, name), 'my own take\n');
    const refused = voxprep(['merge', ...dirs, '-o', theirs]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`holds 1 file(s) by the names of the shards' slices but with other contents (${name}); pass --overwrite`);
    expect(fs.readFileSync(path.join(theirs, name), 'utf8')).toBe('my own take\n');
    expect(voxprep(['merge', ...dirs, '-o', theirs, '--overwrite']).code).toBe(1); // broken.wav, as the whole run
    expectSameOutputs(theirs, whole);

    const merged = path.join(scratch.path, 'shards/merged');
    const m = voxprep(['merge', ...dirs, '-o', merged]);
    expect(m.code, m.stdout + m.stderr).toBe(1); // as the whole run: broken.wav failed
    expect(m.stdout).toMatch(/^voxprep merge: 3 shards into .*: \d+ output file\(s\) copied, 0 checked in place/m);
    expect(m.stdout).toContain('voxprep: 9 files: 8 processed, 1 failed, 0 rejected, 0 skipped');
    expectSameOutputs(merged, whole);
    expectValidReport(path.join(dirs[1], 'report.shard-2-of-3.json'));
    const mergedReport = expectValidReport(path.join(merged, 'report.json'));
    expect(mergedReport.files).toEqual(wholeReport.files);
    expect(mergedReport.warnings).toEqual(wholeReport.warnings);
    expect(mergedReport.totals.totalSeconds).toBe(wholeReport.totals.totalSeconds);

    // Merged again into the same folder: nothing to copy, everything checked.
    const again = voxprep(['merge', ...dirs, '-o', merged]);
    expect(again.stdout).toMatch(/0 output file\(s\) copied, \d+ checked in place/);
    expectSameOutputs(merged, whole);

    // A slice that does not match its shard's record is refused, and named.
    const victim = manifest(dirs[2], 'voxprep-manifest.shard-3-of-3.jsonl').records.find((r) => r.complete)!.outputs[0].file;
    fs.appendFileSync(path.join(dirs[2], victim), Buffer.from([0]));
    const bad = voxprep(['merge', ...dirs, '-o', path.join(scratch.path, 'shards/merged-bad')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(victim);
    expect(bad.stderr).toMatch(/not what its shard recorded/);
    expect(fs.existsSync(path.join(scratch.path, 'shards/merged-bad', 'model_info.json'))).toBe(false);
    // The shard's --resume redoes that file (its output no longer matches), and merge goes through.
    const fix = voxprep(['preprocess', ds, '-o', dirs[2], '--shard', '3/3', '--resume', ...opts]);
    expect(fix.code, fix.stderr).toBe(0);
    expect(resumedCount(fix.stdout)).toBe(2);
    expect(voxprep(['merge', ...dirs, '-o', path.join(scratch.path, 'shards/merged-bad')]).code).toBe(1);
    expectSameOutputs(path.join(scratch.path, 'shards/merged-bad'), whole);
  });

  it('3 shards writing into one shared folder, merged in place: a whole run\'s output', async () => {
    const ds = dataset('shared/dataset', [3, 4.5, 3.2, 5, 3.7, 4.1, 3.3], 600);
    const whole = path.join(scratch.path, 'shared/whole');
    expect(voxprep(['preprocess', ds, '-o', whole]).code).toBe(0);
    const shared = path.join(scratch.path, 'shared/out');
    // Side by side, as a job array would run them.
    const runs = await Promise.all(
      [1, 2, 3].map((k) => voxprepSignalled(['preprocess', ds, '-o', shared, '--shard', `${k}/3`, '--threads', '1'], [])),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(shared, 'model_info.json'))).toBe(false);
    // A shard rerun with --resume keeps its files and leaves the others' alone.
    const re = voxprep(['preprocess', ds, '-o', shared, '--shard', '2/3', '--resume']);
    expect(re.code, re.stderr).toBe(0);
    expect(resumedCount(re.stdout)).toBe(2);

    // A slice changed in place (same size) is caught by its hash: the merge refuses, naming
    // it, and writes nothing; restored, it merges.
    const victim = path.join(shared, manifest(shared, 'voxprep-manifest.shard-2-of-3.jsonl').records[0].outputs[0].file);
    const original = fs.readFileSync(victim);
    const changed = Buffer.from(original);
    changed[changed.length - 2] ^= 0x21;
    fs.writeFileSync(victim, changed);
    const bad = voxprep(['merge', shared, '-o', shared]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(path.relative(shared, victim));
    expect(bad.stderr).toMatch(/could not be merged/);
    expect(fs.existsSync(path.join(shared, 'model_info.json'))).toBe(false);
    fs.writeFileSync(victim, original);

    const m = voxprep(['merge', shared, '-o', shared]);
    expect(m.code, m.stdout + m.stderr).toBe(0);
    expect(m.stdout).toMatch(/0 output file\(s\) copied/);
    expectSameOutputs(shared, whole);
    // The merged folder is a whole run's: --resume there keeps every file.
    const r = voxprep(['preprocess', ds, '-o', shared, '--resume']);
    expect(r.code).toBe(0);
    expect(resumedCount(r.stdout)).toBe(7);
    expectSameOutputs(shared, whole);

    // Shards that a whole run finishes instead of merge: it keeps what the shards completed.
    const other = path.join(scratch.path, 'shared/out2');
    for (const k of [1, 3]) expect(voxprep(['preprocess', ds, '-o', other, '--shard', `${k}/3`]).code).toBe(0);
    const finish = voxprep(['preprocess', ds, '-o', other, '--resume']);
    expect(finish.code, finish.stdout + finish.stderr).toBe(0);
    expect(resumedCount(finish.stdout)).toBe(5); // idx0 0, 3, 6 and 2, 5
    expectSameOutputs(other, whole);
  });
});

// ---------------------------------------------------------------------------------------

describe('library API', () => {
  it('preprocess() takes a stop flag, resume and shard; mergeShards() puts the shards together', async () => {
    const ds = dataset('api/dataset', [4, 5, 3.5, 4.5, 6]);
    const whole = path.join(scratch.path, 'api/whole');
    const out = path.join(scratch.path, 'api/out');
    const full = await preprocess(ds, whole, { threads: 1 });
    expect(full.files.every((f) => f.status === 'ok')).toBe(true);

    const stop = new Int32Array(new SharedArrayBuffer(4));
    const stopped = await preprocess(ds, out, {
      threads: 1,
      stop,
      onProgress: (e) => {
        if (e.done === 1) Atomics.store(stop, 0, 1);
      },
    });
    expect(stopped.stopped).toBe(true);
    const done = stopped.files.filter((f) => f.status === 'ok').length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(5);
    expect(stopped.manifestPath).toBe(path.join(out, MANIFEST));

    const resumed = await preprocess(ds, out, { threads: 2, resume: true });
    expect(resumed.resumed).toBe(done);
    expect(resumed.stopped).toBe(false);
    expect(resumed.totalSeconds).toBe(full.totalSeconds);
    expect(resumed.files.map((f) => [f.relative, f.status, f.seconds, f.slices, f.peak])).toEqual(
      full.files.map((f) => [f.relative, f.status, f.seconds, f.slices, f.peak]),
    );
    expectSameOutputs(out, whole);

    const shardDirs = [1, 2].map((k) => path.join(scratch.path, `api/shard${k}`));
    for (const [i, dir] of shardDirs.entries()) {
      const r = await preprocess(ds, dir, { shard: `${i + 1}/2` });
      expect(r.shard).toEqual({ index: i + 1, count: 2 });
      expect(r.files.map((f) => f.idx0)).toEqual(i === 0 ? [0, 2, 4] : [1, 3]);
      expect(r.modelInfoPath).toBeUndefined();
    }
    const merged = await mergeShards(shardDirs, path.join(scratch.path, 'api/merged'));
    expect(merged.totalSeconds).toBe(full.totalSeconds);
    expect(merged.runErrors).toEqual([]);
    expectSameOutputs(path.join(scratch.path, 'api/merged'), whole);
    // Its options: report: false writes no report.json (and is not taken for an unknown key).
    const quiet = await mergeShards(shardDirs, path.join(scratch.path, 'api/merged-quiet'), { report: false, overwrite: false });
    expect(quiet.reportPath).toBeUndefined();
    expect(fs.existsSync(path.join(scratch.path, 'api/merged-quiet', 'report.json'))).toBe(false);
    expectSameOutputs(path.join(scratch.path, 'api/merged-quiet'), whole);

    // model_info.json that cannot be written at the end (here a folder where its temporary
    // goes): a merge error, the report still written, as a run does.
    const blocked = fresh('api/merged-blocked');
    fs.mkdirSync(path.join(blocked, '.model_info.json.voxprep-tmp'));
    const partly = await mergeShards(shardDirs, blocked);
    expect(partly.runErrors).toEqual([expect.stringMatching(/^cannot write .*model_info\.json: EISDIR/)]);
    expect(partly.modelInfoPath).toBeUndefined();
    expect(fs.existsSync(path.join(blocked, 'report.json'))).toBe(true);
    expect(fs.existsSync(path.join(blocked, MANIFEST))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------

describe('one run at a time in an output folder', () => {
  it('a second run into a folder in use is refused (exit 2, nothing changed); the first finishes as an uninterrupted run', async () => {
    const ds = dataset('busy/dataset', [6, 8, 7, 9]);
    const whole = path.join(scratch.path, 'busy/whole');
    const out = path.join(scratch.path, 'busy/out');
    expect(voxprep(['preprocess', ds, '-o', whole, '--threads', '1']).code).toBe(0);
    let second: Run | undefined;
    let shard: Run | undefined;
    // While the first is paused after its first file: a whole run (other options: it would
    // replace what the first wrote) and a shard into the same folder.
    const first = await voxprepSignalled(['preprocess', ds, '-o', out, '--threads', '1'], [
      {
        when: 1,
        signal: 'SIGSTOP',
        also: (child) => {
          second = voxprep(['preprocess', ds, '-o', out, '--sr', '48000', '--overwrite']);
          shard = voxprep(['preprocess', ds, '-o', out, '--shard', '1/2']);
          child.kill('SIGCONT');
        },
      },
    ]);
    expect(first.code, first.stderr).toBe(0);
    for (const r of [second!, shard!]) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(/is in use by another run \(process \d+ on .*\): wait for it to end, or choose another output folder \(if no such run is left, remove .*\.voxprep\.lock\)/);
    }
    expectSameOutputs(out, whole);
    expect(fs.readdirSync(out).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('an output path that cannot be a folder is bad usage, named as such: a dangling symbolic link, a file on the way', () => {
    const ds = dataset('badout/dataset', [2]);
    const base = fresh('badout/base');
    fs.symlinkSync(path.join(base, 'gone'), path.join(base, 'link'));
    fs.writeFileSync(path.join(base, 'file'), 'mine\n');
    const link = voxprep(['preprocess', ds, '-o', path.join(base, 'link')]);
    expect(link.code).toBe(2);
    expect(link.stderr).toBe(`voxprep: the output path ${path.join(base, 'link')} is a symbolic link to ${path.join(base, 'gone')}, which does not exist\n`);
    const under = voxprep(['preprocess', ds, '-o', path.join(base, 'file', 'out')]);
    expect(under.code).toBe(2);
    expect(under.stderr).toMatch(/^voxprep: cannot create the output folder .*\/file\/out: ENOTDIR/);
    expect(fs.readdirSync(base).sort()).toEqual(['file', 'link']);
    // Under /proc, mkdir says ENOENT although /proc exists: Node's recursive mkdir retried
    // that forever (at full CPU, and a single SIGTERM did not end the waiting run).
    const proc = spawnSync(process.execPath, [BIN, 'preprocess', ds, '-o', '/proc/voxprep-out/sub'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      killSignal: 'SIGKILL',
      env: ENV,
    });
    expect(proc.signal, 'still running after 30 s').toBeNull();
    expect(proc.status).toBe(2);
    expect(proc.stderr).toBe("voxprep: cannot create the output folder /proc/voxprep-out/sub: ENOENT: no such file or directory, mkdir '/proc/voxprep-out'\n");

    // A dataset in a slice folder of OUT would get the slices among its recordings; one
    // elsewhere in OUT is fine.
    const out = fresh('badout/out');
    fs.mkdirSync(path.join(out, 'sliced_audios', 'takes'), { recursive: true });
    fs.cpSync(ds, path.join(out, 'sliced_audios', 'takes'), { recursive: true });
    const among = voxprep(['preprocess', path.join(out, 'sliced_audios', 'takes'), '-o', out]);
    expect(among.code).toBe(2);
    expect(among.stderr).toMatch(/^voxprep: the dataset folder .*takes must not be inside the output folder's sliced_audios\/$/m);
    fs.cpSync(ds, path.join(out, 'raw'), { recursive: true });
    expect(voxprep(['preprocess', path.join(out, 'raw'), '-o', out]).code).toBe(0);
  });

  it('runs taking the folder at the same moment: exactly one gets it, whatever lock was there (none, stale, empty)', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = JSON.stringify({ pid: gone, host: os.hostname(), started: 'then' });
    // In one process, two to four runs interleave at every await: the lock's own steps race.
    // (Three on a stale lock got two holders in about one round in twenty when the stale
    // lock was moved aside and a live one put back: hence 100 rounds.)
    for (const runs of [2, 3, 4]) {
      for (const before of [undefined, stale, '']) {
        for (let round = 0; round < (runs === 2 ? 25 : 100); round++) {
          const dir = fresh(`race/inproc-${round}`);
          if (before !== undefined) fs.writeFileSync(path.join(dir, '.voxprep.lock'), before);
          const got = await Promise.allSettled(Array.from({ length: runs }, () => lockOutput(dir, null, dir)));
          const held = got.filter((g) => g.status === 'fulfilled');
          expect(held.length, `${runs} runs, lock before: ${JSON.stringify(before)}`).toBe(1);
          await (held[0] as PromiseFulfilledResult<OutputLock>).value.release();
          expect(fs.readdirSync(dir)).toEqual([]);
        }
      }
    }
    // A breaker left by a run killed while clearing a stale lock is cleared after a while;
    // one whose run lives (here: stopped there) makes the folder busy, named.
    const dir = fresh('race/breaker');
    fs.writeFileSync(path.join(dir, '.voxprep.lock'), stale);
    fs.writeFileSync(path.join(dir, '.voxprep.lock.break'), stale);
    const lock = await lockOutput(dir, null, dir);
    await lock.release();
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.writeFileSync(path.join(dir, '.voxprep.lock'), stale);
    fs.writeFileSync(path.join(dir, '.voxprep.lock.break'), JSON.stringify({ pid: process.pid, host: os.hostname(), started: 'now' }));
    await expect(lockOutput(dir, null, dir)).rejects.toThrow(`${dir} is in use by another run (process ${process.pid} on ${os.hostname()}, started now): wait for it to end, or choose another output folder (if no such run is left, remove ${path.join(dir, '.voxprep.lock.break')})`);
    expect(fs.readdirSync(dir).sort()).toEqual(['.voxprep.lock', '.voxprep.lock.break']);
    // In two processes started together, each holding the folder a while: never both at once.
    const holder = path.join(scratch.path, 'race/holder.mjs');
    fs.writeFileSync(
      holder,
      `import { lockOutput } from ${JSON.stringify(path.join(ROOT, 'dist', 'lock.js'))};
const [dir, at] = process.argv.slice(2);
while (Date.now() < Number(at)) {}
try {
  const lock = await lockOutput(dir, null, dir);
  const from = Date.now();
  await new Promise((r) => setTimeout(r, 100));
  console.log(JSON.stringify({ from, to: Date.now() }));
  await lock.release();
} catch (err) {
  console.log(JSON.stringify({ refused: err.message }));
}
`,
    );
    for (let round = 0; round < 8; round++) {
      const dir = fresh(`race/procs-${round}`);
      if (round % 2) fs.writeFileSync(path.join(dir, '.voxprep.lock'), stale);
      const at = String(Date.now() + 300);
      const runs = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<string>((resolve) => {
              const child = spawn(process.execPath, [holder, dir, at], { stdio: ['ignore', 'pipe', 'inherit'] });
              let out = '';
              child.stdout.on('data', (d) => (out += d));
              child.on('close', () => resolve(out));
            }),
        ),
      );
      // One holds the folder while the other is refused; on a loaded machine the second may
      // come only after the first let go, and then take it in turn: never both at once.
      const held: { from: number; to: number }[] = runs.map((r) => JSON.parse(r)).filter((r) => r.refused === undefined);
      expect(held.length, runs.join('')).toBeGreaterThanOrEqual(1);
      if (held.length === 2) {
        const [a, b] = held.sort((x, y) => x.from - y.from);
        expect(b.from, runs.join('')).toBeGreaterThanOrEqual(a.to);
      }
      expect(fs.readdirSync(dir)).toEqual([]);
    }
  });

  it('shards of one run share the folder; a shard of another count, or a whole run, may not run beside them', async () => {
    const dir = fresh('race/shards');
    const one = await lockOutput(dir, { index: 1, count: 2 }, dir);
    const two = await lockOutput(dir, { index: 2, count: 2 }, dir);
    await expect(lockOutput(dir, { index: 1, count: 3 }, dir)).rejects.toThrow(/is in use by another run \(process \d+/);
    await expect(lockOutput(dir, null, dir)).rejects.toThrow(/is in use by another run/);
    await one.release();
    await two.release();
    const whole = await lockOutput(dir, null, dir);
    await expect(lockOutput(dir, { index: 2, count: 2 }, dir)).rejects.toThrow(/is in use by another run/);
    await whole.release();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a lock left by a run that was killed outright is taken over', () => {
    const ds = dataset('stale/dataset', [3, 4]);
    const out = fresh('stale/out');
    // A process that has ended: its pid names no live process.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.writeFileSync(path.join(out, '.voxprep.lock'), JSON.stringify({ pid: gone, host: os.hostname(), started: 'then' }));
    const r = voxprep(['preprocess', ds, '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.existsSync(path.join(out, '.voxprep.lock'))).toBe(false);
    // One held on another host cannot be judged: refused, naming the file to remove.
    fs.writeFileSync(path.join(out, '.voxprep.shard-1-of-2.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'now' }));
    const busy = voxprep(['preprocess', ds, '-o', out, '--resume']);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('in use by another run (process 1 on elsewhere, started now)');
    expect(busy.stderr).toContain(`remove ${path.join(out, '.voxprep.shard-1-of-2.lock')}`);
    // Nor does merge write into a folder in use.
    const shards = fresh('stale/shards');
    for (const k of ['1/2', '2/2']) expect(voxprep(['preprocess', ds, '-o', shards, '--shard', k]).code).toBe(0);
    const merged = voxprep(['merge', shards, '-o', out, '--overwrite']);
    expect(merged.code).toBe(2);
    expect(merged.stderr).toContain('in use by another run (process 1 on elsewhere, started now)');
    fs.rmSync(path.join(out, '.voxprep.shard-1-of-2.lock'));
    expect(voxprep(['merge', shards, '-o', out, '--overwrite']).code).toBe(0);
  });
});

describe("the user's files next to the outputs", () => {
  it('an Applio config.json and other keys of model_info.json are untouched by runs, reruns, --resume, --overwrite and merge', () => {
    const ds = dataset('own/dataset', [3, 4, 3.5, 4.5]);
    const out = fresh('own/out');
    const config = JSON.stringify({ train: { seed: 1234, epochs: 300 }, data: { sampling_rate: 40000 } }, null, 2);
    fs.writeFileSync(path.join(out, 'config.json'), config);
    fs.writeFileSync(path.join(out, 'model_info.json'), JSON.stringify({ model_name: 'my-voice', epochs: 300, total_seconds: -1 }));
    fs.mkdirSync(path.join(out, SLICED));
    fs.writeFileSync(path.join(out, SLICED, 'notes.txt'), 'mine\n');
    fs.writeFileSync(path.join(out, SLICED, 'take_1.wav'), 'not voxprep naming\n');
    // Numbers with leading zeros: not names voxprep writes, so not its to count or replace.
    fs.writeFileSync(path.join(out, SLICED, '00_1_0.wav'), 'leading zeros\n');
    fs.writeFileSync(path.join(out, SLICED, '0_01_0.wav'), 'leading zeros\n');
    const mine = () => ({
      config: fs.readFileSync(path.join(out, 'config.json'), 'utf8'),
      notes: fs.readFileSync(path.join(out, SLICED, 'notes.txt'), 'utf8'),
      other: fs.readFileSync(path.join(out, SLICED, 'take_1.wav'), 'utf8'),
      zeros: ['00_1_0.wav', '0_01_0.wav'].map((n) => fs.readFileSync(path.join(out, SLICED, n), 'utf8')),
      info: (({ total_seconds: _t, total_dataset_duration: _d, ...rest }) => rest)(
        JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8')),
      ),
    });
    const expected = {
      config,
      notes: 'mine\n',
      other: 'not voxprep naming\n',
      zeros: ['leading zeros\n', 'leading zeros\n'],
      info: { model_name: 'my-voice', epochs: 300 },
    };

    const steps: [string[], number][] = [
      [['preprocess', ds, '-o', out], 0],
      [['preprocess', ds, '-o', out], 2],
      [['preprocess', ds, '-o', out, '--resume'], 0],
      [['preprocess', ds, '-o', out, '--overwrite', '--sr', '48000'], 0],
      [['preprocess', ds, '-o', out, '--resume', '--overwrite', '--cut', 'skip'], 0],
      [['preprocess', ds, '-o', out, '--overwrite', '--shard', '1/2'], 0],
      [['preprocess', ds, '-o', out, '--shard', '2/2'], 2],
      [['preprocess', ds, '-o', out, '--shard', '2/2', '--overwrite'], 0],
      [['merge', out, '-o', out], 0],
    ];
    for (const [args, code] of steps) {
      const r = voxprep(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(code);
      expect(mine(), args.join(' ')).toEqual(expected);
    }
    const info = JSON.parse(fs.readFileSync(path.join(out, 'model_info.json'), 'utf8'));
    expect(info.total_seconds).toBeGreaterThan(14);
    expect(walkFiles(out, { missingIsEmpty: true }).filter((f) => !OUTPUT_FILE.test(f))).toEqual([
      'config.json',
      'model_info.json',
      'report.json',
      'report.shard-1-of-2.json',
      'report.shard-2-of-2.json',
      `${SLICED}/00_1_0.wav`,
      `${SLICED}/0_01_0.wav`,
      `${SLICED}/notes.txt`,
      `${SLICED}/take_1.wav`,
      MANIFEST,
      'voxprep-manifest.shard-1-of-2.jsonl',
      'voxprep-manifest.shard-2-of-2.jsonl',
    ]);
  });
});

describe('checksums', () => {
  it('the test reference XXH64 gives what xxhsum printed', () => {
    for (const [n, want] of XXH64_VECTORS) expect(xxh64(patternBytes(n)), `${n} bytes`).toBe(want);
  });

  it('a WAV input comes back from the engine with the checksum of its bytes, as it read them (so the run does not read it again), also with pre normalization, and with its size and modification time as opened', async () => {
    const dir = path.join(scratch.path, 'engine-checksum');
    fs.mkdirSync(dir, { recursive: true });
    const input = path.join(dir, 'take.wav');
    writeWav(input, speechLike(44100, 4, 9), 44100, { bits: 24 });
    // A chunk after the data, which the reader reads only for the checksum.
    fs.appendFileSync(input, Buffer.concat([Buffer.from('LIST'), Buffer.from([5, 0, 0, 0]), Buffer.from('tail\0\0')]));
    // A modification time with nanoseconds, which the engine reports as it found the file on opening it.
    fs.utimesSync(input, 1700000000.123457, 1700000000.123457);
    const st = fs.statSync(input, { bigint: true });
    const stamp = { size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
    expect(st.mtimeNs % 1000000000n).not.toBe(0n);
    const bytes = fs.readFileSync(input);
    const want = { size: bytes.length, xxh64: xxh64(bytes) };
    for (const normalize of ['none', 'pre'] as const) {
      const out = path.join(dir, `out-${normalize}`);
      for (const folder of [native().layout.slicedDir, native().layout.sliced16kDir]) fs.mkdirSync(path.join(out, folder), { recursive: true });
      const [r] = await native().processBatch(
        [{ path: input, sid: 0, idx0: 0 }],
        { sampleRate: 40000, cut: 'automatic', highpass: true, normalize, chunk: 3, overlap: 0.3, denoise: 0, outDir: out },
        1,
      );
      expect(r.status, r.error).toBe('ok');
      expect(r.inputChecksum, `normalize ${normalize}`).toEqual(want);
      expect(r.inputStamp, `normalize ${normalize}`).toEqual(stamp);
    }
    // Through a decoder (here one that passes the WAV on): the stamp of the file it reads, and no checksum.
    const out = path.join(dir, 'out-decoded');
    for (const folder of [native().layout.slicedDir, native().layout.sliced16kDir]) fs.mkdirSync(path.join(out, folder), { recursive: true });
    const [d] = await native().processBatch(
      [{ path: input, sid: 0, idx0: 0, decoder: ['cat', input] }],
      { sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none', chunk: 3, overlap: 0.3, denoise: 0, outDir: out },
      1,
    );
    expect(d.status, d.error).toBe('ok');
    expect(d.inputChecksum).toBeUndefined();
    expect(d.inputStamp).toEqual(stamp);
  });

  it('the pool checksums files as xxhsum does, a missing file failing alone; nothing after close()', async () => {
    const dir = path.join(scratch.path, 'hashpool');
    fs.mkdirSync(dir, { recursive: true });
    // Every tail length of the 32-byte stripes, and sizes around the addon's 1 MiB read block.
    const files = XXH64_VECTORS.map(([n]) => {
      const file = path.join(dir, `p${n}.bin`);
      fs.writeFileSync(file, patternBytes(n));
      return file;
    });
    const random = [(1 << 20) + 31, 3 * (1 << 20) - 7].map((n, i) => {
      const file = path.join(dir, `r${i}.bin`);
      fs.writeFileSync(file, crypto.randomBytes(n));
      return file;
    });
    const pool = new HashPool(2);
    expect(pool.size).toBe(2);
    expect(new HashPool(64).size).toBe(HashPool.MAX_AT_ONCE);
    const missing = path.join(dir, 'missing.bin');
    const got = await Promise.allSettled([...files, ...random, missing, dir].map((f) => pool.hash(f)));
    XXH64_VECTORS.forEach(([n, want], i) => expect(got[i]).toEqual({ status: 'fulfilled', value: { size: n, xxh64: want } }));
    random.forEach((f, i) => {
      const bytes = fs.readFileSync(f);
      expect(got[files.length + i]).toEqual({ status: 'fulfilled', value: { size: bytes.length, xxh64: xxh64(bytes) } });
    });
    const [noFile, folder] = got.slice(-2) as PromiseRejectedResult[];
    expect(String(noFile.reason)).toContain(`cannot read ${missing}: No such file or directory`);
    expect(String(folder.reason)).toContain(`cannot read ${dir}: not a regular file`);
    await pool.close();
    await expect(pool.hash(files[0])).rejects.toThrow(/hashing closed/);
    // Files still queued when the pool closes fail rather than wait for ever; those already
    // being read finish.
    const late = new HashPool(1);
    const queued = Promise.allSettled(files.map((f) => late.hash(f)));
    await late.close();
    const settled = await queued;
    expect(settled[0].status).toBe('fulfilled');
    expect(settled.slice(1).every((r) => r.status === 'rejected' && /hashing closed/.test(String(r.reason)))).toBe(true);
  });

  it('the pool checks and copies files as recorded, many to a call, in order: size, checksum and modification time; a stop ends the check', async () => {
    const dir = path.join(scratch.path, 'hashpool-check');
    fs.mkdirSync(dir, { recursive: true });
    // Enough files for three calls, each as recorded, then each of its values wrong in turn.
    const recorded = Array.from({ length: 2 * HashPool.CHECK_CHUNK + 10 }, (_, i) => {
      const file = path.join(dir, `f${i}.bin`);
      const bytes = crypto.randomBytes(1 + (i % 97));
      fs.writeFileSync(file, bytes);
      return { file, size: bytes.length, xxh64: xxh64(bytes), mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs.toString() };
    });
    const wrong = (i: number) => {
      const r = recorded[i];
      switch (i % 7) {
        case 0: return { ...r, size: r.size + 1 };
        case 1: return { ...r, xxh64: xxh64(Buffer.from('other')) };
        case 2: return { ...r, mtimeNs: (BigInt(r.mtimeNs) + 1n).toString() };
        case 3: return { ...r, file: path.join(dir, 'missing.bin') };
        case 4: return { ...r, file: dir };
        case 5: return { ...r, mtimeNs: undefined }; // not compared: as recorded
        default: return r;
      }
    };
    const pool = new HashPool(2);
    const calls: number[] = [];
    const asked = recorded.map((_, i) => (i % 2 === 0 ? recorded[i] : wrong(i)));
    const found = await pool.check(asked, (f) => f, () => calls.push(calls.length));
    expect(calls).toHaveLength(3);
    expect(found).toEqual(asked.map((_, i) => (i % 2 === 0 || i % 7 === 5 || i % 7 === 6 ? 'same' : i % 7 === 3 ? 'absent' : 'other')));
    // Copies: each in place where the copy is as recorded, else the reason and nothing left.
    const to = (i: number) => path.join(dir, `copy${i}.bin`);
    const reasons = await pool.copy(recorded.map((r, i) => ({ r, i })), ({ r, i }) => ({ from: r.file, to: to(i), size: r.size, xxh64: i % 5 === 0 ? xxh64(Buffer.from('other')) : r.xxh64 }));
    recorded.forEach((r, i) => {
      if (i % 5 === 0) {
        expect(reasons[i]).toMatch(/^it is not what its shard recorded \(\d+ bytes, expected \d+; checksum [0-9a-f]{16}, expected [0-9a-f]{16}\)$/);
        expect(fs.existsSync(to(i))).toBe(false);
      } else {
        expect(reasons[i]).toBe('');
        expect(fs.readFileSync(to(i))).toEqual(fs.readFileSync(r.file));
      }
    });
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.voxprep-tmp'))).toEqual([]);
    // A stop from the second call on (as a run's stop flag, once set, stays set): the check
    // rejects with it once the first call has ended.
    let started = 0;
    const stop = new Error('stopped');
    await expect(pool.check(recorded, (f) => f, () => { if (++started >= 2) throw stop; })).rejects.toBe(stop);
    expect(started).toBe(3);
    await pool.close();
  });
});

describe("removing an earlier run's files", () => {
  it('removes every file named, absent ones included; on a failure, throws it only once no removal is under way', async () => {
    const dir = path.join(scratch.path, 'remove');
    fs.mkdirSync(dir, { recursive: true });
    const made = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => {
        const file = path.join(dir, `${tag}_${i}.wav`);
        fs.writeFileSync(file, 'x');
        return file;
      });
    const files = made(300, 'a');
    await removeFiles([...files.slice(0, 150), path.join(dir, 'absent.wav'), ...files.slice(150)]);
    expect(fs.readdirSync(dir)).toEqual([]);
    await removeFiles([]);

    // A folder cannot be unlinked: the error names it. Had the call returned with removals
    // still running, they would go on removing the files after it.
    const folder = path.join(dir, 'a folder');
    fs.mkdirSync(folder);
    const more = made(200, 'b');
    await expect(removeFiles([folder, ...more])).rejects.toThrow(`'${folder}'`);
    const left = fs.readdirSync(dir).length;
    expect(left).toBeGreaterThan(1);
    await new Promise((wake) => setTimeout(wake, 200));
    expect(fs.readdirSync(dir).length).toBe(left);
  });
});

describe('many files: no result, manifest or report held or joined whole', () => {
  it('with a progress callback, the engine hands each result over once and the batch settles with nothing', async () => {
    const dir = path.join(scratch.path, 'handover');
    fs.mkdirSync(dir, { recursive: true });
    const jobs = [0, 1, 2, 3].map((i) => {
      const input = path.join(dir, `take${i}.wav`);
      writeWav(input, speechLike(16000, 2 + i, 20 + i), 16000);
      return { path: input, sid: 0, idx0: i };
    });
    const options = { sampleRate: 40000, cut: 'automatic' as const, highpass: true, normalize: 'none' as const, chunk: 3, overlap: 0.3, denoise: 0 };
    const outs = ['kept', 'handed'].map((name) => {
      const out = path.join(dir, name);
      for (const folder of [SLICED, SLICED_16K]) fs.mkdirSync(path.join(out, folder), { recursive: true });
      return out;
    });
    const kept = await native().processBatch(jobs, { ...options, outDir: outs[0] }, 2);
    const handed: (typeof kept)[number][][] = jobs.map(() => []);
    const settled = await native().processBatch(jobs, { ...options, outDir: outs[1] }, 2, (i, r) => handed[i].push(r));
    expect(settled).toBeUndefined();
    expect(handed.map((h) => h.length)).toEqual([1, 1, 1, 1]);
    const facts = (r: (typeof kept)[number]) => ({ status: r.status, samples: r.samples, sliceNames: r.sliceNames, checksums: r.checksums });
    expect(handed.map(([r]) => facts(r))).toEqual(kept.map(facts));
    expect(kept.every((r) => r.status === 'ok' && r.sliceNames.length > 0)).toBe(true);
  });

  it("the summary names each skipped file, but folds a stopped run's files not started into one line from four of them on", () => {
    const file = (idx0: number, error: string) => ({ ...pendingReport({ relative: `0/c${idx0}.wav`, sid: 0, idx0 }), status: 'skipped' as const, error });
    const summary = (notStarted: number) => {
      const files = [file(0, 'too short: 10 samples'), ...Array.from({ length: notStarted }, (_, i) => file(i + 1, 'not started: the run was stopped'))];
      const result = { files, shard: null, datasetFiles: files.length, resumed: 0, slices: 0, layout: native().layout, totalSeconds: 0, wallSeconds: 1, threads: 1, device: 'cpu', outDir: '/out', skippedFolders: [], runErrors: [], stopped: true, datasetWarnings: [] };
      return formatSummary(result as unknown as Parameters<typeof formatSummary>[0]).split('\n').filter((l) => l.startsWith('  skipped: '));
    };
    expect(summary(3)).toEqual(['  skipped: 0/c0.wav: too short: 10 samples', ...[1, 2, 3].map((i) => `  skipped: 0/c${i}.wav: not started: the run was stopped`)]);
    expect(summary(5000)).toEqual(['  skipped: 0/c0.wav: too short: 10 samples', '  skipped: 5000 files (0/c1.wav … 0/c5000.wav): not started: the run was stopped']);
  });

  it('the dataset warnings of 300 000 files, every one upsampled: no call takes them all as its arguments', () => {
    const files = Array.from({ length: 300_000 }, (_, idx0) => ({
      ...pendingReport({ relative: `0/c${idx0}.wav`, sid: 0, idx0 }),
      status: 'ok' as const,
      loaded: true,
      seconds: 1.5,
      inputRate: idx0 === 123_456 ? 8000 : 16000,
      slices: 1,
    }));
    const warnings = datasetWarnings({ files, options: resolveOptions({}, 1), warnings: [] });
    const upsampled = warnings.find((w) => w.code === 'upsampled')!;
    expect(upsampled.files).toHaveLength(300_000);
    expect(upsampled.message).toMatch(/^300000 files \(100%.*lowest 8000 Hz/);
  });

  it("each field of the engine's result reaches JavaScript as the file's own (the addon passes the values by position)", async () => {
    // One file made so that the fields differ from one another: stereo 24-bit PCM at 22.05 kHz,
    // 1.5 s of a tone then 1 s of silence with three frames at full scale (left channel at −1),
    // its header never completed (RIFF and data sizes 0: read to the end, with a warning); and
    // one file that is not there.
    const dir = path.join(scratch.path, 'result-fields');
    fs.mkdirSync(dir, { recursive: true });
    const rate = 22050, frames = 2.5 * rate, toneFrames = 1.5 * rate;
    const x = new Float64Array(2 * frames);
    for (let i = 0; i < toneFrames; i++) x[2 * i] = x[2 * i + 1] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
    for (const i of [2 * rate, 2 * rate + 1, 2 * rate + 2]) x[2 * i] = -1;
    const input = path.join(dir, 'take.wav');
    writeWav(input, x, rate, { channels: 2, bits: 24 });
    const bytes = fs.readFileSync(input);
    bytes.writeUInt32LE(0, 4);
    bytes.writeUInt32LE(0, 40);
    fs.writeFileSync(input, bytes);
    const st = fs.statSync(input, { bigint: true });
    const stamp = { size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
    const out = path.join(dir, 'out');
    for (const folder of [SLICED, SLICED_16K]) fs.mkdirSync(path.join(out, folder), { recursive: true });
    const [r, gone] = await native().processBatch(
      [
        { path: input, sid: 0, idx0: 7 },
        { path: path.join(dir, 'gone.wav'), sid: 0, idx0: 8 },
      ],
      { sampleRate: 40000, cut: 'automatic', highpass: true, normalize: 'none', chunk: 3, overlap: 0.3, denoise: 0, outDir: out },
      1,
    );
    expect(r.status, r.error).toBe('ok');
    expect(r.error).toBeUndefined();
    expect(r.writeError).toBe(false);
    expect(r.loaded).toBe(true);
    expect(r.samples).toBe(100000); // 2.5 s at 40 kHz
    expect(r.seconds).toBe(2.5);
    expect([r.inputRate, r.inputChannels, r.inputBits, r.inputFloat, r.inputCoding, r.inputFrames]).toEqual([rate, 2, 24, false, 'pcm', frames]);
    // The peak is the full-scale frames' (−1 and 0 mixed: 0.5), past the tone's 0.3.
    expect(Math.abs(r.peak - 0.5)).toBeLessThan(0.05);
    expect(r.rms).toBeGreaterThan(0.1);
    expect(r.rms).toBeLessThan(0.3);
    expect(r.silenceShare).toBeGreaterThan(0.3);
    expect(r.silenceShare).toBeLessThan(0.45);
    expect(r.clippedFrames).toBe(3);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/the header was never completed/);
    const names = fs.readdirSync(path.join(out, SLICED)).sort();
    expect(names.length).toBeGreaterThan(0);
    expect(r.slices).toBe(names.length);
    expect(r.sliceNames).toEqual(names);
    for (const name of names) expect(name).toMatch(/^0_7_\d+\.wav$/);
    const written = [SLICED, SLICED_16K].flatMap((folder) => names.map((name) => `${folder}/${name}`));
    expect(r.checksums!.map((c) => c.file).sort()).toEqual(written.sort());
    for (const c of r.checksums!) {
      const data = fs.readFileSync(path.join(out, c.file));
      expect({ size: c.size, xxh64: c.xxh64 }, c.file).toEqual({ size: data.length, xxh64: xxh64(data) });
    }
    expect(r.inputChecksum).toEqual({ size: bytes.length, xxh64: xxh64(bytes) });
    expect(r.inputStamp).toEqual(stamp);
    expect(r.inputStampAfter).toEqual(stamp);
    expect(Object.keys(r.times).sort()).toEqual(['analysis', 'decode', 'denoise', 'highpass', 'resample', 'resample16k', 'write']);
    expect(r.times.denoise).toBe(0);
    for (const stage of ['analysis', 'decode', 'highpass', 'resample', 'resample16k', 'write'] as const) expect(r.times[stage], stage).toBeGreaterThan(0);

    expect(gone.status).toBe('failed');
    expect(gone.error).toMatch(/cannot open: No such file/);
    expect([gone.loaded, gone.writeError, gone.slices, gone.sliceNames, gone.checksums, gone.inputChecksum]).toEqual([false, false, 0, [], [], undefined]);
  });

  it('the manifest is read a block at a time: lines across the blocks, a character split between two, a torn last line', async () => {
    const dir = path.join(scratch.path, 'manifest-blocks');
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    writeWav(path.join(dir, 'data', 'take.wav'), speechLike(16000, 4, 31), 16000);
    const out = path.join(dir, 'out');
    const run = await preprocess(path.join(dir, 'data'), out, { threads: 1 });
    expect(run.files[0].status).toBe('ok');
    const [headerLine, recordLine] = fs.readFileSync(path.join(out, MANIFEST), 'utf8').split('\n');
    const record = JSON.parse(recordLine);
    // Records of 1 to 3000 files, each path padded so that one record ends a byte short of the
    // 1 MiB block, a two-byte character lies across that block's end, and some lines are
    // longer than a block.
    const BLOCK = 1 << 20;
    const lines = [headerLine];
    let bytes = Buffer.byteLength(headerLine) + 1;
    const line = (idx0: number, pathText: string) => JSON.stringify({ ...record, idx0, path: pathText });
    for (let idx0 = 1; idx0 <= 3000; ++idx0) {
      let l = line(idx0, `0/é-${idx0}.wav`);
      if (bytes < BLOCK && bytes + Buffer.byteLength(l) + 1 >= BLOCK) {
        // Pad so that the 'é' (two bytes) starts on the block's last byte.
        const pad = BLOCK - 1 - (bytes + Buffer.byteLength(line(idx0, '0/')));
        l = line(idx0, `0/${'x'.repeat(pad)}é-${idx0}.wav`);
        expect(Buffer.from(`${l}\n`).subarray(BLOCK - bytes - 1, BLOCK - bytes + 1).toString('utf8')).toBe('é');
      }
      if (idx0 % 1000 === 0) l = line(idx0, `0/${'y'.repeat(BLOCK + 10)}.wav`);
      lines.push(l);
      bytes += Buffer.byteLength(l) + 1;
    }
    const file = path.join(dir, 'blocks.jsonl');
    fs.writeFileSync(file, `${lines.join('\n')}\n{"idx0": 3001, "pa`);
    const read = await readManifest(file);
    expect(read.state).toBe('ok');
    if (read.state !== 'ok') return;
    expect(read.manifest.ignoredLines).toBe(1);
    expect(read.manifest.records.size).toBe(3000);
    const want = lines.slice(1).map((l) => JSON.parse(l).path);
    expect([...read.manifest.records.values()].map((r) => r.path)).toEqual(want);
    expect(read.manifest.header).toEqual(JSON.parse(headerLine));
  });

  it('the manifest and the report are written in pieces, the same bytes as written whole', async () => {
    const dir = path.join(scratch.path, 'pieces');
    fs.mkdirSync(dir, { recursive: true });
    // Over two write blocks of pieces of every length up to 3000 characters.
    const pieces = Array.from({ length: 1500 }, (_, i) => `${String(i).padStart(5, '0')}é${'z'.repeat((i * 7919) % 3000)}\n`);
    const file = path.join(dir, 'pieces.txt');
    await writeAtomically(file, pieces.values());
    expect(fs.readFileSync(file, 'utf8')).toBe(pieces.join(''));
    expect(fs.statSync(file).size).toBeGreaterThan(2 << 20);

    fs.mkdirSync(path.join(dir, 'data', '1'), { recursive: true });
    for (let i = 0; i < 3; ++i) writeWav(path.join(dir, 'data', '1', `take${i}.wav`), speechLike(22050, 5 + i, 40 + i), 22050);
    fs.writeFileSync(path.join(dir, 'data', 'broken.wav'), 'RIFF');
    const run = await preprocess(path.join(dir, 'data'), path.join(dir, 'out'), { threads: 2 });
    expect(run.report.files.length).toBe(4);
    const whole = `${JSON.stringify(run.report, null, 2)}\n`;
    expect(fs.readFileSync(run.reportPath!, 'utf8')).toBe(whole);
    expect([...reportJson(run.report)].join('')).toBe(whole);
    const none = { ...run.report, files: [] };
    expect([...reportJson(none)].join('')).toBe(`${JSON.stringify(none, null, 2)}\n`);
    // Entries over three pieces, the last one short; and exactly two.
    for (const count of [2 * REPORT_ENTRIES_A_PIECE + 5, 2 * REPORT_ENTRIES_A_PIECE]) {
      const many = { ...run.report, files: Array.from({ length: count }, (_, i) => ({ ...run.report.files[i % 4], idx0: i })) };
      expect([...reportJson(many)].join('')).toBe(`${JSON.stringify(many, null, 2)}\n`);
    }
  });
});

describe('the manifest consolidated from itself', () => {
  // A real run's manifest header and record, and records like it for any idx0.
  async function journalFixture(name: string, seed: number) {
    const dir = path.join(scratch.path, name);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    writeWav(path.join(dir, 'data', 'take.wav'), speechLike(16000, 4, seed), 16000);
    const out = path.join(dir, 'out');
    expect((await preprocess(path.join(dir, 'data'), out, { threads: 1 })).files[0].status).toBe('ok');
    const first = await readManifest(path.join(out, MANIFEST));
    if (first.state !== 'ok') throw new Error('no manifest');
    const { header } = first.manifest;
    const base = first.manifest.records.get(0)!;
    const rec = (idx0: number) => ({ ...base, idx0, path: `0/take-${idx0}.wav` });
    return { dir, header, base, rec };
  }

  it('records whose append failed (and those after) are still in the consolidated manifest; a torn line is not', async () => {
    const { dir, header, rec } = await journalFixture('journal-failure', 32);

    // Over 2 MiB of records appended out of order: consolidated in order, lines across blocks.
    const many = path.join(dir, 'many.jsonl');
    const long = (idx0: number) => ({ ...rec(idx0), path: `0/${'é'.repeat(idx0 % 700)}-${idx0}.wav` });
    const big = await Journal.create(many, header, [long(0)], () => undefined);
    // idx0 = 7i mod 3000 for i = 2999 … 1: each of 1 … 2999 once, scrambled (7 and 3000 share no factor).
    for (let i = 2999; i >= 1; --i) big.append(long((i * 7) % 3000));
    await big.finish(header);
    expect(fs.statSync(many).size).toBeGreaterThan(2 << 20);
    const wanted = Array.from({ length: 3000 }, (_, idx0) => long(idx0));
    expect(fs.readFileSync(many, 'utf8')).toBe([...manifestLines(header, wanted)].join(''));

    const file = path.join(dir, 'journal.jsonl');
    const errors: string[] = [];
    const journal = await Journal.create(file, header, [rec(4)], (m) => errors.push(m));
    journal.append(rec(2));
    journal.append(rec(0));
    journal.flush();
    // A torn line, as a failed append can leave, then the file's handle gone from under it.
    fs.appendFileSync(file, '{"idx0":9,"pa');
    await (journal as unknown as { handle: { close(): Promise<void> } }).handle.close();
    journal.append(rec(3));
    expect(errors).toEqual([]); // not written yet
    journal.flush(); // fails
    journal.append(rec(1)); // after the failure: not tried
    journal.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^cannot append to the manifest .*journal\.jsonl/);
    await journal.finish(header);
    const all = [0, 1, 2, 3, 4].map(rec);
    expect(fs.readFileSync(file, 'utf8')).toBe([...manifestLines(header, all)].join(''));
  });

  it('records are in the file by the end of the turn that appended them, and when the process exits before the end', async () => {
    const { dir, header, base, rec } = await journalFixture('journal-turns', 33);
    const recorded = async (file: string) => {
      const read = await readManifest(file);
      if (read.state !== 'ok') throw new Error(`${file}: ${read.state}`);
      return [...read.manifest.records.keys()].sort((a, b) => a - b);
    };

    const file = path.join(dir, 'turns.jsonl');
    const exitListeners = process.listenerCount('exit');
    const journal = await Journal.create(file, header, [rec(0)], () => undefined);
    journal.append(rec(2));
    journal.append(rec(1));
    expect(process.listenerCount('exit')).toBe(exitListeners + 1); // while records wait
    await new Promise((resolve) => setImmediate(resolve));
    expect(await recorded(file)).toEqual([0, 1, 2]);
    expect(process.listenerCount('exit')).toBe(exitListeners); // none left behind, even without finish()
    await journal.finish(header);

    // A process that exits at once (a third Ctrl-C) after appending, in the same turn.
    const exiting = path.join(dir, 'exit.jsonl');
    const script = `
      import { Journal } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'manifest.js')).href)};
      const [file, header, rec] = JSON.parse(process.argv[1]);
      const journal = await Journal.create(file, header, [], () => undefined);
      journal.append({ ...rec, idx0: 5 });
      journal.append({ ...rec, idx0: 3 });
      process.exit(130);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([exiting, header, base])], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(130);
    expect(await recorded(exiting)).toEqual([3, 5]);
  });
});
