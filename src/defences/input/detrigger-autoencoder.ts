/**
 * The de-trigger autoencoder of Kwon ("Defending Deep Neural Networks against
 * Backdoor Attack by Using De-trigger Autoencoder", IEEE Access 2021): an
 * autoencoder trained on clean images to map copies stamped with a trigger
 * (a white 4×4 square at a random corner) back to the clean image.
 *
 * - {@link calibrate} builds and trains it (Kwon's dense 250-100-20-100-250
 *   network by default, or a convolutional one);
 * - {@link detect} flags an input when the classifier's label changes after
 *   the autoencoder (Kwon, Algorithm 1);
 * - {@link repair} returns the de-triggered inputs.
 *
 * `detect` and `repair` need only `classifier.predict`, so they work on any
 * {@link Classifier}.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { argmaxRows, mapBatches } from '../../core/batching.js';
import { assertClassifier, type Classifier } from '../../core/classifier.js';
import { InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import { makeRng, type Rng } from '../../core/rng.js';
import type { CleanImages, LongRunningOptions, ProgressCallback } from '../../core/types.js';
import {
  assertFiniteNumber,
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
  shapesEqual,
} from '../../core/checks.js';
import { resolveOptions } from '../../core/options.js';
import { checkProbabilities } from '../../core/predictions.js';
import { assertBatch, cleanImagesTensor } from '../../core/validate.js';
import { convAutoencoder, denseAutoencoder } from '../../models/autoencoders.js';
import { square } from '../../triggers/patches.js';
import { CORNERS, planPlacement } from '../../triggers/stamp.js';
import { assertTrigger, type Trigger } from '../../triggers/trigger.js';

/** Autoencoder architecture. */
export type DetriggerArchitecture = 'dense' | 'conv';

/** Where training triggers are stamped: a random corner (Kwon) or anywhere the trigger fits. */
export type DetriggerPlacement = 'random-corner' | 'random';

/** Reconstruction loss: mean squared error (Kwon) or per-pixel binary cross-entropy. */
export type DetriggerLoss = 'mse' | 'bce';

