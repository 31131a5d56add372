/**
 * Tensor and data checks, run before any work starts (the checks on plain
 * values are in `checks.ts`). Each helper throws a {@link BackdoorKitError}
 * subclass naming the function, the argument and the value.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { shapesEqual } from './checks.js';
import { EmptyDataError, InvalidArgumentError, LabelError, NonFiniteError, ShapeError } from './errors.js';
import type { AnyLabeledData, LabeledData } from './types.js';

/** True when `value` looks like a tfjs tensor (works across tfjs copies). */
export function isTensor(value: unknown): value is tf.Tensor {
  return (
    value instanceof tf.Tensor ||
    (typeof value === 'object' &&
      value !== null &&
      Array.isArray((value as { shape?: unknown }).shape) &&
      typeof (value as { dataId?: unknown }).dataId === 'object' &&
      typeof (value as { rank?: unknown }).rank === 'number')
  );
}

/** Asserts that `value` is a live (not disposed) tensor of the given rank. */
export function assertTensor(fn: string, arg: string, value: unknown, rank?: number): asserts value is tf.Tensor {
  if (!isTensor(value)) throw new InvalidArgumentError({ fn, arg, value }, 'must be a tf.Tensor');
  if (value.isDisposed) throw new InvalidArgumentError({ fn, arg, value }, 'is a disposed tensor');
  if (rank !== undefined && value.rank !== rank) {
    throw new ShapeError({ fn, arg, value }, `must have rank ${rank}`);
  }
}

/** Asserts a tensor holds only finite values (one small device read). */
export function assertFiniteTensor(fn: string, arg: string, value: tf.Tensor): void {
  if (value.dtype !== 'float32') return;
  const bad = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(value))));
  const flag = bad.dataSync()[0];
  bad.dispose();
  if (flag !== 0) throw new NonFiniteError({ fn, arg, value }, 'must hold only finite values (found NaN or Infinity)');
}

/**
 * Asserts that `x` is a non-empty 4-D image batch `[n, h, w, c]`, finite, and
 * (if given) that each sample has `inputShape`.
 */
export function assertImages(
  fn: string,
  arg: string,
  x: unknown,
  inputShape?: readonly number[],
): asserts x is tf.Tensor4D {
  assertTensor(fn, arg, x, 4);
  if (x.shape[0] === 0) throw new EmptyDataError({ fn, arg, value: x });
  if (inputShape !== undefined && !shapesEqual(x.shape.slice(1), inputShape)) {
    throw new ShapeError({ fn, arg, value: x }, `must have per-sample shape [${inputShape.join(',')}]`);
  }
  assertFiniteTensor(fn, arg, x);
}

/** Asserts that `x` is a non-empty batch whose per-sample shape is `inputShape`. */
export function assertBatch(
  fn: string,
  arg: string,
  x: unknown,
  inputShape: readonly number[],
): asserts x is tf.Tensor {
  assertTensor(fn, arg, x, inputShape.length + 1);
  if (x.shape[0] === 0) throw new EmptyDataError({ fn, arg, value: x });
  if (!shapesEqual(x.shape.slice(1), inputShape)) {
    throw new ShapeError({ fn, arg, value: x }, `must have per-sample shape [${inputShape.join(',')}]`);
  }
  assertFiniteTensor(fn, arg, x);
}

/** Asserts that `y` is an Int32Array of integer labels in [0, numClasses). */
export function assertLabels(
  fn: string,
  arg: string,
  y: unknown,
  n: number,
  numClasses?: number,
): asserts y is Int32Array {
  if (!(y instanceof Int32Array)) throw new InvalidArgumentError({ fn, arg, value: y }, 'must be an Int32Array');
  if (y.length !== n) throw new ShapeError({ fn, arg, value: y }, `must have one label per sample (${n})`);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v < 0 || (numClasses !== undefined && v >= numClasses)) {
      throw new LabelError(
        { fn, arg: `${arg}[${i}]`, value: v },
        numClasses === undefined
          ? 'must be a non-negative integer label'
          : `must be an integer label in [0, ${numClasses})`,
      );
    }
  }
}

