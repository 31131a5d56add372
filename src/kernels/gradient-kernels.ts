/**
 * Gradient kernels that tfjs-backend-wasm 4.22 lacks, so that every
 * tfjs-layers model trains and differentiates there: the depthwise
 * convolution's input and filter gradients (DepthwiseConv2D,
 * SeparableConv2D: MobileNet-style networks) and `UnsortedSegmentSum` (the
 * gradient of `gather`: Embedding layers, and any model that gathers).
 *
 * Also the nearest-neighbour resize gradient (UpSampling2D), which stock
 * tfjs-backend-cpu 4.22 gets wrong for batches of more than one image.
 *
 * The loops read and write backend memory directly (views of the wasm heap,
 * the cpu backend's arrays) and compute exactly what tfjs's cpu kernels
 * compute, summing in the same order where it matters for rounding.
 *
 * @internal
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { UnsupportedError } from '../core/errors.js';
import { type Impl, type PadAttr, type Shape4, geometry, sizeOf } from './context.js';
import type { ConvGeometry, Values } from './loop-types.js';

/** The convolution geometry of a depthwise kernel call (output channels are `inChannels × multiplier`). */
function depthwiseGeometry(xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides as number | [number, number],
    (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as PadAttr,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    true,
  );
  return geometry(info);
}

/**
 * Input gradient of a depthwise convolution: `dx[n,h,w,c] = Σ dy[n,oh,ow,c·M+m] · f[i,j,c,m]`
 * over the output positions and taps that read `(h,w)`. Adds into `dx`, which
 * must start at zero.
 */
