/**
 * Batching helpers shared by every module: split work over the first axis,
 * keep each batch's tensors in a `tf.tidy`, and read results back with one
 * `await data()` per batch (never `dataSync` in a loop).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from './classifier.js';
import type { LabeledData } from './types.js';
import { assertPositiveInteger } from './checks.js';

/** Default samples per forward pass. */
export const DEFAULT_BATCH_SIZE = 256;

/** `[start, end)` ranges covering `0..n` in steps of `batchSize`. */
export function batchRanges(n: number, batchSize: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  return out;
}

/** Rows `[start, end)` of `x` (a view-free copy made by `tf.slice`). */
export function sliceRows<T extends tf.Tensor>(x: T, start: number, end: number): T {
  const begin = x.shape.map((_, i) => (i === 0 ? start : 0));
  const size = x.shape.map((d, i) => (i === 0 ? end - start : d));
  return tf.slice(x, begin, size) as T;
}

/**
 * Applies `fn` to each batch of rows of `x` inside `tf.tidy` and concatenates
 * the results along axis 0. The caller owns the returned tensor.
 */
export function mapBatches<R extends tf.Tensor>(x: tf.Tensor, batchSize: number, fn: (batch: tf.Tensor) => R): R {
  const n = x.shape[0]!;
  if (n <= batchSize) return tf.tidy(() => fn(x));
  const parts: R[] = [];
  try {
    for (const [s, e] of batchRanges(n, batchSize)) parts.push(tf.tidy(() => fn(sliceRows(x, s, e))));
    return tf.concat(parts, 0) as R;
  } finally {
    for (const p of parts) p.dispose();
  }
}

/**
 * Runs `fn` on each batch of `x` (in `tf.tidy`), awaits the batch result's
 * data and copies it into one preallocated Float32Array: the input is never
 * held twice on the device, and the output is plain data.
 *
 * @returns The concatenated values and the per-row width.
 */
export async function collectBatches(
  x: tf.Tensor,
  batchSize: number,
  fn: (batch: tf.Tensor) => tf.Tensor,
): Promise<{ values: Float32Array; rows: number; cols: number }> {
  const n = x.shape[0]!;
  let values: Float32Array | undefined;
  let cols = 0;
  for (const [s, e] of batchRanges(n, batchSize)) {
    const out = tf.tidy(() => {
      const batch = s === 0 && e === n ? x : sliceRows(x, s, e);
      const r = fn(batch);
      return r.rank === 2 ? r : tf.reshape(r, [e - s, -1]);
    });
    try {
      const data = (await out.data()) as Float32Array;
      if (values === undefined) {
        cols = out.shape[1]!;
        values = new Float32Array(n * cols);
      }
      values.set(data, s * cols);
    } finally {
      out.dispose();
    }
  }
  return { values: values ?? new Float32Array(0), rows: n, cols };
}

/**
 * Class probabilities of `classifier` for `x`, batched, as plain data
 * (row-major `[n, numClasses]`).
 *
 * @param batchSize - Samples per forward pass. @default 256
 */
export async function predictProbabilities(
  classifier: Classifier,
  x: tf.Tensor,
  batchSize = DEFAULT_BATCH_SIZE,
): Promise<Float32Array> {
  assertPositiveInteger('predictProbabilities', 'batchSize', batchSize);
  return (await collectBatches(x, batchSize, (b) => classifier.predict(b))).values;
}

/** Index of the largest value in each row of a row-major matrix. */
export function argmaxRows(values: Float32Array, cols: number): Int32Array {
  const rows = cols === 0 ? 0 : values.length / cols;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestV = values[r * cols]!;
    for (let c = 1; c < cols; c++) {
      const v = values[r * cols + c]!;
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Rows `idx` of validated data (no validation; empty `idx` gives 0 rows). */
export function gatherData<X extends tf.Tensor>(data: LabeledData<X>, idx: Int32Array): LabeledData<X> {
  const y = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) y[i] = data.y[idx[i]!]!;
  const x = tf.tidy(() =>
    idx.length === 0
      ? tf.zeros([0, ...data.x.shape.slice(1)], data.x.dtype)
      : tf.gather(data.x, tf.tensor1d(idx, 'int32'), 0),
  ) as X;
  return { x, y };
}
