/**
 * Neural Cleanse (Wang et al., "Neural Cleanse: Identifying and Mitigating
 * Backdoor Attacks in Neural Networks", IEEE S&P 2019): a model-level
 * backdoor detector and repair.
 *
 * {@link detect} reverse-engineers, for every label, the smallest trigger
 * (a mask shared across channels and a pattern) that sends clean inputs to
 * that label, then flags labels whose trigger is abnormally small by the
 * median absolute deviation (MAD) of the mask L1 norms. Unlike the reference
 * code, which optimises one label after the other, every label is optimised
 * at once in one batched program (K masks, one forward pass over K × batch
 * images), with the same per-label arithmetic, schedule and early stop.
 *
 * {@link repair} removes the backdoor found by {@link detect}: unlearning
 * (fine-tuning on clean data of which a share carries the reversed trigger,
 * labels kept) or neuron pruning (units ranked by how much more the reversed
 * trigger activates them, pruned until the reversed trigger stops working).
 * It also derives the paper's input filter from those neurons; apply it with
 * {@link filter}.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { argmaxRows, collectBatches, DEFAULT_BATCH_SIZE, gatherData } from '../core/batching.js';
import {
  assertClassifier,
  findLayer,
  lastHiddenLayer,
  requireCapabilities,
  type Classifier,
  type LayeredClassifier,
  type LayerInfo,
  type MaskableClassifier,
  type TrainableClassifier,
} from '../core/classifier.js';
import {
  BackdoorKitError,
  EmptyDataError,
  InvalidArgumentError,
  LayerNotFoundError,
  NonFiniteError,
  ShapeError,
  UnsupportedError,
} from '../core/errors.js';
import { activationsData } from '../core/layers-model.js';
import { report as reportProgress, throwIfAborted, yieldToEventLoop } from '../core/progress.js';
import { makeRng, type Rng } from '../core/rng.js';
import type { LabeledData, ProgressCallback, ProgressEvent } from '../core/types.js';
import { mad as rawMad, median } from '../stats/robust.js';
import {
  assertFiniteNumber,
  assertFraction,
  assertInRange,
  assertInteger,
  assertOneOf,
  assertOptionalFunction,
  assertOptionalSignal,
  assertPositiveInteger,
} from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertBatch, assertLabeledData } from '../core/validate.js';

// ---------------------------------------------------------------------------
// Robust statistics (median / MAD) and the anomaly index
// ---------------------------------------------------------------------------

/** The normal-consistency constant of the MAD (1 / Φ⁻¹(3/4)), as in Neural Cleanse's code. */
export const MAD_CONSISTENCY = 1.4826;

/** Options of {@link outlierDetection}. */
export interface OutlierDetectionOptions {
  /** A label is flagged when its anomaly index exceeds this (the paper's 2: ~95% for a normal law). @default 2 */
  readonly threshold?: number;
  /** Consistency constant multiplying the raw MAD. @default 1.4826 */
  readonly consistency?: number;
  /**
   * `'linear'` applies the test to the norms (the paper); `'log'` to their
   * natural logarithms (a measured alternative, see the docs page: natural
   * trigger norms are right-skewed, which inflates the MAD). Norms must then
   * be > 0, and `median`/`mad` are in log units.
   * @default 'linear'
   */
  readonly scale?: 'linear' | 'log';
}

/** Defaults of {@link outlierDetection} (Wang et al. 2019, §IV-C and `mad_outlier_detection.py`). */
export const OUTLIER_DETECTION_DEFAULTS: Readonly<Required<OutlierDetectionOptions>> = Object.freeze({
  threshold: 2,
  consistency: MAD_CONSISTENCY,
  scale: 'linear',
});

/** Result of {@link outlierDetection}. */
export interface OutlierDetectionReport {
  /** Median of the norms. */
  readonly median: number;
  /** `consistency × median(|norm − median|)`. */
  readonly mad: number;
  /**
   * Per entry, `(median − norm) / mad`: positive below the median (small
   * triggers, the suspicious side), negative above it. With `mad = 0` it is
   * 0 for norms equal to the median and ±Infinity otherwise.
   */
  readonly indices: number[];
  /** Entries (positions in `norms`) with norm ≤ median and index > threshold, smallest norm first. */
  readonly flagged: number[];
  /** The largest index, i.e. that of the smallest norm (the paper's "anomaly index"); 0 if none is below the median. */
  readonly anomalyIndex: number;
}

/**
 * MAD outlier detection over per-label trigger norms, as Neural Cleanse
 * does it: the anomaly index of a label is its distance below the median in
 * units of `1.4826 × MAD`; labels whose norm is at most the median and whose
 * index exceeds `threshold` are flagged.
 *
 * @param norms - One L1 norm per scanned label (at least 3, finite, ≥ 0).
 * @param options - See {@link OutlierDetectionOptions}.
 * @returns Median, MAD, per-label indices, flagged entries and the model's anomaly index.
 * @throws {@link InvalidArgumentError} for fewer than 3 norms or a bad option;
 *   {@link NonFiniteError} for NaN/Infinity in `norms`.
 * @example
 * ```ts
 * const r = neuralCleanse.outlierDetection([10, 50, 52, 54, 56, 58]);
 * // median 53, mad 1.4826 × 3 = 4.4478, r.indices[0] = 43 / 4.4478 = 9.67, r.flagged = [0]
 * ```
 */
export function outlierDetection(norms: ArrayLike<number>, options?: OutlierDetectionOptions): OutlierDetectionReport {
  const fn = 'neuralCleanse.outlierDetection';
  const o = resolveOptions(fn, OUTLIER_DETECTION_DEFAULTS, options);
  assertInRange(fn, 'options.threshold', o.threshold, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, 'options.consistency', o.consistency, 0, Infinity, { minOpen: true, maxOpen: true });
  assertOneOf(fn, 'options.scale', o.scale, ['linear', 'log'] as const);
  if (norms === null || typeof norms !== 'object' || typeof norms.length !== 'number' || norms.length < 3) {
    throw new InvalidArgumentError({ fn, arg: 'norms', value: norms }, 'must be an array of at least 3 norms');
  }
  for (let i = 0; i < norms.length; i++) {
    const v = norms[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new NonFiniteError({ fn, arg: `norms[${i}]`, value: v }, 'must be a finite number');
    }
    if (o.scale === 'log' && v <= 0) {
      throw new InvalidArgumentError({ fn, arg: `norms[${i}]`, value: v }, "must be > 0 with scale 'log'");
    }
  }
  return outlierDetectionUnchecked(norms, o.threshold, o.consistency, o.scale);
}

function outlierDetectionUnchecked(
  raw: ArrayLike<number>,
  threshold: number,
  consistency: number,
  scale: 'linear' | 'log',
): OutlierDetectionReport {
  const norms = scale === 'log' ? Array.from(raw, (v) => Math.log(v)) : raw;
  const med = median(norms);
  const mad = consistency * rawMad(norms);
  const indices = Array.from(norms, (v) =>
    mad > 0 ? (med - v) / mad : v === med ? 0 : v < med ? Infinity : -Infinity,
  );
  const flagged: number[] = [];
  for (let i = 0; i < norms.length; i++) if (norms[i]! <= med && indices[i]! > threshold) flagged.push(i);
  flagged.sort((a, b) => norms[a]! - norms[b]! || a - b);
  const anomalyIndex = Math.max(0, ...indices);
  return { median: med, mad, indices, flagged, anomalyIndex };
}

// ---------------------------------------------------------------------------
// The cost schedule (Wang et al.'s `visualizer.py`)
// ---------------------------------------------------------------------------

/** Settings of the {@link CostSchedule}. */
export interface CostScheduleOptions {
  /** Cost set once the attack first succeeds for `patience` steps. @default 1e-3 */
  readonly initCost?: number;
  /** Attack success (share of the step's inputs classified as the label) that counts as success. @default 0.99 */
  readonly attackSuccessThreshold?: number;
  /** Steps of success (failure) before the cost goes up (down). @default 5 */
  readonly patience?: number;
  /** Cost multiplier: up ×m, down ÷m^1.5. @default 2 */
  readonly costMultiplier?: number;
  /** Whether to stop early. @default true */
  readonly earlyStop?: boolean;
  /** The best norm must fall below this share of the previous best to count as progress. @default 1 */
  readonly earlyStopThreshold?: number;
  /** Steps without progress (after the cost went both up and down) before stopping. @default 25 */
  readonly earlyStopPatience?: number;
}

/**
 * Defaults of {@link CostSchedule}: the settings of the authors' experiment
 * script (`gtsrb_visualize_example.py`: patience 5, multiplier 2, early stop
 * after 25 steps without any progress). ART uses multiplier 1.5 and early
 * stop after 10 steps without 1% progress; see the docs page.
 */
export const COST_SCHEDULE_DEFAULTS: Readonly<Required<CostScheduleOptions>> = Object.freeze({
  initCost: 1e-3,
  attackSuccessThreshold: 0.99,
  patience: 5,
  costMultiplier: 2,
  earlyStop: true,
  earlyStopThreshold: 1,
  earlyStopPatience: 25,
});

