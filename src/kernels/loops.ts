/**
 * Tight typed-array loops for 2-D convolution and pooling in NHWC layout,
 * used by the cpu fast kernels (see `fast-conv.ts`). Pure functions on flat
 * arrays: no tfjs, no allocation beyond the result and small scratch arrays.
 *
 * Speed comes from dot products held in local accumulators, blocked four
 * output values at a time (no store per multiply-add), over contiguous runs
 * of memory. Sums are accumulated in double precision.
 *
 * @packageDocumentation
 */

/**
 * Geometry of a 2-D convolution or pooling window in NHWC layout. Padding is
 * given as the rows/columns of zeros before the first input row/column;
 * the output size fixes the rest.
 */
export interface ConvGeometry {
  /** Batch size. */
  readonly batch: number;
  /** Input height. */
  readonly inHeight: number;
  /** Input width. */
  readonly inWidth: number;
  /** Input channels. */
  readonly inChannels: number;
  /** Output height. */
  readonly outHeight: number;
  /** Output width. */
  readonly outWidth: number;
  /** Output channels (equal to `inChannels` for pooling). */
  readonly outChannels: number;
  /** Filter (window) height. */
  readonly filterHeight: number;
  /** Filter (window) width. */
  readonly filterWidth: number;
  /** Vertical stride. */
  readonly strideHeight: number;
  /** Horizontal stride. */
  readonly strideWidth: number;
  /** Vertical dilation. */
  readonly dilationHeight: number;
  /** Horizontal dilation. */
  readonly dilationWidth: number;
  /** Zero rows above the input. */
  readonly padTop: number;
  /** Zero columns left of the input. */
  readonly padLeft: number;
}

/** Numeric input accepted by the loops. */
export type Values = Float32Array | Int32Array | Uint8Array | Float64Array;

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

/** Pixels per im2col block in {@link conv2dForward}. */
const PATCH_ROWS = 64;

/**
 * Forward convolution `y = conv2d(x, w)`: blocks of input patches (im2col)
 * multiplied by the transposed filter with {@link gemmNT}.
 *
 * @param x - Input, `[batch, inHeight, inWidth, inChannels]` flattened.
 * @param w - Filter, `[filterHeight, filterWidth, inChannels, outChannels]` flattened.
 * @param g - Geometry (any stride, dilation, padding).
 * @param out - Where to write the output (every element is written); a new array if omitted.
 * @param epilogue - Bias per output channel and ReLU applied as results are stored.
 * @returns Output, `[batch, outHeight, outWidth, outChannels]` flattened.
 */
export function conv2dForward(
  x: Values,
  w: Values,
  g: ConvGeometry,
  out?: Float32Array,
  epilogue?: Epilogue,
): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { outChannels: Co, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const K = KH * KW * Ci;
  const y = out ?? new Float32Array(B * OH * OW * Co);
  const pixels = B * OH * OW;
  if (K === 0) {
    for (let p = 0; p < pixels; p++) {
      for (let co = 0; co < Co; co++) {
        const v = epilogue?.bias?.[co] ?? 0;
        y[p * Co + co] = epilogue?.relu === true && v < 0 ? 0 : v;
      }
    }
    return y;
  }
  // Filter transposed to [Co][KH][KW][Ci]: each output channel's taps are contiguous.
  const wT = new Float32Array(Co * K);
  for (let k = 0; k < K; k++) {
    const row = k * Co;
    for (let co = 0; co < Co; co++) wT[co * K + k] = w[row + co]!;
  }
  const patches = new Float32Array(PATCH_ROWS * K);
  const runLen = KW * Ci;
  // output pixel (b, oh, ow) of the next patch row, advanced incrementally
  let b = 0;
  let oh = 0;
  let ow = 0;
  for (let p0 = 0; p0 < pixels; p0 += PATCH_ROWS) {
    const n = Math.min(PATCH_ROWS, pixels - p0);
    for (let r = 0; r < n; r++) {
      if (ow === OW) {
        ow = 0;
        if (++oh === OH) {
          oh = 0;
          b++;
        }
      }
      const ihBase = oh * sh - pt;
      const iwBase = ow * sw - pl;
      let o = r * K;
      for (let kh = 0; kh < KH; kh++) {
        const ih = ihBase + kh * dh;
        if (ih < 0 || ih >= H) {
          patches.fill(0, o, o + runLen);
          o += runLen;
          continue;
        }
        const xRow = (b * H + ih) * W;
        if (dw === 1 && iwBase >= 0 && iwBase + KW <= W) {
          // the whole filter row is inside: one contiguous run
          const xo = (xRow + iwBase) * Ci;
          for (let j = 0; j < runLen; j++) patches[o + j] = x[xo + j]!;
          o += runLen;
          continue;
        }
        for (let kw = 0; kw < KW; kw++, o += Ci) {
          const iw = iwBase + kw * dw;
          if (iw < 0 || iw >= W) {
            patches.fill(0, o, o + Ci);
            continue;
          }
          const xo = (xRow + iw) * Ci;
          for (let j = 0; j < Ci; j++) patches[o + j] = x[xo + j]!;
        }
      }
      ow++;
    }
    gemmNT(patches, 0, n, K, wT, 0, Co, y, p0 * Co, Co, epilogue);
  }
  return y;
}

