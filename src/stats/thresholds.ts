/**
 * Detection thresholds set on clean scores at a chosen false-rejection rate:
 * the maximum-likelihood normal fit, the standard normal quantile (Wichura's
 * AS 241) and numpy's linear-interpolation quantile. Used by the input-level
 * defences (STRIP, Feature Squeezing, the de-trigger autoencoder).
 *
 * @packageDocumentation
 */
import { assertInRange, assertNumberArray, assertOneOf } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';

/** How a threshold is estimated from clean scores. */
export type ThresholdMethod = 'normal' | 'quantile';

/**
 * Which side of the threshold is suspicious: `'low'` (STRIP: low entropy is
 * flagged, `score < threshold`) or `'high'` (feature squeezing: a large
 * distance is flagged, `score > threshold`).
 */
export type Polarity = 'low' | 'high';

/**
 * Maximum-likelihood normal fit (as `scipy.stats.norm.fit`): the mean and the
 * population standard deviation (divisor n).
 *
 * @param values - Finite numbers, at least one.
 * @returns `{ mean, std }`.
 * @throws {@link EmptyDataError} / {@link NonFiniteError} for bad values.
 * @example
 * ```ts
 * stats.normalFit([1, 2, 3, 4]);   // { mean: 2.5, std: 1.118... }
 * ```
 */
export function normalFit(values: ArrayLike<number>): { mean: number; std: number } {
  assertNumberArray('stats.normalFit', 'values', values);
  return fitUnchecked(values);
}

/** {@link normalFit} without the checks (for validated inputs). */
export function fitUnchecked(values: ArrayLike<number>): { mean: number; std: number } {
  const n = values.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i]!;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(ss / n) };
}

function poly(coeffs: readonly number[], x: number): number {
  let v = 0;
  for (const c of coeffs) v = v * x + c;
  return v;
}

// Wichura, Algorithm AS 241 (Applied Statistics 37, 1988), PPND16: ~1e-16 relative accuracy.
const AS241_A = [
  2509.0809287301227, 33430.57558358813, 67265.7709270087, 45921.95393154987, 13731.69376550946, 1971.5909503065513,
  133.14166789178438, 3.3871328727963665,
];
const AS241_B = [
  5226.495278852546, 28729.085735721943, 39307.89580009271, 21213.794301586597, 5394.196021424751, 687.1870074920579,
  42.31333070160091, 1,
];
const AS241_C = [
  0.0007745450142783414, 0.022723844989269184, 0.2417807251774506, 1.2704582524523684, 3.6478483247632045,
  5.769497221460691, 4.630337846156546, 1.4234371107496835,
];
const AS241_D = [
  1.0507500716444169e-9, 0.0005475938084995345, 0.015198666563616457, 0.14810397642748008, 0.6897673349851,
  1.6763848301838038, 2.053191626637759, 1,
];
const AS241_E = [
  2.0103343992922881e-7, 0.000027115555687434876, 0.0012426609473880784, 0.026532189526576124, 0.29656057182850487,
  1.7848265399172913, 5.463784911164114, 6.657904643501103,
];
const AS241_F = [
  2.0442631033899397e-15, 1.421511758316446e-7, 0.000018463183175100548, 0.0007868691311456133, 0.014875361290850615,
  0.1369298809227358, 0.599832206555888, 1,
];

/**
 * Quantile function (inverse CDF) of the standard normal distribution,
 * `Φ⁻¹(p)`, by Wichura's algorithm AS 241 (double precision; agrees with
 * `scipy.stats.norm.ppf` to ~1e-15).
 *
 * @param p - A probability in (0, 1).
 * @returns `z` with `Φ(z) = p`.
 * @throws {@link InvalidArgumentError} unless `0 < p < 1`.
 * @example
 * ```ts
 * stats.normalQuantile(0.01);    // -2.3263478740408408
 * stats.normalQuantile(0.975);   // 1.959963984540054
 * ```
 */
export function normalQuantile(p: number): number {
  assertInRange('stats.normalQuantile', 'p', p, 0, 1, { minOpen: true, maxOpen: true });
  return ppnd16(p);
}

