/**
 * Fast replacement kernels that make convolutional training practical on the
 * tfjs `wasm` and `cpu` backends.
 *
 * Stock tfjs 4.22 has no `Conv2DBackpropFilter` kernel on wasm (training any
 * conv layer throws) and a slow `Conv2DBackpropInput`; on cpu the filter
 * gradient reads every value through an accessor (about 100x slower than a
 * plain loop) and several other kernels a CNN uses are slow. This module
 * registers replacements at the kernel level, so every op, gradient and
 * layer that reaches these kernels gets them:
 *
 * - **wasm**: both convolution gradients are rewritten as forward
 *   convolutions or matrix products, which wasm runs through XNNPACK. The
 *   filter gradient is the transposed patch matrix of the input times the
 *   output gradient (few input channels) or a dilated convolution of the
 *   transposed input with the transposed output gradient; the input gradient
 *   is a convolution of the (zero-inserted, for strides > 1) padded output
 *   gradient with the flipped, in/out-swapped filter. `Conv2D` and
 *   `FusedConv2D` stay tfjs's own, but receive their padding as explicit
 *   numbers, which works around a tfjs-backend-wasm bug (wrong values and
 *   out-of-bounds writes for 'same' padding with stride > 1 and non-square
 *   filters). Matrix products with transposed or batched factors are
 *   rearranged so that XNNPACK runs them (the stock fallback is slow and, when
 *   fused, wrong). `MaxPoolGrad` and `Sum` become typed-array loops working
 *   in the wasm heap; `Identity` and same-dtype `Cast` share data instead of
 *   copying it.
 * - **cpu**: `Conv2D`, `FusedConv2D`, both convolution gradients,
 *   `MaxPool`, `MaxPoolGrad`, `AvgPoolGrad`, `Sum` (over a contiguous block
 *   of axes), the matrix products and the element-wise `Relu`, `Step`, `Add`
 *   and `Multiply` become tight typed-array loops.
 *
 * Numeric padding `p` is treated as explicit padding `p` on every side
 * (tfjs-core 4.22 gets the output width wrong for it when the filter is not
 * square; with square filters nothing changes).
 *
 * Nothing here imports a backend package: kernels reuse the registered
 * kernels of the same backend (`tf.getKernel`) or read/write backend memory.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { DependencyError, InvalidArgumentError } from '../core/errors.js';
import {
  ensureSetUp,
  geometry,
  sizeOf,
  wrapImpl,
  type Impl,
  type KernelContext,
  type PadAttr,
  type Shape4,
} from './context.js';
import {
  addLoopImpl,
  avgPoolGradImpl,
  biasPerChannel,
  castShareImpl,
  fusedOutput,
  fusedMatMulLoopImpl,
  identityShareImpl,
  matMulLoopImpl,
  matMulWasmImpl,
  maxPoolGradImpl,
  maxPoolImpl,
  multiplyLoopImpl,
  reluLoopImpl,
  stepLoopImpl,
  sumImpl,
  ACTIVATIONS,
} from './extra-kernels.js';
import {
  conv2dBackpropFilter,
  conv2dBackpropInput,
  conv2dForward,
  patchesToImage,
  patchesTransposed,
  type ConvGeometry,
} from './loops.js';

/** Backends for which backdoor-kit has fast kernels. */
export type FastKernelBackend = 'cpu' | 'wasm';

