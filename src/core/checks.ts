/**
 * Argument checks on plain values (numbers, strings, arrays, option objects),
 * run before any work starts. Each throws a {@link BackdoorKitError} subclass
 * naming the function, the argument and the value. No tfjs here: `stats/`
 * and every other tf-free module validate with these; the tensor checks are
 * in `validate.ts`.
 *
 * @packageDocumentation
 */
import { EmptyDataError, InvalidArgumentError, NonFiniteError } from './errors.js';

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
    throw new InvalidArgumentError({ fn, arg, value }, `must be ${integerRange(min, max)}`);
  }
}

/** `'an integer'`, `'an integer >= 1'` or `'an integer in [0, 9]'`. */
export function integerRange(min: number, max: number): string {
  if (min === -Infinity && max === Infinity) return 'an integer';
  if (max === Infinity) return `an integer >= ${min}`;
  if (min === -Infinity) return `an integer <= ${max}`;
  return `an integer in [${min}, ${max}]`;
}

/** Bounds of a number check: closed unless `minOpen`/`maxOpen`. */
export interface Interval {
  readonly min: number;
  readonly max: number;
  readonly minOpen?: boolean;
  readonly maxOpen?: boolean;
}

/** `[0, 1]`, `(0, Infinity)`, ... */
export function intervalText(i: Interval): string {
  return `${i.minOpen === true ? '(' : '['}${i.min}, ${i.max}${i.maxOpen === true ? ')' : ']'}`;
}

/** True when `value` is a finite number inside the interval. */
export function inInterval(value: unknown, i: Interval): value is number {
  return (
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (i.minOpen === true ? value > i.min : value >= i.min) &&
    (i.maxOpen === true ? value < i.max : value <= i.max)
  );
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
  const interval = { min, max, minOpen, maxOpen };
  if (!inInterval(value, interval)) {
    throw new InvalidArgumentError({ fn, arg, value }, `must be a number in ${intervalText(interval)}`);
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

/** Asserts that `value` is a boolean. */
export function assertBoolean(fn: string, arg: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError({ fn, arg, value }, 'must be a boolean');
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
export function assertOptionalSignal(fn: string, value: unknown, arg = 'options.signal'): void {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be an AbortSignal');
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

/** True for a JS array or a typed array of numbers (not a DataView, not a BigInt array). */
export function isNumericArray(value: unknown): value is ArrayLike<number> {
  if (Array.isArray(value)) return true;
  return (
    ArrayBuffer.isView(value) &&
    !(value instanceof DataView) &&
    !(value instanceof BigInt64Array) &&
    !(value instanceof BigUint64Array)
  );
}

/** What {@link assertNumberArray} requires of an array. */
export interface NumberArrayRule {
  /** Fewest entries. @default 1 */
  readonly minLength?: number;
  /** `'finite'`: no NaN or ±Infinity; `'not-nan'`: ±Infinity allowed. @default 'finite' */
  readonly values?: 'finite' | 'not-nan';
}

/**
 * The one numeric-array check: `value` is an array or typed array of at
 * least `minLength` numbers, each finite (or, with `values: 'not-nan'`, not
 * NaN).
 *
 * @throws {@link InvalidArgumentError} (not an array, an entry that is not a
 *   number), {@link EmptyDataError} (too short), {@link NonFiniteError}.
 */
export function assertNumberArray(
  fn: string,
  arg: string,
  value: unknown,
  rule: NumberArrayRule = {},
): asserts value is ArrayLike<number> {
  const minLength = rule.minLength ?? 1;
  if (!isNumericArray(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be an array or typed array of numbers');
  }
  if (value.length < minLength) {
    throw new EmptyDataError(
      { fn, arg, value },
      minLength === 1 ? 'must not be empty' : `must hold at least ${minLength} values`,
    );
  }
  const finite = (rule.values ?? 'finite') === 'finite';
  for (let i = 0; i < value.length; i++) {
    const v = value[i] as unknown;
    if (typeof v !== 'number')
      throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be a number');
    if (finite ? !Number.isFinite(v) : Number.isNaN(v)) {
      throw new NonFiniteError(
        { fn, arg: `${arg}[${i}]`, value: v },
        finite ? 'must be a finite number' : 'must not be NaN',
      );
    }
  }
}

/** Element-wise equality of two shapes. */
export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The one check of the long-running options every defence and attack takes
 * (`LongRunningOptions`): `onProgress` a function or undefined, `signal` an
 * `AbortSignal` or undefined.
 */
export function assertLongRunning(fn: string, o: { readonly onProgress?: unknown; readonly signal?: unknown }): void {
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
}
