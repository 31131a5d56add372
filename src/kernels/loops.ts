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
 * First and one-past-last filter tap `k` with `base + k * dilation` inside
 * `[0, size)`, clipped to `[0, taps)`.
 */
function tapRange(base: number, dilation: number, size: number, taps: number): [number, number] {
  const lo = base < 0 ? Math.ceil(-base / dilation) : 0;
  const hi = Math.min(taps, Math.ceil((size - base) / dilation));
  return [lo, Math.max(lo, hi)];
}

/**
 * Forward convolution `y = conv2d(x, w)`.
 *
 * @param x - Input, `[batch, inHeight, inWidth, inChannels]` flattened.
 * @param w - Filter, `[filterHeight, filterWidth, inChannels, outChannels]` flattened.
 * @param g - Geometry (any stride, dilation, padding).
 * @returns Output, `[batch, outHeight, outWidth, outChannels]` flattened.
 */
export function conv2dForward(x: Values, w: Values, g: ConvGeometry): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = g;
  const { outChannels: Co, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const K = KH * KW * Ci;
  // Filter transposed to [Co][KH][KW][Ci]: each output channel's taps are contiguous.
  const wT = new Float32Array(Co * K);
  for (let k = 0; k < K; k++) {
    const row = k * Co;
    for (let co = 0; co < Co; co++) wT[co * K + k] = w[row + co]!;
  }
  const y = new Float32Array(B * OH * OW * Co);
  const co4 = Co - (Co % 4);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ihBase = oh * sh - pt;
      const [khMin, khMax] = tapRange(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const [kwMin, kwMax] = tapRange(iwBase, dw, W, KW);
        if (kwMin >= kwMax || khMin >= khMax) continue;
        // With dilation 1 the taps of one filter row are one contiguous run.
        const runs = dw === 1 ? 1 : kwMax - kwMin;
        const runLen = dw === 1 ? (kwMax - kwMin) * Ci : Ci;
        const yOff = ((b * OH + oh) * OW + ow) * Co;
        let co = 0;
        for (; co < co4; co += 4) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          const w0 = co * K;
          for (let kh = khMin; kh < khMax; kh++) {
            const xRow = (b * H + ihBase + kh * dh) * W;
            const wRow = kh * KW;
            for (let r = 0; r < runs; r++) {
              const kw = kwMin + r;
              const xo = (xRow + iwBase + kw * dw) * Ci;
              const wo = w0 + (wRow + kw) * Ci;
              for (let j = 0; j < runLen; j++) {
                const xv = x[xo + j]!;
                a0 += xv * wT[wo + j]!;
                a1 += xv * wT[wo + K + j]!;
                a2 += xv * wT[wo + 2 * K + j]!;
                a3 += xv * wT[wo + 3 * K + j]!;
              }
            }
          }
          y[yOff + co] = a0;
          y[yOff + co + 1] = a1;
          y[yOff + co + 2] = a2;
          y[yOff + co + 3] = a3;
        }
        for (; co < Co; co++) {
          let a0 = 0;
          const w0 = co * K;
          for (let kh = khMin; kh < khMax; kh++) {
            const xRow = (b * H + ihBase + kh * dh) * W;
            const wRow = kh * KW;
            for (let r = 0; r < runs; r++) {
              const kw = kwMin + r;
              const xo = (xRow + iwBase + kw * dw) * Ci;
              const wo = w0 + (wRow + kw) * Ci;
              for (let j = 0; j < runLen; j++) a0 += x[xo + j]! * wT[wo + j]!;
            }
          }
          y[yOff + co] = a0;
        }
      }
    }
  }
  return y;
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

/**
 * Gradient of max pooling: each output gradient goes to the first maximum of
 * its window (row-major order, strictly greater wins, NaN never wins), as in
 * tfjs's own kernels.
 *
 * @param x - Pooling input, `[batch, inHeight, inWidth, channels]` flattened.
 * @param dy - Output gradient, `[batch, outHeight, outWidth, channels]` flattened.
 * @param g - Pooling geometry (`inChannels === outChannels`).
 * @returns Input gradient, shaped like `x`.
 */
export function maxPoolBackprop(x: Values, dy: Values, g: ConvGeometry): Float32Array {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const { dilationHeight: dh, dilationWidth: dw, padTop: pt, padLeft: pl } = g;
  const dx = new Float32Array(B * H * W * C);
  const best = new Float64Array(C);
  const pos = new Int32Array(C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const ihBase = oh * sh - pt;
      const [khMin, khMax] = tapRange(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const [kwMin, kwMax] = tapRange(iwBase, dw, W, KW);
        best.fill(Number.NEGATIVE_INFINITY);
        pos.fill(-1);
        for (let kh = khMin; kh < khMax; kh++) {
          for (let kw = kwMin; kw < kwMax; kw++) {
            const xo = ((b * H + ihBase + kh * dh) * W + iwBase + kw * dw) * C;
            for (let c = 0; c < C; c++) {
              const v = x[xo + c]!;
              if (v > best[c]!) {
                best[c] = v;
                pos[c] = xo + c;
              }
            }
          }
        }
        const dyo = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) {
          const p = pos[c]!;
          if (p >= 0) dx[p] = dx[p]! + dy[dyo + c]!;
        }
      }
    }
  }
  return dx;
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
      const [khMin, khMax] = tapRange(ihBase, dh, H, KH);
      for (let ow = 0; ow < OW; ow++) {
        const iwBase = ow * sw - pl;
        const [kwMin, kwMax] = tapRange(iwBase, dw, W, KW);
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
 * @returns The sums, `[outer, inner]` flattened.
 */
export function sumMiddle(x: Values, outer: number, reduced: number, inner: number): Float32Array {
  const out = new Float32Array(outer * inner);
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
