// The command line: commands, flags, help, signals, exit codes (0 all processed, 1 some
// files failed, 2 bad usage with nothing written, 130 / 143 / 129 stopped by SIGINT /
// SIGTERM / SIGHUP).
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  CUT_MODES,
  DEFAULTS,
  NORMALIZATIONS,
  UsageError,
  applioSpelling,
  denoiseStrength,
  readConfigFile,
  mergeSettings,
  parseBooleanWord,
  resolveOptions,
  parseCutMode,
  type PreprocessOptions,
  type Settings,
} from './config.js';
import { preprocess } from './index.js';
import { RunStoppedError } from './pipeline.js';
import { colorsFor, createProgress, progressMode } from './progress.js';
import { formatSummary, shownPath } from './report.js';
import { voxprepVersion } from './version.js';

export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;
/** 128 + the signal's number, as shells report a process ended by it. */
export const EXIT_SIGHUP = 129;
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: EXIT_SIGHUP, SIGINT: EXIT_SIGINT, SIGTERM: EXIT_SIGTERM };

/** A decimal number, as Applio's Python reads one: not hex (0x9C40), binary or octal as Number() would take. */
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

function number(label: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!DECIMAL.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError(`${label} must be a decimal number.`);
    return n;
  };
}

function booleanWord(label: string) {
  return (value: string): boolean => {
    const b = parseBooleanWord(value);
    if (b === undefined) throw new InvalidArgumentError(`${label} takes True or False.`);
    return b;
  };
}

function cutMode(value: string) {
  const mode = parseCutMode(value);
  if (!mode) throw new InvalidArgumentError('--cut-preprocess takes Skip, Simple or Automatic.');
  return mode;
}

/** Flags that Applio passes with a True/False value and that voxprep also takes bare. */
const BOOLEAN_VALUE_FLAGS = ['--process-effects', '--noise-reduction'];

/**
 * Brings an Applio command line into the form commander parses: Applio's underscore
 * spellings (--sample_rate) become hyphenated, and a True/False flag given bare
 * (--process-effects, with no True/False after it) gets an explicit true.
 */
export function normalizeArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = applioSpelling(eq < 0 ? arg.slice(2) : arg.slice(2, eq));
    const flag = `--${name}`;
    if (eq >= 0) {
      out.push(`${flag}${arg.slice(eq)}`);
    } else if (BOOLEAN_VALUE_FLAGS.includes(flag) && (i + 1 >= argv.length || parseBooleanWord(argv[i + 1]) === undefined)) {
      // Bare, it means True. A word after it that is neither True/False nor a path is a
      // misspelt value (--process_effects Ture), not the DATASET it would be taken for.
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-') && !fs.existsSync(next)) {
        throw new UsageError(`${flag} takes True or False, got ${JSON.stringify(next)} (and no folder of that name is there to be DATASET)`);
      }
      out.push(`${flag}=true`);
    } else {
      out.push(flag);
    }
  }
  return out;
}

/** Command-line option attributes (as commander names them) → the setting each one sets. */
const CLI_SETTINGS: [attribute: string, setting: keyof Settings, flag: string][] = [
  ['out', 'out', '--out'],
  ['sr', 'sampleRate', '--sr'],
  ['cut', 'cut', '--cut'],
  ['highpass', 'highpass', '--highpass/--no-highpass'],
  ['normalize', 'normalize', '--normalize'],
  ['chunk', 'chunk', '--chunk'],
  ['overlap', 'overlap', '--overlap'],
  ['denoise', 'denoise', '--denoise'],
  ['threads', 'threads', '--threads'],
  ['device', 'device', '--device'],
  ['overwrite', 'overwrite', '--overwrite'],
  ['resume', 'resume', '--resume'],
  ['shard', 'shard', '--shard'],
  ['quiet', 'quiet', '--quiet'],
  ['json', 'json', '--json'],
  ['datasetPath', 'dataset', '--dataset-path'],
  ['modelName', 'modelName', '--model-name'],
  ['sampleRate', 'sampleRate', '--sample-rate'],
  ['cutPreprocess', 'cut', '--cut-preprocess'],
  ['processEffects', 'highpass', '--process-effects'],
  ['normalizationMode', 'normalize', '--normalization-mode'],
  ['chunkLen', 'chunk', '--chunk-len'],
  ['overlapLen', 'overlap', '--overlap-len'],
  ['cpuCores', 'threads', '--cpu-cores'],
  ['noiseReduction', 'noiseReduction', '--noise-reduction'],
  ['noiseReductionStrength', 'noiseReductionStrength', '--noise-reduction-strength'],
];

