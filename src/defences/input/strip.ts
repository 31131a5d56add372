/**
 * STRIP (Gao et al., "STRIP: A Defence Against Trojan Attacks on Deep Neural
 * Networks", ACSAC 2019): an input-level, black-box detector of triggered
 * inputs. Each input is superimposed with N held-out clean images; a clean
 * input's predictions then scatter over the classes (high entropy), while a
 * triggered input keeps predicting the attacker's target (low entropy).
 * Inputs whose mean prediction entropy falls below a threshold set on clean
 * data at a chosen false-rejection rate are flagged.
 *
 * Needs only `classifier.predict`, so it works on any {@link Classifier}.
 * The statistics it is built from (entropy, the normal fit and quantile, the
 * threshold at a false-rejection rate) are in the `stats` namespace.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { assertClassifier, type Classifier } from '../../core/classifier.js';
import { InvalidArgumentError, ShapeError, UnsupportedError } from '../../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import { makeRng } from '../../core/rng.js';
import type { CleanImages, LongRunningOptions, ProgressCallback } from '../../core/types.js';
import {
  assertFiniteNumber,
  assertInRange,
  assertLongRunning,
  assertNumberArray,
  assertOneOf,
  assertPositiveInteger,
  shapesEqual,
} from '../../core/checks.js';
import { resolveOptions } from '../../core/options.js';
import { checkProbabilities, entropyTensor } from '../../core/predictions.js';
import { assertBatch, cleanImagesTensor } from '../../core/validate.js';
import { assertFrr, fitUnchecked, thresholdUnchecked, type ThresholdMethod } from '../../stats/thresholds.js';

/**
 * STRIP superimposes inputs by blending their values: images, spectrograms,
 * feature rows. Token ids (int32) cannot be blended (the mean of two word ids
 * is a third, unrelated word), so a text classifier is refused.
 */
function assertBlendable(fn: string, arg: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') {
    throw new UnsupportedError(
      { fn, arg, value: x },
      `holds ${x.dtype} values (e.g. token ids); STRIP superimposes inputs by blending values, which needs float inputs such as images`,
    );
  }
}

/** How an input and an overlay image are combined. */
export type Superimpose = 'add' | 'blend' | 'max';

const SUPERIMPOSE_MODES = ['add', 'blend', 'max'] as const;

/** Options of {@link calibrate} (and the calibration part of {@link detect}). */
export interface StripCalibrateOptions extends LongRunningOptions {
  /** N, the number of clean overlay images superimposed on each input (Gao: 100). @default 100 */
  readonly overlays?: number;
  /**
   * `'add'`: `x + o`, unclipped (Gao et al.'s code, `cv2.addWeighted(x, 1, o, 1, 0)`);
   * `'blend'`: `alpha·x + (1 − alpha)·o` (ART's `combine_images`);
   * `'max'`: the pixel-wise maximum `max(x, o)` (beyond the paper: the union
   * of light strokes on a dark background, values stay in range, and a light
   * trigger is kept at full strength; see docs/defences/strip.md for when it
   * helps). @default 'add'
   */
  readonly superimpose?: Superimpose;
  /** Weight of the input in `'blend'` mode, in [0, 1] (ART: 0.5). Ignored for `'add'`. @default 0.5 */
  readonly alpha?: number;
  /**
   * k, the clean images combined with the input in each of the N
   * superimposed images (beyond the paper, which uses 1): `'add'` adds all k,
   * `'blend'` weights the input by `alpha` and the mean of the k by
   * `1 − alpha`, `'max'` takes the maximum over the input and all k. More
   * clutter perturbs clean inputs further while a trigger kept at full
   * strength (`'max'`) still wins; see docs/defences/strip.md for the
   * measured effect. The pool must hold more than `overlays × k` images.
   * @default 1
   */
  readonly overlaysPerImage?: number;
  /** Preset false-rejection rate on clean inputs, in (0, 1) (Gao: 1%). @default 0.01 */
  readonly frr?: number;
  /** `'normal'` (Gao: normal fit) or `'quantile'` (empirical). See {@link thresholdAtFrr}. @default 'normal' */
  readonly thresholdMethod?: ThresholdMethod;
  /**
   * How many clean images are kept as the overlay pool (drawn at random from
   * the calibration data; all of them if fewer). Must exceed
   * `overlays × overlaysPerImage`.
   * @default 1000
   */
  readonly poolSize?: number;
  /** Superimposed images per forward pass. @default 500 */
  readonly batchSize?: number;
  /** Seed of the pool choice and the overlay draws. @default 0 */
  readonly seed?: number;
}