/** What the {@link CostSchedule} decided after one step. */
export interface CostScheduleDecision {
  /** The current mask/pattern are the best so far: keep a copy. */
  readonly saveBest: boolean;
  /** Stop optimising this label (early stop). */
  readonly stop: boolean;
}

/**
 * The dynamic balance between the attack loss and the mask norm, step by
 * step, exactly as in Neural Cleanse's reference code: the cost starts at 0;
 * once the attack succeeds (`≥ attackSuccessThreshold`) for `patience`
 * steps it is set to `initCost`; afterwards `patience` successful steps in a
 * row multiply it by `costMultiplier` and `patience` failing steps divide it
 * by `costMultiplier^1.5`. A step's mask is the best so far when the attack
 * succeeds and its mean norm is below the best. Early stop: once the cost
 * has gone both up and down, `earlyStopPatience` steps in a row without the
 * best norm falling below `earlyStopThreshold ×` its previous value.
 *
 * @example
 * ```ts
 * const s = new neuralCleanse.CostSchedule({ patience: 2 });
 * s.update(1, 40); // { saveBest: true, stop: false }, cost 0 → still 0
 * s.update(1, 39); // second success in a row: cost set to 1e-3
 * ```
 */
export class CostSchedule {
  /** Current cost (weight of the mask norm in the loss). */
  cost = 0;
  /** Best (smallest) mean mask norm of a successful step so far. */
  bestReg = Infinity;
  /** Steps this schedule has seen. */
  steps = 0;
  /** Whether the cost was ever raised / lowered since it was set. */
  costUpFlag = false;
  costDownFlag = false;
  private readonly o: Required<CostScheduleOptions>;
  private costSetCounter = 0;
  private costUpCounter = 0;
  private costDownCounter = 0;
  private earlyStopCounter = 0;
  private earlyStopRegBest = Infinity;

  /**
   * @param options - See {@link CostScheduleOptions}.
   * @throws {@link InvalidArgumentError} for an option out of range.
   */
  constructor(options?: CostScheduleOptions) {
    const fn = 'neuralCleanse.CostSchedule';
    this.o = resolveOptions(fn, COST_SCHEDULE_DEFAULTS, options);
    checkScheduleOptions(fn, 'options', this.o);
  }

  /**
   * Feeds one step's mean attack success and mean mask norm.
   *
   * @param attackSuccess - Share of the step's inputs classified as the label, in [0, 1].
   * @param reg - Mean L1 norm of the mask over the step.
   * @returns Whether to keep the current mask as the best, and whether to stop.
   */
  update(attackSuccess: number, reg: number): CostScheduleDecision {
    const o = this.o;
    this.steps++;
    const success = attackSuccess >= o.attackSuccessThreshold;
    let saveBest = false;
    if (success && reg < this.bestReg) {
      saveBest = true;
      this.bestReg = reg;
    }
    if (o.earlyStop) {
      if (this.bestReg < Infinity) {
        if (this.bestReg >= o.earlyStopThreshold * this.earlyStopRegBest) this.earlyStopCounter++;
        else this.earlyStopCounter = 0;
      }
      this.earlyStopRegBest = Math.min(this.bestReg, this.earlyStopRegBest);
      if (this.costDownFlag && this.costUpFlag && this.earlyStopCounter >= o.earlyStopPatience) {
        return { saveBest, stop: true };
      }
    }
    if (this.cost === 0 && success) {
      this.costSetCounter++;
      if (this.costSetCounter >= o.patience) {
        this.cost = o.initCost;
        this.costUpCounter = 0;
        this.costDownCounter = 0;
        this.costUpFlag = false;
        this.costDownFlag = false;
      }
    } else {
      this.costSetCounter = 0;
    }
    if (success) {
      this.costUpCounter++;
      this.costDownCounter = 0;
    } else {
      this.costUpCounter = 0;
      this.costDownCounter++;
    }
    if (this.costUpCounter >= o.patience) {
      this.costUpCounter = 0;
      this.cost *= o.costMultiplier;
      this.costUpFlag = true;
    } else if (this.costDownCounter >= o.patience) {
      this.costDownCounter = 0;
      this.cost /= o.costMultiplier ** 1.5;
      this.costDownFlag = true;
    }
    return { saveBest, stop: false };
  }
}

function checkScheduleOptions(fn: string, prefix: string, o: Required<CostScheduleOptions>): void {
  assertInRange(fn, `${prefix}.initCost`, o.initCost, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, `${prefix}.attackSuccessThreshold`, o.attackSuccessThreshold, 0, 1, { minOpen: true });
  assertPositiveInteger(fn, `${prefix}.patience`, o.patience);
  assertInRange(fn, `${prefix}.costMultiplier`, o.costMultiplier, 1, Infinity, { minOpen: true, maxOpen: true });
  if (typeof o.earlyStop !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: `${prefix}.earlyStop`, value: o.earlyStop }, 'must be a boolean');
  }
  assertInRange(fn, `${prefix}.earlyStopThreshold`, o.earlyStopThreshold, 0, 1, { minOpen: true });
  assertPositiveInteger(fn, `${prefix}.earlyStopPatience`, o.earlyStopPatience);
}

// ---------------------------------------------------------------------------
// detect
// ---------------------------------------------------------------------------

/** Options of {@link detect}. */
export interface NeuralCleanseOptions extends CostScheduleOptions {
  /** Maximum optimisation steps per label (a step is `samplesPerStep` inputs, see the docs). @default 1000 */
  readonly steps?: number;
  /** Inputs per step: `floor(samplesPerStep / batchSize)` mini-batches (the reference code's NB_SAMPLE). @default 1000 */
  readonly samplesPerStep?: number;
  /** Mini-batch size per label. @default 32 */
  readonly batchSize?: number;
  /** Adam step size. @default 0.1 */
  readonly learningRate?: number;
  /** Adam β1. @default 0.5 */
  readonly beta1?: number;
  /** Adam β2. @default 0.9 */
  readonly beta2?: number;
  /** Anomaly-index threshold above which a label is flagged. @default 2 */
  readonly threshold?: number;
  /** Scale of the MAD test: `'linear'` (the paper) or `'log'` (see {@link OutlierDetectionOptions.scale}). @default 'linear' */
  readonly scale?: 'linear' | 'log';
  /** Labels to scan (at least 3); `undefined` scans every label. @default undefined */
  readonly labels?: readonly number[] | undefined;
  /**
   * `'batched'` optimises every label at once (one forward pass over
   * labels × batch images); `'sequential'` runs them one after the other,
   * as the reference code. Both give the same result for the same seed.
   * @default 'batched'
   */
  readonly mode?: 'batched' | 'sequential';
  /** Seed for the random initial masks/patterns and the data order. @default 0 */
  readonly seed?: number;
  /** Samples per forward pass when measuring the reversed triggers' attack success. @default 256 */
  readonly evalBatchSize?: number;
  /**
   * Progress callback, one event per optimisation step (`done` = step),
   * with `metrics`: `active` (labels still optimised) and, per label `k`
   * optimised in that step, `attack:k` (the step's mean attack success),
   * `norm:k` (its mean mask norm) and `cost:k` (the cost used).
   * @default undefined
   */
  readonly onProgress?: ProgressCallback | undefined;
  /** Aborts the work with an AbortError. @default undefined */
  readonly signal?: AbortSignal | undefined;
}