/** The settings given on the command line; a setting given twice with different values is an error. */
function commandLineSettings(cmd: Command, dataset: string | undefined): Settings {
  const o = cmd.opts();
  const settings: Settings = {};
  const givenBy: Partial<Record<keyof Settings, string>> = {};
  const set = (setting: keyof Settings, value: unknown, flag: string) => {
    const earlier = givenBy[setting];
    if (earlier !== undefined) {
      const before = settings[setting];
      const same =
        setting === 'dataset' || setting === 'out'
          ? path.resolve(String(before)) === path.resolve(String(value))
          : before === value;
      if (!same) throw new UsageError(`${earlier} and ${flag} disagree (${String(before)} vs ${String(value)}); give one of them`);
    }
    givenBy[setting] = flag;
    (settings as Record<string, unknown>)[setting] = value;
  };
  if (dataset !== undefined) set('dataset', dataset, 'DATASET');
  for (const [attribute, setting, flag] of CLI_SETTINGS) {
    if (cmd.getOptionValueSource(attribute) === 'cli' && o[attribute] !== undefined) set(setting, o[attribute], flag);
  }
  return settings;
}

interface RunPlan {
  dataset: string;
  out: string;
  options: PreprocessOptions;
  quiet: boolean;
  json: boolean;
}

/** Turns settings into a run, or a UsageError naming what is missing. */
export function planRun(s: Settings, cwd = process.cwd()): RunPlan {
  const denoise = denoiseStrength(s);
  if (s.dataset === undefined) {
    throw new UsageError('no dataset folder: give it as the first argument (voxprep preprocess DATASET …) or with --dataset-path');
  }
  let out = s.out;
  // An empty name would put the outputs straight into logs/.
  if (s.modelName === '') throw new UsageError('the model name (--model-name) must not be empty');
  if (out === undefined && s.modelName !== undefined) out = path.resolve(cwd, 'logs', s.modelName);
  if (out === undefined) throw new UsageError('no output folder: give -o OUT_DIR, or --model-name NAME to write into logs/NAME');
  return {
    dataset: s.dataset,
    out,
    options: {
      sampleRate: s.sampleRate,
      cut: s.cut,
      highpass: s.highpass,
      normalize: s.normalize,
      chunk: s.chunk,
      overlap: s.overlap,
      denoise,
      threads: s.threads,
      device: s.device,
      overwrite: s.overwrite,
      resume: s.resume,
      shard: s.shard,
    },
    quiet: s.quiet ?? false,
    json: s.json ?? false,
  };
}

/**
 * The run's plan from a config file and the command line, whose values replace the file's. A
 * value the run would refuse (`"threads": 0`) is named with the file, unless the command line
 * alone is refused for the same reason. The values are held to the run's own rules
 * (resolveOptions), not to a copy of them.
 */
export function planWithConfigFile(file: string, fromLine: Settings, cwd = process.cwd()): RunPlan {
  const fromFile = readConfigFile(file);
  const merged = mergeSettings(fromFile.settings, fromLine);
  const check = (s: Settings) => {
    const plan = planRun(s, cwd);
    resolveOptions(plan.options, 1);
    return plan;
  };
  try {
    return check(merged);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // Where the output and dataset come from is not in question here.
    const lineAlone = { ...fromLine, dataset: merged.dataset, out: merged.out, modelName: merged.modelName };
    let lineError: unknown;
    try {
      check(lineAlone);
    } catch (e) {
      lineError = e;
    }
    if (lineError instanceof Error && lineError.message === err.message) throw err;
    // The file's keys without which the run would be taken: named as written ("cpu_cores").
    const blamed = Object.entries(fromFile.keys).filter(([setting]) => {
      try {
        check({ ...merged, [setting]: undefined });
        return true;
      } catch {
        return false;
      }
    });
    const names = blamed.map(([, key]) => `"${key}"`);
    const keys = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? '');
    throw new UsageError(`config file ${file}${keys ? `, ${keys}` : ''}: ${err.message}`);
  }
}

