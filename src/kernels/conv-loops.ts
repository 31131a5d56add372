/**
 * Tight typed-array loops in NHWC layout, used by the cpu fast kernels (see
 * `fast-conv.ts`). Pure functions on flat arrays: no tfjs, no allocation beyond
 * the result and small scratch arrays; dot products held in local
 * accumulators, blocked four outputs at a time, summed in double precision.
 *
 * This file: 2-D convolution forward, im2col / col2im, and both gradients.
 *
 * @packageDocumentation
 */
import { type Epilogue, gemmNT } from './gemm-loops.js';
import type { ConvGeometry, Values } from './loop-types.js';

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