/**
 * Validates a {@link LabeledData} of any input rank: `x` a finite, non-empty
 * tensor (of per-sample shape `inputShape` when given), `y` an Int32Array
 * with one label per sample in [0, numClasses).
 *
 * @throws {@link BackdoorKitError} naming `fn` and the argument.
 */
export function assertLabeledData(
  fn: string,
  arg: string,
  data: unknown,
  expect: { inputShape?: readonly number[]; numClasses?: number } = {},
): asserts data is AnyLabeledData {
  if (data === null || typeof data !== 'object') {
    throw new InvalidArgumentError({ fn, arg, value: data }, 'must be a LabeledData object { x, y }');
  }
  const d = data as { x?: unknown; y?: unknown };
  if (expect.inputShape !== undefined) {
    assertBatch(fn, `${arg}.x`, d.x, expect.inputShape);
  } else {
    assertTensor(fn, `${arg}.x`, d.x);
    if (d.x.rank < 2) throw new ShapeError({ fn, arg: `${arg}.x`, value: d.x }, 'must have rank 2 or more ([n, ...])');
    if (d.x.shape[0] === 0) throw new EmptyDataError({ fn, arg: `${arg}.x`, value: d.x });
    assertFiniteTensor(fn, `${arg}.x`, d.x);
  }
  assertLabels(fn, `${arg}.y`, d.y, (d.x as tf.Tensor).shape[0], expect.numClasses);
}

/**
 * Validates a {@link LabeledData} of images (`x` NHWC, rank 4), for the
 * functions that need image structure (stamping a trigger, superimposing
 * images, masks over pixels); other ranks get a {@link ShapeError} that
 * says why.
 *
 * @param why - What needs images, for the message (e.g. `'trigger stamping works on pixels'`).
 */
export function assertImageData(
  fn: string,
  arg: string,
  data: unknown,
  expect: { inputShape?: readonly number[]; numClasses?: number } = {},
  why = 'this function works on images',
): asserts data is LabeledData {
  assertLabeledData(fn, arg, data, expect);
  if (data.x.rank !== 4) {
    throw new ShapeError(
      { fn, arg: `${arg}.x`, value: data.x },
      `must be images [n, height, width, channels] (${why}); got rank ${data.x.rank}`,
    );
  }
}

/**
 * Public validator for a {@link LabeledData}: throws a {@link BackdoorKitError}
 * naming the problem (wrong rank, empty, NaN, labels out of range or not one
 * per sample), or returns the data unchanged.
 *
 * @param data - The candidate `{ x, y }`.
 * @param expect - Optional per-sample `inputShape` and `numClasses` to check against.
 * @returns `data`, typed.
 * @throws {@link BackdoorKitError}
 *
 * @example
 * ```ts
 * validateLabeledData({ x, y }, { inputShape: [28, 28, 1], numClasses: 10 });
 * ```
 */
export function validateLabeledData(
  data: unknown,
  expect: { inputShape?: readonly number[]; numClasses?: number } = {},
): AnyLabeledData {
  assertLabeledData('validateLabeledData', 'data', data, expect);
  return data;
}

/**
 * Validates clean calibration images (a tensor or a {@link LabeledData}) and
 * returns the image tensor (not a copy).
 */
export function cleanImagesTensor(fn: string, arg: string, value: unknown, inputShape: readonly number[]): tf.Tensor {
  if (isTensor(value)) {
    assertBatch(fn, arg, value, inputShape);
    return value;
  }
  if (value !== null && typeof value === 'object' && 'x' in value) {
    const x = (value as { x: unknown }).x;
    assertBatch(fn, `${arg}.x`, x, inputShape);
    return x;
  }
  throw new InvalidArgumentError({ fn, arg, value }, 'must be an image tensor or a LabeledData { x, y }');
}