/**
 * SIGINT / SIGTERM / SIGHUP (a terminal closed) while a run goes on: the first starts no new
 * file (those in flight finish, then the manifest, report and summary are written), the
 * second abandons the files in flight (their temporaries are removed), a third exits at once
 * (the manifest keeps every file recorded so far). The exit status is then 128 + the first
 * signal's number: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
 */
function stopOnSignals(stop: Int32Array, beforeMessage: () => void) {
  let first: NodeJS.Signals | undefined;
  let count = 0;
  const code = () => SIGNAL_EXIT[first!] ?? EXIT_SIGINT;
  const handler = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) {
      first = signal;
      Atomics.store(stop, 0, 1);
      beforeMessage();
      process.stderr.write(
        `voxprep: ${signal}: stopping: no new file starts, the files in flight finish, then the manifest and the summary are written ` +
          '(run again with --resume to finish); a second signal abandons the files in flight\n',
      );
    } else if (count === 2) {
      Atomics.store(stop, 0, 2);
      process.stderr.write(`voxprep: ${signal}: abandoning the files in flight (nothing of them is kept); a third signal exits at once\n`);
    } else {
      process.exit(code());
    }
  };
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, handler);
  return {
    /** The exit status the signals call for; undefined when none came. */
    exitCode: () => (first ? code() : undefined),
    dispose: () => {
      for (const signal of Object.keys(SIGNAL_EXIT)) process.off(signal, handler);
    },
  };
}

async function runPreprocessCommand(plan: RunPlan): Promise<number> {
  const { stdout, stderr } = process;
  const mode = progressMode(stderr, plan.quiet);
  const progress = createProgress({ stream: stderr, mode, color: colorsFor(stderr) });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  // The bar redraws its line: end it before the signal's message.
  const signals = stopOnSignals(stop, () => {
    if (mode === 'bar') progress.stop();
  });
  // Test-only hook (VOXPREP_TEST_PROGRESS=1): one line per finished file on standard error, so
  // that tests can kill or signal a run at a known point. Not a user feature; it may change.
  const testProgress = process.env.VOXPREP_TEST_PROGRESS === '1';
  let result;
  try {
    result = await preprocess(plan.dataset, plan.out, {
      ...plan.options,
      stop,
      onStart: (e) => {
        // `auto` (the default) says what it chose, and why.
        if (!plan.quiet && (plan.options.device ?? 'auto') === 'auto') stderr.write(`voxprep: device ${e.device.name} (auto: ${e.device.reason})\n`);
        progress.start(e.total, e.device.name);
      },
      onProgress: (e) => {
        if (testProgress) stderr.write(`voxprep-test: done ${e.done}/${e.total} idx0 ${e.file.idx0} ${e.file.status}\n`);
        progress.update(e);
        // In a log, a problem is worth a line when it happens; on a terminal the bar stays clean.
        // Files a stop (a signal, a write failure) leaves unstarted are not problems of their
        // own: the summary counts them, in one line.
        if (mode === 'lines' && e.file.status !== 'ok' && !/^not started: /.test(e.file.error ?? '')) {
          stderr.write(`voxprep: ${e.file.status}: ${shownPath(e.file.relative)}: ${e.file.error ?? 'unknown reason'}\n`);
        }
      },
    });
  } catch (err) {
    progress.stop();
    signals.dispose();
    if (err instanceof RunStoppedError) {
      stderr.write(`voxprep: ${err.message}\n`);
      return signals.exitCode() ?? EXIT_SOME_FAILED;
    }
    throw err;
  }
  progress.stop();
  // Any file not processed (failed, rejected or skipped) makes the exit status 1.
  const failed = result.files.some((f) => f.status !== 'ok') || result.runErrors.length > 0;
  if (plan.json) {
    stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
    if (!plan.quiet) stderr.write(`${formatSummary(result, { color: colorsFor(stderr) })}\n`);
  } else if (!plan.quiet || failed) {
    stdout.write(`${formatSummary(result, { color: colorsFor(stdout) })}\n`);
  }
  // Until the summary is out, a signal is answered as during the run (no abrupt end).
  signals.dispose();
  return signals.exitCode() ?? (failed ? EXIT_SOME_FAILED : EXIT_OK);
}

