// The command line: commands, flags, help, exit codes (0 all processed, 1 some files
// failed, 2 bad usage with nothing written).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CUT_MODES, DEFAULTS, NORMALIZATIONS, UsageError } from './config.js';
import { preprocess } from './index.js';
import { formatSummary } from './report.js';

export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;

function number(label: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${label} must be a number.`);
    return n;
  };
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('voxprep')
    .description('Prepare voice datasets for training RVC / Applio models.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('preprocess')
    .description('decode, resample, high-pass, normalize and slice every recording of DATASET into OUT_DIR')
    .argument('<dataset>', 'dataset folder: files in it are speaker 0, files in folder N/ are speaker N')
    .requiredOption('-o, --out <dir>', "output folder (Applio's logs/<model>/)")
    .addOption(new Option('--sr <hz>', 'target sample rate').argParser(number('--sr')).default(DEFAULTS.sampleRate))
    .addOption(new Option('--cut <mode>', 'how to cut files into segments').choices(CUT_MODES).default(DEFAULTS.cut))
    .option('--highpass', '48 Hz high-pass filter (default)', DEFAULTS.highpass)
    .option('--no-highpass', 'no high-pass filter')
    .addOption(
      new Option('--normalize <mode>', 'peak normalization of the file (pre) or each segment (post)')
        .choices(NORMALIZATIONS)
        .default(DEFAULTS.normalize),
    )
    .addOption(new Option('--chunk <seconds>', 'simple cut: segment length').argParser(number('--chunk')).default(DEFAULTS.chunk))
    .addOption(
      new Option('--overlap <seconds>', 'simple cut: overlap of segments').argParser(number('--overlap')).default(DEFAULTS.overlap),
    )
    .addOption(new Option('--threads <n>', 'files processed at once (default: all cores)').argParser(number('--threads')))
    .option('--overwrite', 'replace the slices of an earlier run in the output folder', false)
    .option('-q, --quiet', 'print nothing but errors', false)
    .action(async (dataset: string, o: Record<string, unknown>) => {
      const result = await preprocess(dataset, o.out as string, {
        sampleRate: o.sr as number,
        cut: o.cut as (typeof CUT_MODES)[number],
        highpass: o.highpass as boolean,
        normalize: o.normalize as (typeof NORMALIZATIONS)[number],
        chunk: o.chunk as number,
        overlap: o.overlap as number,
        threads: o.threads as number | undefined,
        overwrite: o.overwrite as boolean,
        onProgress: o.quiet
          ? undefined
          : (e) => {
              if (e.file.status !== 'ok') process.stderr.write(`${e.file.status}: ${e.file.relative}: ${e.file.error}\n`);
            },
      });
      // Any file not processed (failed, rejected or skipped) makes the exit status 1.
      const failed = result.files.some((f) => f.status !== 'ok');
      if (!o.quiet || failed) process.stdout.write(`${formatSummary(result)}\n`);
      setExit(failed ? EXIT_SOME_FAILED : EXIT_OK);
    });
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
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
