/**
 * Tight typed-array loops in NHWC layout, used by the cpu fast kernels (see
 * `fast-conv.ts`). Pure functions on flat arrays: no tfjs, no allocation beyond
 * the result and small scratch arrays; dot products held in local
 * accumulators, blocked four outputs at a time, summed in double precision.
 *
 * This file: matrix products (`A·Bᵀ`, batched), with a fused epilogue.
 *
 * @packageDocumentation
 */
import type { Values } from './loop-types.js';

/**
 * Matrix product with the second factor transposed, in 2 x 4 register tiles:
 * `c[cOff + i * ldc + j] = sum over k of a[aOff + i * depth + k] * bT[bOff + j * depth + k]`
 * for `i < rows`, `j < cols` (sums in double precision).
 *
 * @param a - Left factor, `rows` rows of `depth` values from `aOff`.
 * @param aOff - Offset of the first row of `a`.
 * @param rows - Rows of `a` (and of the result).
 * @param depth - Length of the dot products.
 * @param bT - Right factor transposed: `cols` rows of `depth` values from `bOff`.
 * @param bOff - Offset of the first row of `bT`.
 * @param cols - Rows of `bT` (columns of the result).
 * @param c - Result; row `i` starts at `cOff + i * ldc`.
 * @param cOff - Offset of the first result row.
 * @param ldc - Distance between result rows (at least `cols`).
 * @param epilogue - Per-column bias added to, and ReLU applied to, each result before it is stored.
 */
export function gemmNT(
  a: Values,
  aOff: number,
  rows: number,
  depth: number,
  bT: Values,
  bOff: number,
  cols: number,
  c: Float32Array,
  cOff: number,
  ldc: number,
  epilogue?: Epilogue,
): void {
  const K = depth;
  const cols4 = cols - (cols % 4);
  const bias = epilogue?.bias;
  const relu = epilogue?.relu === true;
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const c0 = cOff + i * ldc;
    const c1 = c0 + ldc;
    let j = 0;
    for (; j < cols4; j += 4) {
      const b0 = bOff + j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let s00 = 0;
      let s01 = 0;
      let s02 = 0;
      let s03 = 0;
      let s10 = 0;
      let s11 = 0;
      let s12 = 0;
      let s13 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k]!;
        const x1 = a[a1 + k]!;
        const w0 = bT[b0 + k]!;
        const w1 = bT[b1 + k]!;
        const w2 = bT[b2 + k]!;
        const w3 = bT[b3 + k]!;
        s00 += x0 * w0;
        s01 += x0 * w1;
        s02 += x0 * w2;
        s03 += x0 * w3;
        s10 += x1 * w0;
        s11 += x1 * w1;
        s12 += x1 * w2;
        s13 += x1 * w3;
      }
      if (bias !== undefined) {
        const d0 = bias[j]!;
        const d1 = bias[j + 1]!;
        const d2 = bias[j + 2]!;
        const d3 = bias[j + 3]!;
        s00 += d0;
        s01 += d1;
        s02 += d2;
        s03 += d3;
        s10 += d0;
        s11 += d1;
        s12 += d2;
        s13 += d3;
      }
      if (relu) {
        c[c0 + j] = s00 < 0 ? 0 : s00;
        c[c0 + j + 1] = s01 < 0 ? 0 : s01;
        c[c0 + j + 2] = s02 < 0 ? 0 : s02;
        c[c0 + j + 3] = s03 < 0 ? 0 : s03;
        c[c1 + j] = s10 < 0 ? 0 : s10;
        c[c1 + j + 1] = s11 < 0 ? 0 : s11;
        c[c1 + j + 2] = s12 < 0 ? 0 : s12;
        c[c1 + j + 3] = s13 < 0 ? 0 : s13;
        continue;
      }
      c[c0 + j] = s00;
      c[c0 + j + 1] = s01;
      c[c0 + j + 2] = s02;
      c[c0 + j + 3] = s03;
      c[c1 + j] = s10;
      c[c1 + j + 1] = s11;
      c[c1 + j + 2] = s12;
      c[c1 + j + 3] = s13;
    }
    for (; j < cols; j++) {
      const b0 = bOff + j * K;
      let s0 = bias === undefined ? 0 : bias[j]!;
      let s1 = s0;
      for (let k = 0; k < K; k++) {
        const w = bT[b0 + k]!;
        s0 += a[a0 + k]! * w;
        s1 += a[a1 + k]! * w;
      }
      c[c0 + j] = relu && s0 < 0 ? 0 : s0;
      c[c1 + j] = relu && s1 < 0 ? 0 : s1;
    }
  }
  if (i < rows) {
    const a0 = aOff + i * K;
    const c0 = cOff + i * ldc;
    for (let j = 0; j < cols; j++) {
      const b0 = bOff + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[a0 + k]! * bT[b0 + k]!;
      if (bias !== undefined) s += bias[j]!;
      c[c0 + j] = relu && s < 0 ? 0 : s;
    }
  }
}

/** What {@link gemmNT} does to each result before storing it. */
export interface Epilogue {
  /** Added to column `j` of every row (`cols` values). */
  readonly bias?: Float64Array;
  /** Whether negative results become 0 (after the bias). */
  readonly relu?: boolean;
}

/**
 * Batched matrix product `out[i] = op(a[i]) x op(b[i])` where `op` transposes
 * when asked, with one side possibly broadcast over the batch (stride 0).
 *
 * @param a - Left factors: `[m, depth]` each (`[depth, m]` if `transposeA`).
 * @param b - Right factors: `[depth, n]` each (`[n, depth]` if `transposeB`).
 * @param batch - Number of products.
 * @param aStride - Distance between consecutive left factors (0 to reuse one).
 * @param bStride - Distance between consecutive right factors (0 to reuse one).
 * @param m - Rows of each product.
 * @param depth - Shared dimension.
 * @param n - Columns of each product.
 * @param transposeA - Whether each left factor is stored transposed.
 * @param transposeB - Whether each right factor is stored transposed.
 * @param out - Where to write the `[batch, m, n]` products (every element is written).
 * @param epilogue - Bias per column and ReLU applied as results are stored.
 */
export function batchMatMul(
  a: Values,
  b: Values,
  batch: number,
  aStride: number,
  bStride: number,
  m: number,
  depth: number,
  n: number,
  transposeA: boolean,
  transposeB: boolean,
  out: Float32Array,
  epilogue?: Epilogue,
): void {
  let aT: Float32Array | undefined;
  let bT: Float32Array | undefined;
  for (let i = 0; i < batch; i++) {
    let left: Values = a;
    let leftOff = i * aStride;
    if (transposeA) {
      if (aT === undefined || aStride !== 0) aT = transposeInto(a, leftOff, depth, m, aT);
      left = aT;
      leftOff = 0;
    }
    let right: Values = b;
    let rightOff = i * bStride;
    if (!transposeB) {
      if (bT === undefined || bStride !== 0) bT = transposeInto(b, rightOff, depth, n, bT);
      right = bT;
      rightOff = 0;
    }
    gemmNT(left, leftOff, m, depth, right, rightOff, n, out, i * m * n, n, epilogue);
  }
}

/** Transposes the `[rows, cols]` matrix at `a[off...]` into `[cols, rows]` (reusing `into` if given). */
function transposeInto(a: Values, off: number, rows: number, cols: number, into?: Float32Array): Float32Array {
  const t = into ?? new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = off + r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = a[o + c]!;
  }
  return t;
}
