/**
 * The fast convolution kernels' implementations: the cpu typed-array loops,
 * the wasm explicit-padding forward convolution, and the gradients as forward
 * convolutions or matrix products (with col2im) on wasm; plus the layout
 * helpers they share (NCHW ↔ NHWC, padding, geometry).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { geometry, sizeOf, type KernelContext, type PadAttr, type Shape4 } from './context.js';
import {
  conv2dBackpropFilter,
  conv2dBackpropInput,
  conv2dForward,
  patchesToImage,
  patchesTransposed,
} from './conv-loops.js';
import { biasPerChannel, fusedOutput, ACTIVATIONS } from './extra-kernels.js';
import type { ConvGeometry } from './loop-types.js';

// ---------------------------------------------------------------------------
// Geometry and layout helpers

/**
 * tfjs-core 4.22 computes the output width of a numeric padding from the
 * filter height and vertical stride; we treat a number `p` as explicit
 * padding `p` on every side, which is what it means.
 */
function normalisePad(pad: PadAttr, nchw: boolean): PadAttr {
  if (typeof pad !== 'number') return pad;
  return nchw
    ? [
        [0, 0],
        [0, 0],
        [pad, pad],
        [pad, pad],
      ]
    : [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ];
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: number | [number, number] = 1,
): tf.backend_util.Conv2DInfo {
  const nchw = isNCHW(attrs);
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides as number | [number, number],
    dilations,
    normalisePad(attrs.pad as PadAttr, nchw),
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    nchw ? 'channelsFirst' : 'channelsLast',
  );
}

/** The padding of `info` as an explicit padding attribute. */
function explicitPad(info: tf.backend_util.Conv2DInfo, nchw: boolean): tf.backend_util.ExplicitPadding {
  const { top, bottom, left, right } = info.padInfo;
  return nchw
    ? [
        [0, 0],
        [0, 0],
        [top, bottom],
        [left, right],
      ]
    : [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
}

function isNCHW(attrs: tf.NamedAttrMap): boolean {
  return attrs.dataFormat === 'NCHW';
}

/** NCHW tensors are transposed to NHWC (and results back) so every kernel computes in NHWC. */
function toNHWC(ctx: KernelContext, t: tf.TensorInfo, nchw: boolean): tf.TensorInfo {
  return nchw ? ctx.transpose(t, [0, 2, 3, 1]) : t;
}

function fromNHWC(ctx: KernelContext, t: tf.TensorInfo, nchw: boolean): tf.TensorInfo {
  return nchw ? ctx.transpose(t, [0, 3, 1, 2]) : t;
}

const size = sizeOf;

function nhwcShape(g: ConvGeometry, which: 'in' | 'out', channels?: number): number[] {
  return which === 'in'
    ? [g.batch, g.inHeight, g.inWidth, channels ?? g.inChannels]
    : [g.batch, g.outHeight, g.outWidth, channels ?? g.outChannels];
}

// ---------------------------------------------------------------------------
// cpu: typed-array loops

export function conv2dLoopImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = convInfo(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number]);
  const nchw = isNCHW(attrs);
  const g = geometry(info);
  const xs = toNHWC(ctx, x, nchw);
  const y = ctx.compute(nhwcShape(g, 'out'), [xs, filter], (out, [xv, fv]) => {
    conv2dForward(xv!, fv!, g, out);
  });
  return fromNHWC(ctx, y, nchw);
}

export function fusedConv2dLoopImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const co = filter.shape[3]!;
  if (ACTIVATIONS[activation] === undefined || isNCHW(attrs) || !biasPerChannel(bias, co)) {
    return ctx.runOriginal(inputs, attrs);
  }
  const info = convInfo(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number]);
  const g = geometry(info);
  const alpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
  return ctx.compute(nhwcShape(g, 'out'), bias === undefined ? [x, filter] : [x, filter, bias], (out, [xv, fv, bv]) => {
    const { epilogue, finish } = fusedOutput(co, bv, activation, alpha);
    conv2dForward(xv!, fv!, g, out, epilogue);
    finish(out);
  });
}

export function filterGradLoopImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as number[];
  const g = geometry(convInfo(x.shape, filterShape, attrs));
  const nchw = isNCHW(attrs);
  const dW = conv2dBackpropFilter(ctx.read(toNHWC(ctx, x, nchw)), ctx.read(toNHWC(ctx, dy, nchw)), g);
  return ctx.write(dW, [...filterShape]);
}