/** Defaults of {@link detect}. Sources: see docs/defences/neural-cleanse.md. */
export const NEURAL_CLEANSE_DEFAULTS = Object.freeze({
  ...COST_SCHEDULE_DEFAULTS,
  steps: 1000,
  samplesPerStep: 1000,
  batchSize: 32,
  learningRate: 0.1,
  beta1: 0.5,
  beta2: 0.9,
  threshold: 2,
  scale: 'linear' as 'linear' | 'log',
  labels: undefined as readonly number[] | undefined,
  mode: 'batched' as 'batched' | 'sequential',
  seed: 0,
  evalBatchSize: DEFAULT_BATCH_SIZE,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

type ResolvedDetect = typeof NEURAL_CLEANSE_DEFAULTS;

/** The reversed trigger and statistics of one label. */
export interface NeuralCleanseLabel {
  /** The label. */
  readonly label: number;
  /** L1 norm of the reversed mask (sum over its `height × width` values). */
  readonly norm: number;
  /** `(median − norm) / MAD` (positive below the median). */
  readonly anomalyIndex: number;
  /** Whether this label was flagged as a backdoor target. */
  readonly flagged: boolean;
  /**
   * Attack success of the reversed trigger on the clean data: the share of
   * clean inputs of other labels classified as this label once stamped.
   */
  readonly attackSuccess: number;
  /** Whether some step reached `attackSuccessThreshold` (else the last mask is reported). */
  readonly converged: boolean;
  /** Optimisation steps run (fewer than `steps` after an early stop). */
  readonly steps: number;
  /** Final cost of the schedule. */
  readonly cost: number;
  /** Reversed mask, `height × width` values in [0, 1], row-major (shared by every channel). */
  readonly mask: number[];
  /** Reversed pattern, `height × width × channels` values in [0, 1], HWC row-major. */
  readonly pattern: number[];
}

/** Result of {@link detect}: plain data (JSON-serialisable). */
export interface NeuralCleanseReport {
  /** True when at least one label is flagged. */
  readonly backdoored: boolean;
  /** Flagged labels, smallest trigger first. */
  readonly targets: number[];
  /** The anomaly index of the smallest trigger (the paper's detection score). */
  readonly anomalyIndex: number;
  /** Threshold the anomaly indices were compared with. */
  readonly threshold: number;
  /** Scale of the MAD test (`median` and `mad` are in log units with `'log'`). */
  readonly scale: 'linear' | 'log';
  /** Median of the norms. */
  readonly median: number;
  /** `1.4826 × median(|norm − median|)`. */
  readonly mad: number;
  /** `[height, width]` of each mask. */
  readonly maskShape: [number, number];
  /** `[height, width, channels]` of each pattern. */
  readonly patternShape: [number, number, number];
  /** One entry per scanned label, in the order scanned. */
  readonly perClass: NeuralCleanseLabel[];
  /** Wall time in seconds. */
  readonly seconds: number;
}

const TANH_EPS = 1e-7;

/** Inverse of the mask/pattern parametrisation `tanh(w) / (2 − ε) + 0.5`. */
function toTanhSpace(v: number): number {
  return Math.atanh((v - 0.5) * (2 - TANH_EPS));
}

/** An endless stream of shuffled mini-batches over `n` samples (a partial batch ends each pass, as Keras' iterator). */
class BatchStream {
  private order: Int32Array;
  private pos = 0;
  constructor(
    private readonly n: number,
    private readonly batchSize: number,
    private readonly rng: Rng,
  ) {
    this.order = rng.permutation(n);
  }
  next(): Int32Array {
    if (this.pos >= this.n) {
      this.order = this.rng.permutation(this.n);
      this.pos = 0;
    }
    const end = Math.min(this.n, this.pos + this.batchSize);
    const out = this.order.subarray(this.pos, end);
    this.pos = end;
    return out;
  }
}

interface LabelRun {
  readonly label: number;
  readonly schedule: CostSchedule;
  best: { mask: tf.Tensor; pattern: tf.Tensor } | undefined;
  last: { mask: Float32Array; pattern: Float32Array } | undefined;
}

interface ReversedTrigger {
  readonly label: number;
  readonly mask: Float32Array;
  readonly pattern: Float32Array;
  readonly converged: boolean;
  readonly steps: number;
  readonly cost: number;
}

/** Optimiser state of the active labels, stacked on the first axis. */
interface StackState {
  mw: tf.Tensor4D; // mask in tanh space [A, H, W, 1]
  pw: tf.Tensor4D; // pattern in tanh space [A, H, W, C]
  m1: tf.Tensor4D; // Adam first moment of mw
  v1: tf.Tensor4D; // Adam second moment of mw
  m2: tf.Tensor4D;
  v2: tf.Tensor4D;
}

function disposeState(s: StackState): void {
  tf.dispose([s.mw, s.pw, s.m1, s.v1, s.m2, s.v2]);
}

/** Mask and pattern in [0, 1] from their tanh-space parameters. */
function fromTanh(w: tf.Tensor): tf.Tensor {
  return tf.add(tf.div(tf.tanh(w), 2 - TANH_EPS), 0.5);
}

/**
 * Reverse-engineers the smallest trigger of each label in `labels`, all at
 * once (stacked on the first axis). Labels leave the stack when they stop
 * early; the loop ends after `steps` steps or when none is left.
 */
async function reverseEngineer(
  fn: string,
  classifier: Classifier,
  x: tf.Tensor4D,
  labels: readonly number[],
  o: ResolvedDetect,
  stage: string,
): Promise<ReversedTrigger[]> {
  const [, H, W, C] = x.shape;
  const P = H * W;
  const D = P * C;
  const K = classifier.numClasses;
  const n = x.shape[0];
  const root = makeRng(o.seed, fn);
  const stream = new BatchStream(n, o.batchSize, root.derive('order'));
  const batchesPerStep = Math.max(1, Math.floor(o.samplesPerStep / o.batchSize));
  const schedule: Required<CostScheduleOptions> = {
    initCost: o.initCost,
    attackSuccessThreshold: o.attackSuccessThreshold,
    patience: o.patience,
    costMultiplier: o.costMultiplier,
    earlyStop: o.earlyStop,
    earlyStopThreshold: o.earlyStopThreshold,
    earlyStopPatience: o.earlyStopPatience,
  };
  const runs: LabelRun[] = labels.map((label) => ({
    label,
    schedule: new CostSchedule(schedule),
    best: undefined,
    last: undefined,
  }));

  // random initial mask and pattern per label (uniform in [0, 1), as the reference code), seeded per label
  const A0 = labels.length;
  const maskInit = new Float32Array(A0 * P);
  const patInit = new Float32Array(A0 * D);
  labels.forEach((label, a) => {
    const r = root.derive(`init ${label}`);
    for (let i = 0; i < P; i++) maskInit[a * P + i] = toTanhSpace(r.next());
    for (let i = 0; i < D; i++) patInit[a * D + i] = toTanhSpace(r.next());
  });
  let state: StackState = tf.tidy(() => {
    const mw = tf.tensor4d(maskInit, [A0, H, W, 1]);
    const pw = tf.tensor4d(patInit, [A0, H, W, C]);
    return { mw, pw, m1: tf.zerosLike(mw), v1: tf.zerosLike(mw), m2: tf.zerosLike(pw), v2: tf.zerosLike(pw) };
  });
  let active: number[] = labels.map((_, a) => a);
  let t = 0;
  const { learningRate: lr, beta1: b1, beta2: b2 } = o;
  const ADAM_EPS = 1e-7;

  try {
    for (let step = 0; step < o.steps && active.length > 0; step++) {
      throwIfAborted(o.signal, fn);
      const A = active.length;
      const costs = tf.tensor1d(
        active.map((a) => runs[a]!.schedule.cost),
        'float32',
      );
      const targets = tf.tensor1d(
        active.map((a) => runs[a]!.label),
        'int32',
      );
      let accSum: tf.Tensor1D = tf.zeros([A]);
      let regSum: tf.Tensor1D = tf.zeros([A]);
      let seen = 0;
      try {
        for (let b = 0; b < batchesPerStep; b++) {
          const idx = stream.next();
          const B = idx.length;
          seen += B;
          t++;
          const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
          let correct: tf.Tensor | undefined;
          let reg: tf.Tensor | undefined;
          try {
            const next = tf.tidy(() => {
              const xb = tf.reshape(tf.gather(x, tf.tensor1d(idx, 'int32')), [1, B, D]);
              const oneHot = tf.reshape(tf.cast(tf.oneHot(targets, K), 'float32'), [A, 1, K]);
              const loss = (mw: tf.Tensor, pw: tf.Tensor): tf.Scalar => {
                const mask = fromTanh(mw); // [A, H, W, 1]
                const pattern = fromTanh(pw); // [A, H, W, C]
                const maskD = tf.reshape(C === 1 ? mask : tf.tile(mask, [1, 1, 1, C]), [A, 1, D]);
                const patD = tf.reshape(pattern, [A, 1, D]);
                const xAdv = tf.add(tf.mul(tf.sub(1, maskD), xb), tf.mul(maskD, patD)); // [A, B, D]
                const probs = classifier.predict(tf.reshape(xAdv, [A * B, H, W, C]));
                const p3 = tf.reshape(probs, [A, B, K]);
                const logp = tf.log(tf.clipByValue(p3, 1e-7, 1 - 1e-7));
                const ce = tf.neg(tf.sum(tf.mul(logp, oneHot), 2)); // [A, B]
                const l1 = tf.sum(tf.reshape(mask, [A, P]), 1); // [A]
                correct = tf.keep(
                  tf.sum(tf.cast(tf.equal(tf.argMax(p3, 2), tf.reshape(targets, [A, 1])), 'float32'), 1),
                );
                reg = tf.keep(l1);
                return tf.sum(tf.add(tf.mean(ce, 1), tf.mul(costs, l1))) as tf.Scalar;
              };
              const [gm, gp] = tf.grads(loss)([state.mw, state.pw]) as [tf.Tensor4D, tf.Tensor4D];
              const adam = (w: tf.Tensor4D, m: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D) => {
                const m2 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
                const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
                const w2 = tf.sub(w, tf.mul(tf.div(m2, tf.add(tf.sqrt(v2), ADAM_EPS)), lrT));
                return [w2, m2, v2] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
              };
              const [mw, m1, v1] = adam(state.mw, state.m1, state.v1, gm);
              const [pw, m2, v2] = adam(state.pw, state.m2, state.v2, gp);
              return {
                state: { mw, pw, m1, v1, m2, v2 },
                acc: tf.add(accSum, correct!) as tf.Tensor1D,
                reg: tf.add(regSum, reg!) as tf.Tensor1D,
              };
            });
            disposeState(state);
            state = next.state;
            tf.dispose([accSum, regSum]);
            accSum = next.acc;
            regSum = next.reg;
          } catch (e) {
            if (t === 1 && !(e instanceof BackdoorKitError)) {
              throw new UnsupportedError(
                { fn, arg: 'classifier' },
                `could not be differentiated through predict (it must be built from tf ops on its input): ${
                  e instanceof Error ? e.message : String(e)
                }`,
              );
            }
            throw e;
          } finally {
            tf.dispose([correct, reg].filter((v): v is tf.Tensor => v !== undefined));
          }
        }
        const both = tf.concat([accSum, regSum]);
        const stats = await both.data();
        both.dispose();
        const stopped: boolean[] = [];
        const save: number[] = [];
        const metrics: Record<string, number> = {};
        active.forEach((a, i) => {
          const run = runs[a]!;
          const attack = stats[i]! / seen;
          const norm = stats[A + i]! / batchesPerStep;
          metrics[`attack:${run.label}`] = attack;
          metrics[`norm:${run.label}`] = norm;
          metrics[`cost:${run.label}`] = run.schedule.cost;
          const d = run.schedule.update(attack, norm);
          if (d.saveBest) save.push(i);
          stopped.push(d.stop);
        });
        for (const i of save) {
          const run = runs[active[i]!]!;
          const best = tf.tidy(() => ({
            mask: fromTanh(tf.slice(state.mw, [i, 0, 0, 0], [1, H, W, 1])),
            pattern: fromTanh(tf.slice(state.pw, [i, 0, 0, 0], [1, H, W, C])),
          }));
          if (run.best !== undefined) tf.dispose([run.best.mask, run.best.pattern]);
          run.best = best;
        }
        if (stopped.some((s) => s)) {
          const keep = stopped.flatMap((s, i) => (s ? [] : [i]));
          const next = tf.tidy(() => {
            const idx = tf.tensor1d(keep, 'int32');
            const g = (v: tf.Tensor4D) => tf.gather(v, idx);
            return {
              mw: g(state.mw),
              pw: g(state.pw),
              m1: g(state.m1),
              v1: g(state.v1),
              m2: g(state.m2),
              v2: g(state.v2),
            };
          });
          disposeState(state);
          state = next;
          active = keep.map((i) => active[i]!);
        }
        metrics.active = active.length;
        reportProgress(o.onProgress, { stage, done: step + 1, total: o.steps, metrics });
        if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
      } finally {
        tf.dispose([costs, targets, accSum, regSum]);
      }
    }
    // labels still active: remember their last mask/pattern (used when none converged)
    if (active.length > 0) {
      const last = tf.tidy(() =>
        tf.concat([tf.reshape(fromTanh(state.mw), [-1]), tf.reshape(fromTanh(state.pw), [-1])]),
      );
      const values = (await last.data()) as Float32Array;
      last.dispose();
      const A = active.length;
      active.forEach((a, i) => {
        runs[a]!.last = {
          mask: values.slice(i * P, (i + 1) * P),
          pattern: values.slice(A * P + i * D, A * P + (i + 1) * D),
        };
      });
    }
    const out: ReversedTrigger[] = [];
    for (const run of runs) {
      let mask: Float32Array;
      let pattern: Float32Array;
      if (run.best !== undefined) {
        mask = (await run.best.mask.data()) as Float32Array;
        pattern = (await run.best.pattern.data()) as Float32Array;
      } else {
        mask = run.last!.mask;
        pattern = run.last!.pattern;
      }
      // tanh(w)/(2 − ε) + 0.5 can round a hair outside [0, 1] in float32 (−6e-8 seen): clamp what is reported
      out.push({
        label: run.label,
        mask: Float32Array.from(mask, clamp01),
        pattern: Float32Array.from(pattern, clamp01),
        converged: run.best !== undefined,
        steps: run.schedule.steps,
        cost: run.schedule.cost,
      });
    }
    return out;
  } finally {
    disposeState(state);
    for (const run of runs) if (run.best !== undefined) tf.dispose([run.best.mask, run.best.pattern]);
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** `(1 − m)·x + m·p` for a mask `[H*W]` (shared by channels) and a pattern `[H*W*C]`. The caller owns the result. */
function applyReversed(x: tf.Tensor4D, mask: ArrayLike<number>, pattern: ArrayLike<number>): tf.Tensor4D {
  const [, H, W, C] = x.shape;
  return tf.tidy(() => {
    const m = tf.tensor4d(Float32Array.from(mask), [1, H, W, 1]);
    const p = tf.tensor4d(Float32Array.from(pattern), [1, H, W, C]);
    return tf.add(tf.mul(tf.sub(1, m), x), tf.mul(m, p)) as tf.Tensor4D;
  });
}

/** Predicted labels of `x` stamped with a reversed trigger, batch by batch. */
async function predictStamped(
  classifier: Classifier,
  x: tf.Tensor4D,
  mask: ArrayLike<number>,
  pattern: ArrayLike<number>,
  batchSize: number,
): Promise<Int32Array> {
  const [, H, W, C] = x.shape;
  const m = tf.tensor4d(Float32Array.from(mask), [1, H, W, 1]);
  const p = tf.tensor4d(Float32Array.from(pattern), [1, H, W, C]);
  try {
    const { values, cols } = await collectBatches(x, batchSize, (b) =>
      classifier.predict(tf.add(tf.mul(tf.sub(1, m), b), tf.mul(m, p))),
    );
    return argmaxRows(values, cols);
  } finally {
    tf.dispose([m, p]);
  }
}

/** Share of inputs whose true label is not `label` that are predicted `label` (all inputs if none qualifies). */
function successFromLabels(pred: Int32Array, y: Int32Array, label: number): number {
  let eligible = 0;
  let hit = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === label) continue;
    eligible++;
    if (pred[i] === label) hit++;
  }
  if (eligible === 0) {
    for (let i = 0; i < pred.length; i++) if (pred[i] === label) hit++;
    return hit / pred.length;
  }
  return hit / eligible;
}

function checkLabels(fn: string, labels: unknown, numClasses: number): number[] {
  if (labels === undefined) return Array.from({ length: numClasses }, (_, i) => i);
  if (!Array.isArray(labels)) {
    throw new InvalidArgumentError({ fn, arg: 'options.labels', value: labels }, 'must be an array of labels');
  }
  const seen = new Set<number>();
  labels.forEach((v: unknown, i) => {
    assertInteger(fn, `options.labels[${i}]`, v, 0, numClasses - 1);
    if (seen.has(v)) throw new InvalidArgumentError({ fn, arg: `options.labels[${i}]`, value: v }, 'is repeated');
    seen.add(v);
  });
  if (labels.length < 3) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.labels', value: labels },
      'must hold at least 3 labels (the MAD outlier test needs them)',
    );
  }
  return labels as number[];
}