interface MergeFlags {
  out?: string;
  overwrite?: boolean;
  quiet?: boolean;
  json?: boolean;
}

async function runMergeCommand(dirs: string[], o: MergeFlags): Promise<number> {
  if (!o.out) throw new UsageError('no output folder: give -o OUT_DIR (it may be one of the shard folders)');
  const { MergeError, formatMergeHeadline, mergeShards } = await import('./merge.js');
  let result;
  try {
    result = await mergeShards(dirs, o.out, { overwrite: o.overwrite });
  } catch (err) {
    if (err instanceof MergeError) {
      process.stderr.write(`voxprep: ${err.message}\n`);
      return EXIT_SOME_FAILED;
    }
    throw err;
  }
  const failed = result.files.some((f) => f.status !== 'ok') || result.runErrors.length > 0;
  const text = `${formatMergeHeadline(result)}\n${formatSummary(result, { color: colorsFor(o.json ? process.stderr : process.stdout) })}\n`;
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
    if (!o.quiet) process.stderr.write(text);
  } else if (!o.quiet || failed) {
    process.stdout.write(text);
  }
  return failed ? EXIT_SOME_FAILED : EXIT_OK;
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('voxprep')
    .description('Prepare voice datasets for training RVC / Applio models.')
    .version(voxprepVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  const applio = (o: Option) => o.helpGroup("Applio's preprocess flags (also with underscores: --sample_rate):");
  program
    .command('preprocess')
    .description('decode, resample, high-pass, normalize and slice every recording of DATASET into OUT_DIR')
    .argument('[dataset]', 'dataset folder: files in it are speaker 0, files in folder N/ are speaker N')
    .option('-o, --out <dir>', "output folder (Applio's logs/<model>/)")
    .option('--config <file>', 'read options from a JSON file (command-line flags override it)')
    .addOption(new Option('--sr <hz>', `target sample rate (default: ${DEFAULTS.sampleRate})`).argParser(number('--sr')))
    .addOption(new Option('--cut <mode>', `how to cut files into segments (default: ${DEFAULTS.cut})`).choices(CUT_MODES))
    .option('--highpass', '48 Hz high-pass filter (default)')
    .option('--no-highpass', 'no high-pass filter')
    .addOption(
      new Option('--normalize <mode>', `peak normalization of the file (pre) or each segment (post) (default: ${DEFAULTS.normalize})`).choices(
        NORMALIZATIONS,
      ),
    )
    .addOption(new Option('--chunk <seconds>', `simple cut: segment length (default: ${DEFAULTS.chunk})`).argParser(number('--chunk')))
    .addOption(
      new Option('--overlap <seconds>', `simple cut: overlap of segments (default: ${DEFAULTS.overlap})`).argParser(number('--overlap')),
    )
    .addOption(
      new Option('--denoise <strength>', 'noise reduction (spectral gating, as Applio) at this strength, more than 0 and at most 1 (default: off)').argParser(
        number('--denoise'),
      ),
    )
    .addOption(new Option('--threads <n>', 'files processed at once (default: all cores)').argParser(number('--threads')))
    .option('--device <dev>', 'auto (the GPU when a usable one is present, else the CPU; default), cpu, cuda, or cuda:N')
    .option('--overwrite', "replace voxprep's outputs of an earlier run in the output folder (nothing else there is touched)")
    .option('--resume', 'finish the run whose manifest is in the output folder: keep the files it completed, redo the rest')
    .option('--shard <K/N>', 'process only the K-th of N parts of the sorted file list (numbering as in a whole run); then `voxprep merge`')
    .option('-q, --quiet', 'no progress; the summary only when something went wrong')
    .option('--json', 'print report.json on standard output (the summary goes to standard error)')
    .addOption(applio(new Option('--dataset-path <dir>', 'the dataset folder (then DATASET may be omitted)')))
    .addOption(applio(new Option('--model-name <name>', 'write into logs/NAME under the current folder, when -o is not given')))
    .addOption(applio(new Option('--sample-rate <hz>', 'as --sr').argParser(number('--sample-rate'))))
    .addOption(applio(new Option('--cut-preprocess <mode>', 'Skip, Simple or Automatic: as --cut').argParser(cutMode)))
    .addOption(applio(new Option('--process-effects <bool>', 'True or False: the high-pass filter').argParser(booleanWord('--process-effects'))))
    .addOption(
      applio(new Option('--normalization-mode <mode>', 'none, pre or post: as --normalize').choices(NORMALIZATIONS)),
    )
    .addOption(applio(new Option('--chunk-len <seconds>', 'as --chunk').argParser(number('--chunk-len'))))
    .addOption(applio(new Option('--overlap-len <seconds>', 'as --overlap').argParser(number('--overlap-len'))))
    .addOption(applio(new Option('--cpu-cores <n>', 'as --threads').argParser(number('--cpu-cores'))))
    .addOption(
      applio(new Option('--noise-reduction <bool>', 'True or False: noise reduction, as --denoise').argParser(booleanWord('--noise-reduction'))),
    )
    .addOption(
      applio(
        new Option('--noise-reduction-strength <p>', 'the strength with --noise-reduction True (default: 0.7)').argParser(
          number('--noise-reduction-strength'),
        ),
      ),
    )
    .action(async (dataset: string | undefined, o: Record<string, unknown>, cmd: Command) => {
      const fromLine = commandLineSettings(cmd, dataset);
      const plan = typeof o.config === 'string' ? planWithConfigFile(o.config, fromLine) : planRun(fromLine);
      setExit(await runPreprocessCommand(plan));
    });

  program
    .command('merge')
    .description("combine the shards of a sharded run (their manifests, reports and slices) into OUT_DIR and write its model_info.json")
    .argument('<shard-dirs...>', 'the shards\' output folders (a folder may hold several shards; OUT_DIR may be one of them)')
    .option('-o, --out <dir>', 'the merged output folder')
    .option('--overwrite', 'remove slices in OUT_DIR that no shard wrote, and replace a manifest of another run there')
    .option('-q, --quiet', 'the summary only when something went wrong')
    .option('--json', 'print the merged report.json on standard output (the summary goes to standard error)')
    .action(async (dirs: string[], o: MergeFlags) => {
      setExit(await runMergeCommand(dirs, o));
    });

  program
    .command('doctor')
    .description('show what this installation runs on: versions, addon, CPU features, threads, CUDA, device')
    .option('--json', 'print it as JSON')
    .action(async (o: { json?: boolean }) => {
      const { doctor, formatDoctor } = await import('./doctor.js');
      const d = doctor();
      process.stdout.write(o.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatDoctor(d)}\n`);
      setExit(d.ok ? EXIT_OK : EXIT_SOME_FAILED);
    });

  program
    .command('info')
    .description('show what voxprep reads in each FILE: format, rate, channels, duration, peak')
    .argument('<files...>', 'audio files')
    .option('--json', 'print a JSON array, one entry per file')
    .action(async (files: string[], o: { json?: boolean }) => {
      const { formatInfo, inspectFile } = await import('./info.js');
      const infos = [];
      for (const f of files) infos.push(await inspectFile(f));
      process.stdout.write(o.json ? `${JSON.stringify(infos, null, 2)}\n` : `${infos.map(formatInfo).join('\n\n')}\n`);
      setExit(infos.every((i) => i.status === 'ok') ? EXIT_OK : EXIT_SOME_FAILED);
    });
  return program;
}

/**
 * A reader of the output that goes away (`| head`, a log collector that dies) must not end a
 * run half-way, as Node's EPIPE from the next write would: what is left to print is dropped,
 * and the run finishes, its report and manifest saying what it did.
 */
function dropOutputOnceClosed(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue; // main() ran before in this process
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // EIO: the terminal itself is gone (SIGHUP follows).
      if (err.code !== 'EPIPE' && err.code !== 'EIO' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  dropOutputOnceClosed();
  let code = EXIT_OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(normalizeArgv(argv), { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; everything else commander rejects is bad usage.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`voxprep: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`voxprep: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_SOME_FAILED;
  }
}