/** Options of {@link detect}. */
export interface StripOptions extends StripCalibrateOptions {
  /** A calibration made by {@link calibrate}; or give `cleanData`. @default undefined */
  readonly calibration?: StripCalibration | undefined;
  /** Clean images to calibrate on first (see {@link calibrate}); or give `calibration`. @default undefined */
  readonly cleanData?: CleanImages | undefined;
  /**
   * Sequential early stopping (beyond the paper): overlays are evaluated in
   * rounds, and an input stops as soon as its running mean entropy is
   * `confidenceZ` standard errors away from the threshold. @default false
   */
  readonly adaptive?: boolean;
  /** Adaptive mode: overlays evaluated before the first test. @default 10 */
  readonly minOverlays?: number;
  /** Adaptive mode: overlays added per round for undecided inputs. @default 5 */
  readonly overlayStep?: number;
  /** Adaptive mode: standard errors (with finite-population correction) required to stop early. @default 3 */
  readonly confidenceZ?: number;
  /**
   * Adaptive mode: before an input is flagged early, its per-overlay
   * variance is taken to be at least `varianceFloor · T · (log2 K − T)` (T
   * the threshold, K the classes): that fraction of the largest variance an
   * entropy in [0, log2 K] with mean T can have. Guards against rare
   * high-entropy overlays not yet drawn; 0 turns it off. @default 0.2
   */
  readonly varianceFloor?: number;
  /** Also return every per-overlay entropy (`overlayEntropies`, n × N values). @default false */
  readonly returnEntropies?: boolean;
}

