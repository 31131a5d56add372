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
import { ensureSetUp, wrapImpl, type Impl } from './context.js';
import {
  explicitPadConvImpl,
  filterGradComposedImpl,
  filterGradWasmImpl,
  inputGradComposedImpl,
  inputGradWasmImpl,
  conv2dLoopImpl,
  fusedConv2dLoopImpl,
  filterGradLoopImpl,
  inputGradLoopImpl,
} from './conv-impls.js';
import {
  depthwiseFilterGradImpl,
  depthwiseInputGradImpl,
  resizeNearestGradImpl,
  unsortedSegmentSumImpl,
} from './gradient-kernels.js';
import {
  addLoopImpl,
  avgPoolGradImpl,
  castShareImpl,
  fusedMatMulLoopImpl,
  identityShareImpl,
  matMulWasmImpl,
  maxPoolGradImpl,
  maxPoolImpl,
  multiplyLoopImpl,
  reluLoopImpl,
  stepLoopImpl,
  sumImpl,
  matMulLoopImpl,
} from './extra-kernels.js';

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
    tf.DepthwiseConv2dNativeBackpropInput,
    tf.DepthwiseConv2dNativeBackpropFilter,
    tf.ResizeNearestNeighborGrad,
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
    tf.DepthwiseConv2dNativeBackpropInput,
    tf.DepthwiseConv2dNativeBackpropFilter,
    tf.UnsortedSegmentSum,
    tf.ResizeNearestNeighborGrad,
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
    case tf.DepthwiseConv2dNativeBackpropInput:
      return depthwiseInputGradImpl;
    case tf.DepthwiseConv2dNativeBackpropFilter:
      return depthwiseFilterGradImpl;
    case tf.UnsortedSegmentSum:
      return unsortedSegmentSumImpl;
    case tf.ResizeNearestNeighborGrad:
      return resizeNearestGradImpl;
    default:
      throw new Error(`no fast kernel for ${kernelName}`);
  }
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