export function inputGradLoopImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const g = geometry(convInfo(attrs.inputShape as number[], filter.shape, attrs));
  const nchw = isNCHW(attrs);
  const dx = conv2dBackpropInput(ctx.read(toNHWC(ctx, dy, nchw)), ctx.read(filter), g);
  return fromNHWC(ctx, ctx.write(dx, nhwcShape(g, 'in')), nchw);
}

// ---------------------------------------------------------------------------
// wasm forward convolution: explicit padding only

/**
 * tfjs-backend-wasm 4.22 computes wrong results (and writes out of bounds)
 * for 'same' padding with a stride > 1 and a non-square filter, and for
 * numeric padding with a non-square filter; explicit padding is handled
 * right. This passes the padding tfjs means as explicit padding to the
 * original kernel.
 */
export function explicitPadConvImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  if (Array.isArray(attrs.pad)) return ctx.runOriginal(inputs, attrs);
  const info = convInfo(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number]);
  return ctx.runOriginal(inputs, { ...attrs, pad: explicitPad(info, isNCHW(attrs)) });
}

// ---------------------------------------------------------------------------
// wasm (and any backend with fast Conv2D): gradients as forward convolutions

function conv2dExplicit(
  ctx: KernelContext,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: [[number, number], [number, number]],
  dilations: [number, number],
): tf.TensorInfo {
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], pads[0], pads[1], [0, 0]];
  return ctx.run(tf.Conv2D, { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations });
}

/**
 * dW = Pᵀ x dy: the transposed patch matrix of the input (built straight in
 * backend memory by a loop) times the output gradient viewed as
 * `[pixels, outChannels]`, one matrix product on the backend's own kernel
 * (XNNPACK on wasm). Far less memory traffic than transposing both operands
 * for {@link filterGradComposedImpl}. NCHW goes to the composed version.
 */
function filterGradGemmImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as number[];
  if (isNCHW(attrs) || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    return filterGradComposedImpl(ctx, inputs, attrs);
  }
  const g = geometry(convInfo(x.shape, filterShape, attrs));
  const pixels = g.batch * g.outHeight * g.outWidth;
  const taps = g.filterHeight * g.filterWidth * g.inChannels;
  if (pixels === 0 || taps === 0 || g.outChannels === 0) {
    return ctx.write(new Float32Array(size(filterShape)), [...filterShape]);
  }
  const patches = ctx.compute([taps, pixels], [x], (out, [xv]) => {
    patchesTransposed(xv!, g, out);
  });
  const dy2 = ctx.reshape(dy, [pixels, g.outChannels]);
  const dW = ctx.run(tf.BatchMatMul, { a: patches, b: dy2 }, { transposeA: false, transposeB: false });
  return ctx.reshape(dW, [...filterShape]);
}

/**
 * The filter gradient on wasm: as a matrix product ({@link filterGradGemmImpl})
 * when the patch matrix is no larger than the output gradient (few input
 * channels, e.g. a first conv layer), otherwise as a convolution
 * ({@link filterGradComposedImpl}), which then moves less memory.
 */
export function filterGradWasmImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const filterShape = attrs.filterShape as number[];
  const [kh = 0, kw = 0, ci = 0, co = 0] = filterShape;
  if (kh * kw * ci <= co) return filterGradGemmImpl(ctx, inputs, attrs);
  return filterGradComposedImpl(ctx, inputs, attrs);
}

/**
 * dW[kh,kw,ci,co] = sum over (b,oh,ow) of x[b, oh*sh+kh-pt, ow*sw+kw-pl, ci] * dy[b,oh,ow,co]:
 * a convolution with input xᵀ [Ci,H,W,B], filter dyᵀ [OH,OW,B,Co], dilation = stride.
 */
