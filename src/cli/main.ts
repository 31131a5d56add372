/**
 * The `backdoor-kit` command line: `scan <model-dir> --data <data>` loads a
 * saved tfjs-layers model and clean data, runs the chosen checks (Neural
 * Cleanse; STRIP and Feature Squeezing on inputs), prints the verdict,
 * optionally writes a report with pictures, and returns the exit code
 * (0 clean, 2 backdoor found, 1 error). Node-only; not part of the package barrel.
 *
 * @packageDocumentation
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { fromLayersModel, type LayersModelClassifier } from '../core/layers-model.js';
import { Rng } from '../core/rng.js';
import type { LabeledData, ProgressEvent } from '../core/types.js';
import { mnist } from '../data/mnist.js';
import { loadCifar10 } from '../data/cifar.js';
import { loadIdxDataset } from '../data/idx.js';
import { subset } from '../data/split.js';
import * as featureSqueezing from '../defences/input/feature-squeezing.js';
import * as neuralCleanse from '../defences/model/neural-cleanse/index.js';
import * as strip from '../defences/input/strip.js';
import { loadModel } from '../io/model-io.js';
import { registerFastKernels } from '../kernels/index.js';
import { neuralCleanseFigures, stripFigure, writeReport, type Figure, type ReportSection } from '../report/index.js';
import { HELP, parseArgs, UsageError, type ScanArgs } from './args.js';

/** Where the CLI writes and how it sets up tensors (injectable for tests). */
export interface CliIo {
  /** Writes to standard output. */
  readonly stdout: (text: string) => void;
  /** Writes to standard error. */
  readonly stderr: (text: string) => void;
  /** Selects the tfjs backend; tests pass a no-op (their backend is set). */
  readonly prepareBackend: (name: 'wasm' | 'cpu') => Promise<void>;
  /** Draw progress bars on stderr. */
  readonly progress: boolean;
}

/**
 * Imports `@tensorflow/tfjs-backend-<name>` (an application entry point may
 * choose a backend; the library modules never do), sets it and registers the
 * fast kernels.
 *
 * @param name - `'wasm'` or `'cpu'`.
 * @returns Resolves when the backend is ready.
 * @throws Error with an install hint when the package is missing.
 */
export async function importBackend(name: 'wasm' | 'cpu'): Promise<void> {
  const pkg = `@tensorflow/tfjs-backend-${name}`;
  try {
    await import(pkg);
  } catch {
    throw new Error(`the tfjs backend package ${pkg} is not installed (npm install ${pkg}@4)`);
  }
  tf.enableProdMode();
  if (!(await tf.setBackend(name))) throw new Error(`could not start the tfjs ${name} backend`);
  await tf.ready();
  registerFastKernels();
}

/** The default IO: the process's streams and a real backend. */
export const PROCESS_IO: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  prepareBackend: importBackend,
  progress: true,
};

/** Bars left open (no newline yet) per output, so an error can clear them first. */
const openBars = new WeakMap<CliIo, boolean>();

/**
 * A progress bar on stderr, drawn only on a terminal: piped or logged stderr
 * then carries nothing but the one error line, if any.
 */
function progressBar(io: CliIo, label: string): ((e: ProgressEvent) => void) | undefined {
  if (!io.progress || process.stderr.isTTY !== true) return undefined;
  return (e) => {
    const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
    const n = Math.round(frac * 30);
    io.stderr(`\r${label} [${'#'.repeat(n)}${'.'.repeat(30 - n)}] ${(frac * 100).toFixed(0).padStart(3)}%`);
    openBars.set(io, frac < 1);
    if (frac >= 1) io.stderr('\n');
  };
}