/** Options of {@link calibrate}. */
export interface DetriggerCalibrateOptions extends LongRunningOptions {
  /** `'dense'`: Kwon's fully connected autoencoder; `'conv'`: `models.convAutoencoder`. @default 'dense' */
  readonly architecture?: DetriggerArchitecture;
  /** Dense encoder widths, mirrored by the decoder (Kwon: 250, 100). @default [250, 100] */
  readonly hidden?: readonly number[];
  /** Dense latent width (Kwon: 20). @default 20 */
  readonly latent?: number;
  /** Conv encoder filters (one 2×2 pooling each), mirrored by the decoder. @default [32, 16] */
  readonly filters?: readonly number[];
  /** Passes over the data (Kwon: 20). @default 20 */
  readonly epochs?: number;
  /** Samples per Adam step (Kwon: 128). @default 128 */
  readonly trainBatchSize?: number;
  /** Adam learning rate (Kwon: 0.001). @default 0.001 */
  readonly learningRate?: number;
  /**
   * Reconstruction loss between the output and the clean image: `'mse'`,
   * the mean squared error (Kwon: `‖z − x‖²`), or `'bce'`, the mean per-pixel
   * binary cross-entropy `−[x log z + (1 − x) log(1 − z)]` (the usual choice
   * for a sigmoid output on [0, 1] images: its gradient does not vanish when
   * the sigmoid saturates, which lets the convolutional autoencoder train
   * where MSE collapses to a black image). @default 'mse'
   */
  readonly loss?: DetriggerLoss;
  /** Training triggers; each triggered sample gets one at random (Kwon: a white 4×4 square). @default [triggers.square({ size: 4 })] */
  readonly triggers?: readonly Trigger[];
  /** Placement of training triggers (Kwon: a random corner). @default 'random-corner' */
  readonly placement?: DetriggerPlacement;
  /** Gap between a corner trigger and the edges, in pixels (the library's stamp default). @default 1 */
  readonly margin?: number;
  /** Share of the training images stamped each epoch; the rest are identity pairs. @default 0.5 */
  readonly triggeredFraction?: number;
  /** Draw a fresh triggered subset, triggers and corners every epoch (else once). @default true */
  readonly resample?: boolean;
  /** Seed of the weights, the stamping and the shuffles. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link calibrate} (Kwon, Section IV-C; sources in docs/defences/detrigger-autoencoder.md). */
export const DETRIGGER_CALIBRATE_DEFAULTS = Object.freeze({
  architecture: 'dense' as DetriggerArchitecture,
  hidden: Object.freeze([250, 100]) as readonly number[],
  latent: 20,
  filters: Object.freeze([32, 16]) as readonly number[],
  epochs: 20,
  trainBatchSize: 128,
  learningRate: 0.001,
  loss: 'mse' as DetriggerLoss,
  triggers: Object.freeze([square({ size: 4, value: 1, channels: 1 })]) as readonly Trigger[],
  placement: 'random-corner' as DetriggerPlacement,
  margin: 1,
  triggeredFraction: 0.5,
  resample: true,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Training record of a {@link DetriggerCalibration}. */
export interface DetriggerHistory {
  /** Mean training loss (`options.loss`) per epoch (on the batches as trained). */
  readonly loss: number[];
  /** Wall time per epoch in seconds. */
  readonly seconds: number[];
}

/**
 * A trained de-trigger autoencoder. Use `model` as any tfjs-layers model
 * (`model.predict(x)` purifies a batch, `saveModel(model, dir)` saves it);
 * call `dispose()` when done.
 */
export interface DetriggerCalibration {
  /** Marks the object's type. */
  readonly kind: 'detrigger-autoencoder';
  /** The autoencoder, `[n, h, w, c] → [n, h, w, c]`, values in (0, 1). Owned by this object. */
  readonly model: tfl.LayersModel;
  /** The architecture it was built with. */
  readonly architecture: DetriggerArchitecture;
  /** Per-sample input shape. */
  readonly inputShape: number[];
  /** Loss and time per epoch. */
  readonly history: DetriggerHistory;
  /** Releases the model's weights; the object must not be used afterwards. */
  dispose(): void;
}

/** What `detect` and `repair` accept as the autoencoder: a {@link DetriggerCalibration} or a bare tfjs-layers model. */
export type AutoencoderLike = DetriggerCalibration | tfl.LayersModel;

type ResolvedCalibrate = typeof DETRIGGER_CALIBRATE_DEFAULTS;

function assertWidths(fn: string, arg: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a non-empty array of positive integers');
  }
}

/** Stamps trigger `t` at (row, col) on image `base` of a row-major NHWC array, in place. */
function stampInto(x: Float32Array, base: number, W: number, C: number, t: Trigger, row: number, col: number): void {
  const { height: h, width: w, channels: c } = t;
  for (let r = 0; r < h; r++) {
    for (let cc = 0; cc < w; cc++) {
      const src = (r * w + cc) * c;
      const dst = base + ((row + r) * W + (col + cc)) * C;
      for (let ch = 0; ch < C; ch++) {
        const ti = src + (c === 1 ? 0 : ch);
        const m = t.mask[ti]!;
        const v = x[dst + ch]!;
        x[dst + ch] =
          t.kind === 'additive' ? Math.min(1, Math.max(0, v + m * t.pattern[ti]!)) : (1 - m) * v + m * t.pattern[ti]!;
      }
    }
  }
}

/** The training inputs of one epoch: the clean images with a random subset stamped. */
function stampedCopy(clean: Float32Array, shape: readonly number[], o: ResolvedCalibrate, rng: Rng): Float32Array {
  const [n, H, W, C] = shape as [number, number, number, number];
  const per = H * W * C;
  const out = Float32Array.from(clean);
  const count = Math.round(o.triggeredFraction * n);
  const chosen = new Int32Array(count);
  rng.sampleInto(n, count, chosen);
  const m = o.margin;
  for (const i of chosen) {
    const t = o.triggers[rng.int(o.triggers.length)]!;
    let row = 0;
    let col = 0;
    if (!t.fullImage) {
      if (o.placement === 'random-corner') {
        const corner = CORNERS[rng.int(4)]!;
        row = corner.startsWith('top') ? m : H - t.height - m;
        col = corner.endsWith('left') ? m : W - t.width - m;
      } else {
        row = rng.int(H - t.height + 1);
        col = rng.int(W - t.width + 1);
      }
    }
    stampInto(out, i * per, W, C, t, row, col);
  }
  return out;
}

/** Mean reconstruction loss of output `z` against clean target `x` (inside a tidy). */
function reconstructionLoss(z: tf.Tensor, x: tf.Tensor, loss: DetriggerLoss): tf.Scalar {
  if (loss === 'mse') return tf.mean(tf.squaredDifference(z, x)) as tf.Scalar;
  const eps = tf.scalar(1e-7);
  const one = tf.scalar(1);
  const logZ = tf.log(tf.maximum(z, eps));
  const log1mZ = tf.log(tf.maximum(tf.sub(one, z), eps));
  return tf.neg(tf.mean(tf.add(tf.mul(x, logZ), tf.mul(tf.sub(one, x), log1mZ)))) as tf.Scalar;
}

/**
 * Builds and trains a de-trigger autoencoder on clean images (Kwon, Section
 * III and IV-C): each epoch, a share `triggeredFraction` of the images is
 * stamped with one of `triggers` at a random corner, and the network is
 * trained with Adam on the mean squared error (or, with `loss: 'bce'`, the
 * binary cross-entropy) between its output and the clean image (identity
 * pairs for the unstamped rest).
 *
 * @param classifier - The classifier to protect (any {@link Classifier}
 *   taking images): the autoencoder is built for its input shape.
 * @param cleanData - Clean images `[n, ...classifier.inputShape]` in [0, 1]
 *   (tensor or {@link LabeledData}; labels unused); not modified.
 * @param options - {@link DetriggerCalibrateOptions}.
 * @returns A {@link DetriggerCalibration} holding the trained autoencoder; the caller disposes it.
 * @throws {@link InvalidArgumentError} for a bad option; {@link ShapeError}
 *   for non-image data or a trigger that does not fit; {@link AbortError}.
 * @example
 * ```ts
 * const ae = await detriggerAutoencoder.calibrate(classifier, cleanTrain, { epochs: 20, seed: 1 });
 * const r = await detriggerAutoencoder.detect(classifier, inputs, { calibration: ae });
 * ae.dispose();
 * ```
 */
export async function calibrate(
  classifier: Classifier,
  cleanData: CleanImages,
  options?: DetriggerCalibrateOptions,
): Promise<DetriggerCalibration> {
  const fn = 'detriggerAutoencoder.calibrate';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, DETRIGGER_CALIBRATE_DEFAULTS, options);
  assertOneOf(fn, 'options.architecture', o.architecture, ['dense', 'conv'] as const);
  assertWidths(fn, 'options.hidden', o.hidden);
  assertPositiveInteger(fn, 'options.latent', o.latent);
  assertWidths(fn, 'options.filters', o.filters);
  assertPositiveInteger(fn, 'options.epochs', o.epochs);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertOneOf(fn, 'options.loss', o.loss, ['mse', 'bce'] as const);
  assertOneOf(fn, 'options.placement', o.placement, ['random-corner', 'random'] as const);
  assertInteger(fn, 'options.margin', o.margin, 0);
  assertInRange(fn, 'options.triggeredFraction', o.triggeredFraction, 0, 1);
  if (typeof o.resample !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.resample', value: o.resample }, 'must be a boolean');
  }
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
  if (classifier.inputShape.length !== 3) {
    throw new ShapeError(
      { fn, arg: 'classifier', value: `inputShape [${classifier.inputShape.join(',')}]` },
      'must take images [h, w, c] (the autoencoder reconstructs images)',
    );
  }
  const inputShape = [...classifier.inputShape];
  const x = cleanImagesTensor(fn, 'cleanData', cleanData, inputShape);
  const [H, W, C] = inputShape as [number, number, number];
  if (!Array.isArray(o.triggers) || o.triggers.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.triggers', value: o.triggers },
      'must be a non-empty array of triggers',
    );
  }
  o.triggers.forEach((t, k) => {
    assertTrigger(fn, `options.triggers[${k}]`, t);
    planPlacement(
      fn,
      t,
      [H, W, C],
      1,
      { placement: o.placement === 'random-corner' ? 'top-left' : 'random', margin: o.margin, seed: 0 },
      `options.triggers[${k}]`,
    );
  });
  throwIfAborted(o.signal, fn);