/**
 * The kernels {@link registerFastKernels} installs, per backend.
 *
 * - `wasm`: `Conv2DBackpropFilter` (missing from tfjs-backend-wasm 4.22),
 *   `Conv2DBackpropInput` (6-16x faster), `Conv2D` / `FusedConv2D` (the
 *   original kernels, given the padding as explicit numbers: the stock ones
 *   compute wrong values and write out of bounds for 'same' padding with
 *   stride > 1 or numeric padding, with non-square filters); `MaxPoolGrad`
 *   as a loop on the wasm heap (4x faster, and right for windows of negative
 *   values and ties, where the stock kernel is wrong); `Sum` over a
 *   contiguous block of axes (bias gradients); `BatchMatMul` /
 *   `_FusedMatMul` (transposed and batched factors on XNNPACK: the dense
 *   gradients, 5-20x faster; the stock fused fallback is wrong); `Identity`
 *   and same-dtype `Cast` without a copy.
 * - `cpu`: `Conv2D`, `FusedConv2D`, `Conv2DBackpropFilter`,
 *   `Conv2DBackpropInput`, `MaxPoolGrad`, `AvgPoolGrad`, `Sum` (float32
 *   sums over a contiguous block of axes, e.g. bias gradients, without the
 *   transpose tfjs does first; other sums go to the original kernel),
 *   `MaxPool`, `BatchMatMul` and `_FusedMatMul` (float32, register-tiled),
 *   `Relu`, `Step`, `Add` and `Multiply` (float32, trailing-axis broadcasts;
 *   bit-identical to the stock kernels, which call a function per element).
 */
export const FAST_KERNELS: Readonly<Record<FastKernelBackend, readonly string[]>> = Object.freeze({
  cpu: Object.freeze([
    tf.Conv2D,
    tf.FusedConv2D,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.AvgPoolGrad,
    tf.Sum,
    tf.MaxPool,
    tf.BatchMatMul,
    tf._FusedMatMul,
    tf.Relu,
    tf.Step,
    tf.Add,
    tf.Multiply,
  ]),
  wasm: Object.freeze([
    tf.Conv2D,
    tf.FusedConv2D,
    tf.Conv2DBackpropFilter,
    tf.Conv2DBackpropInput,
    tf.MaxPoolGrad,
    tf.Sum,
    tf.BatchMatMul,
    tf._FusedMatMul,
    tf.Identity,
    tf.Cast,
  ]),
});

/** What {@link registerFastKernels} did. Plain data. */
export interface FastKernelsInfo {
  /** The backend acted on, e.g. `'wasm'`. */
  readonly backend: string;
  /** Whether backdoor-kit has fast kernels for this backend (`cpu`, `wasm`). */
  readonly supported: boolean;
  /** Every kernel now served by backdoor-kit on this backend (in {@link FAST_KERNELS} order). */
  readonly replaced: string[];
  /** The subset of `replaced` that the backend lacked (e.g. `Conv2DBackpropFilter` on wasm). */
  readonly added: string[];
}

/** What {@link unregisterFastKernels} did. Plain data. */
export interface FastKernelsRemoval {
  /** The backend acted on. */
  readonly backend: string;
  /** Kernels whose original tfjs implementation is registered again. */
  readonly restored: string[];
  /** Kernels removed that the backend did not have before (it lacks them again). */
  readonly removed: string[];
}

/** Marks our kernel configs (shared across copies of this module) and keeps the original. */
const FAST = Symbol.for('backdoor-kit.fastKernel');

interface FastKernelConfig extends tf.KernelConfig {
  readonly [FAST]: { readonly original: tf.KernelConfig | undefined };
}

function isFast(config: tf.KernelConfig | undefined): config is FastKernelConfig {
  return config !== undefined && FAST in config;
}

function isSupported(name: string): name is FastKernelBackend {
  return name === 'cpu' || name === 'wasm';
}

function resolveBackendName(fn: string, backendName: unknown): string {
  if (backendName === undefined) {
    try {
      return tf.getBackend();
    } catch {
      throw new DependencyError(
        { fn, arg: 'backendName' },
        'was not given and no tfjs backend is available; import one (e.g. @tensorflow/tfjs-backend-wasm) or pass its name',
      );
    }
  }
  if (typeof backendName !== 'string' || backendName.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'backendName', value: backendName }, 'must be a non-empty string');
  }
  return backendName;
}