/**
 * Transposed patch matrix (im2col) of a convolution's input:
 * `out[k, m] = x[b, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, ci]` (0 outside the
 * input) for filter tap `k = (kh, kw, ci)` and output pixel `m = (b, oh, ow)`.
 * The filter gradient is then `out x dy` with `dy` as `[pixels, outChannels]`.
 *
 * @param x - Input, `[batch, inHeight, inWidth, inChannels]` flattened.
 * @param g - Geometry of the convolution.
 * @param out - Where to write the `[filterHeight * filterWidth * inChannels, batch * outHeight * outWidth]`
 *   matrix (every element is written); a new array if omitted.
 * @returns The patch matrix.
 */
export function patchesTransposed(x: Values, g: ConvGeometry, out?: Float32Array): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const M = B * OH * OW;
  const p = out ?? new Float32Array(KH * KW * Ci * M);
  // columns ow whose tap kw is inside the input: owLo <= ow < owHi
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const k0 = (kh * KW + kw) * Ci;
      const off = kw * dw - pl;
      const owLo = Math.min(OW, Math.max(0, Math.ceil(-off / sw)));
      const owHi = Math.max(owLo, Math.min(OW, Math.ceil((W - off) / sw)));
      for (let b = 0; b < B; b++) {
        for (let oh = 0; oh < OH; oh++) {
          const m0 = (b * OH + oh) * OW;
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) {
            for (let ci = 0; ci < Ci; ci++) p.fill(0, (k0 + ci) * M + m0, (k0 + ci) * M + m0 + OW);
            continue;
          }
          for (let ci = 0; ci < Ci; ci++) {
            const r = (k0 + ci) * M + m0;
            for (let ow = 0; ow < owLo; ow++) p[r + ow] = 0;
            for (let ow = owHi; ow < OW; ow++) p[r + ow] = 0;
          }
          let xi = ((b * H + ih) * W + owLo * sw + off) * Ci;
          const step = sw * Ci;
          if (Ci === 1) {
            const r = k0 * M + m0;
            for (let ow = owLo; ow < owHi; ow++, xi += step) p[r + ow] = x[xi]!;
            continue;
          }
          for (let ow = owLo; ow < owHi; ow++, xi += step) {
            for (let ci = 0, r = k0 * M + m0 + ow; ci < Ci; ci++, r += M) p[r] = x[xi + ci]!;
          }
        }
      }
    }
  }
  return p;
}

/**
 * The adjoint of a patch matrix ("col2im"): sums each row of `cols`
 * (`[batch·outHeight·outWidth, filterHeight·filterWidth·inChannels]`, taps in
 * filter order) back onto the input pixels its patch was read from. With
 * `cols = dy · Wᵀ` this is the gradient of a convolution with respect to its
 * input.
 *
 * @param cols - Patch gradients, row-major `[pixels, taps]`.
 * @param g - Geometry of the forward convolution.
 * @param out - Where to write `[batch, inHeight, inWidth, inChannels]` (every element is written).
 * @returns `out`.
 */