/** Defaults of {@link detect} and {@link calibrate}; sources in docs/defences/strip.md. */
export const STRIP_DEFAULTS = Object.freeze({
  overlays: 100,
  superimpose: 'add' as Superimpose,
  alpha: 0.5,
  overlaysPerImage: 1,
  frr: 0.01,
  thresholdMethod: 'normal' as ThresholdMethod,
  poolSize: 1000,
  batchSize: 500,
  seed: 0,
  calibration: undefined as StripCalibration | undefined,
  cleanData: undefined as CleanImages | undefined,
  adaptive: false,
  minOverlays: 10,
  overlayStep: 5,
  confidenceZ: 3,
  varianceFloor: 0.2,
  returnEntropies: false,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

const CALIBRATE_KEYS = [
  'overlays',
  'superimpose',
  'alpha',
  'overlaysPerImage',
  'frr',
  'thresholdMethod',
  'poolSize',
  'batchSize',
  'seed',
  'onProgress',
  'signal',
] as const;

/** Defaults of {@link calibrate} (the calibration subset of {@link STRIP_DEFAULTS}). */
export const STRIP_CALIBRATE_DEFAULTS = Object.freeze(
  Object.fromEntries(CALIBRATE_KEYS.map((k) => [k, STRIP_DEFAULTS[k]])) as Pick<
    typeof STRIP_DEFAULTS,
    (typeof CALIBRATE_KEYS)[number]
  >,
);

/**
 * A reusable STRIP calibration: the overlay pool and the clean entropy
 * distribution. Plain data (typed arrays and numbers), JSON-serialisable with
 * the library's `saveJson`.
 */
export interface StripCalibration {
  /** Marks the object's type. */
  readonly kind: 'strip-calibration';
  /** Per-sample input shape the calibration was made for. */
  readonly inputShape: number[];
  /** Number of classes of the calibrated classifier. */
  readonly numClasses: number;
  /** N, overlays per input. */
  readonly overlays: number;
  /** Superimposition rule. */
  readonly superimpose: Superimpose;
  /** Input weight for `'blend'`. */
  readonly alpha: number;
  /**
   * k, clean images per superimposed image. Optional so that calibrations
   * saved before 0.x load; absent means 1.
   */
  readonly overlaysPerImage?: number;
  /** Number of images in `pool`. */
  readonly poolSize: number;
  /** The overlay pool, row-major `[poolSize, ...inputShape]`. */
  readonly pool: Float32Array;
  /** Mean entropy (bits) of each clean calibration image under N overlays (never overlaid with itself). */
  readonly cleanEntropy: Float32Array;
  /** Maximum-likelihood normal fit of `cleanEntropy`. */
  readonly mean: number;
  /** Maximum-likelihood normal fit of `cleanEntropy` (population standard deviation). */
  readonly std: number;
  /** False-rejection rate the threshold was set for. */
  readonly frr: number;
  /** How the threshold was estimated. */
  readonly thresholdMethod: ThresholdMethod;
  /** Entropy threshold in bits: inputs below it are flagged. */
  readonly threshold: number;
}

/** Result of {@link detect}. Plain data. */
export interface StripReport {
  /** 1 = flagged as triggered (mean entropy below `threshold`). */
  readonly suspicious: Uint8Array;
  /** Mean prediction entropy in bits over the overlays used; low = suspicious. */
  readonly scores: Float32Array;
  /** Entropy threshold in bits. */
  readonly threshold: number;
  /** Always `'low'`: low scores are suspicious. */
  readonly polarity: 'low';
  /** Overlays (forward passes) used per input: N, or fewer in adaptive mode. */
  readonly overlaysUsed: Int32Array;
  /** Total forward passes (superimposed images classified), calibration excluded. */
  readonly forwardPasses: number;
  /** False-rejection rate the threshold was set for. */
  readonly frr: number;
  /** How the threshold was estimated. */
  readonly thresholdMethod: ThresholdMethod;
  /**
   * With `returnEntropies`: the entropy (bits) of every superimposed image,
   * row-major `[n, N]` in draw order; NaN for overlays an adaptive run skipped.
   */
  readonly overlayEntropies?: Float32Array;
}

type ResolvedCalibrate = typeof STRIP_CALIBRATE_DEFAULTS;

function checkCalibrateOptions(fn: string, o: ResolvedCalibrate, calibrating = true): void {
  assertPositiveInteger(fn, 'options.overlays', o.overlays);
  assertOneOf(fn, 'options.superimpose', o.superimpose, SUPERIMPOSE_MODES);
  assertInRange(fn, 'options.alpha', o.alpha, 0, 1);
  assertPositiveInteger(fn, 'options.overlaysPerImage', o.overlaysPerImage);
  assertFrr(fn, 'options.frr', o.frr);
  assertOneOf(fn, 'options.thresholdMethod', o.thresholdMethod, ['normal', 'quantile'] as const);
  assertPositiveInteger(fn, 'options.poolSize', o.poolSize);
  if (calibrating && o.poolSize <= o.overlays * o.overlaysPerImage) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.poolSize', value: o.poolSize },
      `must be larger than options.overlays × options.overlaysPerImage (${o.overlays * o.overlaysPerImage}): ` +
        'each clean image is overlaid with that many distinct others',
    );
  }
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
}

/**
 * Work list: item j superimposes pool images `overlay[j·k .. j·k + k − 1]`
 * on input row `input[j]` (k = `perImage`).
 */
interface Job {
  readonly input: Int32Array;
  readonly overlay: Int32Array;
  readonly perImage: number;
}