/**
 * Registers backdoor-kit's fast kernels on a tfjs backend (see
 * {@link FAST_KERNELS}): on `wasm` the convolution gradients (the filter
 * gradient is missing from tfjs-backend-wasm, so conv layers cannot train
 * without this), the max-pool gradient, sums, matrix products and copies; on
 * `cpu` the convolution, its gradients, pooling, sums and matrix products.
 * The replaced kernels compute the same values as tfjs's own (to float
 * rounding; numeric padding with a non-square filter now gets the output
 * size it should, and the cases where stock tfjs is wrong, listed in
 * docs/kernels.md, are right); only speed changes. The originals are kept
 * and come back with {@link unregisterFastKernels}.
 *
 * Idempotent: a second call changes nothing and reports the same kernels. On
 * a backend other than `cpu` and `wasm` (e.g. `tensorflow`, `webgl`, whose
 * kernels are fine) it does nothing and returns `supported: false`.
 *
 * Measured on 2 cores (Node 20, tfjs 4.22): the small MNIST CNN
 * (Conv16-Pool-Conv32-Pool-Dense64-Dense10) trains an epoch of 8,000 images
 * in ~3.5 s of CPU time on wasm (one thread); filter gradient for input
 * [128,26,26,32], filter 3x3x32x32 goes from ~114 s to ~0.6 s on cpu.
 *
 * @param backendName - Backend to register on. @default tf.getBackend()
 * @returns Which kernels are now backdoor-kit's on that backend.
 * @throws InvalidArgumentError if `backendName` is given and is not a non-empty string.
 * @throws DependencyError if `backendName` is omitted and no tfjs backend is available.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * await tf.setBackend('wasm');
 * registerFastKernels(); // { backend: 'wasm', supported: true, replaced: ['Conv2D', ...], added: ['Conv2DBackpropFilter'] }
 * await model.fit(x, y); // conv layers now train on wasm
 * ```
 */
export function registerFastKernels(backendName?: string): FastKernelsInfo {
  const fn = 'registerFastKernels';
  const backend = resolveBackendName(fn, backendName);
  if (!isSupported(backend)) return { backend, supported: false, replaced: [], added: [] };
  const replaced: string[] = [];
  const added: string[] = [];
  for (const kernelName of FAST_KERNELS[backend]) {
    const current = tf.getKernel(kernelName, backend);
    let config: FastKernelConfig;
    if (isFast(current)) {
      config = current;
    } else {
      config = makeConfig(kernelName, backend, current);
      if (current !== undefined) tf.unregisterKernel(kernelName, backend);
      tf.registerKernel(config);
    }
    replaced.push(kernelName);
    if (config[FAST].original === undefined) added.push(kernelName);
  }
  return { backend, supported: true, replaced, added };
}

/**
 * Removes backdoor-kit's fast kernels from a backend, putting back the
 * kernels tfjs had before {@link registerFastKernels} (a kernel the backend
 * lacked is simply removed again). Calling it when nothing is registered does
 * nothing.
 *
 * @param backendName - Backend to restore. @default tf.getBackend()
 * @returns Which kernels were restored or removed.
 * @throws InvalidArgumentError if `backendName` is given and is not a non-empty string.
 * @throws DependencyError if `backendName` is omitted and no tfjs backend is available.
 * @example
 * ```ts
 * registerFastKernels('cpu');
 * unregisterFastKernels('cpu'); // { backend: 'cpu', restored: ['Conv2D', ...], removed: [] }
 * ```
 */
export function unregisterFastKernels(backendName?: string): FastKernelsRemoval {
  const fn = 'unregisterFastKernels';
  const backend = resolveBackendName(fn, backendName);
  const restored: string[] = [];
  const removed: string[] = [];
  for (const config of tf.getKernelsForBackend(backend)) {
    if (!isFast(config)) continue;
    const original = config[FAST].original;
    tf.unregisterKernel(config.kernelName, backend);
    if (original === undefined) {
      removed.push(config.kernelName);
      continue;
    }
    tf.registerKernel(original);
    // If the backend was initialised while our kernel was registered, the
    // original's set-up never ran; running it again is harmless.
    const instance = tf.findBackend(backend);
    if (instance !== null) ensureSetUp(original, instance);
    restored.push(config.kernelName);
  }
  return { backend, restored, removed };
}

// ---------------------------------------------------------------------------
// Kernel selection