export function patchesToImage(cols: Values, g: ConvGeometry, out?: Float32Array): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const T = KH * KW * Ci;
  const dx = out ?? new Float32Array(B * H * W * Ci);
  dx.fill(0);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        const rowIn = (b * H + ih) * W;
        for (let kw = 0; kw < KW; kw++) {
          const off = kw * dw - pl;
          // columns ow whose tap kw is inside the input: owLo <= ow < owHi
          const owLo = Math.min(OW, Math.max(0, Math.ceil(-off / sw)));
          const owHi = Math.max(owLo, Math.min(OW, Math.ceil((W - off) / sw)));
          let t = ((b * OH + oh) * OW + owLo) * T + (kh * KW + kw) * Ci;
          let o = (rowIn + owLo * sw + off) * Ci;
          if (Ci === 1) {
            for (let ow = owLo; ow < owHi; ow++, t += T, o += sw) dx[o]! += cols[t]!;
            continue;
          }
          const step = sw * Ci;
          for (let ow = owLo; ow < owHi; ow++, t += T, o += step) {
            for (let ci = 0; ci < Ci; ci++) dx[o + ci]! += cols[t + ci]!;
          }
        }
      }
    }
  }
  return dx;
}

/**
 * For each input coordinate `i` in `[0, size)`, the filter taps `k` and output
 * coordinates `o` with `o * stride + k - pad === i` (dilation 1). Returned as
 * `pairs[i * taps * 2 + 2 * n]` = k, `+ 1` = o, with `count[i]` pairs.
 */
function backTaps(
  size: number,
  taps: number,
  stride: number,
  pad: number,
  outSize: number,
): { pairs: Int32Array; count: Int32Array } {
  const pairs = new Int32Array(size * taps * 2);
  const count = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    let n = 0;
    for (let k = 0; k < taps; k++) {
      const t = i + pad - k;
      if (t < 0 || t % stride !== 0) continue;
      const o = t / stride;
      if (o >= outSize) continue;
      pairs[i * taps * 2 + 2 * n] = k;
      pairs[i * taps * 2 + 2 * n + 1] = o;
      n++;
    }
    count[i] = n;
  }
  return { pairs, count };
}

/**
 * Gradient of a convolution with respect to its input (dilation 1).
 *
 * @param dy - Output gradient, `[batch, outHeight, outWidth, outChannels]` flattened.
 * @param w - Filter, `[filterHeight, filterWidth, inChannels, outChannels]` flattened.
 * @param g - Geometry of the forward convolution (`dilation*` must be 1).
 * @returns Input gradient, `[batch, inHeight, inWidth, inChannels]` flattened.
 */
export function conv2dBackpropInput(dy: Values, w: Values, g: ConvGeometry): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { outChannels: Co, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const rows = backTaps(H, KH, sh, g.padTop, OH);
  const cols = backTaps(W, KW, sw, g.padLeft, OW);
  const dx = new Float32Array(B * H * W * Ci);
  const ci4 = Ci - (Ci % 4);
  const wStep = Co; // distance between consecutive input channels in w
  for (let b = 0; b < B; b++) {
    for (let ih = 0; ih < H; ih++) {
      const nr = rows.count[ih]!;
      const rBase = ih * KH * 2;
      for (let iw = 0; iw < W; iw++) {
        const nc = cols.count[iw]!;
        const cBase = iw * KW * 2;
        const dxOff = ((b * H + ih) * W + iw) * Ci;
        let ci = 0;
        for (; ci < ci4; ci += 4) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          for (let r = 0; r < nr; r++) {
            const kh = rows.pairs[rBase + 2 * r]!;
            const oh = rows.pairs[rBase + 2 * r + 1]!;
            for (let c = 0; c < nc; c++) {
              const kw = cols.pairs[cBase + 2 * c]!;
              const ow = cols.pairs[cBase + 2 * c + 1]!;
              const dyo = ((b * OH + oh) * OW + ow) * Co;
              const wo = ((kh * KW + kw) * Ci + ci) * Co;
              for (let co = 0; co < Co; co++) {
                const d = dy[dyo + co]!;
                a0 += d * w[wo + co]!;
                a1 += d * w[wo + wStep + co]!;
                a2 += d * w[wo + 2 * wStep + co]!;
                a3 += d * w[wo + 3 * wStep + co]!;
              }
            }
          }
          dx[dxOff + ci] = a0;
          dx[dxOff + ci + 1] = a1;
          dx[dxOff + ci + 2] = a2;
          dx[dxOff + ci + 3] = a3;
        }
        for (; ci < Ci; ci++) {
          let a0 = 0;
          for (let r = 0; r < nr; r++) {
            const kh = rows.pairs[rBase + 2 * r]!;
            const oh = rows.pairs[rBase + 2 * r + 1]!;
            for (let c = 0; c < nc; c++) {
              const kw = cols.pairs[cBase + 2 * c]!;
              const ow = cols.pairs[cBase + 2 * c + 1]!;
              const dyo = ((b * OH + oh) * OW + ow) * Co;
              const wo = ((kh * KW + kw) * Ci + ci) * Co;
              for (let co = 0; co < Co; co++) a0 += dy[dyo + co]! * w[wo + co]!;
            }
          }
          dx[dxOff + ci] = a0;
        }
      }
    }
  }
  return dx;
}

