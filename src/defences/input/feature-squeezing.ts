/**
 * Feature squeezing (Xu, Evans and Qi, "Feature Squeezing: Detecting
 * Adversarial Examples in Deep Neural Networks", NDSS 2018): an input is
 * flagged when the classifier's prediction on it differs too much from its
 * prediction on a "squeezed" copy (colour bit-depth reduction, median
 * smoothing). The score is the largest L1 distance between the probability
 * vectors over the squeezers; the threshold is set on clean data at a chosen
 * false-rejection rate. `repair` returns the squeezed inputs.
 *
 * Designed for adversarial examples; on backdoor triggers it detects only
 * what a squeezer happens to destroy (see docs/defences/feature-squeezing.md).
 * Needs only `classifier.predict`, so it works on any {@link Classifier}.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { mapBatches } from '../../core/batching.js';
import { assertClassifier, type Classifier } from '../../core/classifier.js';
import { InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import type { CleanImages, LongRunningOptions, ProgressCallback } from '../../core/types.js';
import {
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
  shapesEqual,
} from '../../core/checks.js';
import { resolveOptions } from '../../core/options.js';
import { assertBatch, assertTensor } from '../../core/validate.js';
import { checkProbabilities } from '../../core/predictions.js';
import { cleanImagesTensor } from '../../core/validate.js';
import { assertFrr, thresholdUnchecked, type ThresholdMethod } from '../../stats/thresholds.js';

/**
 * A squeezer (plain data):
 *
 * - `{ kind: 'bit-depth', bits }`: colour bit-depth reduction to `bits` bits
 *   per value, `round(x·(2^bits − 1)) / (2^bits − 1)` with round-half-to-even
 *   (`numpy.rint`, as in Xu et al.'s `reduce_precision_py`);
 * - `{ kind: 'median', size }`: median smoothing over a `size × size` window
 *   per channel, as `scipy.ndimage.median_filter(x, size=(1, size, size, 1),
 *   mode='reflect')` (Xu et al.'s `median_filter_py`): edges reflected
 *   (`d c b a | a b c d`), for an even size the window covers `size/2` pixels
 *   before and `size/2 − 1` after, and the median of an even count is the
 *   upper middle value.
 */
export type Squeezer =
  { readonly kind: 'bit-depth'; readonly bits: number } | { readonly kind: 'median'; readonly size: number };

/**
 * A bit-depth squeezer.
 *
 * @param bits - Bits per value, integer in [1, 8].
 * @returns `{ kind: 'bit-depth', bits }`.
 * @throws {@link InvalidArgumentError} for `bits` outside [1, 8].
 * @example
 * ```ts
 * featureSqueezing.bitDepth(1);   // { kind: 'bit-depth', bits: 1 }
 * ```
 */
export function bitDepth(bits: number): Squeezer {
  assertInteger('featureSqueezing.bitDepth', 'bits', bits, 1, 8);
  return Object.freeze({ kind: 'bit-depth', bits });
}

/**
 * A median-smoothing squeezer.
 *
 * @param size - Window side in pixels (integer >= 1; Xu et al. use 2 and 3).
 * @returns `{ kind: 'median', size }`.
 * @throws {@link InvalidArgumentError} for a bad size.
 * @example
 * ```ts
 * featureSqueezing.median(2);   // { kind: 'median', size: 2 }
 * ```
 */
export function median(size: number): Squeezer {
  assertInteger('featureSqueezing.median', 'size', size, 1);
  return Object.freeze({ kind: 'median', size });
}

/** A short name for a squeezer: `'1-bit'`, `'median 2x2'`. */
export function squeezerName(squeezer: Squeezer): string {
  return squeezer.kind === 'bit-depth' ? `${squeezer.bits}-bit` : `median ${squeezer.size}x${squeezer.size}`;
}

