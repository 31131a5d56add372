/**
 * Fast kernels besides convolution: pooling, sums, matrix products and the
 * copies the wasm backend makes where none is needed. Registered through
 * `registerFastKernels` (see `fast-conv.ts` for which backend gets which).
 *
 * @internal
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { geometry, sizeOf, type Impl, type PadAttr, type Shape4 } from './context.js';
import { avgPoolBackprop, maxPoolBackprop, maxPoolForward, sumMiddle } from './pool-loops.js';
import { batchMatMul, type Epilogue } from './gemm-loops.js';
import { type ConvGeometry, type Values } from './loop-types.js';

/** Fused activations the loops apply themselves (tfjs-backend-cpu's formulas). */
export const ACTIVATIONS: Readonly<Record<string, (v: number, alpha: number) => number>> = {
  linear: (v) => v,
  relu: (v) => (v < 0 ? 0 : v),
  relu6: (v) => Math.min(Math.max(0, v), 6),
  elu: (v) => (v >= 0 ? v : Math.exp(v) - 1),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  leakyrelu: (v, alpha) => (v < 0 ? alpha * v : v),
};

/**
 * Whether a fused kernel's bias can be added per output channel by the loops:
 * absent, a single value, or `channels` values along the last axis.
 */
export function biasPerChannel(bias: tf.TensorInfo | undefined, channels: number): boolean {
  if (bias === undefined) return true;
  const n = sizeOf(bias.shape);
  return bias.dtype === 'float32' && (n === 1 || (n === channels && bias.shape.at(-1) === channels));
}

/**
 * Adds a per-channel bias (see {@link biasPerChannel}) and applies an
 * activation in place over `y`, whose last axis has `channels` entries.
 */
function biasAndActivate(
  y: Float32Array,
  channels: number,
  b: ArrayLike<number> | undefined,
  activation: string,
  alpha: number,
): void {
  if (b === undefined && activation === 'linear') return;
  // per-channel bias values (a single value repeated)
  const bias = new Float64Array(channels);
  if (b !== undefined) for (let c = 0; c < channels; c++) bias[c] = b[b.length === 1 ? 0 : c]!;
  // the common activations get their own loops: a call per element through a
  // variable function is not inlined and costs more than the arithmetic
  if (activation === 'linear' || activation === 'relu') {
    const relu = activation === 'relu';
    for (let i = 0; i < y.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        const v = y[i + c]! + bias[c]!;
        y[i + c] = relu && v < 0 ? 0 : v;
      }
    }
    return;
  }
  const act = ACTIVATIONS[activation]!;
  for (let i = 0; i < y.length; i += channels) {
    for (let c = 0; c < channels; c++) y[i + c] = act(y[i + c]! + bias[c]!, alpha);
  }
}

/**
 * Applies a fused kernel's bias and activation: while the loops store their
 * results (an {@link Epilogue}) for linear and ReLU, else in a pass of its own.
 * Returns the epilogue for the loops; call the returned `finish` after them.
 */
export function fusedOutput(
  channels: number,
  b: ArrayLike<number> | undefined,
  activation: string,
  alpha: number,
): { epilogue: Epilogue | undefined; finish: (y: Float32Array) => void } {
  if (activation === 'linear' || activation === 'relu') {
    let bias: Float64Array | undefined;
    if (b !== undefined) {
      bias = new Float64Array(channels);
      for (let c = 0; c < channels; c++) bias[c] = b[b.length === 1 ? 0 : c]!;
    }
    return { epilogue: { bias, relu: activation === 'relu' }, finish: () => undefined };
  }
  return { epilogue: undefined, finish: (y) => biasAndActivate(y, channels, b, activation, alpha) };
}

// ---------------------------------------------------------------------------
// Pooling

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

/** Max pooling as one pass over memory (float32; other dtypes go to the original kernel). */
export const maxPoolImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const g = poolGeometry(x, attrs);
  const identity =
    g.filterHeight === 1 && g.filterWidth === 1 && g.outHeight === g.inHeight && g.outWidth === g.inWidth;
  // tfjs returns the input itself for a 1x1 window (NaN stays NaN)
  if (x.dtype !== 'float32' || identity) return ctx.runOriginal(inputs, attrs);
  return ctx.compute([g.batch, g.outHeight, g.outWidth, g.outChannels], [x], (out, [xv]) => {
    maxPoolForward(xv!, g, out);
  });
};