interface Progress {
  readonly fn: string;
  readonly stage: string;
  done: number;
  total: number;
  readonly onProgress: ProgressCallback | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * The superimposed batch for rows `a` (inputs, `[m, ...shape]`) and `o`
 * (overlays, `[m·k, ...shape]`, k consecutive rows per input).
 */
function superimposeTensors(a: tf.Tensor, o: tf.Tensor, k: number, mode: Superimpose, alpha: number): tf.Tensor {
  if (k > 1) {
    const grouped = tf.reshape(o, [a.shape[0]!, k, ...a.shape.slice(1)]);
    o = mode === 'add' ? tf.sum(grouped, 1) : mode === 'max' ? tf.max(grouped, 1) : tf.mean(grouped, 1);
  }
  if (mode === 'add') return tf.add(a, o);
  if (mode === 'max') return tf.maximum(a, o);
  return tf.add(tf.mul(a, tf.scalar(alpha)), tf.mul(o, tf.scalar(1 - alpha)));
}

/**
 * Runs a job in batches of `batchSize` superimposed images and returns each
 * item's prediction entropy in bits.
 */
async function runJob(
  classifier: Classifier,
  inputs: tf.Tensor,
  pool: tf.Tensor,
  job: Job,
  mode: Superimpose,
  alpha: number,
  batchSize: number,
  progress: Progress,
): Promise<Float32Array> {
  const m = job.input.length;
  const out = new Float32Array(m);
  for (let s = 0; s < m; s += batchSize) {
    throwIfAborted(progress.signal, progress.fn);
    const e = Math.min(m, s + batchSize);
    const h = tf.tidy(() => {
      const k = job.perImage;
      const a = tf.gather(inputs, tf.tensor1d(job.input.subarray(s, e), 'int32'));
      const o = tf.gather(pool, tf.tensor1d(job.overlay.subarray(s * k, e * k), 'int32'));
      const p = classifier.predict(superimposeTensors(a, o, k, mode, alpha));
      checkProbabilities(progress.fn, classifier, p, e - s);
      return entropyTensor(p);
    });
    try {
      out.set((await h.data()) as Float32Array, s);
    } finally {
      h.dispose();
    }
    progress.done += e - s;
    if (progress.onProgress !== undefined || progress.signal !== undefined) {
      report(progress.onProgress, { stage: progress.stage, done: progress.done, total: progress.total });
      await yieldToEventLoop();
    }
  }
  return out;
}

/**
 * Calibrates STRIP on clean images: keeps a random pool of `poolSize` of them
 * as overlays, superimposes every clean image with N pool images (never with
 * itself), records the mean prediction entropy of each, and sets the
 * threshold at the preset false-rejection rate.
 *
 * The returned object is plain data and can be reused by {@link detect} for
 * any number of calls (and saved with `saveJson`).
 *
 * @param classifier - Any {@link Classifier} (only `predict` is used).
 * @param cleanData - Clean images (tensor `[n, ...inputShape]` or
 *   {@link LabeledData}), at least N + 1 of them; not modified.
 * @param options - {@link StripCalibrateOptions}.
 * @returns A {@link StripCalibration}.
 * @throws {@link InvalidArgumentError} for a bad option (N < 1, FRR outside
 *   (0, 1), poolSize <= N, ...) or too few images; {@link ShapeError} when
 *   the images do not match `classifier.inputShape`; {@link AbortError}.
 * @example
 * ```ts
 * const cal = await strip.calibrate(classifier, heldOutClean, { overlays: 100, frr: 0.01 });
 * const r = await strip.detect(classifier, inputs, { calibration: cal });
 * ```
 */
export async function calibrate(
  classifier: Classifier,
  cleanData: CleanImages,
  options?: StripCalibrateOptions,
): Promise<StripCalibration> {
  const fn = 'strip.calibrate';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, STRIP_CALIBRATE_DEFAULTS, options);
  checkCalibrateOptions(fn, o);
  const x = cleanImagesTensor(fn, 'cleanData', cleanData, classifier.inputShape);
  assertBlendable(fn, 'cleanData', x);
  return calibrateUnchecked(fn, classifier, x, o);
}