/** The first line of an error, whitespace collapsed. */
export function errorLine(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  return raw.replace(/\s+/g, ' ').trim() || 'unknown error';
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads labelled data from a `--data` / `--inputs` spec (see `--help`).
 *
 * @param spec - `mnist`, a directory, `<images>,<labels>` IDX files or CIFAR-10 `.bin` files.
 * @param flag - The flag name, for messages.
 * @param seed - Seed of the bundled-MNIST split.
 * @returns The data; the caller disposes `x`.
 * @throws UsageError for a spec that names nothing readable; the readers' errors for malformed files.
 */
export async function loadDataSpec(spec: string, flag: string, seed: number): Promise<LabeledData> {
  if (spec === 'mnist') {
    const { train, test } = await mnist({ testFraction: 0.2, seed });
    train.x.dispose();
    return test;
  }
  const parts = spec.split(',').filter((p) => p.length > 0);
  if (parts.length > 1) {
    for (const p of parts) if (!(await exists(p))) throw new UsageError(`${flag}: file not found: ${p}`);
    if (parts.every((p) => p.endsWith('.bin'))) return loadCifar10(parts);
    if (parts.length === 2) return loadIdxDataset(parts[0]!, parts[1]!);
    throw new UsageError(
      `${flag}: give <images>,<labels> IDX files or CIFAR-10 .bin files (got ${parts.length} paths)`,
    );
  }
  if (!(await exists(spec))) throw new UsageError(`${flag}: not found: ${spec}`);
  if ((await stat(spec)).isDirectory()) {
    const names = (await readdir(spec)).sort();
    const bins = names.filter((n) => n.endsWith('.bin'));
    const images = names.filter((n) => /images/i.test(n));
    const labels = names.filter((n) => /labels/i.test(n));
    if (images.length === 1 && labels.length === 1)
      return loadIdxDataset(join(spec, images[0]!), join(spec, labels[0]!));
    if (bins.length > 0 && images.length === 0) return loadCifar10(bins.map((b) => join(spec, b)));
    throw new UsageError(
      `${flag}: directory ${spec} must hold one IDX image file and one IDX label file (names with "images"/"labels") or CIFAR-10 .bin batches`,
    );
  }
  if (spec.endsWith('.bin')) return loadCifar10(spec);
  throw new UsageError(`${flag}: cannot read ${spec}: expected mnist, a directory, <images>,<labels> or .bin files`);
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function checkData(clf: LayersModelClassifier, d: LabeledData, flag: string): void {
  const shape = d.x.shape.slice(1);
  if (shape.join() !== clf.inputShape.join()) {
    throw new UsageError(
      `the model expects inputs ${shapeText(clf.inputShape)} but ${flag} has images ${shapeText(shape)}`,
    );
  }
  let max = 0;
  for (const v of d.y) max = Math.max(max, v);
  if (max >= clf.numClasses) {
    throw new UsageError(`${flag} has label ${max} but the model has only ${clf.numClasses} classes`);
  }
}

/** A short Neural Cleanse schedule for `--quick` (measured in docs/cli.md). */
const NC_QUICK = Object.freeze({
  steps: 60,
  samplesPerStep: 256,
  trainBatchSize: 32,
  patience: 3,
  earlyStopPatience: 10,
});

/** The machine-readable result of a scan (printed with `--json`). */
export interface ScanResult {
  readonly backdoored: boolean;
  readonly targets: number[];
  readonly checks: Record<string, unknown>;
  readonly seconds: number;
  readonly report: string | null;
}

/** STRIP's overlay count in the CLI (`--quick` uses fewer). */
function stripOverlays(quick: boolean): number {
  return quick ? 20 : 100;
}

/** Checks what can be checked before any work: the report folder and the sample count per check. */
async function checkScanArgs(a: ScanArgs): Promise<void> {
  if (a.out !== undefined && (await exists(a.out)) && !(await stat(a.out)).isDirectory()) {
    throw new UsageError(`--out: ${a.out} exists and is not a directory (the report is a folder)`);
  }
  if (a.defences.includes('strip')) {
    const need = 2 * (stripOverlays(a.quick) + 1);
    if (a.samples < need) {
      throw new UsageError(
        `--samples must be at least ${need} with --defences strip${a.quick ? ' --quick' : ''} (half calibrates STRIP, which needs more images than overlays; got ${a.samples})`,
      );
    }
  }
}

async function scan(a: ScanArgs, io: CliIo): Promise<ScanResult> {
  const t0 = performance.now();
  await checkScanArgs(a);
  await io.prepareBackend(a.backend);
  const model = await loadModel(a.modelDir);
  const clf = fromLayersModel(model, { owned: true, output: a.logits ? 'logits' : 'probabilities' });
  const owned: tf.Tensor[] = [];
  try {
    const all = await loadDataSpec(a.data, '--data', a.seed);
    owned.push(all.x);
    checkData(clf, all, '--data');
    const rng = new Rng(a.seed);
    const order = rng.permutation(all.y.length);
    const n = Math.min(a.samples, all.y.length);
    const clean = subset(all, Array.from(order.subarray(0, n)));
    owned.push(clean.x);
    let inputs: tf.Tensor4D | undefined;
    if (a.inputs !== undefined) {
      const d = await loadDataSpec(a.inputs, '--inputs', a.seed);
      owned.push(d.x);
      checkData(clf, d, '--inputs');
      inputs = d.x;
    }
    // input-level checks calibrate on one half of the clean samples and, without --inputs, screen the other half
    const half = Math.floor(n / 2);
    const calib = subset(
      clean,
      Array.from({ length: half }, (_, i) => i),
    );
    const held = subset(
      clean,
      Array.from({ length: n - half }, (_, i) => half + i),
    );
    owned.push(calib.x, held.x);
    const screened = inputs ?? held.x;
    const screenedName = inputs ? '--inputs' : 'held-out clean data';

    const checks: Record<string, unknown> = {};
    const targets = new Set<number>();
    let backdoored = false;
    const lines: string[] = [];
    const sections: ReportSection[] = [];
    const figures: Figure[] = [];

    if (a.defences.includes('nc')) {
      const opts: neuralCleanse.NeuralCleanseOptions = {
        ...(a.quick ? NC_QUICK : {}),
        ...(a.ncSteps !== undefined ? { steps: a.ncSteps } : {}),
        threshold: a.threshold,
        seed: a.seed,
        onProgress: progressBar(io, 'Neural Cleanse'),
      };
      const r = await neuralCleanse.detect(clf, clean, opts);
      checks['nc'] = {
        backdoored: r.backdoored,
        targets: r.targets,
        anomalyIndex: r.anomalyIndex,
        threshold: r.threshold,
        perLabel: r.perClass.map((p) => ({
          label: p.label,
          norm: p.norm,
          anomalyIndex: p.anomalyIndex,
          flagged: p.flagged,
        })),
        seconds: r.timing.totalSeconds,
      };
      if (r.backdoored) {
        backdoored = true;
        r.targets.forEach((t) => targets.add(t));
      }
      lines.push(
        r.backdoored
          ? `Neural Cleanse: backdoor found, target label ${r.targets.join(', ')} (anomaly index ${r.anomalyIndex.toFixed(2)} > ${r.threshold})`
          : `Neural Cleanse: no label flagged (largest anomaly index ${Math.max(...r.perClass.map((p) => p.anomalyIndex)).toFixed(2)} <= ${r.threshold})`,
      );
      if (a.out !== undefined) {
        sections.push({
          heading: 'Neural Cleanse',
          body: lines[lines.length - 1]!,
          figures: [neuralCleanseFigures(r)],
        });
      }
    }
    if (a.defences.includes('strip')) {
      const cal = await strip.calibrate(clf, calib, {
        seed: a.seed,
        overlays: stripOverlays(a.quick),
        poolSize: Math.min(1000, half),
        onProgress: progressBar(io, 'STRIP calibration'),
      });
      const r = await strip.detect(clf, screened, { calibration: cal, onProgress: progressBar(io, 'STRIP') });
      const flagged = r.suspicious.reduce((s, v) => s + v, 0);
      const share = flagged / r.suspicious.length;
      const alarm = inputs !== undefined && share > a.inputAlarm;
      if (alarm) backdoored = true;
      checks['strip'] = { flagged, screened: r.suspicious.length, share, threshold: r.threshold, alarm };
      lines.push(
        `STRIP: flagged ${flagged} of ${r.suspicious.length} inputs (${(100 * share).toFixed(1)}%, ${screenedName}; threshold ${r.threshold.toFixed(3)} bits)${alarm ? ' -> backdoor' : ''}`,
      );
      if (a.out !== undefined) {
        const fig = stripFigure(cal.cleanEntropy, r.scores, r.threshold);
        figures.push(fig);
        sections.push({ heading: 'STRIP', body: lines[lines.length - 1]!, figures: [fig] });
      }
    }
    if (a.defences.includes('fs')) {
      const cal = await featureSqueezing.calibrate(clf, calib, {
        onProgress: progressBar(io, 'Feature Squeezing calibration'),
      });
      const r = await featureSqueezing.detect(clf, screened, { calibration: cal });
      const flagged = r.suspicious.reduce((s, v) => s + v, 0);
      const share = flagged / r.suspicious.length;
      const alarm = inputs !== undefined && share > a.inputAlarm;
      if (alarm) backdoored = true;
      checks['fs'] = { flagged, screened: r.suspicious.length, share, threshold: r.threshold, alarm };
      lines.push(
        `Feature Squeezing: flagged ${flagged} of ${r.suspicious.length} inputs (${(100 * share).toFixed(1)}%, ${screenedName}; threshold ${r.threshold.toFixed(3)})${alarm ? ' -> backdoor' : ''}`,
      );
      if (a.out !== undefined) sections.push({ heading: 'Feature Squeezing', body: lines[lines.length - 1]! });
    }
    const tlist = [...targets].sort((x, y) => x - y);
    const verdict = backdoored
      ? `BACKDOOR FOUND${tlist.length > 0 ? `: target label ${tlist.join(', ')}` : ' (input-level alarm)'}`
      : 'NO BACKDOOR FOUND';
    let reportPath: string | null = null;
    if (a.out !== undefined) {
      const written = await writeReport(a.out, {
        title: `backdoor-kit scan: ${a.modelDir}`,
        sections: [
          {
            heading: 'Verdict',
            body: [
              `**${verdict}**`,
              '',
              `Model \`${a.modelDir}\` (inputs ${shapeText(clf.inputShape)}, ${clf.numClasses} classes); clean data \`${a.data}\` (${n} samples used); checks: ${a.defences.join(', ')}; seed ${a.seed}${a.quick ? '; --quick' : ''}.`,
              '',
              ...lines.map((l) => `- ${l}`),
            ].join('\n'),
          },
          ...sections,
        ],
      });
      reportPath = written[0]!;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (a.json) {
      io.stdout(`${JSON.stringify({ verdict, backdoored, targets: tlist, checks, seconds, report: reportPath })}\n`);
    } else {
      for (const l of lines) io.stdout(`${l}\n`);
      if (reportPath !== null) io.stdout(`report: ${reportPath}\n`);
      io.stdout(`${verdict}\n`);
    }
    return { backdoored, targets: tlist, checks, seconds, report: reportPath };
  } finally {
    for (const t of owned) if (!t.isDisposed) t.dispose();
    clf.dispose();
  }
}

async function version(): Promise<string> {
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * Runs the command line and returns the exit code; never throws.
 *
 * @param argv - Arguments without `node` and the script.
 * @param io - {@link CliIo} (defaults to the process's streams and a real backend).
 * @returns 0 (no backdoor found / help), 2 (backdoor found), 1 (error, one line on stderr).
 * @throws Never.
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2));
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  try {
    const a = parseArgs(argv);
    if (a.command === 'help') {
      io.stdout(HELP);
      return 0;
    }
    if (a.command === 'version') {
      io.stdout(`${await version()}\n`);
      return 0;
    }
    const r = await scan(a, io);
    return r.backdoored ? 2 : 0;
  } catch (e) {
    // a bar left half-drawn is erased, so the error is the only line it leaves
    if (openBars.get(io) === true) io.stderr('\r\x1b[2K');
    openBars.delete(io);
    io.stderr(`backdoor-kit: error: ${errorLine(e)}\n`);
    return 1;
  }
}
