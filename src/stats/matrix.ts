/**
 * Dense row-major matrices for the numeric kernels in `stats/`, input
 * validation, and the few linear-algebra steps they share (column means,
 * covariance, symmetric eigendecomposition through ml-matrix).
 *
 * @packageDocumentation
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

import { EmptyDataError, InvalidArgumentError, NonFiniteError, ShapeError } from '../core/errors.js';

/**
 * A dense matrix stored row by row in one `Float64Array`: element `(i, j)` is
 * `values[i * cols + j]`. Every `stats` function returns this shape (plain
 * data: it serialises with `Array.from(values)`).
 */
export interface RowMatrix {
  /** Row-major values, length `rows * cols`. */
  readonly values: Float64Array;
  /** Number of rows (samples). */
  readonly rows: number;
  /** Number of columns (features). */
  readonly cols: number;
}

/**
 * What the `stats` functions accept as a matrix: an array of equal-length rows
 * (`number[][]`, an array of typed arrays), a row-major `{ values, rows, cols }`
 * (what `activationsData` returns), or an ml-matrix `Matrix`.
 */
export type MatrixInput =
  | ReadonlyArray<ArrayLike<number>>
  | { readonly values: ArrayLike<number>; readonly rows: number; readonly cols: number }
  | Matrix;

/**
 * Validates `x` and copies it into a fresh {@link RowMatrix} (the caller's
 * data is never modified or retained).
 *
 * @param fn - Public function name, for errors.
 * @param arg - Argument name, for errors.
 * @param x - The candidate matrix.
 * @returns A float64 copy.
 * @throws {@link InvalidArgumentError} for something that is not a matrix;
 *   {@link ShapeError} for ragged rows or a wrong `values` length;
 *   {@link EmptyDataError} for no rows or no columns; {@link NonFiniteError}
 *   for NaN or ±Infinity.
 */
export function toRowMatrix(fn: string, arg: string, x: unknown): RowMatrix {
  let out: RowMatrix;
  if (x instanceof Matrix) {
    const rows = x.rows;
    const cols = x.columns;
    const values = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) values[i * cols + j] = x.get(i, j);
    out = { values, rows, cols };
  } else if (Array.isArray(x)) {
    const rows = x.length;
    if (rows === 0) throw new EmptyDataError({ fn, arg, value: x }, 'must have at least one row');
    const first: unknown = x[0];
    if (!isNumberArray(first))
      throw new InvalidArgumentError({ fn, arg, value: x }, 'must be an array of numeric rows');
    const cols = first.length;
    const values = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row: unknown = x[i];
      if (!isNumberArray(row)) {
        throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: row }, 'must be an array of numbers');
      }
      if (row.length !== cols) {
        throw new ShapeError({ fn, arg: `${arg}[${i}]`, value: row }, `must have ${cols} values like row 0`);
      }
      for (let j = 0; j < cols; j++) values[i * cols + j] = row[j]!;
    }
    out = { values, rows, cols };
  } else if (x !== null && typeof x === 'object' && 'values' in x && 'rows' in x && 'cols' in x) {
    const m = x as { values: unknown; rows: unknown; cols: unknown };
    if (!Number.isInteger(m.rows) || (m.rows as number) < 0 || !Number.isInteger(m.cols) || (m.cols as number) < 0) {
      throw new InvalidArgumentError({ fn, arg, value: x }, 'must have non-negative integer rows and cols');
    }
    if (!isNumberArray(m.values)) {
      throw new InvalidArgumentError({ fn, arg: `${arg}.values`, value: m.values }, 'must be an array of numbers');
    }
    const rows = m.rows as number;
    const cols = m.cols as number;
    if (m.values.length !== rows * cols) {
      throw new ShapeError(
        { fn, arg: `${arg}.values`, value: m.values },
        `must hold rows * cols = ${rows * cols} values`,
      );
    }
    out = { values: Float64Array.from(m.values), rows, cols };
  } else {
    throw new InvalidArgumentError(
      { fn, arg, value: x },
      'must be a matrix: number[][], { values, rows, cols } or an ml-matrix Matrix',
    );
  }
  if (out.rows === 0 || out.cols === 0) {
    throw new EmptyDataError(
      { fn, arg, value: `${out.rows}x${out.cols}` },
      'must have at least one row and one column',
    );
  }
  const v = out.values;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) {
      const r = Math.floor(i / out.cols);
      throw new NonFiniteError({ fn, arg: `${arg}[${r}][${i - r * out.cols}]`, value: v[i] });
    }
  }
  return out;
}

