/**
 * Validation of the plain arrays the metrics take (labels, flags, scores,
 * targets). Internal: not exported from the package.
 *
 * @packageDocumentation
 */
import { EmptyDataError, InvalidArgumentError, LabelError, NonFiniteError, ShapeError } from '../core/errors.js';

/** True for a JS array or a typed array (not a DataView). */
export function isNumericArray(value: unknown): value is ArrayLike<number> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

/** What {@link checkIntegers} requires of each entry. */
export interface IntegerRule {
  /** Entries must be 0 or 1. */
  readonly binary?: boolean;
  /** Entries must be below this (labels in `[0, numClasses)`). */
  readonly numClasses?: number;
}

/**
 * Asserts that `value` is a non-empty array of non-negative integers obeying
 * `rule`, and returns it.
 *
 * @throws InvalidArgumentError (not an array, a non-integer, a non-binary flag),
 *   EmptyDataError (empty), LabelError (negative, or not below `numClasses`).
 */
export function checkIntegers(fn: string, arg: string, value: unknown, rule: IntegerRule = {}): ArrayLike<number> {
  if (!isNumericArray(value)) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      rule.binary === true
        ? 'must be a Uint8Array (or array) of 0/1 flags'
        : 'must be an Int32Array (or array) of integer labels',
    );
  }
  if (value.length === 0) throw new EmptyDataError({ fn, arg, value });
  for (let i = 0; i < value.length; i++) {
    const v = value[i] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new InvalidArgumentError(
        { fn, arg: `${arg}[${i}]`, value: v },
        rule.binary === true ? 'must be 0 or 1' : 'must be an integer label',
      );
    }
    if (rule.binary === true) {
      if (v !== 0 && v !== 1) throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be 0 or 1');
    } else if (v < 0 || (rule.numClasses !== undefined && v >= rule.numClasses)) {
      throw new LabelError(
        { fn, arg: `${arg}[${i}]`, value: v },
        rule.numClasses === undefined
          ? 'must be a non-negative integer label'
          : `must be an integer label in [0, ${rule.numClasses})`,
      );
    }
  }
  return value;
}

/** Asserts that `b` has the length of `a`. @throws ShapeError naming `argB`. */
export function checkSameLength(
  fn: string,
  argA: string,
  a: ArrayLike<unknown>,
  argB: string,
  b: ArrayLike<unknown>,
): void {
  if (a.length !== b.length) {
    throw new ShapeError({ fn, arg: argB, value: b }, `must have the same length as ${argA} (${a.length})`);
  }
}

/**
 * Asserts that `value` is an array of `n` numbers without NaN (±Infinity is
 * allowed: it still ranks) and returns it.
 *
 * @throws InvalidArgumentError, ShapeError, NonFiniteError.
 */
export function checkScores(fn: string, arg: string, value: unknown, n: number, lengthOf: string): ArrayLike<number> {
  if (!isNumericArray(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a Float32Array (or array) of scores');
  }
  if (value.length !== n) {
    throw new ShapeError({ fn, arg, value }, `must have the same length as ${lengthOf} (${n})`);
  }
  for (let i = 0; i < value.length; i++) {
    const v = value[i] as unknown;
    if (typeof v !== 'number')
      throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be a number');
    if (Number.isNaN(v)) throw new NonFiniteError({ fn, arg: `${arg}[${i}]`, value: v }, 'must not be NaN');
  }
  return value;
}

/**
 * Expands an attack target (one class for all-to-one, or one class per
 * sample for all-to-all) to one target per sample, checking each.
 *
 * @throws InvalidArgumentError (not an integer / array), LabelError (outside
 *   `[0, numClasses)`), ShapeError (per-sample targets of the wrong length),
 *   EmptyDataError.
 */
export function expandTarget(fn: string, arg: string, target: unknown, n: number, numClasses?: number): Int32Array {
  if (typeof target === 'number') {
    if (!Number.isInteger(target)) {
      throw new InvalidArgumentError({ fn, arg, value: target }, 'must be an integer class (or one class per sample)');
    }
    if (target < 0 || (numClasses !== undefined && target >= numClasses)) {
      throw new LabelError(
        { fn, arg, value: target },
        numClasses === undefined ? 'must be a non-negative class' : `must be a class in [0, ${numClasses})`,
      );
    }
    return new Int32Array(n).fill(target);
  }
  if (!isNumericArray(target)) {
    throw new InvalidArgumentError(
      { fn, arg, value: target },
      'must be an integer class, or an Int32Array with one target class per sample',
    );
  }
  if (target.length !== n) {
    throw new ShapeError({ fn, arg, value: target }, `must have one target per sample (${n})`);
  }
  const rule: IntegerRule = numClasses === undefined ? {} : { numClasses };
  return Int32Array.from(checkIntegers(fn, arg, target, rule));
}