function assertImageClassifier(fn: string, classifier: Classifier): [number, number, number] {
  const s = classifier.inputShape;
  if (s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UnsupportedError(
      { fn, arg: 'classifier', value: s },
      'must take images [height, width, channels] (Neural Cleanse reverses an image mask)',
    );
  }
  return [s[0]!, s[1]!, s[2]!];
}

/**
 * Neural Cleanse detection: reverse-engineers the smallest trigger for every
 * label (a mask shared across channels and a pattern, both parametrised
 * through `tanh/2 + 0.5`; `x' = (1 − m)·x + m·p`; loss = cross-entropy to the
 * label + cost·|m|₁; Adam lr 0.1, β 0.5/0.9; the reference code's cost
 * schedule and early stop, see {@link CostSchedule}), then flags labels whose
 * mask norm is an outlier below the median by the MAD test
 * ({@link outlierDetection}). All labels are optimised at once (one forward
 * pass over labels × batch images) unless `mode: 'sequential'`.
 *
 * Only `classifier.predict` is used (it must be differentiable: built from
 * tf ops, as every {@link Classifier} is); the classifier is not modified.
 *
 * @param classifier - Any image classifier (inputs `[H, W, C]`, ≥ 3 classes).
 * @param cleanData - Clean inputs the defender trusts (labels are only used
 *   to measure the reversed triggers' attack success); at least `batchSize`
 *   samples. Not modified.
 * @param options - See {@link NeuralCleanseOptions}.
 * @returns {@link NeuralCleanseReport}: backdoored, targets, anomaly index,
 *   and per label the norm, index, attack success and reversed mask/pattern.
 * @throws {@link InvalidArgumentError} for a bad option (e.g. `threshold`
 *   ≤ 0, `attackSuccessThreshold` outside (0, 1]) or too little clean data;
 *   {@link UnsupportedError} for a non-image classifier; the data errors of
 *   {@link validateLabeledData}; {@link AbortError} when aborted.
 * @example
 * ```ts
 * const r = await neuralCleanse.detect(clf, clean, { seed: 1 });
 * r.backdoored;              // true
 * r.targets;                 // [0]
 * r.anomalyIndex;            // 3.8
 * r.perClass[0].norm;        // 14.2 (vs a median of ~80)
 * ```
 */