  const n = x.shape[0]!;
  const rng = makeRng(o.seed, fn);
  const stampRng = rng.derive('detrigger:stamp');
  const orderRng = rng.derive('detrigger:order');
  const model =
    o.architecture === 'dense'
      ? denseAutoencoder({
          inputShape,
          hidden: o.hidden,
          latent: o.latent,
          seed: rng.derive('detrigger:init').nextSeed(),
        })
      : convAutoencoder({ inputShape, filters: o.filters, seed: rng.derive('detrigger:init').nextSeed() });
  // plain values for stamping (x.data() is already a copy); the clean target is x itself
  const raw = await x.data();
  const clean = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
  const target = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  const optimizer = tf.train.adam(o.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const history: DetriggerHistory = { loss: [], seconds: [] };
  const steps = Math.ceil(n / o.trainBatchSize);
  let inputs: tf.Tensor4D | undefined;
  let ok = false;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      if (inputs === undefined || o.resample) {
        inputs?.dispose();
        inputs = tf.tensor4d(stampedCopy(clean, [n, H, W, C], o, stampRng), [n, H, W, C]);
      }
      const order = orderRng.permutation(n);
      const losses: tf.Scalar[] = [];
      try {
        for (let step = 0; step < steps; step++) {
          throwIfAborted(o.signal, fn);
          const s = step * o.trainBatchSize;
          const e = Math.min(n, s + o.trainBatchSize);
          const xin = inputs;
          tf.tidy(() => {
            const idx = tf.tensor1d(order.subarray(s, e), 'int32');
            const xb = tf.gather(xin, idx);
            const yb = tf.gather(target, idx);
            const loss = optimizer.minimize(
              () => reconstructionLoss(model.apply(xb, { training: true }) as tf.Tensor, yb, o.loss),
              true,
              vars,
            );
            losses.push(tf.keep(tf.mul(loss!, e - s)));
          });
          if (o.onProgress !== undefined || o.signal !== undefined) {
            report(o.onProgress, { stage: 'detrigger:train', done: epoch * steps + step + 1, total: o.epochs * steps });
            await yieldToEventLoop();
          }
        }
        const total = tf.addN(losses);
        const sum = (await total.data())[0]!;
        total.dispose();
        history.loss.push(sum / n);
        history.seconds.push((performance.now() - t0) / 1000);
        report(o.onProgress, {
          stage: 'detrigger:epoch',
          done: epoch + 1,
          total: o.epochs,
          metrics: { loss: sum / n },
        });
      } finally {
        tf.dispose(losses);
      }
    }
    ok = true;
  } finally {
    inputs?.dispose();
    if (target !== x) target.dispose();
    optimizer.dispose();
    if (!ok) model.dispose();
  }
  let disposed = false;
  return {
    kind: 'detrigger-autoencoder',
    model,
    architecture: o.architecture,
    inputShape: [...inputShape],
    history,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  };
}