async function calibrateUnchecked(
  fn: string,
  classifier: Classifier,
  x: tf.Tensor,
  o: ResolvedCalibrate,
): Promise<StripCalibration> {
  const n = x.shape[0]!;
  const N = o.overlays;
  const k = o.overlaysPerImage;
  const D = N * k; // distinct pool images drawn per clean image
  if (n < D + 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'cleanData', value: x },
      k === 1
        ? `must hold at least overlays + 1 = ${N + 1} images (each is overlaid with N others)`
        : `must hold at least overlays × overlaysPerImage + 1 = ${D + 1} images (each is overlaid with that many others)`,
    );
  }
  throwIfAborted(o.signal, fn);
  const rng = makeRng(o.seed, fn);
  const P = Math.min(o.poolSize, n);
  const poolIdx = new Int32Array(P);
  rng.derive('strip:pool').sampleInto(n, P, poolIdx);
  poolIdx.sort();
  const poolPos = new Int32Array(n).fill(-1);
  poolIdx.forEach((v, i) => (poolPos[v] = i));
  const drawRng = rng.derive('strip:calibrate');
  const input = new Int32Array(n * N);
  const overlay = new Int32Array(n * D);
  const scratch = new Int32Array(D + 1);
  for (let i = 0; i < n; i++) {
    input.fill(i, i * N, (i + 1) * N);
    const self = poolPos[i]!;
    if (self < 0) {
      drawRng.sampleInto(P, D, overlay, i * D);
    } else {
      drawRng.sampleInto(P, D + 1, scratch);
      let w = i * D;
      for (let j = 0; j <= D && w < (i + 1) * D; j++) if (scratch[j] !== self) overlay[w++] = scratch[j]!;
    }
  }
  const pool = tf.tidy(() => tf.cast(tf.gather(x, tf.tensor1d(poolIdx, 'int32')), 'float32'));
  try {
    const progress: Progress = {
      fn,
      stage: 'strip:calibrate',
      done: 0,
      total: n * N,
      onProgress: o.onProgress,
      signal: o.signal,
    };
    const h = await runJob(
      classifier,
      x,
      pool,
      { input, overlay, perImage: k },
      o.superimpose,
      o.alpha,
      o.batchSize,
      progress,
    );
    const cleanEntropy = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = i * N; k < (i + 1) * N; k++) s += h[k]!;
      cleanEntropy[i] = s / N;
    }
    const { mean, std } = fitUnchecked(cleanEntropy);
    const poolData = (await pool.data()) as Float32Array;
    return {
      kind: 'strip-calibration',
      inputShape: [...classifier.inputShape],
      numClasses: classifier.numClasses,
      overlays: N,
      superimpose: o.superimpose,
      alpha: o.alpha,
      overlaysPerImage: k,
      poolSize: P,
      pool: Float32Array.from(poolData),
      cleanEntropy,
      mean,
      std,
      frr: o.frr,
      thresholdMethod: o.thresholdMethod,
      threshold: thresholdUnchecked(cleanEntropy, o.frr, o.thresholdMethod, 'low'),
    };
  } finally {
    pool.dispose();
  }
}

function assertCalibration(fn: string, cal: unknown, classifier: Classifier): asserts cal is StripCalibration {
  const arg = 'options.calibration';
  const c = cal as Partial<StripCalibration> | null;
  if (c === null || typeof c !== 'object' || c.kind !== 'strip-calibration') {
    throw new InvalidArgumentError({ fn, arg, value: cal }, 'must be a StripCalibration made by strip.calibrate');
  }
  if (!Array.isArray(c.inputShape) || !shapesEqual(c.inputShape, classifier.inputShape)) {
    throw new ShapeError(
      { fn, arg: `${arg}.inputShape`, value: c.inputShape },
      `must equal the classifier's inputShape [${classifier.inputShape.join(',')}]`,
    );
  }
  if (c.numClasses !== classifier.numClasses) {
    throw new ShapeError(
      { fn, arg: `${arg}.numClasses`, value: c.numClasses },
      `must equal the classifier's numClasses (${classifier.numClasses})`,
    );
  }
  assertPositiveInteger(fn, `${arg}.overlays`, c.overlays);
  assertOneOf(fn, `${arg}.superimpose`, c.superimpose, SUPERIMPOSE_MODES);
  assertInRange(fn, `${arg}.alpha`, c.alpha, 0, 1);
  assertPositiveInteger(fn, `${arg}.poolSize`, c.poolSize);
  if (c.overlaysPerImage !== undefined) assertPositiveInteger(fn, `${arg}.overlaysPerImage`, c.overlaysPerImage);
  const perImage = c.overlaysPerImage ?? 1;
  if (c.poolSize < c.overlays * perImage) {
    throw new InvalidArgumentError(
      { fn, arg: `${arg}.poolSize`, value: c.poolSize },
      `must be at least overlays × overlaysPerImage (${c.overlays * perImage})`,
    );
  }
  const per = classifier.inputShape.reduce((a, b) => a * b, 1);
  const pool = c.pool as unknown;
  if (
    !(pool instanceof Float32Array || Array.isArray(pool)) ||
    (pool as ArrayLike<number>).length !== c.poolSize * per
  ) {
    throw new ShapeError(
      { fn, arg: `${arg}.pool`, value: pool },
      `must be a Float32Array (or array, as loaded from JSON) of poolSize × ${per} = ${c.poolSize * per} values`,
    );
  }
  assertNumberArray(fn, `${arg}.cleanEntropy`, c.cleanEntropy);
  assertFrr(fn, `${arg}.frr`, c.frr);
  assertOneOf(fn, `${arg}.thresholdMethod`, c.thresholdMethod, ['normal', 'quantile'] as const);
  assertFiniteNumber(fn, `${arg}.threshold`, c.threshold);
}

