/**
 * Plumbing shared by backdoor-kit's fast kernels: a per-call context that runs
 * other kernels of the same backend, gives direct access to tensor memory
 * (the wasm heap, the cpu backend's arrays) and frees every intermediate.
 *
 * Nothing here imports a backend package: the wasm backend is recognised by
 * the methods it has (`makeOutput`, `typedArrayFromHeap`, `incRef`).
 *
 * @internal
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { UnsupportedError } from '../core/errors.js';
import type { ConvGeometry, Values } from './loop-types.js';

/** The arguments tfjs passes to a kernel function. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** A kernel implementation, given a context that cleans up after it. */
export type Impl = (ctx: KernelContext, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;

/**
 * The parts of tfjs-backend-wasm's `BackendWasm` used for direct heap access
 * (present in 4.x; checked at run time, never imported).
 */
interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** The wasm backend's heap access, if `backend` has it. */
function heapOf(backend: tf.KernelBackend): HeapBackend | undefined {
  const b = backend as unknown as Partial<HeapBackend>;
  return typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function'
    ? (b as HeapBackend)
    : undefined;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Runs other kernels of the same backend on behalf of one kernel call and
 * frees every intermediate it made (see {@link KernelContext.release}).
 */
export class KernelContext {
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

  /** Stores values of any numeric dtype as a new intermediate. */
  writeTyped(values: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32'): tf.TensorInfo {
    const info: tf.TensorInfo = { dataId: this.backend.write(values, shape, dtype), shape, dtype };
    this.temps.push(info);
    return info;
  }

  /**
   * Makes a new float32 tensor of `shape` whose values `body` writes, given
   * the values of `inputs`. On wasm, `out` and the inputs are views of the
   * heap (no copies; `out` starts with arbitrary contents, so `body` must
   * write every element, and must not call into tfjs); elsewhere `out` is a
   * fresh zeroed array and the inputs are the backend's arrays (read only).
   */
  compute(
    shape: number[],
    inputs: readonly tf.TensorInfo[],
    body: (out: Float32Array, ins: Values[]) => void,
  ): tf.TensorInfo {
    const heap = heapOf(this.backend);
    if (heap !== undefined) {
      const info = heap.makeOutput(shape, 'float32');
      this.temps.push(info);
      // views are taken after the allocation: growing the heap detaches older ones
      const ins = inputs.map((t) => heap.typedArrayFromHeap(t));
      body(heap.typedArrayFromHeap(info) as Float32Array, ins);
      return info;
    }
    const out = new Float32Array(size(shape));
    body(
      out,
      inputs.map((t) => this.read(t)),
    );
    return this.write(out, shape);
  }

  /**
   * A new reference to `x`'s data under `shape` (no copy), when the backend
   * counts references (`incRef`, as cpu and wasm do); otherwise undefined.
   */
  share(x: tf.TensorInfo, shape: number[] = [...x.shape], dtype: tf.DataType = x.dtype): tf.TensorInfo | undefined {
    const b = this.backend as unknown as { incRef?: (dataId: tf.DataId) => void };
    if (typeof b.incRef !== 'function') return undefined;
    b.incRef(x.dataId);
    return { dataId: x.dataId, shape, dtype };
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

/** Turns an {@link Impl} into a tfjs kernel function that frees its intermediates. */
export function wrapImpl(
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
export function ensureSetUp(config: tf.KernelConfig, backend: object): void {
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

// ---------------------------------------------------------------------------
// Geometry

/** A 4-D shape. */
export type Shape4 = [number, number, number, number];

/** The padding attribute of tfjs convolution and pooling kernels. */
export type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** The loops' geometry from tfjs's convolution (or pooling) info. */
export function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
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

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return size(shape);
}
