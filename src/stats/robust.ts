/**
 * Robust location and scale: median and median absolute deviation (MAD).
 *
 * @packageDocumentation
 */
import { EmptyDataError, InvalidArgumentError, NonFiniteError } from '../core/errors.js';

/** `1 / Φ⁻¹(3/4)`: scales the MAD to estimate the standard deviation of normal data. */
export const MAD_NORMAL_SCALE = 1.482602218505602;

function checkValues(fn: string, values: unknown): ArrayLike<number> {
  if (!Array.isArray(values) && !(ArrayBuffer.isView(values) && !(values instanceof DataView))) {
    throw new InvalidArgumentError({ fn, arg: 'values', value: values }, 'must be an array of numbers');
  }
  const v = values as ArrayLike<unknown>;
  if (v.length === 0) throw new EmptyDataError({ fn, arg: 'values', value: values });
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number') {
      throw new InvalidArgumentError({ fn, arg: `values[${i}]`, value: x }, 'must be a number');
    }
    if (!Number.isFinite(x)) throw new NonFiniteError({ fn, arg: `values[${i}]`, value: x });
  }
  return v as ArrayLike<number>;
}

function medianOf(v: ArrayLike<number>): number {
  const s = Float64Array.from(v).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Median (mean of the two middle values for an even count).
 *
 * @param values - Finite numbers (not modified).
 * @returns The median.
 * @throws {@link BackdoorKitError} for an empty array or a non-finite value.
 *
 * @example
 * ```ts
 * stats.median([3, 1, 4, 1, 5]); // 3
 * ```
 */
export function median(values: ArrayLike<number>): number {
  return medianOf(checkValues('stats.median', values));
}

/**
 * Median absolute deviation from the median, `median(|x − median(x)|)`;
 * with `normal: true` multiplied by {@link MAD_NORMAL_SCALE} (≈ 1.4826) so
 * that it estimates the standard deviation of normally distributed data
 * (the consistency constant Neural Cleanse's anomaly index uses).
 *
 * @param values - Finite numbers (not modified).
 * @param normal - Scale to a normal-consistent estimate. @default false
 * @returns The (scaled) MAD.
 * @throws {@link BackdoorKitError} for an empty array or a non-finite value.
 *
 * @example
 * ```ts
 * stats.mad([1, 2, 3, 4, 100]); // 1
 * stats.mad([1, 2, 3, 4, 100], true); // 1.4826
 * ```
 */
export function mad(values: ArrayLike<number>, normal = false): number {
  const fn = 'stats.mad';
  const v = checkValues(fn, values);
  if (typeof normal !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'normal', value: normal }, 'must be a boolean');
  }
  const med = medianOf(v);
  const dev = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) dev[i] = Math.abs(v[i]! - med);
  const r = medianOf(dev);
  return normal ? r * MAD_NORMAL_SCALE : r;
}