/** Transposes a row-major `[rows, cols]` matrix into a new `[cols, rows]` one. */
function transpose2d(a: Values, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = a[o + c]!;
  }
  return t;
}

/**
 * Gradient of a convolution with respect to its filter (dilation 1).
 *
 * @param x - Input, `[batch, inHeight, inWidth, inChannels]` flattened.
 * @param dy - Output gradient, `[batch, outHeight, outWidth, outChannels]` flattened.
 * @param g - Geometry of the forward convolution (`dilation*` must be 1).
 * @returns Filter gradient, `[filterHeight, filterWidth, inChannels, outChannels]` flattened.
 */
export function conv2dBackpropFilter(x: Values, dy: Values, g: ConvGeometry): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { outChannels: Co, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { padTop: pt, padLeft: pl } = g;
  const N = B * H * W;
  const M = B * OH * OW;
  // Channel-major copies: each channel's values over (batch, row, col) are contiguous.
  const xT = transpose2d(x, N, Ci);
  const dyT = transpose2d(dy, M, Co);
  const dW = new Float32Array(KH * KW * Ci * Co);
  const co4 = Co - (Co % 4);
  for (let kh = 0; kh < KH; kh++) {
    // Output rows whose tap kh lands inside the input: 0 <= oh*sh + kh - pt < H.
    const ohMin = Math.max(0, Math.ceil((pt - kh) / sh));
    const ohMax = Math.min(OH, Math.floor((H - 1 + pt - kh) / sh) + 1);
    for (let kw = 0; kw < KW; kw++) {
      const owMin = Math.max(0, Math.ceil((pl - kw) / sw));
      const owMax = Math.min(OW, Math.floor((W - 1 + pl - kw) / sw) + 1);
      for (let ci = 0; ci < Ci; ci++) {
        const xc = ci * N;
        const outBase = ((kh * KW + kw) * Ci + ci) * Co;
        let co = 0;
        for (; co < co4; co += 4) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          const d0 = co * M;
          const d1 = d0 + M;
          const d2 = d1 + M;
          const d3 = d2 + M;
          for (let b = 0; b < B; b++) {
            for (let oh = ohMin; oh < ohMax; oh++) {
              let xi = xc + (b * H + oh * sh + kh - pt) * W + owMin * sw + kw - pl;
              let di = (b * OH + oh) * OW + owMin;
              for (let ow = owMin; ow < owMax; ow++, xi += sw, di++) {
                const xv = xT[xi]!;
                a0 += xv * dyT[d0 + di]!;
                a1 += xv * dyT[d1 + di]!;
                a2 += xv * dyT[d2 + di]!;
                a3 += xv * dyT[d3 + di]!;
              }
            }
          }
          dW[outBase + co] = a0;
          dW[outBase + co + 1] = a1;
          dW[outBase + co + 2] = a2;
          dW[outBase + co + 3] = a3;
        }
        for (; co < Co; co++) {
          let a0 = 0;
          const d0 = co * M;
          for (let b = 0; b < B; b++) {
            for (let oh = ohMin; oh < ohMax; oh++) {
              let xi = xc + (b * H + oh * sh + kh - pt) * W + owMin * sw + kw - pl;
              let di = d0 + (b * OH + oh) * OW + owMin;
              for (let ow = owMin; ow < owMax; ow++, xi += sw, di++) a0 += xT[xi]! * dyT[di]!;
            }
          }
          dW[outBase + co] = a0;
        }
      }
    }
  }
  return dW;
}