function assertSqueezers(
  fn: string,
  arg: string,
  value: unknown,
  inputShape: readonly number[] | undefined,
): asserts value is readonly Squeezer[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a non-empty array of squeezers');
  }
  value.forEach((s: unknown, i) => {
    const at = `${arg}[${i}]`;
    const q = s as Partial<Squeezer> | null;
    if (q === null || typeof q !== 'object') {
      throw new InvalidArgumentError(
        { fn, arg: at, value: s },
        "must be { kind: 'bit-depth', bits } or { kind: 'median', size }",
      );
    }
    if (q.kind === 'bit-depth') {
      assertInteger(fn, `${at}.bits`, (q as { bits?: unknown }).bits, 1, 8);
    } else if (q.kind === 'median') {
      const size = (q as { size?: unknown }).size;
      assertInteger(fn, `${at}.size`, size, 1);
      if (inputShape !== undefined) {
        if (inputShape.length !== 3) {
          throw new ShapeError(
            { fn, arg: at, value: `[${inputShape.join(',')}]` },
            'median smoothing needs image inputs [height, width, channels]',
          );
        }
        const side = Math.min(inputShape[0]!, inputShape[1]!);
        if (size > side) {
          throw new InvalidArgumentError(
            { fn, arg: `${at}.size`, value: size },
            `must be at most the image side (${side})`,
          );
        }
      }
    } else {
      throw new InvalidArgumentError({ fn, arg: `${at}.kind`, value: q.kind }, "must be 'bit-depth' or 'median'");
    }
  });
}

function bitDepthTensor(x: tf.Tensor, bits: number): tf.Tensor {
  const levels = tf.scalar(2 ** bits - 1);
  return tf.div(tf.round(tf.mul(x, levels)), levels);
}

function medianTensor(x: tf.Tensor, size: number): tf.Tensor {
  if (size === 1) return tf.clone(x);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const before = Math.floor(size / 2);
  const after = size - 1 - before;
  const padded = tf.mirrorPad(
    x as tf.Tensor4D,
    [
      [0, 0],
      [before, after],
      [before, after],
      [0, 0],
    ],
    'symmetric',
  );
  const windows: tf.Tensor[] = [];
  for (let dy = 0; dy < size; dy++) {
    for (let dx = 0; dx < size; dx++) windows.push(tf.slice(padded, [0, dy, dx, 0], [n, h, w, c]));
  }
  const count = size * size;
  const stacked = tf.reshape(tf.stack(windows, 4), [-1, count]);
  // rank floor(count/2) in ascending order = position count - 1 - rank in descending order
  const keep = count - Math.floor(count / 2);
  const top = tf.topk(stacked, keep, true).values;
  return tf.reshape(tf.slice(top, [0, keep - 1], [-1, 1]), x.shape);
}

function applySqueezers(x: tf.Tensor, squeezers: readonly Squeezer[]): tf.Tensor {
  return tf.tidy(() => {
    let y = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    for (const s of squeezers) y = s.kind === 'bit-depth' ? bitDepthTensor(y, s.bits) : medianTensor(y, s.size);
    return y === x ? tf.clone(x) : y;
  });
}

/**
 * Applies squeezers to a batch, in order (composition), in one pass.
 *
 * @param x - Inputs `[n, ...]` (images `[n, h, w, c]` for median smoothing), values in [0, 1]; not modified.
 * @param squeezers - One squeezer or a list applied left to right.
 * @returns A new float32 tensor of `x`'s shape; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} for a bad squeezer; {@link ShapeError}
 *   for median smoothing of non-image inputs.
 * @example
 * ```ts
 * const y = featureSqueezing.squeeze(x, featureSqueezing.bitDepth(1));
 * ```
 */
export function squeeze(x: tf.Tensor, squeezers: Squeezer | readonly Squeezer[]): tf.Tensor {
  const fn = 'featureSqueezing.squeeze';
  assertTensor(fn, 'x', x);
  const list = Array.isArray(squeezers) ? (squeezers as readonly Squeezer[]) : [squeezers as Squeezer];
  assertSqueezers(fn, 'squeezers', list, x.shape.slice(1));
  return applySqueezers(x, list);
}

