/**
 * Spectral Signatures (Tran, Li & Madry, NeurIPS 2018): poisoned samples
 * leave a trace along the top singular direction of a class's centred
 * feature representations; score each sample by its squared projection on
 * that direction and remove the highest-scoring ones, then retrain.
 *
 * Steps of {@link detect} (Tran et al., Algorithm 1), per class:
 * 1. representations `R` of the class's samples (the last hidden layer's
 *    activations, or `layer`), batch by batch;
 * 2. centre them: `M = R − mean(R)`;
 * 3. top right-singular vector `v` of `M`;
 * 4. score `τᵢ = ⟨Mᵢ, v⟩²` (the centred representation, unlike ART which
 *    projects the uncentred one);
 * 5. flag the `⌊1.5 · ε · n_class⌋` highest scores.
 *
 * Defaults, deviations and measured numbers: docs/defences/spectral-signatures.md.
 *
 * @packageDocumentation
 */
import { argmaxRows, DEFAULT_BATCH_SIZE, predictProbabilities } from '../../core/batching.js';
import {
  findLayer,
  lastHiddenLayer,
  requireCapabilities,
  type Classifier,
  type LayeredClassifier,
  type TrainableClassifier,
} from '../../core/classifier.js';
import { InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { throwIfAborted, report as progress, yieldToEventLoop } from '../../core/progress.js';
import { makeRng } from '../../core/rng.js';
import type { AnyLabeledData, LongRunningOptions, ProgressCallback } from '../../core/types.js';
import {
  assertFiniteNumber,
  assertInRange,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../core/checks.js';
import { resolveOptions } from '../../core/options.js';
import { assertLabeledData } from '../../core/validate.js';
import { centred, columnMeans, selectRows, type RowMatrix } from '../../stats/matrix.js';
import { principalAxes } from '../../stats/pca.js';
import { assertDataReport, layerActivations, retrainOnKept, splitFlagged, type DataRepairResult } from './shared.js';

/** Options of {@link detect}. */
export interface SpectralSignaturesOptions extends LongRunningOptions {
  /** Layer whose activations are the representations. @default undefined (the last hidden layer) */
  readonly layer?: string | undefined;
  /**
   * ε: the expected (upper bound on the) share of poison in a class; each
   * class loses its `removalMultiplier · ε` highest-scoring samples. One
   * number for every class, or one per class (e.g. ε only for a target that
   * Neural Cleanse named, 0 elsewhere).
   * @default 0.33 (ART's `expected_pp_poison`)
   */
  readonly expectedPoisonFraction?: number | readonly number[];
  /** Multiplier of ε for the share removed. @default 1.5 (Tran et al.; ART's `eps_multiplier`) */
  readonly removalMultiplier?: number;
  /** Group samples by their given label (Tran et al.) or by the model's prediction. @default 'label' */
  readonly segmentBy?: 'label' | 'prediction';
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link detect}; sources in docs/defences/spectral-signatures.md. */
export const SPECTRAL_SIGNATURES_DEFAULTS = Object.freeze({
  layer: undefined as string | undefined,
  expectedPoisonFraction: 0.33 as number | readonly number[],
  removalMultiplier: 1.5,
  segmentBy: 'label' as 'label' | 'prediction',
  batchSize: DEFAULT_BATCH_SIZE,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Per-class part of a {@link SpectralSignaturesReport}. */
export interface SpectralSignaturesClassReport {
  /** The class. */
  readonly label: number;
  /** Samples in the class. */
  readonly size: number;
  /** Samples flagged (`⌊removalMultiplier · ε · size⌋`). */
  readonly removed: number;
  /** Lowest flagged score (Infinity when none is flagged). */
  readonly threshold: number;
  /** Largest singular value of the centred representations. */
  readonly topSingularValue: number;
  /** Share of the class's variance along the top singular direction. */
  readonly topShare: number;
}

/** Result of {@link detect} (plain data). */
export interface SpectralSignaturesReport {
  /** 1 for each flagged sample. */
  readonly suspicious: Uint8Array;
  /** Outlier score `⟨r − mean, v⟩²` of each sample (comparable within a class). */
  readonly scores: Float32Array;
  /** Class each sample was scored in. */
  readonly segments: Int32Array;
  /** Per-class details, one entry per class. */
  readonly perClass: SpectralSignaturesClassReport[];
  /** The layer used. */
  readonly layer: string;
}

/** Above this many rows and columns, the top singular vector comes from power iteration instead of an eigendecomposition. */
const EIGEN_LIMIT = 400;

/** Top right-singular vector of a centred matrix `xc` and its singular value. */
function topSingular(xc: RowMatrix): { v: Float64Array; sigma: number; share: number } {
  const { values, rows, cols } = xc;
  let total = 0;
  for (const x of values) total += x * x;
  if (Math.min(rows, cols) <= EIGEN_LIMIT) {
    const { axes, variances } = principalAxes(xc, 1, 1);
    return { v: axes.slice(0, cols), sigma: Math.sqrt(variances[0]!), share: total > 0 ? variances[0]! / total : 0 };
  }
  // power iteration on xcᵀxc from a deterministic start (the largest row)
  let v = new Float64Array(cols);
  let best = -1;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += values[r * cols + j]! ** 2;
    if (s > best) {
      best = s;
      v = values.slice(r * cols, (r + 1) * cols);
    }
  }
  let lambda = 0;
  const u = new Float64Array(rows);
  for (let it = 0; it < 2000; it++) {
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm === 0) break;
    for (let j = 0; j < cols; j++) v[j]! /= norm;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += values[r * cols + j]! * v[j]!;
      u[r] = s;
    }
    const next = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const ur = u[r]!;
      for (let j = 0; j < cols; j++) next[j]! += ur * values[r * cols + j]!;
    }
    let l = 0;
    for (let j = 0; j < cols; j++) l += next[j]! * v[j]!;
    const done = Math.abs(l - lambda) <= 1e-12 * Math.abs(l);
    lambda = l;
    v = next;
    if (done) break;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let j = 0; j < cols; j++) v[j]! /= norm;
  return { v, sigma: Math.sqrt(Math.max(0, lambda)), share: total > 0 ? lambda / total : 0 };
}

