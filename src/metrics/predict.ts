/**
 * Batched hard predictions: the one place the library turns class
 * probabilities into labels.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { assertClassifier, type Classifier } from '../core/classifier.js';
import { batchRanges, DEFAULT_BATCH_SIZE, sliceRows } from '../core/batching.js';
import { ShapeError } from '../core/errors.js';
import { assertPositiveInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertBatch } from '../core/validate.js';

/** Options of {@link predictLabels} and of every metric that runs a classifier. */
export interface PredictOptions {
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link predictLabels}. */
export const PREDICT_DEFAULTS: Readonly<Required<PredictOptions>> = Object.freeze({
  batchSize: DEFAULT_BATCH_SIZE,
});

/**
 * Predicted class (arg-max of `classifier.predict`) of every sample of `x`,
 * computed batch by batch: each batch runs in `tf.tidy` and is read back with
 * one `await data()`, so no tensor outlives its batch. Ties go to the lower
 * class index.
 *
 * @param classifier - Any {@link Classifier}; only `predict` is used.
 * @param x - Inputs `[n, ...classifier.inputShape]`, finite; not modified.
 * @param options - See {@link PredictOptions}.
 * @returns One predicted label per sample.
 * @throws InvalidArgumentError if `classifier` is not a Classifier, or an
 *   option is bad.
 * @throws ShapeError if `x` does not match `classifier.inputShape`, or
 *   `predict` does not return `[batch, numClasses]`.
 * @throws EmptyDataError if `x` has no samples; NonFiniteError if it holds NaN
 *   or Infinity.
 * @example
 * ```ts
 * const labels = await metrics.predictLabels(clf, data.x, { batchSize: 128 });
 * // Int32Array [7, 2, 1, 0, 4, ...]
 * ```
 */
export async function predictLabels(
  classifier: Classifier,
  x: tf.Tensor,
  options?: PredictOptions,
): Promise<Int32Array> {
  const fn = 'metrics.predictLabels';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolvePredictOptions(fn, options);
  assertBatch(fn, 'x', x, classifier.inputShape);
  return predictLabelsUnchecked(fn, classifier, x, o.batchSize);
}

/** Resolves and checks {@link PredictOptions}. */
export function resolvePredictOptions(fn: string, options: unknown): Required<PredictOptions> {
  const o = resolveOptions(fn, PREDICT_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  return o;
}

/**
 * {@link predictLabels} without argument checks, for callers that have
 * validated already. `fn` names the public function in errors.
 */
export async function predictLabelsUnchecked(
  fn: string,
  classifier: Classifier,
  x: tf.Tensor,
  batchSize: number,
): Promise<Int32Array> {
  const n = x.shape[0] ?? 0;
  const out = new Int32Array(n);
  for (const [start, end] of batchRanges(n, batchSize)) {
    const labels = tf.tidy(() => {
      const xb = start === 0 && end === n ? x : sliceRows(x, start, end);
      const p = classifier.predict(xb) as unknown;
      checkPrediction(fn, p, end - start, classifier.numClasses);
      return tf.argMax(p, 1);
    });
    try {
      out.set(await labels.data(), start);
    } finally {
      labels.dispose();
    }
  }
  return out;
}

function checkPrediction(fn: string, p: unknown, count: number, numClasses: number): asserts p is tf.Tensor2D {
  const shape = (p as { shape?: unknown } | null)?.shape;
  if (!(p instanceof tf.Tensor) && !Array.isArray(shape)) {
    throw new ShapeError({ fn, arg: 'classifier', value: p }, 'predict(x) must return a tf.Tensor2D');
  }
  const s = shape as number[];
  if (s.length !== 2 || s[0] !== count || s[1] !== numClasses) {
    throw new ShapeError(
      { fn, arg: 'classifier', value: p },
      `predict(x) must return probabilities of shape [${count}, ${numClasses}] (batch, numClasses)`,
    );
  }
}