function ppnd16(p: number): number {
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * poly(AS241_A, r)) / poly(AS241_B, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    x = poly(AS241_C, r) / poly(AS241_D, r);
  } else {
    r -= 5;
    x = poly(AS241_E, r) / poly(AS241_F, r);
  }
  return q < 0 ? -x : x;
}

/**
 * The `q`-quantile of `values` with linear interpolation between order
 * statistics: `numpy.quantile(values, q)` (method `'linear'`).
 *
 * @param values - Finite numbers, at least one (not modified).
 * @param q - In [0, 1].
 * @returns The quantile.
 * @throws {@link EmptyDataError}, {@link NonFiniteError}, {@link InvalidArgumentError}.
 * @example
 * ```ts
 * stats.quantile([4, 1, 3, 2], 0.5);   // 2.5
 * stats.quantile([1, 2, 3, 4, 5], 0.1); // 1.4
 * ```
 */
export function quantile(values: ArrayLike<number>, q: number): number {
  const fn = 'stats.quantile';
  assertNumberArray(fn, 'values', values);
  assertInRange(fn, 'q', q, 0, 1);
  return quantileUnchecked(values, q);
}

function quantileUnchecked(values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort();
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Options of {@link thresholdAtFrr}. */
export interface ThresholdOptions {
  /**
   * `'normal'`: fit a normal distribution (maximum likelihood) and take its
   * `frr` tail quantile (Gao et al.); `'quantile'`: the empirical quantile
   * (numpy linear). @default 'normal'
   */
  readonly method?: ThresholdMethod;
  /** Which side is flagged: `'low'` (score < threshold) or `'high'` (score > threshold). @default 'low' */
  readonly polarity?: Polarity;
}

/** Defaults of {@link thresholdAtFrr}. */
export const THRESHOLD_DEFAULTS: Readonly<Required<ThresholdOptions>> = Object.freeze({
  method: 'normal',
  polarity: 'low',
});

/**
 * The detection threshold that rejects a fraction `frr` of clean inputs:
 *
 * - `polarity 'low'`, `'normal'`: `μ + σ·Φ⁻¹(frr)` of the fitted normal (Gao
 *   et al.: `norm.ppf(frr, *norm.fit(clean))`); `'quantile'`:
 *   `quantile(clean, frr)`.
 * - `polarity 'high'`: `μ + σ·Φ⁻¹(1 − frr)`, or `quantile(clean, 1 − frr)`.
 *
 * @param cleanScores - Scores of clean inputs (finite, at least one).
 * @param frr - Target false-rejection rate, in (0, 1).
 * @param options - {@link ThresholdOptions}.
 * @returns The threshold.
 * @throws {@link InvalidArgumentError} for `frr` outside (0, 1) or a bad
 *   option; {@link EmptyDataError} / {@link NonFiniteError} for bad scores.
 * @example
 * ```ts
 * stats.thresholdAtFrr([1, 2, 3, 4, 5], 0.25, { method: 'quantile' });   // 2
 * ```
 */
export function thresholdAtFrr(cleanScores: ArrayLike<number>, frr: number, options?: ThresholdOptions): number {
  const fn = 'stats.thresholdAtFrr';
  const o = resolveOptions(fn, THRESHOLD_DEFAULTS, options);
  assertNumberArray(fn, 'cleanScores', cleanScores);
  assertFrr(fn, 'frr', frr);
  assertOneOf(fn, 'options.method', o.method, ['normal', 'quantile'] as const);
  assertOneOf(fn, 'options.polarity', o.polarity, ['low', 'high'] as const);
  return thresholdUnchecked(cleanScores, frr, o.method, o.polarity);
}

/** Threshold from validated inputs (shared with the other input-level defences). */
export function thresholdUnchecked(
  clean: ArrayLike<number>,
  frr: number,
  method: ThresholdMethod,
  polarity: Polarity,
): number {
  const tail = polarity === 'low' ? frr : 1 - frr;
  if (method === 'quantile') return quantileUnchecked(clean, tail);
  const { mean, std } = fitUnchecked(clean);
  return mean + std * ppnd16(tail);
}

/** Asserts a false-rejection rate in the open interval (0, 1). */
export function assertFrr(fn: string, arg: string, value: unknown): asserts value is number {
  assertInRange(fn, arg, value, 0, 1, { minOpen: true, maxOpen: true });
}