export function filterGradComposedImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as number[];
  const g = geometry(convInfo(x.shape, filterShape, attrs));
  if (size(x.shape) === 0 || size(dy.shape) === 0)
    return ctx.write(new Float32Array(size(filterShape)), [...filterShape]);
  const nchw = isNCHW(attrs);
  const xT = ctx.transpose(toNHWC(ctx, x, nchw), [3, 1, 2, 0]);
  const dyT = ctx.transpose(toNHWC(ctx, dy, nchw), [1, 2, 0, 3]);
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g;
  // Padding after the input so that the output is exactly KH x KW; negative = unused rows.
  const pb = KH + (OH - 1) * sh - H - pt;
  const pr = KW + (OW - 1) * sw - W - pl;
  const xc = ctx.padOrCrop(xT, [
    [0, 0],
    [Math.min(0, pt), Math.min(0, pb)],
    [Math.min(0, pl), Math.min(0, pr)],
    [0, 0],
  ]);
  const out = conv2dExplicit(
    ctx,
    xc,
    dyT,
    [
      [Math.max(0, pt), Math.max(0, pb)],
      [Math.max(0, pl), Math.max(0, pr)],
    ],
    [sh, sw],
  );
  return ctx.transpose(out, [1, 2, 0, 3]);
}

/**
 * The input gradient on wasm: for few input channels (`kh·kw·ci ≤ co`, e.g.
 * a first conv layer, where a convolution with so few output channels runs
 * far below XNNPACK's speed) the patch gradients dy · Wᵀ (one matrix product
 * on the backend's kernel) summed back onto the image by a loop in the heap
 * ({@link patchesToImage}); otherwise {@link inputGradComposedImpl}.
 */
export function inputGradWasmImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const [kh = 0, kw = 0, ci = 0, co = 0] = filter.shape;
  if (kh * kw * ci > co || isNCHW(attrs) || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    return inputGradComposedImpl(ctx, inputs, attrs);
  }
  const g = geometry(convInfo(attrs.inputShape as number[], filter.shape, attrs));
  const inShape = nhwcShape(g, 'in');
  const pixels = g.batch * g.outHeight * g.outWidth;
  const taps = kh * kw * ci;
  if (pixels === 0 || taps === 0 || co === 0) return ctx.write(new Float32Array(size(inShape)), inShape);
  const dy2 = ctx.reshape(dy, [pixels, co]);
  const w2 = ctx.reshape(filter, [taps, co]);
  const cols = ctx.run(tf.BatchMatMul, { a: dy2, b: w2 }, { transposeA: false, transposeB: true });
  return ctx.compute(inShape, [cols], (out, [cv]) => {
    patchesToImage(cv!, g, out);
  });
}

/**
 * dx = conv(pad(dilate(dy)), flip(filter)ᵀ): for stride s, dy is first
 * zero-inserted to [B, OH*s, OW*s, Co]; then a stride-1 convolution with the
 * spatially flipped filter whose in/out channels are swapped.
 */
export function inputGradComposedImpl(
  ctx: KernelContext,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const g = geometry(convInfo(attrs.inputShape as number[], filter.shape, attrs));
  const nchw = isNCHW(attrs);
  const { batch: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: Co } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  const zeros = () => fromNHWC(ctx, ctx.write(new Float32Array(size(nhwcShape(g, 'in'))), nhwcShape(g, 'in')), nchw);
  if (size(dy.shape) === 0 || size(filter.shape) === 0) return zeros();
  let d = toNHWC(ctx, dy, nchw);
  if (sw > 1) {
    d = ctx.reshape(d, [B * OH * OW, 1, Co]);
    d = ctx.run(
      tf.PadV2,
      { x: d },
      {
        paddings: [
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  if (sh > 1) {
    d = ctx.reshape(d, [B * OH, 1, OW * sw * Co]);
    d = ctx.run(
      tf.PadV2,
      { x: d },
      {
        paddings: [
          [0, 0],
          [0, sh - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  const LH = OH * sh;
  const LW = OW * sw;
  if (sh > 1 || sw > 1) d = ctx.reshape(d, [B, LH, LW, Co]);
  const top = KH - 1 - g.padTop;
  const bottom = H + KH - 1 - top - LH;
  const left = KW - 1 - g.padLeft;
  const right = W + KW - 1 - left - LW;
  if (LH + Math.min(0, top) + Math.min(0, bottom) <= 0 || LW + Math.min(0, left) + Math.min(0, right) <= 0) {
    return zeros(); // padding so large that no output gradient reaches the input
  }
  d = ctx.padOrCrop(d, [
    [0, 0],
    [Math.min(0, top), Math.min(0, bottom)],
    [Math.min(0, left), Math.min(0, right)],
    [0, 0],
  ]);
  const flipped = ctx.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
  const wF = ctx.transpose(flipped, [0, 1, 3, 2]);
  const dx = conv2dExplicit(
    ctx,
    d,
    wF,
    [
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
    ],
    [1, 1],
  );
  return fromNHWC(ctx, dx, nchw);
}
