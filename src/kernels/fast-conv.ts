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
 *   convolutions, which wasm runs through XNNPACK. The filter gradient is a
 *   dilated convolution of the transposed input with the transposed output
 *   gradient; the input gradient is a convolution of the (zero-inserted, for
 *   strides > 1) padded output gradient with the flipped, in/out-swapped
 *   filter. `Conv2D` and `FusedConv2D` stay tfjs's own, but receive their
 *   padding as explicit numbers, which works around a tfjs-backend-wasm bug
 *   (wrong values and out-of-bounds writes for 'same' padding with stride > 1
 *   and non-square filters). `MaxPoolGrad` becomes a typed-array loop on
 *   a copy of the data: twice as fast, and right where the stock kernel is
 *   wrong (windows whose values are all negative).
 * - **cpu**: `Conv2D`, `FusedConv2D`, both convolution gradients,
 *   `MaxPoolGrad`, `AvgPoolGrad` and `Sum` (over a contiguous block of axes)
 *   become tight typed-array loops.
 *
 * Numeric padding `p` is treated as explicit padding `p` on every side
 * (tfjs-core 4.22 gets the output width wrong for it when the filter is not
 * square; with square filters nothing changes).
 *
 * Nothing here imports a backend package: kernels reuse the registered
 * kernels of the same backend (`tf.getKernel`) or read/write backend data.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { DependencyError, InvalidArgumentError, UnsupportedError } from '../core/errors.js';
import {
  avgPoolBackprop,
  conv2dBackpropFilter,
  conv2dBackpropInput,
  conv2dForward,
  maxPoolBackprop,
  sumMiddle,
  type ConvGeometry,
  type Values,
} from './loops.js';

/** Backends for which backdoor-kit has fast kernels. */
export type FastKernelBackend = 'cpu' | 'wasm';

/**
 * The kernels {@link registerFastKernels} installs, per backend.
 *
 * - `wasm`: `Conv2DBackpropFilter` (missing from tfjs-backend-wasm 4.22),
 *   `Conv2DBackpropInput` (6-16x faster), and `Conv2D` / `FusedConv2D`
 *   (the original kernels, given the padding as explicit numbers: the stock
 *   ones compute wrong values and write out of bounds for 'same' padding with
 *   stride > 1 or numeric padding, with non-square filters); `MaxPoolGrad`
 *   as a typed-array loop (2.4x faster for 2x2 pools, and right for windows
 *   of negative values, where the stock kernel is wrong).
 * - `cpu`: `Conv2D`, `FusedConv2D`, `Conv2DBackpropFilter`,
 *   `Conv2DBackpropInput`, `MaxPoolGrad`, `AvgPoolGrad`, and `Sum` (float32
 *   sums over a contiguous block of axes, e.g. bias gradients, without the
 *   transpose tfjs does first; other sums go to the original kernel).
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
  ]),
  wasm: Object.freeze([tf.Conv2D, tf.FusedConv2D, tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput, tf.MaxPoolGrad]),
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
 * Registers backdoor-kit's fast convolution kernels on a tfjs backend (see
 * {@link FAST_KERNELS}): on `wasm` the convolution gradients (the filter
 * gradient is missing from tfjs-backend-wasm, so conv layers cannot train
 * without this) and max-pool gradient, on `cpu` the convolution, its
 * gradients, the pooling gradients and sums. The replaced kernels compute the
 * same values as tfjs's own (to float rounding; numeric padding with a
 * non-square filter now gets the output size it should); only speed changes. The originals are kept and come back with
 * {@link unregisterFastKernels}.
 *
 * Idempotent: a second call changes nothing and reports the same kernels. On
 * a backend other than `cpu` and `wasm` (e.g. `tensorflow`, `webgl`, whose
 * kernels are fine) it does nothing and returns `supported: false`.
 *
 * Measured on 2 cores (Node 20, tfjs 4.22): the small MNIST CNN
 * (Conv16-Pool-Conv32-Pool-Dense64-Dense10) trains an epoch of 8,000 images
 * in ~6 s on wasm; filter gradient for input [128,26,26,32], filter
 * 3x3x32x32 goes from ~114 s to ~0.6 s on cpu.
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
// Kernel plumbing

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Impl = (ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;

/**
 * Runs other kernels of the same backend on behalf of one kernel call and
 * frees every intermediate it made (see {@link KernelContext.release}).
 */
