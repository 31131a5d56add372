/**
 * Neural Cleanse's outlier test on per-label trigger norms: the anomaly index,
 * the distance from the median in units of the median absolute deviation
 * (Wang et al., IEEE S&P 2019).
 *
 * @packageDocumentation
 */
import { assertInRange, assertOneOf } from '../core/checks.js';
import { InvalidArgumentError, NonFiniteError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import { mad as rawMad, median } from './robust.js';

/**
 * The normal-consistency constant of the MAD (1 / Φ⁻¹(3/4)) rounded to four
 * decimals, as in Neural Cleanse's code, so anomaly indices match the
 * reference implementation's; `MAD_NORMAL_SCALE` is the exact value
 * (the two differ by 1.5e-6 relative).
 */
export const MAD_CONSISTENCY = 1.4826;

/** Options of {@link outlierDetection}. */
export interface OutlierDetectionOptions {
  /** A label is flagged when its anomaly index exceeds this (the paper's 2: ~95% for a normal law). @default 2 */
  readonly threshold?: number;
  /** Consistency constant multiplying the raw MAD. @default 1.4826 */
  readonly consistency?: number;
  /**
   * `'linear'` applies the test to the norms (the paper); `'log'` to their
   * natural logarithms (a measured alternative, see the docs page: natural
   * trigger norms are right-skewed, which inflates the MAD). Norms must then
   * be > 0, and `median`/`mad` are in log units.
   * @default 'linear'
   */
  readonly scale?: 'linear' | 'log';
}

/** Defaults of {@link outlierDetection} (Wang et al. 2019, §IV-C and `mad_outlier_detection.py`). */
export const OUTLIER_DETECTION_DEFAULTS: Readonly<Required<OutlierDetectionOptions>> = Object.freeze({
  threshold: 2,
  consistency: MAD_CONSISTENCY,
  scale: 'linear',
});

/** Result of {@link outlierDetection}. */
export interface OutlierDetectionReport {
  /** Median of the norms. */
  readonly median: number;
  /** `consistency × median(|norm − median|)`. */
  readonly mad: number;
  /**
   * Per entry, `(median − norm) / mad`: positive below the median (small
   * triggers, the suspicious side), negative above it. With `mad = 0` it is
   * 0 for norms equal to the median and ±Infinity otherwise.
   */
  readonly indices: number[];
  /** Entries (positions in `norms`) with norm ≤ median and index > threshold, smallest norm first. */
  readonly flagged: number[];
  /** The largest index, i.e. that of the smallest norm (the paper's "anomaly index"); 0 if none is below the median. */
  readonly anomalyIndex: number;
}

/**
 * MAD outlier detection over per-label trigger norms, as Neural Cleanse
 * does it: the anomaly index of a label is its distance below the median in
 * units of `1.4826 × MAD`; labels whose norm is at most the median and whose
 * index exceeds `threshold` are flagged.
 *
 * @param norms - One L1 norm per scanned label (at least 3, finite, ≥ 0).
 * @param options - See {@link OutlierDetectionOptions}.
 * @returns Median, MAD, per-label indices, flagged entries and the model's anomaly index.
 * @throws {@link InvalidArgumentError} for fewer than 3 norms or a bad option;
 *   {@link NonFiniteError} for NaN/Infinity in `norms`.
 * @example
 * ```ts
 * const r = neuralCleanse.outlierDetection([10, 50, 52, 54, 56, 58]);
 * // median 53, mad 1.4826 × 3 = 4.4478, r.indices[0] = 43 / 4.4478 = 9.67, r.flagged = [0]
 * ```
 */
export function outlierDetection(norms: ArrayLike<number>, options?: OutlierDetectionOptions): OutlierDetectionReport {
  const fn = 'stats.outlierDetection';
  const o = resolveOptions(fn, OUTLIER_DETECTION_DEFAULTS, options);
  assertInRange(fn, 'options.threshold', o.threshold, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, 'options.consistency', o.consistency, 0, Infinity, { minOpen: true, maxOpen: true });
  assertOneOf(fn, 'options.scale', o.scale, ['linear', 'log'] as const);
  if (norms === null || typeof norms !== 'object' || typeof norms.length !== 'number' || norms.length < 3) {
    throw new InvalidArgumentError({ fn, arg: 'norms', value: norms }, 'must be an array of at least 3 norms');
  }
  for (let i = 0; i < norms.length; i++) {
    const v = norms[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new NonFiniteError({ fn, arg: `norms[${i}]`, value: v }, 'must be a finite number');
    }
    if (o.scale === 'log' && v <= 0) {
      throw new InvalidArgumentError({ fn, arg: `norms[${i}]`, value: v }, "must be > 0 with scale 'log'");
    }
  }
  return outlierDetectionUnchecked(norms, o.threshold, o.consistency, o.scale);
}

export function outlierDetectionUnchecked(
  raw: ArrayLike<number>,
  threshold: number,
  consistency: number,
  scale: 'linear' | 'log',
): OutlierDetectionReport {
  const norms = scale === 'log' ? Array.from(raw, (v) => Math.log(v)) : raw;
  const med = median(norms);
  const mad = consistency * rawMad(norms);
  const indices = Array.from(norms, (v) =>
    mad > 0 ? (med - v) / mad : v === med ? 0 : v < med ? Infinity : -Infinity,
  );
  const flagged: number[] = [];
  for (let i = 0; i < norms.length; i++) if (norms[i]! <= med && indices[i]! > threshold) flagged.push(i);
  flagged.sort((a, b) => norms[a]! - norms[b]! || a - b);
  const anomalyIndex = Math.max(0, ...indices);
  return { median: med, mad, indices, flagged, anomalyIndex };
}

// ---------------------------------------------------------------------------