/** Max-pool gradient (first maximum of each window wins), straight from and to backend memory (float32). */
export const maxPoolGradImpl: Impl = (ctx, inputs, attrs) => {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') return ctx.runOriginal(inputs, attrs);
  const g = poolGeometry(input, attrs);
  return ctx.compute([...input.shape], [input, dy], (out, [xv, dyv]) => {
    maxPoolBackprop(xv!, dyv!, g, out);
  });
};

/** Average-pool gradient with tfjs's convention (divide by the full window). */
export const avgPoolGradImpl: Impl = (ctx, inputs, attrs) => {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const dx = avgPoolBackprop(ctx.read(dy), poolGeometry(input, attrs));
  return ctx.write(dx, [...input.shape]);
};

// ---------------------------------------------------------------------------
// Sum

/**
 * Float32 sums over a contiguous block of axes as one pass over memory. The
 * stock kernels transpose the reduced axes to the end first, which costs far
 * more than the sum itself for a bias gradient (axes [0, 1, 2] of an NHWC
 * tensor). Other sums go to the original kernel.
 */
export const sumImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const shape = x.shape;
  const axes = [...new Set(tf.util.parseAxisParam(attrs.axis as number | number[], shape))].sort((a, b) => a - b);
  const first = axes[0];
  const contiguous = axes.every((a, i) => a === (first ?? 0) + i);
  if (x.dtype !== 'float32' || first === undefined || !contiguous) return ctx.runOriginal(inputs, attrs);
  const last = first + axes.length;
  const outer = sizeOf(shape.slice(0, first));
  const inner = sizeOf(shape.slice(last));
  const reduced = sizeOf(shape.slice(first, last));
  const outShape = attrs.keepDims
    ? shape.map((n, i) => (i >= first && i < last ? 1 : n))
    : shape.filter((_, i) => i < first || i >= last);
  return ctx.compute(outShape, [x], (out, [xv]) => {
    sumMiddle(xv!, outer, reduced, inner, out);
  });
};

// ---------------------------------------------------------------------------
// Copies (wasm)

/**
 * `Identity` without a copy: a new reference to the same data, as the cpu
 * backend does. tfjs-backend-wasm copies the whole tensor, and tfjs's
 * gradient tape clones every tensor a backward pass needs (activations,
 * weights), so a training step made dozens of full copies.
 */
export const identityShareImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return ctx.runOriginal(inputs, attrs);
  return ctx.share(x) ?? ctx.runOriginal(inputs, attrs);
};

/** `Cast` to the dtype a tensor already has, without a copy (relu gradients do this). */
export const castShareImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64' || attrs.dtype !== x.dtype) return ctx.runOriginal(inputs, attrs);
  return ctx.share(x) ?? ctx.runOriginal(inputs, attrs);
};

// ---------------------------------------------------------------------------
// Matrix products

interface MatMulShapes {
  readonly batchA: number;
  readonly batchB: number;
  readonly m: number;
  readonly depth: number;
  readonly n: number;
  readonly outShape: number[];
}

/** Shapes of a (batched) matrix product, or undefined for broadcasts the loops do not handle. */
function matMulShapes(a: tf.TensorInfo, b: tf.TensorInfo, attrs: tf.NamedAttrMap): MatMulShapes | undefined {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  const m = tA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const depth = tA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const depthB = tB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = tB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (depth !== depthB) return undefined;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return undefined;
  }
  const batch = sizeOf(outer);
  // one side reused for every product, or both in step
  if (!((batchA === batch && (batchB === batch || batchB === 1)) || (batchB === batch && batchA === 1)))
    return undefined;
  return { batchA, batchB, m, depth, n, outShape: [...outer, m, n] };
}

/** `BatchMatMul` (float32) as register-tiled loops; other cases go to the original kernel. */
export const matMulLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const s = a.dtype === 'float32' && b.dtype === 'float32' ? matMulShapes(a, b, attrs) : undefined;
  if (s === undefined) return ctx.runOriginal(inputs, attrs);
  return ctx.compute(s.outShape, [a, b], (out, [av, bv]) => {
    matMulInto(out, av!, bv!, s, attrs);
  });
};