class KernelContext {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(
    readonly backend: tf.KernelBackend,
    readonly backendName: string,
    readonly kernelName: string,
    readonly original: tf.KernelConfig | undefined,
  ) {}

  /** Runs `kernelName` on this backend; the result is an intermediate. */
  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new UnsupportedError(
        { fn: `${this.kernelName} (backdoor-kit fast kernel)` },
        `needs kernel '${kernelName}', which backend '${this.backendName}' does not register`,
      );
    }
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    if (info === undefined) throw new Error(`kernel ${kernelName} returned no output`);
    this.temps.push(info);
    return info;
  }

  /** Runs the kernel this one replaced (for cases it does not handle itself). */
  runOriginal(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
    if (this.original === undefined) {
      throw new UnsupportedError(
        { fn: `${this.kernelName} (backdoor-kit fast kernel)` },
        `does not handle these attributes and backend '${this.backendName}' has no original kernel to fall back on`,
      );
    }
    ensureSetUp(this.original, this.backend);
    const out = this.original.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    if (info === undefined) throw new Error(`kernel ${this.kernelName} returned no output`);
    this.temps.push(info);
    return info;
  }

  /** Reads a tensor's values (the backend's own array on cpu: never write to it). */
  read(t: tf.TensorInfo): Values {
    return this.backend.readSync(t.dataId) as Values;
  }

  /** Stores values as a new float32 intermediate. */
  write(values: Float32Array, shape: number[]): tf.TensorInfo {
    const info: tf.TensorInfo = { dataId: this.backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
    this.temps.push(info);
    return info;
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run(tf.Transpose, { x }, { perm });
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run(tf.Reshape, { x }, { shape });
  }

  /** Pads with zeros where `pads[i]` is positive and crops where it is negative. */
  padOrCrop(x: tf.TensorInfo, pads: Array<[number, number]>): tf.TensorInfo {
    let t = x;
    if (pads.some(([a, b]) => a < 0 || b < 0)) {
      const begin = pads.map(([a]) => Math.max(0, -a));
      const size = x.shape.map((n, i) => n - begin[i]! - Math.max(0, -pads[i]![1]));
      t = this.run(tf.Slice, { x: t }, { begin, size });
    }
    if (pads.some(([a, b]) => a > 0 || b > 0)) {
      const paddings = pads.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]);
      t = this.run(tf.PadV2, { x: t }, { paddings, constantValue: 0 });
    }
    return t;
  }

  /**
   * Frees every intermediate except `keep` (which may share data with one of
   * them: freeing only drops a reference).
   */
  release(keep?: tf.TensorInfo): void {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

function wrapImpl(
  impl: Impl,
  kernelName: string,
  backendName: string,
  original: tf.KernelConfig | undefined,
): (args: KernelArgs) => tf.TensorInfo {
  return (args) => {
    const ctx = new KernelContext(args.backend as tf.KernelBackend, backendName, kernelName, original);
    let result: tf.TensorInfo | undefined;
    try {
      result = impl(ctx, args.inputs, args.attrs ?? {});
      return result;
    } finally {
      ctx.release(result);
    }
  };
}

/** Backends on which an original kernel's set-up function has run (through us). */
const setUpOn = new WeakMap<tf.KernelConfig, WeakSet<object>>();

/**
 * Runs a kernel's set-up function on a backend once. A backend initialised
 * while our kernel was registered never ran the original's set-up (wasm
 * kernels bind their C functions there); running it twice is harmless.
 */
function ensureSetUp(config: tf.KernelConfig, backend: object): void {
  if (config.setupFunc === undefined) return;
  let done = setUpOn.get(config);
  if (done === undefined) {
    done = new WeakSet();
    setUpOn.set(config, done);
  }
  if (done.has(backend)) return;
  config.setupFunc(backend);
  done.add(backend);
}

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
      return loops ? filterGradLoopImpl : filterGradComposedImpl;
    case tf.Conv2DBackpropInput:
      return loops ? inputGradLoopImpl : inputGradComposedImpl;
    case tf.MaxPoolGrad:
      return maxPoolGradLoopImpl;
    case tf.AvgPoolGrad:
      return avgPoolGradLoopImpl;
    case tf.Sum:
      return sumLoopImpl;
    default:
      throw new Error(`no fast kernel for ${kernelName}`);
  }
}