export async function detect(
  classifier: Classifier,
  cleanData: LabeledData,
  options?: NeuralCleanseOptions,
): Promise<NeuralCleanseReport> {
  const fn = 'neuralCleanse.detect';
  const t0 = performance.now();
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, NEURAL_CLEANSE_DEFAULTS, options);
  checkScheduleOptions(fn, 'options', o);
  assertPositiveInteger(fn, 'options.steps', o.steps);
  assertPositiveInteger(fn, 'options.samplesPerStep', o.samplesPerStep);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertPositiveInteger(fn, 'options.evalBatchSize', o.evalBatchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, 'options.beta1', o.beta1, 0, 1, { maxOpen: true });
  assertInRange(fn, 'options.beta2', o.beta2, 0, 1, { maxOpen: true });
  assertInRange(fn, 'options.threshold', o.threshold, 0, Infinity, { minOpen: true, maxOpen: true });
  assertOneOf(fn, 'options.mode', o.mode, ['batched', 'sequential'] as const);
  assertOneOf(fn, 'options.scale', o.scale, ['linear', 'log'] as const);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
  const [H, W, C] = assertImageClassifier(fn, classifier);
  const labels = checkLabels(fn, o.labels, classifier.numClasses);
  assertLabeledData(fn, 'cleanData', cleanData, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  if (cleanData.y.length < o.batchSize) {
    throw new InvalidArgumentError(
      { fn, arg: 'cleanData', value: `${cleanData.y.length} samples` },
      `must hold at least options.batchSize (${o.batchSize}) samples`,
    );
  }
  throwIfAborted(o.signal, fn);

  let reversed: ReversedTrigger[];
  if (o.mode === 'batched') {
    reversed = await reverseEngineer(fn, classifier, cleanData.x, labels, o, 'neural-cleanse:reverse');
  } else {
    reversed = [];
    for (const label of labels) {
      const [r] = await reverseEngineer(
        fn,
        classifier,
        cleanData.x,
        [label],
        o,
        `neural-cleanse:reverse label ${label}`,
      );
      reversed.push(r!);
    }
  }

  const norms = reversed.map((r) => r.mask.reduce((s, v) => s + Math.abs(v), 0));
  const mad = outlierDetectionUnchecked(norms, o.threshold, MAD_CONSISTENCY, o.scale);
  const flagged = new Set(mad.flagged);
  const perClass: NeuralCleanseLabel[] = [];
  for (let i = 0; i < reversed.length; i++) {
    throwIfAborted(o.signal, fn);
    const r = reversed[i]!;
    const pred = await predictStamped(classifier, cleanData.x, r.mask, r.pattern, o.evalBatchSize);
    perClass.push({
      label: r.label,
      norm: norms[i]!,
      anomalyIndex: mad.indices[i]!,
      flagged: flagged.has(i),
      attackSuccess: successFromLabels(pred, cleanData.y, r.label),
      converged: r.converged,
      steps: r.steps,
      cost: r.cost,
      mask: Array.from(r.mask),
      pattern: Array.from(r.pattern),
    });
  }
  const targets = mad.flagged.map((i) => reversed[i]!.label);
  return {
    backdoored: targets.length > 0,
    targets,
    anomalyIndex: mad.anomalyIndex,
    threshold: o.threshold,
    scale: o.scale,
    median: mad.median,
    mad: mad.mad,
    maskShape: [H, W],
    patternShape: [H, W, C],
    perClass,
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------
// repair and the input filter
// ---------------------------------------------------------------------------

/** The paper's input filter: flags inputs whose mean activation over the neurons the reversed trigger excites most is high. */
export interface InputFilter {
  /** Layer whose units are read. */
  readonly layer: string;
  /** The units (conv channels / dense units) averaged into the score. */
  readonly neurons: number[];
  /** Inputs scoring above this are flagged. */
  readonly threshold: number;
  /** The false-positive rate on the clean data the threshold was set for. */
  readonly fpr: number;
}

/** One fine-tuning schedule of the unlearning selection ({@link NeuralCleanseRepairOptions.schedules}). */
export interface UnlearningSchedule {
  /** Optimiser. @default the repair's `optimizer` */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Step size. @default the repair's `learningRate` */
  readonly learningRate?: number;
  /** Epochs. @default the repair's `epochs` */
  readonly epochs?: number;
  /** Share of the fine-tuning data stamped with a reversed trigger. @default the repair's `stampFraction` */
  readonly stampFraction?: number;
}

/**
 * The schedules `schedules: 'auto'` chooses from: the paper's (Adam 1e-3,
 * one epoch, 20% stamped) first, then longer and larger-step Adam runs, SGD
 * with momentum, and a 50% stamped share. The list is the sweep of
 * docs/results.md (*Neural Cleanse unlearning settings*), fixed before the
 * library selection was measured on the other subjects.
 */
export const UNLEARNING_SCHEDULES: readonly Readonly<Required<UnlearningSchedule>>[] = Object.freeze(
  (
    [
      ['adam', 1e-3, 1, 0.2],
      ['adam', 1e-3, 3, 0.2],
      ['adam', 1e-3, 5, 0.2],
      ['adam', 3e-3, 2, 0.2],
      ['adam', 3e-3, 5, 0.2],
      ['adam', 1e-2, 1, 0.2],
      ['momentum', 2e-3, 3, 0.2],
      ['momentum', 5e-3, 3, 0.2],
      ['adam', 1e-3, 3, 0.5],
    ] as const
  ).map(([optimizer, learningRate, epochs, stampFraction]) =>
    Object.freeze({ optimizer, learningRate, epochs, stampFraction }),
  ),
);

/** One schedule tried by the unlearning selection, with its validation scores. */
export interface UnlearningCandidate {
  /** The schedule, with every field filled in. */
  readonly schedule: Required<UnlearningSchedule>;
  /** Accuracy on the validation data after fine-tuning on the rest. */
  readonly validationAccuracy: number;
  /** Reversed triggers' attack success on the validation data (max over targets). */
  readonly validationAttackSuccess: number;
  /** Whether the validation accuracy stayed within `maxValidationDrop`. */
  readonly eligible: boolean;
}

/** Options of {@link repair}. */
export interface NeuralCleanseRepairOptions {
  /** `'unlearning'` (fine-tune with the reversed trigger, labels kept) or `'pruning'`. @default 'unlearning' */
  readonly method?: 'unlearning' | 'pruning';
  /** Labels whose reversed triggers are removed; `undefined` takes `report.targets`. @default undefined */
  readonly targets?: readonly number[] | undefined;
  /** Unlearning: share of the clean data stamped with a reversed trigger (labels kept). @default 0.2 */
  readonly stampFraction?: number;
  /** Unlearning: epochs of fine-tuning. @default 1 */
  readonly epochs?: number;
  /** Unlearning: mini-batch size. @default 32 */
  readonly batchSize?: number;
  /** Unlearning: optimiser of the fine-tuning. @default 'adam' */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Unlearning: step size. @default 0.001 */
  readonly learningRate?: number;
  /**
   * Unlearning: fine-tuning schedules to choose from on the defender's own
   * data (beyond the paper). `undefined` runs the single schedule given by
   * `optimizer`, `learningRate`, `epochs` and `stampFraction`. With a list
   * of two or more (fields left out are taken from those options; a list of
   * one just runs that schedule) or `'auto'` (the
   * {@link UNLEARNING_SCHEDULES} preset), `validationFraction` of the clean
   * data is held out; each schedule fine-tunes a copy on the rest; a schedule
   * is eligible if its validation accuracy is at most `maxValidationDrop`
   * below the unrepaired classifier's, and the eligible one with the lowest
   * reversed-trigger success on the validation data wins (ties: higher
   * accuracy, then the earlier schedule; with none eligible, the most
   * accurate). The winner is then run again on all the clean data.
   * @default undefined
   */
  readonly schedules?: readonly UnlearningSchedule[] | 'auto' | undefined;
  /** Schedule selection: share of the clean data held out for validation. @default 0.2 */
  readonly validationFraction?: number;
  /** Schedule selection: largest validation-accuracy drop (a fraction) a schedule may cause and stay eligible. @default 0.01 */
  readonly maxValidationDrop?: number;
  /**
   * Pruning and filter: the layer whose units are ranked; `undefined` takes
   * the second to last layer (the input of the final dense layer).
   * @default undefined
   */
  readonly layer?: string | undefined;
  /** Pruning: stop once the reversed triggers' attack success is at most this. @default 0.05 */
  readonly stopAttackSuccess?: number;
  /** Pruning: prune at most this share of the layer's units. @default 0.3 */
  readonly maxPruneFraction?: number;
  /** Whether to derive the input filter (needs the 'layers' capability). @default true */
  readonly filter?: boolean;
  /** Filter: share of the layer's units used (at least one). @default 0.01 */
  readonly filterFraction?: number;
  /** Filter: false-positive rate on the clean data the threshold is set for. @default 0.05 */
  readonly filterFpr?: number;
  /** Samples per forward pass for activations and evaluation. @default 256 */
  readonly evalBatchSize?: number;
  /** Seed for the stamped subset and the fine-tuning order. @default 0 */
  readonly seed?: number;
  /** Progress callback. @default undefined */
  readonly onProgress?: ProgressCallback | undefined;
  /** Aborts the work with an AbortError. @default undefined */
  readonly signal?: AbortSignal | undefined;
}

/** Defaults of {@link repair}. Sources: see docs/defences/neural-cleanse.md. */
export const NEURAL_CLEANSE_REPAIR_DEFAULTS = Object.freeze({
  method: 'unlearning' as 'unlearning' | 'pruning',
  targets: undefined as readonly number[] | undefined,
  stampFraction: 0.2,
  epochs: 1,
  batchSize: 32,
  optimizer: 'adam' as 'adam' | 'sgd' | 'momentum',
  learningRate: 1e-3,
  schedules: undefined as readonly UnlearningSchedule[] | 'auto' | undefined,
  validationFraction: 0.2,
  maxValidationDrop: 0.01,
  layer: undefined as string | undefined,
  stopAttackSuccess: 0.05,
  maxPruneFraction: 0.3,
  filter: true,
  filterFraction: 0.01,
  filterFpr: 0.05,
  evalBatchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

type ResolvedRepair = typeof NEURAL_CLEANSE_REPAIR_DEFAULTS;

/** One pruning step of {@link repair}. */
export interface PruningStep {
  /** Units pruned so far. */
  readonly pruned: number;
  /** Reversed triggers' attack success (maximum over targets) after this step. */
  readonly attackSuccess: number;
}

/** Result of {@link repair}. Everything but `classifier` is plain data. */
export interface NeuralCleanseRepairResult<C extends Classifier = Classifier> {
  /**
   * The repaired classifier (a new one: `clone()` + fine-tuning for
   * unlearning, `withUnitMask()` for pruning); the caller disposes it.
   */
  readonly classifier: C;
  /** The method applied. */
  readonly method: 'unlearning' | 'pruning';
  /** Labels whose reversed triggers were removed. */
  readonly targets: number[];
  /** Reversed triggers' attack success on the clean data (max over targets), before and after. */
  readonly attackSuccessBefore: number;
  readonly attackSuccessAfter: number;
  /** Accuracy on the clean data before and after. */
  readonly cleanAccuracyBefore: number;
  readonly cleanAccuracyAfter: number;
  /** Unlearning details. */
  readonly unlearning?: {
    readonly samples: number;
    readonly stamped: number;
    readonly loss: number[];
    readonly accuracy: number[];
    /** The schedule of the final fine-tuning. */
    readonly schedule: Required<UnlearningSchedule>;
    /** The schedule selection, when `schedules` was given. */
    readonly selection?: {
      /** Samples held out for validation (the rest fine-tuned each candidate). */
      readonly validationSamples: number;
      /** The unrepaired classifier's accuracy and reversed-trigger success on the validation data. */
      readonly validationAccuracyBefore: number;
      readonly validationAttackSuccessBefore: number;
      readonly candidates: UnlearningCandidate[];
      /** Index of the chosen candidate. */
      readonly chosen: number;
    };
  };
  /** Pruning details. */
  readonly pruning?: {
    readonly layer: string;
    /** Units in pruning order (largest activation increase under the reversed trigger first). */
    readonly ranking: number[];
    /** Units pruned. */
    readonly pruned: number[];
    /** Per-unit factors of the returned classifier's mask (0 = pruned). */
    readonly keep: number[];
    readonly steps: PruningStep[];
    /** Why pruning stopped. */
    readonly stoppedBecause: 'attack-success' | 'max-prune-fraction';
  };
  /** The input filter (computed on the input classifier; use it with that classifier), if asked for. */
  readonly filter?: InputFilter;
}

function checkReport(
  fn: string,
  value: unknown,
  targets: readonly number[],
  shape: readonly [number, number, number],
): Map<number, NeuralCleanseLabel> {
  const r = value as Partial<NeuralCleanseReport> | null;
  if (r === null || typeof r !== 'object' || !Array.isArray(r.perClass) || !Array.isArray(r.targets)) {
    throw new InvalidArgumentError({ fn, arg: 'report', value }, 'must be a report returned by neuralCleanse.detect');
  }
  const [H, W, C] = shape;
  const out = new Map<number, NeuralCleanseLabel>();
  for (const t of targets) {
    const i = r.perClass.findIndex((e) => e?.label === t);
    const e = r.perClass[i];
    if (e === undefined) {
      throw new InvalidArgumentError(
        { fn, arg: 'report.perClass', value: t },
        'has no reversed trigger for this target',
      );
    }
    const check = (arg: 'mask' | 'pattern', v: unknown, len: number) => {
      if (!Array.isArray(v) && !(v instanceof Float32Array)) {
        throw new InvalidArgumentError({ fn, arg: `report.perClass[${i}].${arg}`, value: v }, 'must be an array');
      }
      const a = v as ArrayLike<number>;
      if (a.length !== len) {
        throw new ShapeError({ fn, arg: `report.perClass[${i}].${arg}`, value: v }, `must hold ${len} values`);
      }
      for (let j = 0; j < a.length; j++) {
        const x = a[j];
        if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
          throw new NonFiniteError(
            { fn, arg: `report.perClass[${i}].${arg}[${j}]`, value: x },
            'must be a finite number in [0, 1]',
          );
        }
      }
    };
    check('mask', e.mask, H * W);
    check('pattern', e.pattern, H * W * C);
    out.set(t, e);
  }
  return out;
}

/**
 * The layer the pruning/filter works on: the given one, or the second to last
 * layer (the input of the final dense layer), as in the paper and ART.
 */
function resolveLayer(fn: string, classifier: LayeredClassifier, layer: string | undefined): LayerInfo {
  if (layer !== undefined) return findLayer(fn, 'options.layer', classifier, layer);
  try {
    return lastHiddenLayer(fn, classifier);
  } catch {
    throw new LayerNotFoundError(
      { fn, arg: 'classifier' },
      'has no hidden layer before its final dense layer; pass options.layer to name the layer to prune/filter',
    );
  }
}

/** Mean activation of each unit (last axis) of `layer`, per sample: `[n, units]` row-major. */
async function unitActivations(
  fn: string,
  classifier: LayeredClassifier,
  x: tf.Tensor,
  layer: LayerInfo,
  batchSize: number,
): Promise<Float32Array> {
  const { values, rows, cols } = await activationsData(classifier, x, layer.name, batchSize);
  const units = layer.units;
  if (units <= 0 || cols % units !== 0) {
    throw new UnsupportedError(
      { fn, arg: 'options.layer', value: layer.name },
      `has ${cols} values per sample, not a multiple of its ${units} units`,
    );
  }
  const positions = cols / units;
  const out = new Float32Array(rows * units);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let p = 0; p < positions; p++) {
      for (let u = 0; u < units; u++) out[r * units + u]! += values[base + p * units + u]!;
    }
    for (let u = 0; u < units; u++) out[r * units + u]! /= positions;
  }
  return out;
}

function columnMeans(values: Float32Array, rows: number, cols: number): Float64Array {
  const m = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[c]! += values[r * cols + c]!;
  for (let c = 0; c < cols; c++) m[c]! /= rows;
  return m;
}

function filterScores(unitActs: Float32Array, units: number, neurons: readonly number[]): Float32Array {
  const rows = unitActs.length / units;
  const s = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (const u of neurons) sum += unitActs[r * units + u]!;
    s[r] = sum / neurons.length;
  }
  return s;
}