export function depthwiseInputGrad(dy: Values, filter: Values, g: ConvGeometry, dx: Float32Array): void {
  const C = g.inChannels;
  const M = g.outChannels / C;
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = g;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyBase = ((n * OH + oh) * OW + ow) * C * M;
        for (let i = 0; i < FH; i++) {
          const h = oh * g.strideHeight - g.padTop + i * g.dilationHeight;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < FW; j++) {
            const w = ow * g.strideWidth - g.padLeft + j * g.dilationWidth;
            if (w < 0 || w >= W) continue;
            const dxBase = ((n * H + h) * W + w) * C;
            const fBase = (i * FW + j) * C * M;
            if (M === 1) {
              for (let c = 0; c < C; c++) dx[dxBase + c]! += dy[dyBase + c]! * filter[fBase + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                let acc = 0;
                for (let m = 0; m < M; m++) acc += dy[dyBase + c * M + m]! * filter[fBase + c * M + m]!;
                dx[dxBase + c]! += acc;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Filter gradient of a depthwise convolution: `df[i,j,c,m] = Σ x[n,h,w,c] · dy[n,oh,ow,c·M+m]`
 * over batch and output positions. Adds into `df`, which must start at zero.
 */
export function depthwiseFilterGrad(x: Values, dy: Values, g: ConvGeometry, df: Float32Array): void {
  const C = g.inChannels;
  const M = g.outChannels / C;
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = g;
  for (let i = 0; i < FH; i++) {
    for (let j = 0; j < FW; j++) {
      const fBase = (i * FW + j) * C * M;
      for (let n = 0; n < g.batch; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const h = oh * g.strideHeight - g.padTop + i * g.dilationHeight;
          if (h < 0 || h >= H) continue;
          for (let ow = 0; ow < OW; ow++) {
            const w = ow * g.strideWidth - g.padLeft + j * g.dilationWidth;
            if (w < 0 || w >= W) continue;
            const xBase = ((n * H + h) * W + w) * C;
            const dyBase = ((n * OH + oh) * OW + ow) * C * M;
            if (M === 1) {
              for (let c = 0; c < C; c++) df[fBase + c]! += x[xBase + c]! * dy[dyBase + c]!;
            } else {
              for (let c = 0; c < C; c++) {
                const xv = x[xBase + c]!;
                for (let m = 0; m < M; m++) df[fBase + c * M + m]! += xv * dy[dyBase + c * M + m]!;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * `out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]` for `x` of `rows × width`
 * values; ids outside `[0, segments)` are dropped (TensorFlow's rule). Adds
 * into `out`, which must start at zero.
 */
export function segmentSum(
  x: Values,
  ids: Values,
  rows: number,
  width: number,
  segments: number,
  out: Float32Array | Int32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const s = ids[r]!;
    if (s < 0 || s >= segments) continue;
    const src = r * width;
    const dst = s * width;
    for (let k = 0; k < width; k++) out[dst + k]! += x[src + k]!;
  }
}

function assertNhwc(kernel: string, attrs: tf.NamedAttrMap): void {
  const format = attrs.dataFormat as string | undefined;
  if (format !== undefined && format !== 'NHWC') {
    throw new UnsupportedError({ fn: `${kernel} (backdoor-kit kernel)` }, `supports NHWC only (got ${format})`);
  }
}

/** `DepthwiseConv2dNativeBackpropInput` (float32, NHWC, any stride, dilation and padding). */
export const depthwiseInputGradImpl: Impl = (ctx, inputs, attrs) => {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  if ((dy.dtype !== 'float32' || filter.dtype !== 'float32') && ctx.original !== undefined) {
    return ctx.runOriginal(inputs, attrs);
  }
  assertNhwc(ctx.kernelName, attrs);
  const inputShape = attrs.inputShape as Shape4;
  const g = depthwiseGeometry(inputShape, filter.shape as Shape4, attrs);
  return ctx.compute([...inputShape], [dy, filter], (out, [dyv, fv]) => {
    out.fill(0);
    depthwiseInputGrad(dyv!, fv!, g, out);
  });
};

/** `DepthwiseConv2dNativeBackpropFilter` (float32, NHWC, any stride, dilation and padding). */
export const depthwiseFilterGradImpl: Impl = (ctx, inputs, attrs) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  if ((x.dtype !== 'float32' || dy.dtype !== 'float32') && ctx.original !== undefined) {
    return ctx.runOriginal(inputs, attrs);
  }
  assertNhwc(ctx.kernelName, attrs);
  const filterShape = attrs.filterShape as Shape4;
  const g = depthwiseGeometry(x.shape as Shape4, filterShape, attrs);
  return ctx.compute([...filterShape], [x, dy], (out, [xv, dyv]) => {
    out.fill(0);
    depthwiseFilterGrad(xv!, dyv!, g, out);
  });
};

/** `UnsortedSegmentSum` over the leading axis (float32 or int32 values, int32 ids). */
export const unsortedSegmentSumImpl: Impl = (ctx, inputs, attrs) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const segments = attrs.numSegments as number;
  const idCount = sizeOf(segmentIds.shape);
  const lead = sizeOf(x.shape.slice(0, segmentIds.shape.length));
  if (lead !== idCount || (x.dtype !== 'float32' && x.dtype !== 'int32')) {
    if (ctx.original !== undefined) return ctx.runOriginal(inputs, attrs);
    throw new UnsupportedError(
      { fn: `${ctx.kernelName} (backdoor-kit kernel)` },
      `supports float32/int32 values with ids over the leading axes (got ${x.dtype}, x ${JSON.stringify(x.shape)}, ids ${JSON.stringify(segmentIds.shape)})`,
    );
  }
  const width = idCount === 0 ? 0 : sizeOf(x.shape) / idCount;
  const shape = [segments, ...x.shape.slice(segmentIds.shape.length)];
  if (x.dtype === 'float32') {
    return ctx.compute(shape, [x, segmentIds], (out, [xv, ids]) => {
      out.fill(0);
      segmentSum(xv!, ids!, idCount, width, segments, out);
    });
  }
  const out = new Int32Array(segments * width);
  segmentSum(ctx.read(x), ctx.read(segmentIds), idCount, width, segments, out);
  return ctx.writeTyped(out, shape, 'int32');
};

/** Source row (or column) of output row `r` in tfjs's nearest-neighbour resize. */
function nearestSource(r: number, ratio: number, inSize: number, alignCorners: boolean, halfPixel: boolean): number {
  const frac = halfPixel ? ratio * (r + 0.5) : ratio * r;
  const s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixel ? Math.max(0, s) : s;
}

/**
 * Gradient of a nearest-neighbour resize: each output gradient is added to
 * the input pixel the forward pass copied it from (the exact adjoint of
 * tfjs's forward kernel, `halfPixelCenters` included). Adds into `dx`, which
 * must start at zero.
 */
export function resizeNearestGrad(
  dy: Values,
  dyShape: readonly number[],
  xShape: readonly number[],
  alignCorners: boolean,
  halfPixel: boolean,
  dx: Float32Array,
): void {
  const [batch, inH, inW, depth] = xShape as [number, number, number, number];
  const [, outH, outW] = dyShape as [number, number, number, number];
  const effIn = (o: number, i: number) => (alignCorners && o > 1 ? i - 1 : i);
  const effOut = (o: number) => (alignCorners && o > 1 ? o - 1 : o);
  const rowRatio = effIn(outH, inH) / effOut(outH);
  const colRatio = effIn(outW, inW) / effOut(outW);
  const cols = Int32Array.from({ length: outW }, (_, c) => nearestSource(c, colRatio, inW, alignCorners, halfPixel));
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < outH; r++) {
      const sr = nearestSource(r, rowRatio, inH, alignCorners, halfPixel);
      const dyRow = (b * outH + r) * outW * depth;
      const dxRow = (b * inH + sr) * inW * depth;
      for (let c = 0; c < outW; c++) {
        const src = dyRow + c * depth;
        const dst = dxRow + cols[c]! * depth;
        for (let d = 0; d < depth; d++) dx[dst + d]! += dy[src + d]!;
      }
    }
  }
}

/**
 * `ResizeNearestNeighborGrad` (float32, NHWC). Replaces tfjs-backend-cpu's,
 * which is wrong for a batch of more than one image (it offsets the output
 * gradient by the input's batch stride, so UpSampling2D trained on cpu got
 * gradients of the wrong pixels), and wasm's, so both backends agree.
 */
export const resizeNearestGradImpl: Impl = (ctx, inputs, attrs) => {
  const { images, dy } = inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  if (dy.dtype !== 'float32' && ctx.original !== undefined) return ctx.runOriginal(inputs, attrs);
  return ctx.compute([...images.shape], [dy], (out, [dyv]) => {
    out.fill(0);
    resizeNearestGrad(dyv!, dy.shape, images.shape, attrs.alignCorners === true, attrs.halfPixelCenters === true, out);
  });
};
