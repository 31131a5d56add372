/**
 * Tight typed-array loops in NHWC layout, used by the cpu fast kernels (see
 * `fast-conv.ts`). Pure functions on flat arrays: no tfjs, no allocation beyond
 * the result and small scratch arrays; dot products held in local
 * accumulators, blocked four outputs at a time, summed in double precision.
 *
 * This file: max/average pooling and their gradients, and the contiguous
 * middle-axis sum.
 *
 * @packageDocumentation
 */
import type { ConvGeometry, Values } from './loop-types.js';

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