/** The unlearning schedules of a repair: the `schedules` option resolved, or the one given by the top-level options. */
function resolveSchedules(fn: string, o: ResolvedRepair): Required<UnlearningSchedule>[] {
  const top = checkSchedule(fn, 'options', {
    optimizer: o.optimizer,
    learningRate: o.learningRate,
    epochs: o.epochs,
    stampFraction: o.stampFraction,
  });
  if (o.schedules === undefined) return [top];
  if (o.schedules === 'auto') return UNLEARNING_SCHEDULES.map((s) => ({ ...s }));
  if (!Array.isArray(o.schedules) || o.schedules.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.schedules', value: o.schedules },
      "must be 'auto' or a non-empty array of schedules",
    );
  }
  return (o.schedules as readonly unknown[]).map((entry, i) => {
    const arg = `options.schedules[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new InvalidArgumentError({ fn, arg, value: entry }, 'must be an object');
    }
    return checkSchedule(fn, arg, resolveOptions(fn, top, entry, arg));
  });
}

/** Validates one schedule (the top-level options, `prefix` 'options', or an entry of `schedules`). */
function checkSchedule(fn: string, prefix: string, s: Required<UnlearningSchedule>): Required<UnlearningSchedule> {
  assertOneOf(fn, `${prefix}.optimizer`, s.optimizer, ['adam', 'sgd', 'momentum'] as const);
  assertInRange(fn, `${prefix}.learningRate`, s.learningRate, 0, Infinity, { minOpen: true, maxOpen: true });
  assertPositiveInteger(fn, `${prefix}.epochs`, s.epochs);
  assertFraction(fn, `${prefix}.stampFraction`, s.stampFraction);
  return s;
}

/**
 * The selection rule of the unlearning schedules (beyond the paper): among
 * the eligible candidates the lowest validation attack success wins (ties:
 * higher validation accuracy, then the earlier candidate); with none
 * eligible, the most accurate one (ties: lower attack success, then the
 * earlier one). {@link repair} applies it when `schedules` is given.
 *
 * @param candidates - Scored schedules, as in `unlearning.selection.candidates` of a repair.
 * @returns The index of the chosen candidate; -1 for an empty list.
 * @example
 * ```ts
 * const s = { optimizer: 'adam', learningRate: 1e-3, epochs: 1, stampFraction: 0.2 } as const;
 * neuralCleanse.chooseSchedule([
 *   { schedule: s, validationAccuracy: 0.97, validationAttackSuccess: 0.10, eligible: true },
 *   { schedule: s, validationAccuracy: 0.96, validationAttackSuccess: 0.02, eligible: true },
 *   { schedule: s, validationAccuracy: 0.90, validationAttackSuccess: 0.00, eligible: false },
 * ]); // 1
 * ```
 */
export function chooseSchedule(candidates: readonly UnlearningCandidate[]): number {
  let best = -1;
  const eligible = candidates.some((c) => c.eligible);
  candidates.forEach((c, i) => {
    if (eligible && !c.eligible) return;
    if (best < 0) {
      best = i;
      return;
    }
    const b = candidates[best]!;
    const better = eligible
      ? c.validationAttackSuccess < b.validationAttackSuccess ||
        (c.validationAttackSuccess === b.validationAttackSuccess && c.validationAccuracy > b.validationAccuracy)
      : c.validationAccuracy > b.validationAccuracy ||
        (c.validationAccuracy === b.validationAccuracy && c.validationAttackSuccess < b.validationAttackSuccess);
    if (better) best = i;
  });
  return best;
}

/** Accuracy on `data` and the reversed triggers' attack success (max over targets). */
async function evaluateRepair(
  clf: Classifier,
  data: LabeledData,
  targets: readonly number[],
  triggers: ReadonlyMap<number, NeuralCleanseLabel>,
  batchSize: number,
): Promise<{ accuracy: number; attackSuccess: number }> {
  const n = data.y.length;
  const { values, cols } = await collectBatches(data.x, batchSize, (b) => clf.predict(b));
  const pred = argmaxRows(values, cols);
  let hit = 0;
  for (let i = 0; i < n; i++) if (pred[i] === data.y[i]) hit++;
  let attackSuccess = 0;
  for (const t of targets) {
    const e = triggers.get(t)!;
    const p = await predictStamped(clf, data.x, e.mask, e.pattern, batchSize);
    attackSuccess = Math.max(attackSuccess, successFromLabels(p, data.y, t));
  }
  return { accuracy: hit / n, attackSuccess };
}

/**
 * Unlearning proper: fine-tunes `copy` in place on `data`, of which
 * `stampFraction` (chosen with the repair's seed) carries a reversed trigger,
 * round-robin over the targets, labels kept.
 */
async function unlearn(
  copy: TrainableClassifier,
  data: LabeledData,
  targets: readonly number[],
  triggers: ReadonlyMap<number, NeuralCleanseLabel>,
  schedule: Required<UnlearningSchedule>,
  o: ResolvedRepair,
  onProgress: ProgressCallback | undefined,
): Promise<{ stamped: number; loss: number[]; accuracy: number[] }> {
  const fn = 'neuralCleanse.repair';
  const n = data.y.length;
  const rng = makeRng(o.seed, fn);
  const stamped = Math.round(schedule.stampFraction * n);
  const chosen = rng.sample(n, stamped);
  const isStamped = new Uint8Array(n);
  for (const i of chosen) isStamped[i] = 1;
  const rest = Int32Array.from({ length: n }, (_, i) => i).filter((i) => isStamped[i] === 0);
  const groups = targets.map((_, g) => chosen.filter((_, j) => j % targets.length === g));
  const parts: tf.Tensor4D[] = [];
  try {
    parts.push(tf.tidy(() => tf.gather(data.x, tf.tensor1d(rest, 'int32'))));
    groups.forEach((idx, g) => {
      if (idx.length === 0) return;
      const e = triggers.get(targets[g]!)!;
      parts.push(
        tf.tidy(() => {
          const xs = tf.gather(data.x, tf.tensor1d(idx, 'int32'));
          return applyReversed(xs, e.mask, e.pattern);
        }),
      );
    });
    const order = [rest, ...groups.filter((g) => g.length > 0)];
    const yAll = new Int32Array(n);
    let k = 0;
    for (const idx of order) for (const i of idx) yAll[k++] = data.y[i]!;
    const xAll = tf.concat(parts, 0);
    try {
      const history = await copy.fit(
        { x: xAll, y: yAll },
        {
          epochs: schedule.epochs,
          batchSize: o.batchSize,
          optimizer: schedule.optimizer,
          learningRate: schedule.learningRate,
          seed: o.seed,
          signal: o.signal,
          onProgress,
        },
      );
      return { stamped, loss: history.loss, accuracy: history.accuracy };
    } finally {
      xAll.dispose();
    }
  } finally {
    tf.dispose(parts);
  }
}

/**
 * Neural Cleanse mitigation. `'unlearning'` fine-tunes a copy of the
 * classifier on the clean data of which `stampFraction` (the paper's 20%)
 * carries a reversed trigger (round-robin over the targets) with the true
 * labels kept. `'pruning'` ranks the units of `layer` by how much more the
 * reversed triggers activate them than clean inputs do and prunes them (unit
 * masks, the original untouched) one by one until the reversed triggers'
 * attack success is at most `stopAttackSuccess` or `maxPruneFraction` of the
 * units are gone. With `filter`, the paper's input filter is derived from
 * the same ranking (top `filterFraction` units, threshold at `filterFpr` on
 * the clean data); apply it with {@link filter}.
 *
 * @param classifier - Unlearning needs the 'train' capability, pruning
 *   'layers' + 'mask', the filter 'layers'. Not modified.
 * @param cleanData - Clean data the defender trusts (the same as for detect, or more).
 * @param report - The report of {@link detect} (its reversed triggers are used).
 * @param options - See {@link NeuralCleanseRepairOptions}.
 * @returns The repaired classifier (caller disposes it) and diagnostics.
 *   With no target (nothing flagged and no `options.targets`), the
 *   classifier returned is an unchanged copy.
 * @throws {@link CapabilityError} for a missing capability;
 *   {@link LayerNotFoundError} for an unknown `options.layer` or, when it
 *   is not given, a model without a hidden layer before its last dense layer; {@link InvalidArgumentError}
 *   for a bad report or option; {@link AbortError} when aborted.
 * @example
 * ```ts
 * const r = await neuralCleanse.detect(clf, clean);
 * const { classifier: fixed, attackSuccessAfter } = await neuralCleanse.repair(clf, clean, r);
 * attackSuccessAfter; // 0.01
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  cleanData: LabeledData,
  report: NeuralCleanseReport,
  options?: NeuralCleanseRepairOptions,
): Promise<NeuralCleanseRepairResult<C>> {
  const fn = 'neuralCleanse.repair';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, NEURAL_CLEANSE_REPAIR_DEFAULTS, options);
  assertOneOf(fn, 'options.method', o.method, ['unlearning', 'pruning'] as const);
  const schedules = resolveSchedules(fn, o);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertInRange(fn, 'options.validationFraction', o.validationFraction, 0, 1, { minOpen: true, maxOpen: true });
  assertFraction(fn, 'options.maxValidationDrop', o.maxValidationDrop);
  assertFraction(fn, 'options.stopAttackSuccess', o.stopAttackSuccess);
  assertFraction(fn, 'options.maxPruneFraction', o.maxPruneFraction);
  if (typeof o.filter !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.filter', value: o.filter }, 'must be a boolean');
  }
  assertInRange(fn, 'options.filterFraction', o.filterFraction, 0, 1, { minOpen: true });
  assertInRange(fn, 'options.filterFpr', o.filterFpr, 0, 1, { maxOpen: true });
  assertPositiveInteger(fn, 'options.evalBatchSize', o.evalBatchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
  const needs: Array<'layers' | 'mask' | 'train'> = o.method === 'unlearning' ? ['train'] : ['layers', 'mask'];
  if (o.filter) needs.push('layers');
  requireCapabilities(fn, 'classifier', classifier, needs);
  const shape = assertImageClassifier(fn, classifier);
  const layer =
    o.method === 'pruning' || o.filter
      ? resolveLayer(fn, classifier as unknown as LayeredClassifier, o.layer)
      : undefined;
  assertLabeledData(fn, 'cleanData', cleanData, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  const targetsGiven = o.targets ?? (report as Partial<NeuralCleanseReport> | null)?.targets;
  if (!Array.isArray(targetsGiven)) {
    throw new InvalidArgumentError(
      { fn, arg: 'report', value: report },
      'must be a report returned by neuralCleanse.detect',
    );
  }
  const targets: number[] = [];
  (targetsGiven as unknown[]).forEach((t, i) => {
    assertInteger(
      fn,
      o.targets !== undefined ? `options.targets[${i}]` : `report.targets[${i}]`,
      t,
      0,
      classifier.numClasses - 1,
    );
    if (!targets.includes(t)) targets.push(t);
  });
  const triggers = checkReport(fn, report, targets, shape);
  throwIfAborted(o.signal, fn);

  const n = cleanData.y.length;
  let split: { fit: Int32Array; validation: Int32Array } | undefined;
  if (o.method === 'unlearning' && schedules.length > 1 && targets.length > 0) {
    const nv = Math.round(o.validationFraction * n);
    if (nv < 1 || nv >= n) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.validationFraction', value: o.validationFraction },
        `leaves ${nv} of the ${n} clean samples for validation; both parts must be non-empty`,
      );
    }
    const validation = Int32Array.from(makeRng(o.seed, `${fn} validation`).sample(n, nv)).sort();
    const held = new Uint8Array(n);
    for (const i of validation) held[i] = 1;
    split = { fit: Int32Array.from({ length: n }, (_, i) => i).filter((i) => held[i] === 0), validation };
  }
  const evalOn = (clf: Classifier, data: LabeledData) => evaluateRepair(clf, data, targets, triggers, o.evalBatchSize);
  const evalAll = (clf: Classifier) => evalOn(clf, cleanData);
  const before = await evalAll(classifier);

  // ranking of the layer's units by activation increase under the reversed triggers
  let ranking: number[] | undefined;
  let filterSpec: InputFilter | undefined;
  if (layer !== undefined && targets.length > 0) {
    const lc = classifier as unknown as LayeredClassifier;
    const clean = await unitActivations(fn, lc, cleanData.x, layer, o.evalBatchSize);
    const units = layer.units;
    const cleanMean = columnMeans(clean, n, units);
    const stampedMean = new Float64Array(units);
    for (const t of targets) {
      const e = triggers.get(t)!;
      const xs = applyReversed(cleanData.x, e.mask, e.pattern);
      try {
        const acts = await unitActivations(fn, lc, xs, layer, o.evalBatchSize);
        const m = columnMeans(acts, n, units);
        for (let u = 0; u < units; u++) stampedMean[u]! += m[u]! / targets.length;
      } finally {
        xs.dispose();
      }
    }
    const diff = Array.from(stampedMean, (v, u) => v - cleanMean[u]!);
    ranking = diff.map((_, u) => u).sort((a, b) => diff[b]! - diff[a]! || a - b);
    if (o.filter) {
      const k = Math.max(1, Math.ceil(units * o.filterFraction));
      const neurons = ranking.slice(0, k);
      const scores = Array.from(filterScores(clean, units, neurons)).sort((a, b) => a - b);
      const at = Math.min(n - 1, Math.max(0, Math.ceil((1 - o.filterFpr) * n) - 1));
      filterSpec = { layer: layer.name, neurons, threshold: scores[at]!, fpr: o.filterFpr };
    }
  }
  throwIfAborted(o.signal, fn);

  if (o.method === 'unlearning') {
    const trainable = classifier as unknown as TrainableClassifier;
    const progressFor = (label: string) =>
      o.onProgress === undefined
        ? undefined
        : (e: ProgressEvent) =>
            reportProgress(o.onProgress, { ...e, stage: `neural-cleanse:unlearning${label} ${e.stage}` });
    let chosen = 0;
    let selection: NonNullable<NeuralCleanseRepairResult['unlearning']>['selection'];
    if (split !== undefined) {
      const fitData = gatherData(cleanData, split.fit);
      const valData = gatherData(cleanData, split.validation);
      try {
        const base = await evalOn(classifier, valData);
        const candidates: UnlearningCandidate[] = [];
        for (const [i, schedule] of schedules.entries()) {
          const copy = trainable.clone();
          try {
            await unlearn(copy, fitData, targets, triggers, schedule, o, progressFor(` candidate ${i}`));
            const v = await evalOn(copy, valData);
            candidates.push({
              schedule,
              validationAccuracy: v.accuracy,
              validationAttackSuccess: v.attackSuccess,
              eligible: v.accuracy >= base.accuracy - o.maxValidationDrop - 1e-12,
            });
          } finally {
            copy.dispose();
          }
        }
        chosen = chooseSchedule(candidates);
        selection = {
          validationSamples: split.validation.length,
          validationAccuracyBefore: base.accuracy,
          validationAttackSuccessBefore: base.attackSuccess,
          candidates,
          chosen,
        };
      } finally {
        tf.dispose([fitData.x, valData.x]);
      }
    }
    const schedule = schedules[chosen]!;
    const copy = trainable.clone();
    try {
      const fitted =
        targets.length > 0
          ? await unlearn(copy, cleanData, targets, triggers, schedule, o, progressFor(''))
          : { stamped: 0, loss: [], accuracy: [] };
      const after = await evalAll(copy);
      return {
        classifier: copy as unknown as C,
        method: 'unlearning',
        targets,
        attackSuccessBefore: before.attackSuccess,
        attackSuccessAfter: after.attackSuccess,
        cleanAccuracyBefore: before.accuracy,
        cleanAccuracyAfter: after.accuracy,
        unlearning: {
          samples: n,
          ...fitted,
          schedule,
          ...(selection !== undefined ? { selection } : {}),
        },
        ...(filterSpec !== undefined ? { filter: filterSpec } : {}),
      };
    } catch (e) {
      copy.dispose();
      throw e;
    }
  }

  // pruning
  const maskable = classifier as unknown as MaskableClassifier;
  const info = layer!;
  const units = info.units;
  const keep = new Array<number>(units).fill(1);
  const order = ranking ?? [];
  const limit = o.maxPruneFraction * units;
  const steps: PruningStep[] = [];
  const pruned: number[] = [];
  let current = maskable.withUnitMask(info.name, keep);
  try {
    let asr = before.attackSuccess;
    while (asr > o.stopAttackSuccess && pruned.length < limit && pruned.length < order.length) {
      throwIfAborted(o.signal, fn);
      const u = order[pruned.length]!;
      keep[u] = 0;
      pruned.push(u);
      const next = maskable.withUnitMask(info.name, keep);
      current.dispose();
      current = next;
      const e = await evalAll(current);
      asr = e.attackSuccess;
      steps.push({ pruned: pruned.length, attackSuccess: asr });
      reportProgress(o.onProgress, {
        stage: 'neural-cleanse:pruning',
        done: pruned.length,
        total: Math.ceil(limit),
        metrics: { attackSuccess: asr },
      });
      if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
    }
    const after = await evalAll(current);
    return {
      classifier: current as unknown as C,
      method: 'pruning',
      targets,
      attackSuccessBefore: before.attackSuccess,
      attackSuccessAfter: after.attackSuccess,
      cleanAccuracyBefore: before.accuracy,
      cleanAccuracyAfter: after.accuracy,
      pruning: {
        layer: info.name,
        ranking: order,
        pruned,
        keep: [...keep],
        steps,
        stoppedBecause: after.attackSuccess <= o.stopAttackSuccess ? 'attack-success' : 'max-prune-fraction',
      },
      ...(filterSpec !== undefined ? { filter: filterSpec } : {}),
    };
  } catch (e) {
    current.dispose();
    throw e;
  }
}