/** The purification function of an autoencoder argument, validated against `inputShape`. */
function autoencoderFn(
  fn: string,
  value: unknown,
  inputShape: readonly number[] | undefined,
): (x: tf.Tensor) => tf.Tensor {
  const arg = 'options.calibration';
  const v = value as { kind?: unknown; model?: unknown; predictOnBatch?: unknown; inputs?: unknown } | null;
  const model =
    v !== null && typeof v === 'object' && v.kind === 'detrigger-autoencoder' ? (v.model as tfl.LayersModel) : v;
  const m = model as { predictOnBatch?: unknown; inputs?: Array<{ shape: Array<number | null> }> } | null;
  if (m === null || typeof m !== 'object' || typeof m.predictOnBatch !== 'function' || !Array.isArray(m.inputs)) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      'must be a DetriggerCalibration (from detriggerAutoencoder.calibrate) or a tfjs-layers model',
    );
  }
  const shape = m.inputs[0]?.shape.slice(1) ?? [];
  if (inputShape !== undefined && !shapesEqual(shape as number[], inputShape)) {
    throw new ShapeError(
      { fn, arg, value: `[${shape.join(',')}]` },
      `must take inputs of shape [${inputShape.join(',')}]`,
    );
  }
  const layers = model as tfl.LayersModel;
  return (x) => layers.predictOnBatch(x) as tf.Tensor;
}