/** First filter tap `k` with `base + k * dilation >= 0`. */
function tapLo(base: number, dilation: number): number {
  return base < 0 ? Math.ceil(-base / dilation) : 0;
}

/** One past the last filter tap `k < taps` with `base + k * dilation < size`. */
function tapHi(base: number, dilation: number, size: number, taps: number): number {
  return Math.min(taps, Math.ceil((size - base) / dilation));
}

/**
 * Max pooling, with tfjs-backend-cpu's conventions: the maximum of the
 * in-bounds values of each window (strictly greater wins, so NaN is skipped;
 * `-Infinity` for a window with no number).
 *
 * The running maximum is selected without a branch (`pick[+(v > m)]`): with
 * data-dependent comparisons a branch is mispredicted so often that this is
 * about three times faster.
 *
 * @param x - Input, `[batch, inHeight, inWidth, channels]` flattened.
 * @param g - Pooling geometry (`inChannels === outChannels`).
 * @param out - Where to write the output (every element is written); a new array if omitted.
 * @returns Output, `[batch, outHeight, outWidth, channels]` flattened.
 */
export function maxPoolForward(x: Values, g: ConvGeometry, out?: Float32Array): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const y = out ?? new Float32Array(B * OH * OW * C);
  const rowStep = dh * W * C;
  const colStep = dw * C;
  const pick = new Float64Array(2);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ihBase = oh * sh - pt;
      const khMin = tapLo(ihBase, dh);
      const khMax = tapHi(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const kwMin = tapLo(iwBase, dw);
        const kwMax = tapHi(iwBase, dw, W, KW);
        const yo = ((b * OH + oh) * OW + ow) * C;
        const first = ((b * H + ihBase + khMin * dh) * W + iwBase + kwMin * dw) * C;
        if (khMax - khMin === 2 && kwMax - kwMin === 2) {
          // the common 2x2 window, unrolled
          for (let c = 0, i = first; c < C; c++, i++) {
            let v = x[i]!;
            pick[0] = Number.NEGATIVE_INFINITY;
            pick[1] = v;
            let m = pick[+(v > Number.NEGATIVE_INFINITY)]!;
            v = x[i + colStep]!;
            pick[0] = m;
            pick[1] = v;
            m = pick[+(v > m)]!;
            v = x[i + rowStep]!;
            pick[0] = m;
            pick[1] = v;
            m = pick[+(v > m)]!;
            v = x[i + rowStep + colStep]!;
            pick[0] = m;
            pick[1] = v;
            y[yo + c] = pick[+(v > m)]!;
          }
          continue;
        }
        for (let c = 0; c < C; c++) {
          let m = Number.NEGATIVE_INFINITY;
          for (let kh = khMin, r = first + c; kh < khMax; kh++, r += rowStep) {
            for (let kw = kwMin, i = r; kw < kwMax; kw++, i += colStep) {
              const v = x[i]!;
              pick[0] = m;
              pick[1] = v;
              m = pick[+(v > m)]!;
            }
          }
          y[yo + c] = m;
        }
      }
    }
  }
  return y;
}

/**
 * Gradient of max pooling: each output gradient goes to the first maximum of
 * its window (row-major order, strictly greater wins, NaN never wins), as in
 * tfjs's own kernels. Branch-free selection as in {@link maxPoolForward}.
 *
 * @param x - Pooling input, `[batch, inHeight, inWidth, channels]` flattened.
 * @param dy - Output gradient, `[batch, outHeight, outWidth, channels]` flattened.
 * @param g - Pooling geometry (`inChannels === outChannels`).
 * @param out - Where to write the input gradient (every element is written); a new array if omitted.
 * @returns Input gradient, shaped like `x`.
 */
