/**
 * Splitting, sub-setting and joining {@link LabeledData}. Every helper returns
 * new tensors and new label arrays; its inputs are never mutated or disposed.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError, InvalidArgumentError, LabelError, ShapeError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { gatherData } from '../core/batching.js';
import type { LabeledData } from '../core/types.js';
import { assertFiniteNumber, assertInRange, shapesEqual } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertLabeledData } from '../core/validate.js';

/** Options of {@link stratifiedSplit} and {@link stratifiedSplitIndices}. */
export interface SplitOptions {
  /**
   * Share of each class that goes to the test part, in [0, 1). Class `c`
   * with `n_c` samples contributes `Math.round(testFraction * n_c)` samples to
   * the test part. `0` gives an empty test part.
   * @default 0.2
   */
  readonly testFraction?: number;
  /** Seed of the shuffle; same seed, same split. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link SplitOptions}. */
export const SPLIT_DEFAULTS: Readonly<Required<SplitOptions>> = Object.freeze({ testFraction: 0.2, seed: 0 });

/** Indices of a train/test split, each part in shuffled order. */
export interface SplitIndices {
  /** Indices of the training samples. */
  readonly train: Int32Array;
  /** Indices of the test samples. */
  readonly test: Int32Array;
}

/** A train/test pair of {@link LabeledData}. */
export interface TrainTest {
  /** Training part. */
  readonly train: LabeledData;
  /** Test part (its `x` has 0 rows when `testFraction` is 0). */
  readonly test: LabeledData;
}

/** Validates split options for `fn` and returns them resolved. */
export function resolveSplitOptions(fn: string, options: unknown): Required<SplitOptions> {
  const o = resolveOptions(fn, SPLIT_DEFAULTS, options);
  assertInRange(fn, 'options.testFraction', o.testFraction, 0, 1, { maxOpen: true });
  assertFiniteNumber(fn, 'options.seed', o.seed);
  return o;
}

/**
 * Class-stratified split of already validated labels with an existing
 * generator (the engine behind {@link stratifiedSplitIndices}).
 *
 * Classes are visited in ascending order; each class's indices are shuffled
 * and the first `round(testFraction * n_c)` go to test. Both parts are then
 * shuffled. Throws when no training sample would remain.
 */
export function splitIndicesWithRng(fn: string, labels: Int32Array, testFraction: number, rng: Rng): SplitIndices {
  let maxLabel = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > maxLabel) maxLabel = labels[i]!;
  const counts = new Int32Array(maxLabel + 1);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  const byClass: Int32Array[] = [];
  const fill = new Int32Array(maxLabel + 1);
  for (let c = 0; c <= maxLabel; c++) byClass.push(new Int32Array(counts[c]!));
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    byClass[c]![fill[c]!++] = i;
  }
  let nTest = 0;
  const testCounts = new Int32Array(maxLabel + 1);
  for (let c = 0; c <= maxLabel; c++) {
    testCounts[c] = Math.round(testFraction * counts[c]!);
    nTest += testCounts[c]!;
  }
  const nTrain = labels.length - nTest;
  if (nTrain < 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.testFraction', value: testFraction },
      `leaves no training sample out of ${labels.length}`,
    );
  }
  const train = new Int32Array(nTrain);
  const test = new Int32Array(nTest);
  let tr = 0;
  let te = 0;
  for (let c = 0; c <= maxLabel; c++) {
    const members = byClass[c]!;
    if (members.length === 0) continue;
    rng.shuffleInPlace(members);
    const k = testCounts[c]!;
    test.set(members.subarray(0, k), te);
    train.set(members.subarray(k), tr);
    te += k;
    tr += members.length - k;
  }
  rng.shuffleInPlace(train);
  rng.shuffleInPlace(test);
  return { train, test };
}

/**
 * Class-stratified train/test split of a label array, as indices.
 *
 * @param labels - Non-negative integer labels, one per sample.
 * @param options - {@link SplitOptions}.
 * @returns Train and test indices into `labels`, each in shuffled order.
 * @throws {@link InvalidArgumentError} for a bad `labels` array, an unknown
 *   option, `testFraction` outside [0, 1) or one that leaves no training
 *   sample, or a non-finite `seed`.
 * @throws {@link EmptyDataError} when `labels` is empty.
 * @throws {@link LabelError} for a negative label.
 * @example
 * ```ts
 * const { train, test } = datasets.stratifiedSplitIndices(data.y, { testFraction: 0.25, seed: 1 });
 * ```
 */