// ---------------------------------------------------------------------------
// Geometry and layout helpers

type Shape4 = [number, number, number, number];
type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

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

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

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
  const y = ctx.write(conv2dForward(ctx.read(xs), ctx.read(filter), g), nhwcShape(g, 'out'));
  return fromNHWC(ctx, y, nchw);
}

const ACTIVATIONS: Readonly<Record<string, (v: number, alpha: number) => number>> = {
  linear: (v) => v,
  relu: (v) => (v < 0 ? 0 : v),
  relu6: (v) => Math.min(Math.max(0, v), 6),
  elu: (v) => (v >= 0 ? v : Math.exp(v) - 1),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  leakyrelu: (v, alpha) => (v < 0 ? alpha * v : v),
};

function fusedConv2dLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const act = ACTIVATIONS[activation];
  const co = filter.shape[3]!;
  const biasOk = bias === undefined || size(bias.shape) === 1 || (size(bias.shape) === co && bias.shape.at(-1) === co);
  if (act === undefined || isNCHW(attrs) || !biasOk) return ctx.runOriginal(inputs, attrs);
  const info = convInfo(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number]);
  const g = geometry(info);
  const y = conv2dForward(ctx.read(x), ctx.read(filter), g);
  const b = bias === undefined ? undefined : ctx.read(bias);
  const alpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
  if (b !== undefined || activation !== 'linear') {
    const one = b !== undefined && b.length === 1;
    for (let i = 0; i < y.length; i += co) {
      for (let c = 0; c < co; c++) {
        const v = b === undefined ? y[i + c]! : y[i + c]! + b[one ? 0 : c]!;
        y[i + c] = act(v, alpha);
      }
    }
  }
  return ctx.write(y, nhwcShape(g, 'out'));
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

function poolGeometry(x: tf.TensorInfo, attrs: tf.NamedAttrMap): ConvGeometry {
  const info = tf.backend_util.computePool2DInfo(
    x.shape as Shape4,
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as PadAttr,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  return geometry(info);
}

function maxPoolGradLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const dx = maxPoolBackprop(ctx.read(input), ctx.read(dy), poolGeometry(input, attrs));
  return ctx.write(dx, [...input.shape]);
}

function avgPoolGradLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const dx = avgPoolBackprop(ctx.read(dy), poolGeometry(input, attrs));
  return ctx.write(dx, [...input.shape]);
}

/**
 * Float32 sums over a contiguous block of axes as one pass over memory. The
 * cpu kernel transposes the reduced axes to the end first, which costs 25x
 * the sum itself for a bias gradient (axes [0, 1, 2] of an NHWC tensor).
 */
function sumLoopImpl(ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const shape = x.shape;
  const axes = [...new Set(tf.util.parseAxisParam(attrs.axis as number | number[], shape))].sort((a, b) => a - b);
  const first = axes[0];
  const contiguous = axes.every((a, i) => a === (first ?? 0) + i);
  if (x.dtype !== 'float32' || first === undefined || !contiguous) return ctx.runOriginal(inputs, attrs);
  const last = first + axes.length;
  const outer = size(shape.slice(0, first));
  const inner = size(shape.slice(last));
  const out = sumMiddle(ctx.read(x), outer, size(shape.slice(first, last)), inner);
  const outShape = attrs.keepDims
    ? shape.map((n, i) => (i >= first && i < last ? 1 : n))
    : shape.filter((_, i) => i < first || i >= last);
  return ctx.write(out, outShape);
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
 * default (e.g. the wasm strategy on cpu).
 *
 * @internal
 */
export function fastKernelFunc(
  kernelName: string,
  backendName: string,
  strategy: 'loops' | 'composed',
  original?: tf.KernelConfig,
): tf.KernelFunc {
  return wrapImpl(pickImpl(kernelName, strategy === 'loops' ? 'cpu' : 'wasm'), kernelName, backendName, original);
}
