/**
 * Argument validation, run before any work starts. Each helper throws a
 * {@link BackdoorKitError} subclass naming the function, the argument and the
 * value.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError, InvalidArgumentError, LabelError, NonFiniteError, ShapeError } from './errors.js';
import type { LabeledData } from './types.js';

/** Asserts that `value` is a finite number. */
export function assertFiniteNumber(fn: string, arg: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a finite number');
  }
}

/** Asserts that `value` is an integer in `[min, max]`. */
export function assertInteger(
  fn: string,
  arg: string,
  value: unknown,
  min = -Infinity,
  max = Infinity,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      min === -Infinity && max === Infinity
        ? 'an integer'
        : max === Infinity
          ? `an integer >= ${min}`
          : `an integer in [${min}, ${max}]`;
    throw new InvalidArgumentError({ fn, arg, value }, `must be ${range}`);
  }
}

/** Asserts that `value` is a finite number in `[min, max]` (or open bounds if asked). */
export function assertInRange(
  fn: string,
  arg: string,
  value: unknown,
  min: number,
  max: number,
  { minOpen = false, maxOpen = false }: { minOpen?: boolean; maxOpen?: boolean } = {},
): asserts value is number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (minOpen ? value > min : value >= min) &&
    (maxOpen ? value < max : value <= max);
  if (!ok) {
    const interval = `${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}`;
    throw new InvalidArgumentError({ fn, arg, value }, `must be a number in ${interval}`);
  }
}

/** Asserts that `value` is a fraction in [0, 1]. */
export function assertFraction(fn: string, arg: string, value: unknown): asserts value is number {
  assertInRange(fn, arg, value, 0, 1);
}

/** Asserts that `value` is a positive integer. */
export function assertPositiveInteger(fn: string, arg: string, value: unknown): asserts value is number {
  assertInteger(fn, arg, value, 1);
}

/** Asserts that `value` is one of `choices`. */
export function assertOneOf<T extends string>(
  fn: string,
  arg: string,
  value: unknown,
  choices: readonly T[],
): asserts value is T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, `must be one of ${choices.map((c) => `'${c}'`).join(', ')}`);
  }
}

/** Asserts that `value` is an `AbortSignal` or undefined. */
export function assertOptionalSignal(fn: string, value: unknown): void {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new InvalidArgumentError({ fn, arg: 'options.signal', value }, 'must be an AbortSignal');
  }
}

/** Asserts that `value` is a function or undefined. */
export function assertOptionalFunction(fn: string, arg: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a function');
  }
}

/** Asserts that `value` is a plain options object or undefined. */
export function assertOptionsObject(fn: string, value: unknown, arg = 'options'): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be an object or undefined');
  }
}

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
 * Validates a {@link LabeledData}: `x` a finite, non-empty NHWC tensor, `y` an
 * Int32Array with one label per image in [0, numClasses).
 *
 * @throws {@link BackdoorKitError} naming `fn` and the argument.
 */
export function assertLabeledData(
  fn: string,
  arg: string,
  data: unknown,
  expect: { inputShape?: readonly number[]; numClasses?: number } = {},
): asserts data is LabeledData {
  if (data === null || typeof data !== 'object') {
    throw new InvalidArgumentError({ fn, arg, value: data }, 'must be a LabeledData object { x, y }');
  }
  const d = data as { x?: unknown; y?: unknown };
  assertImages(fn, `${arg}.x`, d.x, expect.inputShape);
  assertLabels(fn, `${arg}.y`, d.y, (d.x as tf.Tensor).shape[0], expect.numClasses);
}

/** Element-wise equality of two shapes. */
export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Resolves user options over frozen defaults, rejecting unknown keys; `arg`
 * names the options object in errors (e.g. `options.schedules[0]` for a
 * nested one).
 */
export function resolveOptions<T extends object>(fn: string, defaults: T, options: unknown, arg = 'options'): T {
  assertOptionsObject(fn, options, arg);
  if (options === undefined) return { ...defaults };
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in defaults)) {
      throw new InvalidArgumentError(
        { fn, arg: `${arg}.${key}`, value: given[key] },
        `is not a known option (known: ${Object.keys(defaults).join(', ')})`,
      );
    }
  }
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) merged[k] = v;
  return merged as T;
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
): LabeledData {
  assertLabeledData('validateLabeledData', 'data', data, expect);
  return data;
}