/** Options of {@link detect}. */
export interface DetriggerDetectOptions extends LongRunningOptions {
  /** The autoencoder (from {@link calibrate}, or any tfjs-layers model of the input shape). Required. */
  readonly calibration: AutoencoderLike;
  /**
   * Score threshold. The score is `max_{c ≠ r_b} p_a[c] − p_a[r_b]` (r_b the
   * label before, p_a the probabilities after the autoencoder), positive
   * exactly when the label changes, so 0 is Kwon's Algorithm 1. @default 0
   */
  readonly threshold?: number;
  /** Inputs per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link detect}. */
export const DETRIGGER_DETECT_DEFAULTS = Object.freeze({
  calibration: undefined as AutoencoderLike | undefined,
  threshold: 0,
  batchSize: 256,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Result of {@link detect}. Plain data. */
export interface DetriggerReport {
  /** 1 = flagged: the label changes after the autoencoder (score above `threshold`). */
  readonly suspicious: Uint8Array;
  /** `max_{c ≠ r_b} p_a[c] − p_a[r_b]`, in [−1, 1]; positive when the label changes; high = suspicious. */
  readonly scores: Float32Array;
  /** The threshold used (0 = Algorithm 1). */
  readonly threshold: number;
  /** Always `'high'`. */
  readonly polarity: 'high';
  /** Labels predicted on the inputs (r_b). */
  readonly labelsBefore: Int32Array;
  /** Labels predicted on the de-triggered inputs (r_a): the repaired prediction. */
  readonly labelsAfter: Int32Array;
}

/**
 * Flags triggered inputs by the change of the predicted label after the
 * de-trigger autoencoder (Kwon, Algorithm 1): `r_b = argmax f(x)`,
 * `r_a = argmax f(AE(x))`; flagged when `r_b ≠ r_a`.
 *
 * @param classifier - Any {@link Classifier}.
 * @param inputs - `[n, ...classifier.inputShape]`; not modified.
 * @param options - {@link DetriggerDetectOptions}; `calibration` is required.
 * @returns A {@link DetriggerReport} (plain data).
 * @throws {@link InvalidArgumentError} for a missing/bad autoencoder or option;
 *   {@link ShapeError} when inputs, classifier and autoencoder shapes disagree;
 *   {@link AbortError}.
 * @example
 * ```ts
 * const r = await detriggerAutoencoder.detect(classifier, inputs, { calibration: ae });
 * r.suspicious;    // Uint8Array, 1 = label changed
 * r.labelsAfter;   // the repaired predictions
 * ```
 */
export async function detect(
  classifier: Classifier,
  inputs: tf.Tensor,
  options: DetriggerDetectOptions,
): Promise<DetriggerReport> {
  const fn = 'detriggerAutoencoder.detect';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, DETRIGGER_DETECT_DEFAULTS, options);
  if (o.calibration === undefined) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.calibration', value: undefined },
      'is required (see detriggerAutoencoder.calibrate)',
    );
  }
  const purify = autoencoderFn(fn, o.calibration, classifier.inputShape);
  assertInRange(fn, 'options.threshold', o.threshold, -1, 1);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertLongRunning(fn, o);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  const n = inputs.shape[0]!;
  const K = classifier.numClasses;
  const before = new Float32Array(n * K);
  const after = new Float32Array(n * K);
  for (let s = 0; s < n; s += o.batchSize) {
    throwIfAborted(o.signal, fn);
    const e = Math.min(n, s + o.batchSize);
    const both = tf.tidy(() => {
      const b =
        e - s === n
          ? inputs
          : tf.slice(inputs, [s, ...inputs.shape.slice(1).map(() => 0)], [e - s, ...inputs.shape.slice(1)]);
      const pb = classifier.predict(b);
      checkProbabilities(fn, classifier, pb, e - s);
      const pa = classifier.predict(purify(b));
      checkProbabilities(fn, classifier, pa, e - s);
      return tf.concat([pb, pa], 0);
    });
    try {
      const v = (await both.data()) as Float32Array;
      before.set(v.subarray(0, (e - s) * K), s * K);
      after.set(v.subarray((e - s) * K), s * K);
    } finally {
      both.dispose();
    }
    if (o.onProgress !== undefined || o.signal !== undefined) {
      report(o.onProgress, { stage: 'detrigger:detect', done: e, total: n });
      await yieldToEventLoop();
    }
  }
  const labelsBefore = argmaxRows(before, K);
  const labelsAfter = argmaxRows(after, K);
  const scores = new Float32Array(n);
  const suspicious = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const rb = labelsBefore[i]!;
    let best = -Infinity;
    for (let c = 0; c < K; c++) if (c !== rb) best = Math.max(best, after[i * K + c]!);
    const score = best - after[i * K + rb]!;
    scores[i] = score;
    suspicious[i] = score > o.threshold ? 1 : 0;
  }
  return { suspicious, scores, threshold: o.threshold, polarity: 'high', labelsBefore, labelsAfter };
}