/** ε of every class from a number or a per-class array, validated. */
function epsilonPerClass(fn: string, value: unknown, K: number): number[] {
  if (typeof value === 'number') {
    assertInRange(fn, 'options.expectedPoisonFraction', value, 0, 1);
    return new Array<number>(K).fill(value);
  }
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.expectedPoisonFraction', value },
      'must be a number or an array with one number per class',
    );
  }
  const arr = value as ArrayLike<unknown>;
  if (arr.length !== K) {
    throw new ShapeError({ fn, arg: 'options.expectedPoisonFraction', value }, `must have one entry per class (${K})`);
  }
  const out: number[] = [];
  for (let c = 0; c < K; c++) {
    assertInRange(fn, `options.expectedPoisonFraction[${c}]`, arr[c], 0, 1);
    out.push(arr[c] as number);
  }
  return out;
}

/**
 * Scores every row of `acts` listed in `indices` (one class) and returns the
 * scores in `indices` order plus the singular statistics.
 *
 * @internal
 */
function scoreClass(acts: RowMatrix, indices: Int32Array): { scores: Float64Array; sigma: number; share: number } {
  const m = selectRows(acts, indices);
  const xc = centred(m, columnMeans(m));
  const { v, sigma, share } = topSingular(xc);
  const scores = new Float64Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    let s = 0;
    for (let j = 0; j < xc.cols; j++) s += xc.values[r * xc.cols + j]! * v[j]!;
    scores[r] = s * s;
  }
  return { scores, sigma, share };
}

/**
 * Spectral Signatures (Tran et al. 2018): flags, in every class, the samples
 * whose centred representation projects most strongly on the top singular
 * direction — `⌊removalMultiplier · expectedPoisonFraction · n_class⌋` of
 * them.
 *
 * @param classifier - A classifier with the `'layers'` capability, trained on
 *   `data`. Not modified.
 * @param data - The (possibly poisoned) training data. Not modified.
 * @param options - {@link SpectralSignaturesOptions}.
 * @returns Per-sample scores and flags, per-class statistics (plain data).
 * @throws {@link BackdoorKitError} for a missing capability, an unknown
 *   layer, bad data or options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const report = await spectralSignatures.detect(clf, train, { expectedPoisonFraction: 0.1 });
 * report.suspicious; // Uint8Array, 1 = removed
 * report.scores;     // Float32Array, higher = more suspicious within its class
 * ```
 */
