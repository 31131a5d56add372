/**
 * Silhouette coefficients (Rousseeuw 1987) with Euclidean distance: exact,
 * or on a seeded sample of rows for large data.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { makeRng } from '../core/rng.js';
import { assertFiniteNumber, assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { toRowMatrix, type MatrixInput, type RowMatrix } from './matrix.js';

/** Options of {@link silhouetteScore}. */
export interface SilhouetteOptions {
  /**
   * Score only this many rows, drawn without replacement (seeded); each drawn
   * row's coefficient is still computed against all rows, so the estimate is
   * unbiased. `undefined` scores every row (O(n²)). @default undefined
   */
  readonly sampleSize?: number | undefined;
  /** Seed of the sample. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link silhouetteScore}. */
export const SILHOUETTE_DEFAULTS: Readonly<{ sampleSize: number | undefined; seed: number }> = Object.freeze({
  sampleSize: undefined,
  seed: 0,
});

/**
 * Silhouette coefficient of the given rows: `s = (b − a) / max(a, b)` with `a`
 * the mean distance to the other members of the row's cluster and `b` the
 * smallest mean distance to another cluster; 0 for a row alone in its cluster
 * (scikit-learn's convention).
 *
 * @internal
 */
export function silhouetteOf(m: RowMatrix, labels: Int32Array, k: number, which: ArrayLike<number>): Float64Array {
  const { values, rows, cols } = m;
  const sizes = new Int32Array(k);
  for (let i = 0; i < rows; i++) sizes[labels[i]!]!++;
  const out = new Float64Array(which.length);
  const sums = new Float64Array(k);
  for (let w = 0; w < which.length; w++) {
    const i = which[w]!;
    sums.fill(0);
    const oi = i * cols;
    for (let j = 0; j < rows; j++) {
      if (j === i) continue;
      const oj = j * cols;
      let s = 0;
      for (let t = 0; t < cols; t++) {
        const d = values[oi + t]! - values[oj + t]!;
        s += d * d;
      }
      sums[labels[j]!]! += Math.sqrt(s);
    }
    const own = labels[i]!;
    if (sizes[own]! <= 1) {
      out[w] = 0;
      continue;
    }
    const a = sums[own]! / (sizes[own]! - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && sizes[c]! > 0) b = Math.min(b, sums[c]! / sizes[c]!);
    const den = Math.max(a, b);
    out[w] = den > 0 && Number.isFinite(b) ? (b - a) / den : 0;
  }
  return out;
}

function checkLabels(fn: string, labels: unknown, rows: number): { labels: Int32Array; k: number } {
  if (!(labels instanceof Int32Array) && !Array.isArray(labels)) {
    throw new InvalidArgumentError({ fn, arg: 'labels', value: labels }, 'must be an Int32Array or number[]');
  }
  if (labels.length !== rows) {
    throw new ShapeError({ fn, arg: 'labels', value: labels }, `must have one label per row (${rows})`);
  }
  const out = new Int32Array(rows);
  let k = 0;
  for (let i = 0; i < rows; i++) {
    const v: unknown = labels[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new InvalidArgumentError({ fn, arg: `labels[${i}]`, value: v }, 'must be a non-negative integer');
    }
    out[i] = v;
    k = Math.max(k, v + 1);
  }
  const used = new Set(out).size;
  if (used < 2 || used > rows - 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'labels', value: `${used} clusters` },
      `must use between 2 and rows - 1 = ${rows - 1} distinct clusters`,
    );
  }
  return { labels: out, k };
}

/**
 * Silhouette coefficient of every row (Euclidean distance). Exact, O(n²·d).
 *
 * @param x - Data, one sample per row.
 * @param labels - Cluster of each row (non-negative integers; 2 to n − 1 distinct values).
 * @returns One coefficient in [−1, 1] per row.
 * @throws {@link BackdoorKitError} for a bad matrix or labels.
 *
 * @example
 * ```ts
 * stats.silhouetteSamples([[0], [1], [10], [11]], [0, 0, 1, 1]); // Float64Array [0.905, 0.895, 0.895, 0.905]
 * ```
 */
export function silhouetteSamples(x: MatrixInput, labels: ArrayLike<number>): Float64Array {
  const fn = 'stats.silhouetteSamples';
  const m = toRowMatrix(fn, 'x', x);
  const l = checkLabels(fn, labels, m.rows);
  return silhouetteOf(
    m,
    l.labels,
    l.k,
    Int32Array.from({ length: m.rows }, (_, i) => i),
  );
}

/**
 * Mean silhouette coefficient (Rousseeuw 1987): near 1 for compact,
 * well-separated clusters, near 0 for overlapping ones. Exact by default;
 * with `sampleSize` it averages a seeded sample of rows (each still compared
 * with all rows), O(sampleSize·n·d) for large data.
 *
 * @param x - Data, one sample per row.
 * @param labels - Cluster of each row (non-negative integers; 2 to n − 1 distinct values).
 * @param options - {@link SilhouetteOptions}.
 * @returns The mean coefficient, in [−1, 1].
 * @throws {@link BackdoorKitError} for a bad matrix, labels or options.
 *
 * @example
 * ```ts
 * stats.silhouetteScore([[0], [1], [10], [11]], [0, 0, 1, 1]); // ≈ 0.900
 * ```
 */
export function silhouetteScore(x: MatrixInput, labels: ArrayLike<number>, options: SilhouetteOptions = {}): number {
  const fn = 'stats.silhouetteScore';
  const o = resolveOptions(fn, SILHOUETTE_DEFAULTS, options);
  const m = toRowMatrix(fn, 'x', x);
  const l = checkLabels(fn, labels, m.rows);
  if (o.sampleSize !== undefined) assertInteger(fn, 'options.sampleSize', o.sampleSize, 1);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  return meanSilhouette(m, l.labels, l.k, o.sampleSize, o.seed);
}

/**
 * Mean silhouette over all rows, or over a seeded sample of `sampleSize` rows
 * when that is smaller than the data.
 *
 * @internal
 */
export function meanSilhouette(
  m: RowMatrix,
  labels: Int32Array,
  k: number,
  sampleSize: number | undefined,
  seed: number,
): number {
  const which =
    sampleSize === undefined || sampleSize >= m.rows
      ? Int32Array.from({ length: m.rows }, (_, i) => i)
      : makeRng(seed, 'stats.silhouetteScore').sample(m.rows, sampleSize);
  const s = silhouetteOf(m, labels, k, which);
  let sum = 0;
  for (const v of s) sum += v;
  return sum / s.length;
}