/** Options of {@link repair}. */
export interface DetriggerRepairOptions {
  /** The autoencoder (from {@link calibrate}, or any tfjs-layers model). Required. */
  readonly calibration: AutoencoderLike;
  /** Inputs per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link repair}. */
export const DETRIGGER_REPAIR_DEFAULTS = Object.freeze({
  calibration: undefined as AutoencoderLike | undefined,
  batchSize: 256,
});

/**
 * Returns the de-triggered inputs: the autoencoder's reconstruction of each
 * input, batch by batch.
 *
 * @param classifier - The classifier the inputs are for (its input shape is checked against the autoencoder's).
 * @param inputs - `[n, ...classifier.inputShape]` images; not modified.
 * @param options - {@link DetriggerRepairOptions}; `calibration` is required.
 * @returns A new tensor of `inputs`' shape; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} for a missing/bad autoencoder;
 *   {@link ShapeError} when the shapes disagree.
 * @example
 * ```ts
 * const clean = detriggerAutoencoder.repair(classifier, inputs, { calibration: ae });
 * ```
 */
export function repair(classifier: Classifier, inputs: tf.Tensor, options: DetriggerRepairOptions): tf.Tensor {
  const fn = 'detriggerAutoencoder.repair';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, DETRIGGER_REPAIR_DEFAULTS, options);
  if (o.calibration === undefined) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.calibration', value: undefined },
      'is required (see detriggerAutoencoder.calibrate)',
    );
  }
  const purify = autoencoderFn(fn, o.calibration, classifier.inputShape);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  return mapBatches(inputs, o.batchSize, (b) => purify(b));
}