export async function detect(
  classifier: Classifier,
  data: AnyLabeledData,
  options: SpectralSignaturesOptions = {},
): Promise<SpectralSignaturesReport> {
  const fn = 'spectralSignatures.detect';
  const o = resolveOptions(fn, SPECTRAL_SIGNATURES_DEFAULTS, options);
  requireCapabilities(fn, 'classifier', classifier, ['layers']);
  const clf = classifier as LayeredClassifier;
  const info = o.layer === undefined ? lastHiddenLayer(fn, clf) : findLayer(fn, 'options.layer', clf, o.layer);
  const K = clf.numClasses;
  assertInRange(fn, 'options.removalMultiplier', o.removalMultiplier, 0, Infinity);
  const eps = epsilonPerClass(fn, o.expectedPoisonFraction, K);
  eps.forEach((e, c) => {
    if (e * o.removalMultiplier > 1) {
      const arg =
        typeof o.expectedPoisonFraction === 'number'
          ? 'options.expectedPoisonFraction'
          : `options.expectedPoisonFraction[${c}]`;
      throw new InvalidArgumentError(
        { fn, arg, value: e },
        `times options.removalMultiplier (${o.removalMultiplier}) must not exceed 1`,
      );
    }
  });
  assertOneOf(fn, 'options.segmentBy', o.segmentBy, ['label', 'prediction'] as const);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertLongRunning(fn, o);
  assertLabeledData(fn, 'data', data, { inputShape: clf.inputShape, numClasses: K });
  throwIfAborted(o.signal, fn);
  const n = data.y.length;
  const acts = await layerActivations(
    fn,
    clf,
    data.x,
    info.name,
    o.batchSize,
    o.onProgress,
    o.signal,
    'spectral-signatures:activations',
  );
  const segments =
    o.segmentBy === 'label'
      ? Int32Array.from(data.y)
      : argmaxRows(await predictProbabilities(clf, data.x, o.batchSize), K);
  const members: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < n; i++) members[segments[i]!]!.push(i);
  const suspicious = new Uint8Array(n);
  const scores = new Float32Array(n);
  const perClass: SpectralSignaturesClassReport[] = [];
  for (let c = 0; c < K; c++) {
    throwIfAborted(o.signal, fn);
    const idx = Int32Array.from(members[c]!);
    const size = idx.length;
    const removed = Math.floor(o.removalMultiplier * eps[c]! * size + 1e-9);
    if (size < 2) {
      perClass.push({ label: c, size, removed: 0, threshold: Infinity, topSingularValue: 0, topShare: 0 });
      continue;
    }
    const s = scoreClass(acts, idx);
    idx.forEach((i, r) => (scores[i] = s.scores[r]!));
    // highest scores first; ties by sample index
    const order = Array.from(idx.keys()).sort((a, b) => s.scores[b]! - s.scores[a]! || idx[a]! - idx[b]!);
    for (let r = 0; r < removed; r++) suspicious[idx[order[r]!]!] = 1;
    perClass.push({
      label: c,
      size,
      removed,
      threshold: removed > 0 ? s.scores[order[removed - 1]!]! : Infinity,
      topSingularValue: s.sigma,
      topShare: s.share,
    });
    progress(o.onProgress, { stage: 'spectral-signatures:score', done: c + 1, total: K });
    if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
  }
  return { suspicious, scores, segments, perClass, layer: info.name };
}

/** Options of {@link repair}. */
export interface SpectralSignaturesRepairOptions extends LongRunningOptions {
  /** Most epochs of retraining. @default 30 */
  readonly maxEpochs?: number;
  /** Retraining stops once an epoch lowers the mean training loss by less than this share of the previous epoch's. @default 0.05 */
  readonly tolerance?: number;
  /** Samples per gradient step. @default 128 */
  readonly trainBatchSize?: number;
  /** Adam step size. @default 0.001 */
  readonly learningRate?: number;
  /** Seed of initialisation and shuffling. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link repair}. */
export const SPECTRAL_SIGNATURES_REPAIR_DEFAULTS = Object.freeze({
  maxEpochs: 30,
  tolerance: 0.05,
  trainBatchSize: 128,
  learningRate: 0.001,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/**
 * Result of {@link repair}: a freshly initialised model of the same
 * architecture trained on the kept samples, and those samples. The caller
 * owns (disposes) `classifier` and `data.x`.
 */
export type SpectralSignaturesRepairResult<C extends Classifier> = DataRepairResult<C>;

/**
 * Removes the flagged samples and retrains a freshly initialised model of the
 * same architecture on the rest until the training loss stops improving by
 * `tolerance` (Tran et al.: "retrain from scratch").
 *
 * @param classifier - The examined model (needs `'train'`); not modified.
 * @param data - The examined training data; not modified.
 * @param report - The {@link SpectralSignaturesReport} for `data` (or any `{ suspicious }`).
 * @param options - {@link SpectralSignaturesRepairOptions}.
 * @returns The retrained classifier and the kept data (the caller disposes both).
 * @throws {@link BackdoorKitError} for a missing capability, a report that
 *   does not match `data`, bad options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const found = await spectralSignatures.detect(clf, train);
 * const { classifier: retrained, data: kept } = await spectralSignatures.repair(clf, train, found);
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  data: AnyLabeledData,
  report: SpectralSignaturesReport | { suspicious: Uint8Array },
  options: SpectralSignaturesRepairOptions = {},
): Promise<SpectralSignaturesRepairResult<C>> {
  const fn = 'spectralSignatures.repair';
  const o = resolveOptions(fn, SPECTRAL_SIGNATURES_REPAIR_DEFAULTS, options);
  requireCapabilities(fn, 'classifier', classifier, ['train']);
  assertPositiveInteger(fn, 'options.maxEpochs', o.maxEpochs);
  assertInRange(fn, 'options.tolerance', o.tolerance, 0, 1);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
  assertLabeledData(fn, 'data', data, { inputShape: classifier.inputShape, numClasses: classifier.numClasses });
  const n = data.y.length;
  assertDataReport(fn, report, n);
  throwIfAborted(o.signal, fn);
  const { kept } = splitFlagged(fn, report.suspicious);
  const rng = makeRng(o.seed, fn);
  const initSeed = rng.derive('init').nextSeed();
  const { model, ...r } = await retrainOnKept(
    fn,
    classifier as unknown as TrainableClassifier,
    data,
    kept,
    initSeed,
    { ...o, seed: rng.derive('fit').nextSeed() },
    'spectral-signatures:repair',
  );
  return { classifier: model as unknown as C, removed: n - kept.length, ...r };
}