/** Options of {@link calibrate} (and the calibration part of {@link detect}). */
export interface FeatureSqueezingCalibrateOptions extends LongRunningOptions {
  /**
   * The squeezers; the score is the maximum L1 distance over them (Xu et
   * al.'s joint detection). Default: their best joint MNIST configuration,
   * 1-bit depth and 2×2 median. @default [bitDepth(1), median(2)]
   */
  readonly squeezers?: readonly Squeezer[];
  /** False-rejection rate on clean data, in (0, 1) (Xu et al.: 5%). @default 0.05 */
  readonly frr?: number;
  /** `'quantile'` (empirical, Xu et al.) or `'normal'` (normal fit). @default 'quantile' */
  readonly thresholdMethod?: ThresholdMethod;
  /** Inputs per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Options of {@link detect}. */
export interface FeatureSqueezingOptions extends FeatureSqueezingCalibrateOptions {
  /** A calibration from {@link calibrate}; or give `cleanData`. @default undefined */
  readonly calibration?: FeatureSqueezingCalibration | undefined;
  /** Clean images to calibrate on first; or give `calibration`. @default undefined */
  readonly cleanData?: CleanImages | undefined;
}

/** Options of {@link repair}. */
export interface FeatureSqueezingRepairOptions {
  /** Squeezers applied in order. @default [bitDepth(1), median(2)] */
  readonly squeezers?: readonly Squeezer[];
  /** Inputs per batch. @default 256 */
  readonly batchSize?: number;
}

const DEFAULT_SQUEEZERS: readonly Squeezer[] = Object.freeze([bitDepth(1), median(2)]);

/** Defaults of {@link detect}, {@link calibrate} and {@link repair}; sources in docs/defences/feature-squeezing.md. */
export const FEATURE_SQUEEZING_DEFAULTS = Object.freeze({
  squeezers: DEFAULT_SQUEEZERS,
  frr: 0.05,
  thresholdMethod: 'quantile' as ThresholdMethod,
  batchSize: 256,
  calibration: undefined as FeatureSqueezingCalibration | undefined,
  cleanData: undefined as CleanImages | undefined,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

const CALIBRATE_DEFAULTS = Object.freeze({
  squeezers: DEFAULT_SQUEEZERS,
  frr: 0.05,
  thresholdMethod: 'quantile' as ThresholdMethod,
  batchSize: 256,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

const REPAIR_DEFAULTS = Object.freeze({ squeezers: DEFAULT_SQUEEZERS, batchSize: 256 });

/** A reusable feature-squeezing calibration. Plain data. */
export interface FeatureSqueezingCalibration {
  /** Marks the object's type. */
  readonly kind: 'feature-squeezing-calibration';
  /** Per-sample input shape. */
  readonly inputShape: number[];
  /** Classes of the calibrated classifier. */
  readonly numClasses: number;
  /** The squeezers. */
  readonly squeezers: Squeezer[];
  /** Joint score (max L1 over squeezers) of each clean image. */
  readonly cleanScores: Float32Array;
  /** False-rejection rate of the threshold. */
  readonly frr: number;
  /** How the threshold was estimated. */
  readonly thresholdMethod: ThresholdMethod;
  /** Inputs scoring above it are flagged. */
  readonly threshold: number;
}

/** Per-squeezer scores in a {@link FeatureSqueezingReport}. */
export interface SqueezerScores {
  /** {@link squeezerName} of the squeezer. */
  readonly name: string;
  /** The squeezer. */
  readonly squeezer: Squeezer;
  /** L1 distance between the predictions on the input and on its squeezed copy. */
  readonly scores: Float32Array;
}

/** Result of {@link detect}. Plain data. */
export interface FeatureSqueezingReport {
  /** 1 = flagged (score above `threshold`). */
  readonly suspicious: Uint8Array;
  /** Max over squeezers of the L1 distance of the probability vectors, in [0, 2]; high = suspicious. */
  readonly scores: Float32Array;
  /** Score threshold. */
  readonly threshold: number;
  /** Always `'high'`: high scores are suspicious. */
  readonly polarity: 'high';
  /** Scores per squeezer. */
  readonly perSqueezer: SqueezerScores[];
  /** False-rejection rate of the threshold. */
  readonly frr: number;
}

/** Per-input L1 distances `[n, S]` (row-major) between predictions on x and on each squeezed x. */
async function squeezeScores(
  fn: string,
  stage: string,
  classifier: Classifier,
  x: tf.Tensor,
  squeezers: readonly Squeezer[],
  batchSize: number,
  onProgress: ProgressCallback | undefined,
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  const n = x.shape[0]!;
  const S = squeezers.length;
  const out = new Float32Array(n * S);
  for (let s = 0; s < n; s += batchSize) {
    throwIfAborted(signal, fn);
    const e = Math.min(n, s + batchSize);
    const d = tf.tidy(() => {
      const b = e - s === n ? x : tf.slice(x, [s, ...x.shape.slice(1).map(() => 0)], [e - s, ...x.shape.slice(1)]);
      const p = classifier.predict(b);
      checkProbabilities(fn, classifier, p, e - s);
      const cols = squeezers.map((q) => {
        const ps = classifier.predict(applySqueezers(b, [q]));
        checkProbabilities(fn, classifier, ps, e - s);
        return tf.sum(tf.abs(tf.sub(p, ps)), 1);
      });
      return tf.stack(cols, 1);
    });
    try {
      out.set((await d.data()) as Float32Array, s * S);
    } finally {
      d.dispose();
    }
    if (onProgress !== undefined || signal !== undefined) {
      report(onProgress, { stage, done: e, total: n });
      await yieldToEventLoop();
    }
  }
  return out;
}

function jointScores(values: Float32Array, n: number, S: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let k = 0; k < S; k++) m = Math.max(m, values[i * S + k]!);
    out[i] = m;
  }
  return out;
}

type ResolvedCalibrate = typeof CALIBRATE_DEFAULTS;

function checkCalibrateOptions(
  fn: string,
  o: ResolvedCalibrate,
  inputShape: readonly number[],
  checkSqueezers = true,
): void {
  if (checkSqueezers) assertSqueezers(fn, 'options.squeezers', o.squeezers, inputShape);
  assertFrr(fn, 'options.frr', o.frr);
  assertOneOf(fn, 'options.thresholdMethod', o.thresholdMethod, ['normal', 'quantile'] as const);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertLongRunning(fn, o);
}

/**
 * Calibrates feature squeezing on clean images: the joint score of each and
 * the threshold that rejects a fraction `frr` of them.
 *
 * @param classifier - Any {@link Classifier}.
 * @param cleanData - Clean images (tensor or {@link LabeledData}); not modified.
 * @param options - {@link FeatureSqueezingCalibrateOptions}.
 * @returns A {@link FeatureSqueezingCalibration} (plain data).
 * @throws {@link InvalidArgumentError} for a bad option (FRR outside (0, 1),
 *   a bad squeezer); {@link ShapeError} when the images do not match the classifier.
 * @example
 * ```ts
 * const cal = await featureSqueezing.calibrate(classifier, clean, { frr: 0.05 });
 * ```
 */
export async function calibrate(
  classifier: Classifier,
  cleanData: CleanImages,
  options?: FeatureSqueezingCalibrateOptions,
): Promise<FeatureSqueezingCalibration> {
  const fn = 'featureSqueezing.calibrate';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, CALIBRATE_DEFAULTS, options);
  checkCalibrateOptions(fn, o, classifier.inputShape);
  const x = cleanImagesTensor(fn, 'cleanData', cleanData, classifier.inputShape);
  return calibrateUnchecked(fn, classifier, x, o);
}

async function calibrateUnchecked(
  fn: string,
  classifier: Classifier,
  x: tf.Tensor,
  o: ResolvedCalibrate,
): Promise<FeatureSqueezingCalibration> {
  throwIfAborted(o.signal, fn);
  const n = x.shape[0]!;
  const S = o.squeezers.length;
  const d = await squeezeScores(
    fn,
    'feature-squeezing:calibrate',
    classifier,
    x,
    o.squeezers,
    o.batchSize,
    o.onProgress,
    o.signal,
  );
  const cleanScores = jointScores(d, n, S);
  return {
    kind: 'feature-squeezing-calibration',
    inputShape: [...classifier.inputShape],
    numClasses: classifier.numClasses,
    squeezers: o.squeezers.map((q) => ({ ...q })),
    cleanScores,
    frr: o.frr,
    thresholdMethod: o.thresholdMethod,
    threshold: thresholdUnchecked(cleanScores, o.frr, o.thresholdMethod, 'high'),
  };
}

function sameSqueezers(a: readonly Squeezer[], b: readonly Squeezer[]): boolean {
  return a.length === b.length && a.every((q, i) => squeezerName(q) === squeezerName(b[i]!));
}

/**
 * Flags inputs whose prediction changes too much under squeezing (Xu et al.
 * 2018): score = `max_s ‖f(x) − f(s(x))‖₁` over the squeezers `s`; flagged
 * when the score exceeds the clean threshold at the chosen FRR.
 *
 * @param classifier - Any {@link Classifier}.
 * @param inputs - `[n, ...classifier.inputShape]`, values in [0, 1]; not modified.
 * @param options - {@link FeatureSqueezingOptions}; `calibration` or `cleanData` is required.
 * @returns A {@link FeatureSqueezingReport}.
 * @throws {@link InvalidArgumentError} for a bad option or neither/both of
 *   `calibration` and `cleanData`; {@link ShapeError} for inputs that do not
 *   match the classifier; {@link AbortError}.
 * @example
 * ```ts
 * const r = await featureSqueezing.detect(classifier, inputs, { cleanData: clean });
 * r.perSqueezer.map((s) => s.name);   // ['1-bit', 'median 2x2']
 * ```
 */
export async function detect(
  classifier: Classifier,
  inputs: tf.Tensor,
  options?: FeatureSqueezingOptions,
): Promise<FeatureSqueezingReport> {
  const fn = 'featureSqueezing.detect';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, FEATURE_SQUEEZING_DEFAULTS, options);
  const given = (options ?? {}) as Record<string, unknown>;
  checkCalibrateOptions(fn, o, classifier.inputShape, o.cleanData !== undefined || given.squeezers !== undefined);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  if ((o.calibration === undefined) === (o.cleanData === undefined)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.calibration' },
      'or options.cleanData must be given (exactly one): the threshold is set on clean data',
    );
  }
  let cal: FeatureSqueezingCalibration;
  if (o.cleanData !== undefined) {
    const x = cleanImagesTensor(fn, 'options.cleanData', o.cleanData, classifier.inputShape);
    cal = await calibrateUnchecked(fn, classifier, x, o);
  } else {
    cal = o.calibration!;
    const arg = 'options.calibration';
    if (cal === null || typeof cal !== 'object' || cal.kind !== 'feature-squeezing-calibration') {
      throw new InvalidArgumentError({ fn, arg, value: cal }, 'must be made by featureSqueezing.calibrate');
    }
    if (!Array.isArray(cal.inputShape) || !shapesEqual(cal.inputShape, classifier.inputShape)) {
      throw new ShapeError(
        { fn, arg: `${arg}.inputShape`, value: cal.inputShape },
        `must equal the classifier's inputShape [${classifier.inputShape.join(',')}]`,
      );
    }
    assertSqueezers(fn, `${arg}.squeezers`, cal.squeezers, classifier.inputShape);
    if (given.squeezers !== undefined && !sameSqueezers(o.squeezers, cal.squeezers)) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.squeezers', value: o.squeezers.map(squeezerName) },
        `contradicts options.calibration.squeezers (${cal.squeezers.map(squeezerName).join(', ')})`,
      );
    }
    if (!(cal.cleanScores instanceof Float32Array) || cal.cleanScores.length === 0) {
      throw new InvalidArgumentError(
        { fn, arg: `${arg}.cleanScores`, value: cal.cleanScores },
        'must be a non-empty Float32Array',
      );
    }
    assertFrr(fn, `${arg}.frr`, cal.frr);
    assertInRange(fn, `${arg}.threshold`, cal.threshold, -Infinity, Infinity);
  }
  const frr = given.frr !== undefined ? o.frr : cal.frr;
  const method = given.thresholdMethod !== undefined ? o.thresholdMethod : cal.thresholdMethod;
  const threshold =
    frr === cal.frr && method === cal.thresholdMethod
      ? cal.threshold
      : thresholdUnchecked(cal.cleanScores, frr, method, 'high');
  const n = inputs.shape[0]!;
  const S = cal.squeezers.length;
  const d = await squeezeScores(
    fn,
    'feature-squeezing:detect',
    classifier,
    inputs,
    cal.squeezers,
    o.batchSize,
    o.onProgress,
    o.signal,
  );
  const scores = jointScores(d, n, S);
  const suspicious = new Uint8Array(n);
  for (let i = 0; i < n; i++) suspicious[i] = scores[i]! > threshold ? 1 : 0;
  const perSqueezer = cal.squeezers.map((squeezer, k) => {
    const col = new Float32Array(n);
    for (let i = 0; i < n; i++) col[i] = d[i * S + k]!;
    return { name: squeezerName(squeezer), squeezer: { ...squeezer }, scores: col };
  });
  return { suspicious, scores, threshold, polarity: 'high', perSqueezer, frr };
}

/**
 * Returns the squeezed inputs (Xu et al.'s squeezers as an input
 * purification): the squeezers applied in order, batch by batch.
 *
 * @param classifier - The classifier the inputs are for (its input shape is checked).
 * @param inputs - `[n, ...classifier.inputShape]` inputs (images for median smoothing), values in [0, 1]; not modified.
 * @param options - {@link FeatureSqueezingRepairOptions}.
 * @returns A new float32 tensor of `inputs`' shape; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} for a bad squeezer or batch size;
 *   {@link ShapeError} for median smoothing of non-image inputs.
 * @example
 * ```ts
 * const purified = featureSqueezing.repair(classifier, x, { squeezers: [featureSqueezing.median(2)] });
 * ```
 */
export function repair(classifier: Classifier, inputs: tf.Tensor, options?: FeatureSqueezingRepairOptions): tf.Tensor {
  const fn = 'featureSqueezing.repair';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, REPAIR_DEFAULTS, options);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  assertSqueezers(fn, 'options.squeezers', o.squeezers, inputs.shape.slice(1));
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  return mapBatches(inputs, o.batchSize, (b) => applySqueezers(b, o.squeezers));
}