/** Options of {@link filter}. */
export interface FilterOptions {
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link filter}. */
export const FILTER_DEFAULTS: Readonly<Required<FilterOptions>> = Object.freeze({ batchSize: DEFAULT_BATCH_SIZE });

/** Result of {@link filter}: plain data. */
export interface FilterReport {
  /** 1 for each input flagged as carrying a trigger. */
  readonly suspicious: Uint8Array;
  /** Mean activation of the filter's neurons per input. */
  readonly scores: Float32Array;
  /** The threshold applied (`score > threshold` is flagged). */
  readonly threshold: number;
}

/**
 * Applies the input filter from {@link repair}: scores each input by the
 * mean activation of the neurons the reversed trigger excites most, and
 * flags scores above the threshold calibrated on clean data.
 *
 * @param classifier - The classifier the filter was derived from ('layers' capability). Not modified.
 * @param inputs - Images `[n, ...inputShape]`. Not modified.
 * @param spec - `result.filter` of {@link repair}.
 * @param options - See {@link FilterOptions}.
 * @returns Flags, scores and threshold.
 * @throws {@link CapabilityError}, {@link LayerNotFoundError} for a layer the
 *   classifier lacks, {@link InvalidArgumentError} for a bad spec,
 *   the shape/finiteness errors of the inputs.
 * @example
 * ```ts
 * const { filter: spec } = await neuralCleanse.repair(clf, clean, report);
 * const { suspicious } = await neuralCleanse.filter(clf, incoming, spec!);
 * ```
 */