/**
 * Flags triggered inputs with STRIP (Gao et al. 2019).
 *
 * 1. Calibrate (or take `options.calibration`): clean entropy distribution
 *    and threshold at the preset FRR.
 * 2. For each input, draw N distinct pool images (seeded), superimpose each
 *    on the input (`'add'`: `x + o`; `'blend'`: `α·x + (1 − α)·o`; `'max'`:
 *    `max(x, o)`). With `overlaysPerImage` k > 1, N·k distinct images are
 *    drawn and each superimposed image combines the input with k of them
 *    (`x + Σo`, `α·x + (1 − α)·mean(o)`, `max(x, o₁, …, o_k)`).
 * 3. Classify all N × n superimposed images in batches of `batchSize`;
 *    entropy in bits of each prediction (summed over classes); the input's
 *    score is the mean over its N overlays.
 * 4. Flag inputs whose score is below the threshold.
 *
 * With `adaptive: true`, step 3 runs in rounds (`minOverlays`, then
 * `overlayStep` more) and an input stops once its running mean is
 * `confidenceZ` standard errors from the threshold (a sequential test; the
 * standard error uses the finite-population correction for the N drawn
 * overlays, and, on the flagging side, a variance of at least
 * `varianceFloor · T · (log2 K − T)`). Its score is then the running mean.
 *
 * @param classifier - Any {@link Classifier} (only `predict` is used).
 * @param inputs - Inputs to screen, `[n, ...classifier.inputShape]`; not modified.
 * @param options - {@link StripOptions}; `calibration` or `cleanData` is required.
 * @returns A {@link StripReport} (plain data).
 * @throws {@link InvalidArgumentError} for a bad option, neither or both of
 *   `calibration`/`cleanData`, or calibration settings that contradict the
 *   given options; {@link ShapeError} when `inputs` does not match the
 *   classifier; {@link AbortError} when aborted.
 * @example
 * ```ts
 * const r = await strip.detect(classifier, inputs, { cleanData: heldOut, frr: 0.01 });
 * r.suspicious;   // Uint8Array [0, 1, 0, ...]
 * r.scores;       // Float32Array of mean entropies in bits
 * ```
 */
