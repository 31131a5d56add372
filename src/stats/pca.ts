/**
 * Principal component analysis on ml-matrix's symmetric eigendecomposition,
 * with optional whitening (the same whitening FastICA starts from).
 *
 * @packageDocumentation
 */
import { InvalidArgumentError } from '../core/errors.js';
import { assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import {
  centred,
  columnMeans,
  gramOfColumns,
  gramOfRows,
  symmetricEigen,
  toRowMatrix,
  type MatrixInput,
  type RowMatrix,
} from './matrix.js';

/** Options of {@link pca}. */
export interface PcaOptions {
  /** Number of components to keep, in `[1, min(rows, cols)]`. @default min(rows, cols) */
  readonly components?: number | undefined;
  /**
   * Scale each component score to unit variance (divisor `rows - 1`, as
   * sklearn's `PCA(whiten=True)`). Needs every kept component to have non-zero
   * variance. @default false
   */
  readonly whiten?: boolean;
}

/** Defaults of {@link pca}. */
export const PCA_DEFAULTS: Readonly<{ components: number | undefined; whiten: boolean }> = Object.freeze({
  components: undefined,
  whiten: false,
});

/** Result of {@link pca}. */
export interface PcaResult {
  /** Component scores, `rows × components` (whitened if asked). */
  readonly scores: RowMatrix;
  /** Principal axes as rows, `components × cols`, unit length, sign-fixed (first non-zero entry positive). */
  readonly components: RowMatrix;
  /** Variance along each axis (divisor `rows - 1`), descending. */
  readonly explainedVariance: Float64Array;
  /** Share of the total variance along each axis. */
  readonly explainedVarianceRatio: Float64Array;
  /** Column means that were subtracted. */
  readonly mean: Float64Array;
  /** Numerical rank of the centred data (axes with non-negligible variance). */
  readonly rank: number;
}

/** Eigenvalues below this share of the largest count as zero (float32 inputs carry ~1e-7 relative error). */
export const RANK_TOLERANCE = 1e-9;

/**
 * Leading principal axes of centred data `xc`: `k` unit rows (`k × cols`) and
 * the eigenvalues of `xcᵀxc / divisor`. Uses the smaller of the two Gram
 * matrices, so wide data (more columns than rows) stays cheap.
 *
 * @internal
 */
export function principalAxes(
  xc: RowMatrix,
  k: number,
  divisor: number,
): { axes: Float64Array; variances: Float64Array; allVariances: Float64Array; rank: number } {
  const { rows, cols } = xc;
  const axes = new Float64Array(k * cols);
  const variances = new Float64Array(k);
  let allVariances: Float64Array;
  if (cols <= rows) {
    const eig = symmetricEigen(gramOfColumns(xc, divisor), cols);
    allVariances = eig.values;
    axes.set(eig.vectors.subarray(0, k * cols));
    for (let i = 0; i < k; i++) variances[i] = Math.max(0, eig.values[i]!);
  } else {
    // eigenvectors of xc xcᵀ / divisor (rows × rows) map to axes via xcᵀ u / sqrt(divisor λ)
    const eig = symmetricEigen(gramOfRows(xc, divisor), rows);
    allVariances = eig.values;
    const { values } = xc;
    for (let i = 0; i < k; i++) {
      const lambda = Math.max(0, eig.values[i]!);
      variances[i] = lambda;
      const o = i * cols;
      for (let r = 0; r < rows; r++) {
        const u = eig.vectors[i * rows + r]!;
        if (u === 0) continue;
        const xo = r * cols;
        for (let j = 0; j < cols; j++) axes[o + j]! += u * values[xo + j]!;
      }
      let norm = 0;
      for (let j = 0; j < cols; j++) norm += axes[o + j]! * axes[o + j]!;
      norm = Math.sqrt(norm);
      let sign = 0;
      for (let j = 0; j < cols && sign === 0; j++)
        if (Math.abs(axes[o + j]!) > 1e-12 * norm) sign = axes[o + j]! > 0 ? 1 : -1;
      const f = norm > 0 ? (sign === 0 ? 1 : sign) / norm : 0;
      for (let j = 0; j < cols; j++) axes[o + j]! *= f;
    }
  }
  const top = Math.max(0, allVariances[0] ?? 0);
  let rank = 0;
  for (const v of allVariances) if (v > RANK_TOLERANCE * top && v > 0) rank++;
  return { axes, variances, allVariances, rank };
}

/** Projects centred rows onto `k` axes: `xc · axesᵀ` (`rows × k`). */
export function project(xc: RowMatrix, axes: Float64Array, k: number): Float64Array {
  const { values, rows, cols } = xc;
  const out = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const xo = r * cols;
    for (let i = 0; i < k; i++) {
      const ao = i * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += values[xo + j]! * axes[ao + j]!;
      out[r * k + i] = s;
    }
  }
  return out;
}

/**
 * Principal component analysis: centres the columns, finds the leading axes
 * of the covariance (ml-matrix symmetric eigendecomposition) and projects.
 * Deterministic: axes are sign-fixed.
 *
 * @param x - Data, one sample per row.
 * @param options - {@link PcaOptions}.
 * @returns Scores, axes, variances and the mean.
 * @throws {@link BackdoorKitError} for a bad matrix, a component count out of
 *   range, or whitening a zero-variance component.
 *
 * @example
 * ```ts
 * const { scores, explainedVarianceRatio } = stats.pca([[1, 2], [2, 4], [3, 6.5]], { components: 1 });
 * // explainedVarianceRatio[0] ≈ 0.9999
 * ```
 */
export function pca(x: MatrixInput, options: PcaOptions = {}): PcaResult {
  const fn = 'stats.pca';
  const o = resolveOptions(fn, PCA_DEFAULTS, options);
  const m = toRowMatrix(fn, 'x', x);
  const maxK = Math.min(m.rows, m.cols);
  const k = o.components ?? maxK;
  assertInteger(fn, 'options.components', k, 1, maxK);
  if (typeof o.whiten !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.whiten', value: o.whiten }, 'must be a boolean');
  }
  const mean = columnMeans(m);
  const xc = centred(m, mean);
  const divisor = Math.max(1, m.rows - 1);
  const { axes, variances, allVariances, rank } = principalAxes(xc, k, divisor);
  if (o.whiten && k > rank) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.components', value: k },
      `cannot be whitened: the data has only ${rank} direction(s) with non-zero variance`,
    );
  }
  const scores = project(xc, axes, k);
  if (o.whiten) {
    for (let r = 0; r < m.rows; r++) for (let i = 0; i < k; i++) scores[r * k + i]! /= Math.sqrt(variances[i]!);
  }
  let total = 0;
  for (const v of allVariances) total += Math.max(0, v);
  const ratio = variances.map((v) => (total > 0 ? v / total : 0));
  return {
    scores: { values: scores, rows: m.rows, cols: k },
    components: { values: axes, rows: k, cols: m.cols },
    explainedVariance: variances,
    explainedVarianceRatio: ratio,
    mean,
    rank,
  };
}