export async function filter(
  classifier: Classifier,
  inputs: tf.Tensor,
  spec: InputFilter,
  options?: FilterOptions,
): Promise<FilterReport> {
  const fn = 'neuralCleanse.filter';
  requireCapabilities(fn, 'classifier', classifier, ['layers']);
  const o = resolveOptions(fn, FILTER_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  const lc = classifier as LayeredClassifier;
  if (spec === null || typeof spec !== 'object') {
    throw new InvalidArgumentError(
      { fn, arg: 'spec', value: spec },
      'must be the filter returned by neuralCleanse.repair',
    );
  }
  const info = findLayer(fn, 'spec.layer', lc, spec.layer);
  if (!Array.isArray(spec.neurons) || spec.neurons.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'spec.neurons', value: spec.neurons },
      'must be a non-empty array of units',
    );
  }
  spec.neurons.forEach((u, i) => assertInteger(fn, `spec.neurons[${i}]`, u, 0, info.units - 1));
  assertFiniteNumber(fn, 'spec.threshold', spec.threshold);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  if (inputs.shape[0] === 0) throw new EmptyDataError({ fn, arg: 'inputs' });
  const acts = await unitActivations(fn, lc, inputs, info, o.batchSize);
  const scores = filterScores(acts, info.units, spec.neurons);
  const suspicious = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) suspicious[i] = scores[i]! > spec.threshold ? 1 : 0;
  return { suspicious, scores, threshold: spec.threshold };
}