export function stratifiedSplitIndices(labels: Int32Array, options?: SplitOptions): SplitIndices {
  const fn = 'stratifiedSplitIndices';
  assertLabelArray(fn, 'labels', labels);
  const o = resolveSplitOptions(fn, options);
  return splitIndicesWithRng(fn, labels, o.testFraction, new Rng(o.seed));
}

/**
 * Class-stratified, seeded train/test split of a {@link LabeledData}.
 *
 * @param data - The samples to split (left untouched).
 * @param options - {@link SplitOptions}.
 * @returns New `train` and `test` data (the caller owns both tensors).
 * @throws {@link BackdoorKitError} for invalid `data` or options (see
 *   {@link stratifiedSplitIndices}).
 * @example
 * ```ts
 * const { train, test } = datasets.stratifiedSplit(data, { testFraction: 0.2, seed: 7 });
 * ```
 */
export function stratifiedSplit(data: LabeledData, options?: SplitOptions): TrainTest {
  const fn = 'stratifiedSplit';
  assertLabeledData(fn, 'data', data);
  const o = resolveSplitOptions(fn, options);
  const { train, test } = splitIndicesWithRng(fn, data.y, o.testFraction, new Rng(o.seed));
  return { train: gatherData(data, train), test: gatherData(data, test) };
}

/**
 * The samples of `data` at `indices`, in that order (repeats allowed).
 *
 * @param data - Source data (left untouched).
 * @param indices - Integer indices in `[0, n)`; at least one.
 * @returns New data; the caller owns its tensor.
 * @throws {@link InvalidArgumentError} for a non-integer or out-of-range index.
 * @throws {@link EmptyDataError} when `indices` is empty.
 * @example
 * ```ts
 * const firstHundred = datasets.subset(data, Array.from({ length: 100 }, (_, i) => i));
 * ```
 */
export function subset(data: LabeledData, indices: Int32Array | readonly number[]): LabeledData {
  const fn = 'subset';
  assertLabeledData(fn, 'data', data);
  if (!(indices instanceof Int32Array) && !Array.isArray(indices)) {
    throw new InvalidArgumentError(
      { fn, arg: 'indices', value: indices },
      'must be an Int32Array or an array of integers',
    );
  }
  if (indices.length === 0) throw new EmptyDataError({ fn, arg: 'indices', value: indices });
  const n = data.y.length;
  const idx = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) {
      throw new InvalidArgumentError({ fn, arg: `indices[${i}]`, value: v }, `must be an integer in [0, ${n - 1}]`);
    }
    idx[i] = v;
  }
  return gatherData(data, idx);
}

/**
 * Concatenates two data sets (rows of `a`, then rows of `b`).
 *
 * @param a - First part (left untouched).
 * @param b - Second part (left untouched); same per-sample shape and dtype as `a`.
 * @returns New data; the caller owns its tensor.
 * @throws {@link ShapeError} when the per-sample shapes differ.
 * @throws {@link InvalidArgumentError} when the dtypes differ or either input is invalid.
 * @example
 * ```ts
 * const both = datasets.concatData(clean, poisoned);
 * ```
 */
export function concatData(a: LabeledData, b: LabeledData): LabeledData {
  const fn = 'concatData';
  assertLabeledData(fn, 'a', a);
  assertLabeledData(fn, 'b', b);
  if (!shapesEqual(a.x.shape.slice(1), b.x.shape.slice(1))) {
    throw new ShapeError(
      { fn, arg: 'b.x', value: b.x },
      `must have the same per-sample shape as 'a.x' ([${a.x.shape.slice(1).join(',')}])`,
    );
  }
  if (a.x.dtype !== b.x.dtype) {
    throw new InvalidArgumentError(
      { fn, arg: 'b.x', value: b.x.dtype },
      `must have the same dtype as 'a.x' (${a.x.dtype})`,
    );
  }
  const y = new Int32Array(a.y.length + b.y.length);
  y.set(a.y, 0);
  y.set(b.y, a.y.length);
  const x = tf.concat([a.x, b.x], 0);
  return { x, y };
}

/** Asserts a non-empty Int32Array of non-negative labels. */
export function assertLabelArray(fn: string, arg: string, labels: unknown): asserts labels is Int32Array {
  if (!(labels instanceof Int32Array))
    throw new InvalidArgumentError({ fn, arg, value: labels }, 'must be an Int32Array');
  if (labels.length === 0) throw new EmptyDataError({ fn, arg, value: labels });
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0) {
      throw new LabelError({ fn, arg: `${arg}[${i}]`, value: labels[i] }, 'must be a non-negative integer label');
    }
  }
}