function matMulInto(
  out: Float32Array,
  av: Values,
  bv: Values,
  s: MatMulShapes,
  attrs: tf.NamedAttrMap,
  epilogue?: Epilogue,
): void {
  const batch = Math.max(s.batchA, s.batchB);
  batchMatMul(
    av,
    bv,
    batch,
    s.batchA === 1 ? 0 : s.m * s.depth,
    s.batchB === 1 ? 0 : s.depth * s.n,
    s.m,
    s.depth,
    s.n,
    attrs.transposeA === true,
    attrs.transposeB === true,
    out,
    epilogue,
  );
}

/** `_FusedMatMul` (float32, per-column bias, no prelu) as loops; other cases go to the original kernel. */
export const fusedMatMulLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const s = a.dtype === 'float32' && b.dtype === 'float32' ? matMulShapes(a, b, attrs) : undefined;
  if (s === undefined || ACTIVATIONS[activation] === undefined || !biasPerChannel(bias, s.n)) {
    return ctx.runOriginal(inputs, attrs);
  }
  const alpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
  return ctx.compute(s.outShape, bias === undefined ? [a, b] : [a, b, bias], (out, [av, bv, biasv]) => {
    const { epilogue, finish } = fusedOutput(s.n, biasv, activation, alpha);
    matMulInto(out, av!, bv!, s, attrs, epilogue);
    finish(out);
  });
};

/** The kernel applying a fused activation (tfjs-core's own activations), as `[name, attrs]`. */
function activationKernel(activation: string, attrs: tf.NamedAttrMap): [string, tf.NamedAttrMap] | undefined {
  switch (activation) {
    case 'relu':
      return [tf.Relu, {}];
    case 'relu6':
      return [tf.Relu6, {}];
    case 'elu':
      return [tf.Elu, {}];
    case 'sigmoid':
      return [tf.Sigmoid, {}];
    case 'leakyrelu':
      return [tf.LeakyRelu, { alpha: (attrs.leakyreluAlpha as number | undefined) ?? 0.2 }];
    default:
      return undefined;
  }
}

/**
 * Matrix products on wasm. tfjs-backend-wasm multiplies through XNNPACK only
 * untransposed, unbatched factors; anything else (every dense-layer
 * gradient) goes to a naive loop about 30x slower, which for `_FusedMatMul`
 * also adds the bias wrongly (once per block of 48 along the shared axis, and
 * from the wrong entry after the first row) and applies the activation to
 * partial sums. Here transposed factors are transposed first (a fast copy), a
 * factor shared over the batch is multiplied as one tall matrix, and the bias
 * and activation of the cases XNNPACK cannot fuse are applied by their own
 * kernels.
 */
export const matMulWasmImpl: Impl = (ctx, inputs, attrs) => {
  const { a, b, bias, preluActivationWeights } = inputs as {
    a: tf.TensorInfo;
    b: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const fused = ctx.kernelName === tf._FusedMatMul;
  const s = a.dtype === 'float32' && b.dtype === 'float32' ? matMulShapes(a, b, attrs) : undefined;
  if (s === undefined || sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0) return ctx.runOriginal(inputs, attrs);
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  const activation = fused ? ((attrs.activation as string | undefined) ?? 'linear') : 'linear';
  const extras = fused && (bias !== undefined || activation !== 'linear');
  // XNNPACK adds a bias of exactly one value per column
  const biasFits = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === s.n);
  const plain = { transposeA: false, transposeB: false };
  if (s.batchB !== 1) {
    // both factors batched: the stock loop is right without bias or activation
    if (!extras) return ctx.runOriginal(inputs, attrs);
  } else if (!tA && !tB && s.batchA === 1 && (biasFits || !extras)) {
    return ctx.runOriginal(inputs, attrs);
  }
  const swapLast = (t: tf.TensorInfo) => {
    const perm = t.shape.map((_, i) => i);
    const r = perm.length;
    [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
    return ctx.transpose(t, perm);
  };
  let product: tf.TensorInfo;
  if (s.batchB === 1) {
    // one tall product: [batch * m, depth] x [depth, n]
    const a2 = ctx.reshape(tA ? swapLast(a) : a, [1, s.batchA * s.m, s.depth]);
    const b2 = ctx.reshape(tB ? swapLast(b) : b, [1, s.depth, s.n]);
    if (!extras || biasFits) {
      return ctx.reshape(ctx.runOriginal({ ...inputs, a: a2, b: b2 }, { ...attrs, ...plain }), s.outShape);
    }
    product = ctx.runOriginal({ a: a2, b: b2 }, { ...attrs, ...plain, activation: 'linear' });
  } else {
    product = ctx.run(tf.BatchMatMul, { a, b }, { transposeA: tA, transposeB: tB });
  }
  product = ctx.reshape(product, s.outShape);
  if (bias !== undefined) product = ctx.run(tf.Add, { a: product, b: bias });
  if (activation === 'prelu' && preluActivationWeights !== undefined) {
    product = ctx.run(tf.Prelu, { x: product, alpha: preluActivationWeights });
  } else {
    const act = activationKernel(activation, attrs);
    if (act !== undefined) product = ctx.run(act[0], { x: product }, act[1]);
  }
  return product;
};

// ---------------------------------------------------------------------------
// Element-wise (cpu)

/**
 * How a float32 binary op broadcasts, when the loops handle it: the larger
 * operand has the output's shape and the other one repeats along it (same
 * shape, a single value, or a block of trailing axes such as a bias).
 */
function suffixBroadcast(
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): { big: tf.TensorInfo; small: tf.TensorInfo; shape: number[]; bigFirst: boolean } | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  let shape: number[];
  try {
    shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  } catch {
    return undefined;
  }
  const n = sizeOf(shape);
  const bigFirst = sizeOf(a.shape) === n;
  const big = bigFirst ? a : b;
  const small = bigFirst ? b : a;
  if (sizeOf(big.shape) !== n) return undefined;
  // the smaller operand, leading 1s dropped, must be the output's trailing axes
  const s = [...small.shape];
  while (s.length > 0 && s[0] === 1) s.shift();
  const tail = shape.slice(shape.length - s.length);
  if (s.length > shape.length || s.some((d, i) => d !== tail[i])) return undefined;
  return { big, small, shape, bigFirst };
}