function isNumberArray(v: unknown): v is ArrayLike<number> {
  if (Array.isArray(v)) return v.every((e) => typeof e === 'number');
  return (
    ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array || v instanceof BigUint64Array)
  );
}

/** Column means of `x`. */
export function columnMeans(x: RowMatrix): Float64Array {
  return columnMeansOf(x.values, x.rows, x.cols);
}

/** Column means of a row-major `rows × cols` array (summed in float64, row by row). */
export function columnMeansOf(values: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) mean[j]! += values[o + j]!;
  }
  for (let j = 0; j < cols; j++) mean[j]! /= rows;
  return mean;
}

/** `x` with `mean` subtracted from every row (a new matrix). */
export function centred(x: RowMatrix, mean: Float64Array): RowMatrix {
  const { values, rows, cols } = x;
  const out = new Float64Array(values.length);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) out[o + j] = values[o + j]! - mean[j]!;
  }
  return { values: out, rows, cols };
}

/** `xᵀx / divisor` for a row-major `x` (a `cols × cols` symmetric matrix). */
export function gramOfColumns(x: RowMatrix, divisor: number): Float64Array {
  const { values, rows, cols } = x;
  const g = new Float64Array(cols * cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let a = 0; a < cols; a++) {
      const va = values[o + a]!;
      if (va === 0) continue;
      const ga = a * cols;
      for (let b = a; b < cols; b++) g[ga + b]! += va * values[o + b]!;
    }
  }
  for (let a = 0; a < cols; a++) {
    for (let b = a; b < cols; b++) {
      const v = g[a * cols + b]! / divisor;
      g[a * cols + b] = v;
      g[b * cols + a] = v;
    }
  }
  return g;
}

/** `xxᵀ / divisor` for a row-major `x` (a `rows × rows` symmetric matrix). */
export function gramOfRows(x: RowMatrix, divisor: number): Float64Array {
  const { values, rows, cols } = x;
  const g = new Float64Array(rows * rows);
  for (let a = 0; a < rows; a++) {
    const oa = a * cols;
    for (let b = a; b < rows; b++) {
      const ob = b * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += values[oa + j]! * values[ob + j]!;
      g[a * rows + b] = s / divisor;
      g[b * rows + a] = s / divisor;
    }
  }
  return g;
}

/** Eigenpairs of a symmetric matrix, largest eigenvalue first. */
export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  readonly values: Float64Array;
  /** Eigenvectors as rows (row `i` belongs to `values[i]`), `n × n` row-major. */
  readonly vectors: Float64Array;
}

/**
 * Eigendecomposition of a symmetric `n × n` matrix (ml-matrix's
 * tridiagonal QL), sorted by descending eigenvalue. Each eigenvector's sign
 * is fixed so that its first non-negligible entry is positive (sklearn's
 * convention, so results are reproducible across runs and libraries).
 */
export function symmetricEigen(sym: Float64Array, n: number): SymmetricEigen {
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(sym.subarray(i * n, (i + 1) * n)));
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const raw = evd.realEigenvalues;
  const vec = evd.eigenvectorMatrix;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => raw[b]! - raw[a]! || a - b);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = raw[src]!;
    let sign = 0;
    for (let k = 0; k < n && sign === 0; k++) {
      const v = vec.get(k, src);
      if (Math.abs(v) > 1e-12) sign = v > 0 ? 1 : -1;
    }
    if (sign === 0) sign = 1;
    for (let k = 0; k < n; k++) vectors[dst * n + k] = sign * vec.get(k, src);
  });
  return { values, vectors };
}

/** Squared Euclidean distance between row `i` of `a` and row `j` of `b` (same width `d`). */
export function squaredDistance(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  const oa = i * d;
  const ob = j * d;
  for (let k = 0; k < d; k++) {
    const t = a[oa + k]! - b[ob + k]!;
    s += t * t;
  }
  return s;
}

/** Rows `indices` of `x`, as a new matrix. */
export function selectRows(x: RowMatrix, indices: ArrayLike<number>): RowMatrix {
  const { values, cols } = x;
  const out = new Float64Array(indices.length * cols);
  for (let r = 0; r < indices.length; r++) {
    const o = indices[r]! * cols;
    out.set(values.subarray(o, o + cols), r * cols);
  }
  return { values: out, rows: indices.length, cols };
}