function makeConfig(
  kernelName: string,
  backendName: FastKernelBackend,
  original: tf.KernelConfig | undefined,
): FastKernelConfig {
  const kernelFunc = wrapImpl(pickImpl(kernelName, backendName), kernelName, backendName, original);
  return { kernelName, backendName, kernelFunc, [FAST]: { original } };
}

function pickImpl(kernelName: string, backendName: FastKernelBackend): Impl {
  const loops = backendName === 'cpu';
  switch (kernelName) {
    case tf.Conv2D:
      return loops ? conv2dLoopImpl : explicitPadConvImpl;
    case tf.FusedConv2D:
      return loops ? fusedConv2dLoopImpl : explicitPadConvImpl;
    case tf.Conv2DBackpropFilter:
      return loops ? filterGradLoopImpl : filterGradWasmImpl;
    case tf.Conv2DBackpropInput:
      return loops ? inputGradLoopImpl : inputGradWasmImpl;
    case tf.MaxPool:
      return maxPoolImpl;
    case tf.MaxPoolGrad:
      return maxPoolGradImpl;
    case tf.AvgPoolGrad:
      return avgPoolGradImpl;
    case tf.Sum:
      return sumImpl;
    case tf.BatchMatMul:
    case tf._FusedMatMul:
      if (!loops) return matMulWasmImpl;
      return kernelName === tf.BatchMatMul ? matMulLoopImpl : fusedMatMulLoopImpl;
    case tf.Identity:
      return identityShareImpl;
    case tf.Cast:
      return castShareImpl;
    case tf.Relu:
      return reluLoopImpl;
    case tf.Step:
      return stepLoopImpl;
    case tf.Add:
      return addLoopImpl;
    case tf.Multiply:
      return multiplyLoopImpl;
    default:
      throw new Error(`no fast kernel for ${kernelName}`);
  }
}

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

function conv2dLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
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

function fusedConv2dLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
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

function filterGradLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as number[];
  const g = geometry(convInfo(x.shape, filterShape, attrs));
  const nchw = isNCHW(attrs);
  const dW = conv2dBackpropFilter(ctx.read(toNHWC(ctx, x, nchw)), ctx.read(toNHWC(ctx, dy, nchw)), g);
  return ctx.write(dW, [...filterShape]);
}

function inputGradLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
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
function explicitPadConvImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
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
function filterGradWasmImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const filterShape = attrs.filterShape as number[];
  const [kh = 0, kw = 0, ci = 0, co = 0] = filterShape;
  if (kh * kw * ci <= co) return filterGradGemmImpl(ctx, inputs, attrs);
  return filterGradComposedImpl(ctx, inputs, attrs);
}

/**
 * dW[kh,kw,ci,co] = sum over (b,oh,ow) of x[b, oh*sh+kh-pt, ow*sw+kw-pl, ci] * dy[b,oh,ow,co]:
 * a convolution with input xᵀ [Ci,H,W,B], filter dyᵀ [OH,OW,B,Co], dilation = stride.
 */
function filterGradComposedImpl(
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
function inputGradWasmImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
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
function inputGradComposedImpl(
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

/**
 * The convolution-gradient implementations as kernel functions, for tests and
 * benchmarks that want to run one strategy on a backend where it is not the
 * default (e.g. the wasm strategy on cpu): `'loops'` is what cpu registers,
 * `'wasm'` what wasm registers (matrix products for few channels, otherwise
 * convolutions), `'convolution'` the convolution form of both gradients
 * whatever the channel counts.
 *
 * @internal
 */
export function fastKernelFunc(
  kernelName: string,
  backendName: string,
  strategy: 'loops' | 'wasm' | 'convolution',
  original?: tf.KernelConfig,
): tf.KernelFunc {
  let impl = pickImpl(kernelName, strategy === 'loops' ? 'cpu' : 'wasm');
  if (strategy === 'convolution' && kernelName === tf.Conv2DBackpropInput) impl = inputGradComposedImpl;
  if (strategy === 'convolution' && kernelName === tf.Conv2DBackpropFilter) impl = filterGradComposedImpl;
  return wrapImpl(impl, kernelName, backendName, original);
}