/** `Add` of float32 tensors that broadcast along trailing axes, as one loop (stock cpu allocates per element). */
export const addLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const r = suffixBroadcast(a, b);
  if (r === undefined) return ctx.runOriginal(inputs, attrs);
  return ctx.compute(r.shape, [r.big, r.small], (out, [x, y]) => {
    const m = y!.length;
    if (m === out.length) {
      for (let i = 0; i < out.length; i++) out[i] = x![i]! + y![i]!;
      return;
    }
    for (let i = 0; i < out.length; i += m) {
      for (let j = 0; j < m; j++) out[i + j] = x![i + j]! + y![j]!;
    }
  });
};

/** `Multiply` of float32 tensors that broadcast along trailing axes, as one loop. */
export const multiplyLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const r = suffixBroadcast(a, b);
  if (r === undefined) return ctx.runOriginal(inputs, attrs);
  return ctx.compute(r.shape, [r.big, r.small], (out, [x, y]) => {
    const m = y!.length;
    if (m === out.length) {
      for (let i = 0; i < out.length; i++) out[i] = x![i]! * y![i]!;
      return;
    }
    for (let i = 0; i < out.length; i += m) {
      for (let j = 0; j < m; j++) out[i + j] = x![i + j]! * y![j]!;
    }
  });
};

/** `Relu` (float32) as a plain loop; `Math.max(0, v)` exactly, as tfjs-backend-cpu computes it. */
export const reluLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32') return ctx.runOriginal(inputs, attrs);
  return ctx.compute([...x.shape], [x], (out, [xv]) => {
    // branch-free select (signs are unpredictable); NaN stays NaN, -0 becomes 0
    const pick = new Float64Array(2);
    for (let i = 0; i < out.length; i++) {
      const v = xv![i]!;
      pick[1] = v;
      out[i] = pick[+(v > 0)]!;
      if (v !== v) out[i] = v;
    }
  });
};

/** `Step` (float32) as a plain loop: 1 above 0, `alpha` otherwise, NaN stays NaN. */
export const stepLoopImpl: Impl = (ctx, inputs, attrs) => {
  const { x } = inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32') return ctx.runOriginal(inputs, attrs);
  const alpha = (attrs.alpha as number | undefined) ?? 0;
  return ctx.compute([...x.shape], [x], (out, [xv]) => {
    const pick = Float64Array.of(alpha, 1);
    for (let i = 0; i < out.length; i++) {
      const v = xv![i]!;
      out[i] = pick[+(v > 0)]!;
      if (v !== v) out[i] = v;
    }
  });
};