export function maxPoolBackprop(x: Values, dy: Values, g: ConvGeometry, out?: Float32Array): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const dx = out ?? new Float32Array(B * H * W * C);
  if (KH === 2 && KW === 2 && sh === 2 && sw === 2 && dh === 1 && dw === 1 && pt === 0 && pl === 0) {
    if (2 * OH <= H && 2 * OW <= W) {
      maxPoolBackprop2x2(x, dy, g, dx);
      return dx;
    }
  }
  if (out !== undefined) dx.fill(0, 0, B * H * W * C);
  const rowStep = dh * W * C;
  const colStep = dw * C;
  const pick = new Float64Array(2);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ihBase = oh * sh - pt;
      const khMin = tapLo(ihBase, dh);
      const khMax = tapHi(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const kwMin = tapLo(iwBase, dw);
        const kwMax = tapHi(iwBase, dw, W, KW);
        const dyo = ((b * OH + oh) * OW + ow) * C;
        const first = ((b * H + ihBase + khMin * dh) * W + iwBase + kwMin * dw) * C;
        if (khMax - khMin === 2 && kwMax - kwMin === 2) {
          // the common 2x2 window, unrolled
          for (let c = 0, i = first; c < C; c++, i++) {
            let v = x[i]!;
            let k = +(v > Number.NEGATIVE_INFINITY);
            pick[0] = Number.NEGATIVE_INFINITY;
            pick[1] = v;
            let m = pick[k]!;
            let at = k * (i + 1) - 1;
            v = x[i + colStep]!;
            k = +(v > m);
            pick[0] = m;
            pick[1] = v;
            m = pick[k]!;
            at += k * (i + colStep - at);
            v = x[i + rowStep]!;
            k = +(v > m);
            pick[0] = m;
            pick[1] = v;
            m = pick[k]!;
            at += k * (i + rowStep - at);
            v = x[i + rowStep + colStep]!;
            k = +(v > m);
            at += k * (i + rowStep + colStep - at);
            if (at >= 0) dx[at] = dx[at]! + dy[dyo + c]!;
          }
          continue;
        }
        for (let c = 0; c < C; c++) {
          let m = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let kh = khMin, r = first + c; kh < khMax; kh++, r += rowStep) {
            for (let kw = kwMin, i = r; kw < kwMax; kw++, i += colStep) {
              const v = x[i]!;
              const k = +(v > m);
              pick[0] = m;
              pick[1] = v;
              m = pick[k]!;
              at += k * (i - at);
            }
          }
          if (at >= 0) dx[at] = dx[at]! + dy[dyo + c]!;
        }
      }
    }
  }
  return dx;
}

/**
 * {@link maxPoolBackprop} for 2x2 windows with stride 2 and no padding (the
 * common case): windows do not overlap, so every input gradient is written
 * once, the winner's as `dy` and the others as 0, with no zeroing pass first.
 */
function maxPoolBackprop2x2(x: Values, dy: Values, g: ConvGeometry, dx: Float32Array): void {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const rowStep = W * C;
  const pick = new Float64Array(2);
  const grad = new Float64Array(2);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const first = ((b * H + 2 * oh) * W + 2 * ow) * C;
        const dyo = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0, i = first; c < C; c++, i++) {
          // index (0..3) of the first strict maximum, -1 if there is none
          let v = x[i]!;
          let k = +(v > Number.NEGATIVE_INFINITY);
          pick[0] = Number.NEGATIVE_INFINITY;
          pick[1] = v;
          let m = pick[k]!;
          let at = k - 1;
          v = x[i + C]!;
          k = +(v > m);
          pick[0] = m;
          pick[1] = v;
          m = pick[k]!;
          at += k * (1 - at);
          v = x[i + rowStep]!;
          k = +(v > m);
          pick[0] = m;
          pick[1] = v;
          m = pick[k]!;
          at += k * (2 - at);
          v = x[i + rowStep + C]!;
          k = +(v > m);
          at += k * (3 - at);
          grad[1] = dy[dyo + c]!;
          dx[i] = grad[+(at === 0)]!;
          dx[i + C] = grad[+(at === 1)]!;
          dx[i + rowStep] = grad[+(at === 2)]!;
          dx[i + rowStep + C] = grad[+(at === 3)]!;
        }
      }
      // a last column outside every window
      if (2 * OW < W) {
        for (let r = 0; r < 2; r++) {
          const o = ((b * H + 2 * oh + r) * W + 2 * OW) * C;
          dx.fill(0, o, o + (W - 2 * OW) * C);
        }
      }
    }
    // a last row outside every window
    if (2 * OH < H) dx.fill(0, (b * H + 2 * OH) * W * C, (b + 1) * H * W * C);
  }
}