export async function detect(classifier: Classifier, inputs: tf.Tensor, options?: StripOptions): Promise<StripReport> {
  const fn = 'strip.detect';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, STRIP_DEFAULTS, options);
  checkCalibrateOptions(fn, o, o.cleanData !== undefined);
  for (const key of ['adaptive', 'returnEntropies'] as const) {
    if (typeof o[key] !== 'boolean') {
      throw new InvalidArgumentError({ fn, arg: `options.${key}`, value: o[key] }, 'must be a boolean');
    }
  }
  assertPositiveInteger(fn, 'options.minOverlays', o.minOverlays);
  assertPositiveInteger(fn, 'options.overlayStep', o.overlayStep);
  assertInRange(fn, 'options.confidenceZ', o.confidenceZ, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.varianceFloor', o.varianceFloor, 0, 1);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  assertBlendable(fn, 'inputs', inputs);
  const given = (options ?? {}) as Record<string, unknown>;
  if ((o.calibration === undefined) === (o.cleanData === undefined)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.calibration' },
      'or options.cleanData must be given (exactly one): STRIP needs clean images for its overlays and threshold',
    );
  }
  let x: tf.Tensor | undefined;
  if (o.cleanData !== undefined) x = cleanImagesTensor(fn, 'options.cleanData', o.cleanData, classifier.inputShape);
  else {
    assertCalibration(fn, o.calibration, classifier);
    const cal = o.calibration!;
    for (const key of ['overlays', 'superimpose', 'alpha', 'overlaysPerImage', 'poolSize'] as const) {
      const have = key === 'overlaysPerImage' ? (cal[key] ?? 1) : cal[key];
      if (given[key] !== undefined && given[key] !== have) {
        throw new InvalidArgumentError(
          { fn, arg: `options.${key}`, value: given[key] },
          `contradicts options.calibration.${key} (${String(have)}); calibrate again to change it`,
        );
      }
    }
  }
  throwIfAborted(o.signal, fn);

  const cal = x !== undefined ? await calibrateUnchecked(fn, classifier, x, o) : o.calibration!;
  const frr = given.frr !== undefined ? o.frr : cal.frr;
  const method = given.thresholdMethod !== undefined ? o.thresholdMethod : cal.thresholdMethod;
  const threshold =
    frr === cal.frr && method === cal.thresholdMethod
      ? cal.threshold
      : thresholdUnchecked(cal.cleanEntropy, frr, method, 'low');

  const n = inputs.shape[0]!;
  const N = cal.overlays;
  const k = cal.overlaysPerImage ?? 1;
  const drawRng = makeRng(o.seed, fn).derive('strip:detect');
  const draws = new Int32Array(n * N * k);
  for (let i = 0; i < n; i++) drawRng.sampleInto(cal.poolSize, N * k, draws, i * N * k);

  const pool = tf.tensor(Float32Array.from(cal.pool), [cal.poolSize, ...cal.inputShape], 'float32');
  const progress: Progress = {
    fn,
    stage: 'strip:detect',
    done: 0,
    total: n * N,
    onProgress: o.onProgress,
    signal: o.signal,
  };
  const maxEntropy = Math.log2(classifier.numClasses);
  const flagFloor =
    threshold > 0 && threshold < maxEntropy ? o.varianceFloor * threshold * (maxEntropy - threshold) : 0;
  const used = new Int32Array(n);
  const all = o.returnEntropies ? new Float32Array(n * N).fill(NaN) : undefined;
  const sum = new Float64Array(n);
  const sumSq = new Float64Array(n);
  try {
    let active = Int32Array.from({ length: n }, (_, i) => i);
    let target = o.adaptive ? Math.min(o.minOverlays, N) : N;
    while (active.length > 0) {
      let m = 0;
      for (const i of active) m += target - used[i]!;
      const input = new Int32Array(m);
      const overlay = new Int32Array(m * k);
      let w = 0;
      for (const i of active) {
        for (let j = used[i]!; j < target; j++) {
          input[w] = i;
          overlay.set(draws.subarray((i * N + j) * k, (i * N + j + 1) * k), w * k);
          w++;
        }
      }
      const h = await runJob(
        classifier,
        inputs,
        pool,
        { input, overlay, perImage: k },
        cal.superimpose,
        cal.alpha,
        o.batchSize,
        progress,
      );
      w = 0;
      for (const i of active) {
        for (let j = used[i]!; j < target; j++) {
          const v = h[w++]!;
          if (all !== undefined) all[i * N + j] = v;
          sum[i] = sum[i]! + v;
          sumSq[i] = sumSq[i]! + v * v;
        }
        used[i] = target;
      }
      if (target >= N) break;
      const next: number[] = [];
      for (const i of active) {
        const k = used[i]!;
        const mean = sum[i]! / k;
        const variance = k > 1 ? Math.max(0, (sumSq[i]! - k * mean * mean) / (k - 1)) : Infinity;
        const fpc = (N - k) / (N - 1) / k;
        const decided =
          mean > threshold
            ? mean - threshold > o.confidenceZ * Math.sqrt(variance * fpc)
            : threshold - mean > o.confidenceZ * Math.sqrt(Math.max(variance, flagFloor) * fpc);
        if (!decided) next.push(i);
      }
      progress.total = progress.done + next.length * (N - target);
      active = Int32Array.from(next);
      target = Math.min(N, target + o.overlayStep);
    }
  } finally {
    pool.dispose();
  }
  const scores = new Float32Array(n);
  const suspicious = new Uint8Array(n);
  let forwardPasses = 0;
  for (let i = 0; i < n; i++) {
    const mean = sum[i]! / used[i]!;
    scores[i] = mean;
    suspicious[i] = mean < threshold ? 1 : 0;
    forwardPasses += used[i]!;
  }
  return {
    suspicious,
    scores,
    threshold,
    polarity: 'low',
    overlaysUsed: used,
    forwardPasses,
    frr,
    thresholdMethod: method,
    ...(all !== undefined ? { overlayEntropies: all } : {}),
  };
}