/**
 * Gradient of average pooling, with tfjs's convention: every in-bounds input
 * of a window receives `dy / (filterHeight * filterWidth)` (the full window
 * size, also where 'same' padding cut the window).
 *
 * @param dy - Output gradient, `[batch, outHeight, outWidth, channels]` flattened.
 * @param g - Pooling geometry (`inChannels === outChannels`).
 * @returns Input gradient, `[batch, inHeight, inWidth, channels]` flattened.
 */
export function avgPoolBackprop(dy: Values, g: ConvGeometry): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const dx = new Float32Array(B * H * W * C);
  const scale = 1 / (KH * KW);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ihBase = oh * sh - pt;
      const khMin = tapLo(ihBase, dh);
      const khMax = tapHi(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const kwMin = tapLo(iwBase, dw);
        const kwMax = tapHi(iwBase, dw, W, KW);
        const dyo = ((b * OH + oh) * OW + ow) * C;
        for (let kh = khMin; kh < khMax; kh++) {
          for (let kw = kwMin; kw < kwMax; kw++) {
            const xo = ((b * H + ihBase + kh * dh) * W + iwBase + kw * dw) * C;
            for (let c = 0; c < C; c++) dx[xo + c] = dx[xo + c]! + dy[dyo + c]! * scale;
          }
        }
      }
    }
  }
  return dx;
}

/**
 * Sum over the middle axis of a `[outer, reduced, inner]` view:
 * `out[a, c] = sum over r of x[a, r, c]`, accumulated in double precision.
 *
 * @param x - Values, `outer * reduced * inner` of them.
 * @param outer - Size of the leading (kept) block.
 * @param reduced - Size of the summed block.
 * @param inner - Size of the trailing (kept) block.
 * @param out - Where to write the sums (every element is written); a new array if omitted.
 * @returns The sums, `[outer, inner]` flattened.
 */
export function sumMiddle(
  x: Values,
  outer: number,
  reduced: number,
  inner: number,
  out: Float32Array = new Float32Array(outer * inner),
): Float32Array {
  if (inner <= 32) {
    // few columns (bias gradients): four columns at a time in locals, one sweep each
    for (let a = 0; a < outer; a++) {
      const base = a * reduced * inner;
      let c = 0;
      for (; c + 3 < inner; c += 4) {
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let r = 0, o = base + c; r < reduced; r++, o += inner) {
          s0 += x[o]!;
          s1 += x[o + 1]!;
          s2 += x[o + 2]!;
          s3 += x[o + 3]!;
        }
        out[a * inner + c] = s0;
        out[a * inner + c + 1] = s1;
        out[a * inner + c + 2] = s2;
        out[a * inner + c + 3] = s3;
      }
      for (; c < inner; c++) {
        let s0 = 0;
        for (let r = 0, o = base + c; r < reduced; r++, o += inner) s0 += x[o]!;
        out[a * inner + c] = s0;
      }
    }
    return out;
  }
  const acc = new Float64Array(inner);
  for (let a = 0; a < outer; a++) {
    acc.fill(0);
    let o = a * reduced * inner;
    for (let r = 0; r < reduced; r++, o += inner) {
      for (let c = 0; c < inner; c++) acc[c] = acc[c]! + x[o + c]!;
    }
    out.set(acc, a * inner);
  }
  return out;
}
