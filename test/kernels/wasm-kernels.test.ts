// The fast kernels on the wasm backend: stock wasm's gaps and bugs, and what registerFastKernels adds.
// @backend wasm
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { Rng } from '../../src/core/rng.js';
import { FAST_KERNELS, registerFastKernels, unregisterFastKernels } from '../../src/kernels/index.js';
import { backendName, ready } from '../helpers/backend.js';
import {
  convGrads,
  caseValues,
  label,
  naiveConv,
  naiveConvDf,
  naiveConvDx,
  naiveMaxPoolGrad,
  outShape,
  padsOf,
  randomCases,
  randomValues,
  relError,
  type ConvCase,
} from '../kernels/reference.js';

const TOL = 1e-4;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Separable toy data: class 1 images have a bright 3x3 patch at a random place. */
function toyData(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const v = new Float32Array(n * 10 * 10);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 100; p++) v[i * 100 + p] = 0.2 * rng.next();
    labels[i] = i % 2;
    if (labels[i] === 1) {
      const r = rng.int(8);
      const c = rng.int(8);
      for (let dr = 0; dr < 3; dr++) for (let dc = 0; dc < 3; dc++) v[i * 100 + (r + dr) * 10 + c + dc] = 1;
    }
  }
  return tf.tidy(() => ({
    x: tf.tensor4d(v, [n, 10, 10, 1]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), 2) as tf.Tensor2D,
  }));
}

function tinyNet(seed: number, strides: number, padding: 'valid' | 'same'): tfl.Sequential {
  const rng = new Rng(seed);
  const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [10, 10, 1],
        filters: 6,
        kernelSize: 3,
        strides,
        padding,
        activation: 'relu',
        kernelInitializer: init(),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  const p = model.apply(x, { training: true }) as tf.Tensor;
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1))) as tf.Scalar;
}

describe('fast kernels on wasm', () => {
  before(async () => {
    await ready;
    assert.equal(backendName, 'wasm', 'this file must run with BK_BACKEND=wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('stock wasm cannot train a conv layer; registerFastKernels adds the missing kernel', () => {
    unregisterFastKernels('wasm');
    assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'), undefined);
    const x = tf.ones([1, 5, 5, 1]) as tf.Tensor4D;
    const f = tf.ones([3, 3, 1, 1]) as tf.Tensor4D;
    assert.throws(
      () => tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')))(f),
      /Conv2DBackpropFilter/,
    );
    const info = registerFastKernels();
    assert.deepEqual(info, {
      backend: 'wasm',
      supported: true,
      replaced: [...FAST_KERNELS.wasm],
      added: [
        tf.Conv2DBackpropFilter,
        tf.DepthwiseConv2dNativeBackpropInput,
        tf.DepthwiseConv2dNativeBackpropFilter,
        tf.UnsortedSegmentSum,
      ],
    });
    assert.deepEqual(registerFastKernels('wasm'), info, 'idempotent');
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')))(f);
    assert.deepEqual(Array.from(g.dataSync()), new Array(9).fill(9));
    tf.dispose([x, f, g]);
  });

  it('gives the gradients of a naive convolution (strides 1, 2; valid, same, explicit)', () => {
    registerFastKernels('wasm');
    const rng = new Rng(31);
    const cases = [
      ...randomCases(rng, 24, ['valid', 'same', 'explicit']),
      // numeric padding, non-square filters: wrong (and memory-corrupting) in stock tfjs-backend-wasm
      ...randomCases(rng, 6, ['number']),
    ];
    for (const c of cases) {
      const { xv, fv, dyv } = caseValues(rng, c);
      const got = convGrads(c, xv, fv, dyv);
      assert.deepEqual(got.yShape, outShape(c), label(c));
      assert.ok(relError(got.y, naiveConv(c, xv, fv)) <= TOL, `y ${label(c)}`);
      assert.ok(relError(got.dx, naiveConvDx(c, dyv, fv)) <= TOL, `dx ${label(c)}`);
      assert.ok(relError(got.df, naiveConvDf(c, xv, dyv)) <= TOL, `df ${label(c)}`);
    }
  });

  it('sends max-pool gradients to the first maximum of each window, like cpu (stock wasm is wrong)', () => {
    registerFastKernels('wasm');
    const rng = new Rng(35);
    const shape: [number, number, number, number] = [2, 9, 7, 3];
    const setups = [
      [2, 2, 'valid'],
      [2, 2, 'same'],
      [3, 2, 'same'],
      [3, 1, 'same'],
    ] as const;
    const gradOf = (xv: Float32Array, k: number, s: number, pad: 'valid' | 'same') =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, shape);
        const y = tf.maxPool(x, k, s, pad);
        const dy = tf.tensor(randomValues(new Rng(k * 10 + s), size(y.shape)), y.shape);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), dy)))(x);
        return { dx: g.dataSync().slice(), dyv: dy.dataSync().slice() };
      });
    for (const [k, s, pad] of setups) {
      // small integers (many ties inside windows) and normal values (negative ones too)
      for (const xv of [Float32Array.from({ length: size(shape) }, () => rng.int(4)), randomValues(rng, size(shape))]) {
        const { dx, dyv } = gradOf(xv, k, s, pad);
        assert.ok(relError(dx, naiveMaxPoolGrad(xv, shape, dyv, k, s, pad)) <= 1e-6, `${k} ${s} ${pad}`);
      }
    }
    // tfjs-backend-wasm 4.22's own MaxPoolGrad is wrong for windows of negative values.
    const negative = Float32Array.from({ length: size(shape) }, () => -1 - rng.next());
    unregisterFastKernels('wasm');
    const stock = gradOf(negative, 2, 2, 'valid');
    registerFastKernels('wasm');
    assert.ok(relError(stock.dx, naiveMaxPoolGrad(negative, shape, stock.dyv, 2, 2, 'valid')) > 0.1);
  });

  it('computes both gradients of few-channel convolutions as matrix products, exactly', () => {
    registerFastKernels('wasm');
    const rng = new Rng(36);
    // kh*kw*ci <= co takes the matrix-product paths (dW = patchesᵀ·dy, dx = col2im(dy·Wᵀ)); the others convolutions
    const setups: Array<[ConvCase['x'], ConvCase['f'], [number, number], ConvCase['pad']]> = [
      [[3, 12, 11, 1], [3, 3, 1, 16], [1, 1], 'valid'],
      [[2, 12, 11, 1], [3, 3, 1, 9], [2, 2], 'same'],
      [[2, 9, 10, 2], [2, 3, 2, 12], [1, 2], 'same'],
      [
        [2, 9, 10, 1],
        [3, 2, 1, 6],
        [2, 1],
        [
          [0, 0],
          [1, 2],
          [2, 0],
          [0, 0],
        ],
      ],
      [[2, 7, 7, 1], [1, 1, 1, 1], [1, 1], 'valid'],
      [[2, 8, 8, 3], [3, 3, 3, 4], [1, 1], 'same'],
    ];
    for (const [x, f, strides, pad] of setups) {
      const c: ConvCase = { x, f, strides, dilations: [1, 1], pad, pads: padsOf(x, f, strides, [1, 1], pad) };
      const { xv, fv, dyv } = caseValues(rng, c);
      const got = convGrads(c, xv, fv, dyv);
      assert.ok(relError(got.df, naiveConvDf(c, xv, dyv)) <= TOL, `df ${label(c)}`);
      assert.ok(relError(got.dx, naiveConvDx(c, dyv, fv)) <= TOL, `dx ${label(c)}`);
    }
  });

  it('max-pool gradients skip NaN and windows without a maximum', () => {
    registerFastKernels('wasm');
    const rng = new Rng(37);
    const shape: [number, number, number, number] = [2, 8, 6, 3];
    const xv = Float32Array.from({ length: size(shape) }, () => {
      const r = rng.int(6);
      return r === 0 ? Number.NaN : r === 1 ? Number.NEGATIVE_INFINITY : rng.int(3);
    });
    for (const [k, s, pad] of [
      [2, 2, 'valid'],
      [3, 1, 'same'],
    ] as const) {
      const { dx, dyv } = tf.tidy(() => {
        const x = tf.tensor4d(xv, shape);
        const yShape = tf.maxPool(x, k, s, pad).shape;
        const dy = tf.tensor(randomValues(rng, size(yShape)), yShape);
        const ones = tf.onesLike(x);
        // a gradient that reaches MaxPoolGrad with these exact inputs
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(tf.mul(a, ones) as tf.Tensor4D, k, s, pad), dy)))(
          x,
        );
        return { dx: g.dataSync().slice(), dyv: dy.dataSync().slice() };
      });
      assert.ok(relError(dx, naiveMaxPoolGrad(xv, shape, dyv, k, s, pad)) <= 1e-6, `${k} ${s} ${pad}`);
    }
  });

  it('matrix products match a naive product: transposes, batches, biases, activations (stock wasm is wrong)', () => {
    registerFastKernels('wasm');
    const rng = new Rng(38);
    const naive = (a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean) => {
      const out = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < k; p++)
            acc += (tA ? a[p * m + i]! : a[i * k + p]!) * (tB ? b[j * k + p]! : b[p * n + j]!);
          out[i * n + j] = acc;
        }
      return out;
    };
    const acts: Record<string, (v: number) => number> = {
      linear: (v) => v,
      relu: (v) => Math.max(0, v),
      relu6: (v) => Math.min(6, Math.max(0, v)),
      elu: (v) => (v >= 0 ? v : Math.exp(v) - 1),
      sigmoid: (v) => 1 / (1 + Math.exp(-v)),
      leakyrelu: (v) => (v < 0 ? 0.3 * v : v),
      prelu: (v) => (v < 0 ? 0.1 * v : v),
    };
    // depth 60 > 48: the stock loop adds the bias once per block of 48
    const [m, k, n] = [9, 60, 6];
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const [batchA, batchB] of [
          [1, 1],
          [2, 1],
          [2, 2],
        ] as const) {
          const av = randomValues(rng, m * k * batchA);
          const bv = randomValues(rng, k * n * batchB);
          for (const [activation, f] of Object.entries(acts)) {
            for (const biasKind of ['column', 'single', 'none'] as const) {
              const biasv = randomValues(rng, biasKind === 'column' ? n : 1);
              const { plain, fused } = tf.tidy(() => {
                const a = tf.tensor(av, [batchA, tA ? k : m, tA ? m : k]) as tf.Tensor3D;
                const b = tf.tensor(bv, [batchB, tB ? n : k, tB ? k : n]) as tf.Tensor3D;
                const out = tf.fused.matMul({
                  a,
                  b,
                  transposeA: tA,
                  transposeB: tB,
                  bias: biasKind === 'none' ? undefined : tf.tensor1d(biasv),
                  activation: activation as 'relu',
                  preluActivationWeights: activation === 'prelu' ? tf.scalar(0.1) : undefined,
                  leakyreluAlpha: 0.3,
                });
                return { plain: tf.matMul(a, b, tA, tB).dataSync().slice(), fused: out.dataSync().slice() };
              });
              const batch = Math.max(batchA, batchB);
              for (let i = 0; i < batch; i++) {
                const ai = av.subarray((batchA === 1 ? 0 : i) * m * k, ((batchA === 1 ? 0 : i) + 1) * m * k);
                const bi = bv.subarray((batchB === 1 ? 0 : i) * k * n, ((batchB === 1 ? 0 : i) + 1) * k * n);
                const ref = naive(ai, bi, m, k, n, tA, tB);
                const tag = `tA ${tA} tB ${tB} batch ${batchA}/${batchB} ${activation} bias ${biasKind}`;
                assert.ok(relError(plain.subarray(i * m * n, (i + 1) * m * n), ref) <= TOL, tag);
                const biasOf = (j: number) => (biasKind === 'none' ? 0 : biasv[biasKind === 'column' ? j % n : 0]!);
                const refFused = ref.map((v, j) => f(v + biasOf(j)));
                assert.ok(relError(fused.subarray(i * m * n, (i + 1) * m * n), refFused) <= TOL, `fused ${tag}`);
              }
            }
          }
        }
      }
    }
    // tfjs-backend-wasm 4.22's own kernel: a transposed factor with a bias goes wrong
    const av = randomValues(rng, k * m);
    const bv = randomValues(rng, k * n);
    const biasv = randomValues(rng, n);
    const fusedOnce = () =>
      tf.tidy(() =>
        tf.fused
          .matMul({
            a: tf.tensor3d(av, [1, k, m]),
            b: tf.tensor3d(bv, [1, k, n]),
            transposeA: true,
            bias: tf.tensor1d(biasv),
          })
          .dataSync()
          .slice(),
      );
    const ref = naive(av, bv, m, k, n, true, false).map((v, j) => v + biasv[j % n]!);
    unregisterFastKernels('wasm');
    const stock = fusedOnce();
    registerFastKernels('wasm');
    assert.ok(relError(stock, ref) > 0.01, 'stock kernel is wrong');
    assert.ok(relError(fusedOnce(), ref) <= TOL);
  });

  it('sums over any axes like a naive sum', () => {
    registerFastKernels('wasm');
    const rng = new Rng(39);
    const shape = [3, 5, 4, 6];
    const xv = randomValues(rng, size(shape));
    const naiveSum = (axes: number[]) => {
      const keep = shape.map((_, i) => !axes.includes(i));
      const outShape = shape.filter((_, i) => keep[i]);
      const out = new Float64Array(size(outShape));
      const idx = [0, 0, 0, 0];
      for (let f = 0; f < xv.length; f++) {
        let r = f;
        for (let d = 3; d >= 0; d--) {
          idx[d] = r % shape[d]!;
          r = Math.floor(r / shape[d]!);
        }
        let o = 0;
        shape.forEach((n, d) => {
          if (keep[d]) o = o * n + idx[d]!;
        });
        out[o] = out[o]! + xv[f]!;
      }
      return out;
    };
    for (const axes of [[0, 1, 2], [3], [1, 2], [0, 2], [0, 1, 2, 3], [2, 1]]) {
      const got = tf.tidy(() => tf.sum(tf.tensor(xv, shape), axes).dataSync().slice());
      assert.ok(relError(got, naiveSum(axes)) <= 1e-5, JSON.stringify(axes));
    }
    const kept = tf.tidy(() => tf.sum(tf.tensor(xv, shape), [0, 1], true));
    assert.deepEqual(kept.shape, [1, 1, 4, 6]);
    kept.dispose();
    const ints = tf.tidy(() => tf.sum(tf.tensor([1, 2, 3, 4], [2, 2], 'int32'), 0));
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(Array.from(ints.dataSync()), [4, 6]);
    ints.dispose();
  });

  it('clones and same-dtype casts share data instead of copying it', () => {
    registerFastKernels('wasm');
    const x = tf.tensor([1.5, -2.5, 3.25], [3]);
    const buffers = tf.backend().numDataIds();
    const tensors = tf.memory().numTensors;
    const c = tf.clone(x);
    const same = tf.cast(x, 'float32');
    assert.equal(tf.backend().numDataIds(), buffers, 'no new buffer');
    assert.equal(tf.memory().numTensors, tensors + 2);
    x.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1.5, -2.5, 3.25]);
    assert.deepEqual(Array.from(same.dataSync()), [1.5, -2.5, 3.25]);
    c.dispose();
    assert.deepEqual(Array.from(same.dataSync()), [1.5, -2.5, 3.25]);
    // a real cast still converts
    const ints = tf.cast(same, 'int32');
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(Array.from(ints.dataSync()), [1, -2, 3]);
    tf.dispose([same, ints]);
    assert.equal(tf.backend().numDataIds(), buffers - 1, 'the shared buffer is freed with its last tensor');
  });

  it('leaks no tensor or wasm buffer and does not touch its inputs', () => {
    registerFastKernels('wasm');
    const rng = new Rng(32);
    const xv = randomValues(rng, 2 * 11 * 9 * 3);
    const fv = randomValues(rng, 3 * 3 * 3 * 5);
    const x = tf.tensor4d(xv, [2, 11, 9, 3]);
    const f = tf.tensor4d(fv, [3, 3, 3, 5]);
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    tf.tidy(() => {
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.maxPool(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')) as tf.Tensor4D, 2, 2, 'same'),
        );
      const [gx, gf] = tf.grads(loss)([x, f]);
      gx!.dataSync();
      gf!.dataSync();
    });
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.backend().numDataIds(), buffers);
    assert.deepEqual(x.dataSync(), xv);
    assert.deepEqual(f.dataSync(), fv);
    tf.dispose([x, f]);
  });

  for (const [strides, padding] of [
    [1, 'valid'],
    [2, 'same'],
  ] as const) {
    it(`trains a tiny conv net with a custom loop (stride ${strides}, ${padding}): the loss decreases`, () => {
      registerFastKernels('wasm');
      const tensors = tf.memory().numTensors;
      const { x, y } = toyData(64, 33);
      const model = tinyNet(34, strides, padding);
      const optimizer = tf.train.adam(0.02);
      const initial = tf.tidy(() => lossOf(model, x, y).dataSync()[0]!);
      for (let step = 0; step < 25; step++) {
        const start = (step * 16) % 64;
        optimizer.minimize(() =>
          tf.tidy(() =>
            lossOf(model, tf.slice(x, [start, 0, 0, 0], [16, -1, -1, -1]), tf.slice(y, [start, 0], [16, -1])),
          ),
        );
      }
      const final = tf.tidy(() => lossOf(model, x, y).dataSync()[0]!);
      assert.ok(Number.isFinite(final), `final loss ${final}`);
      assert.ok(final < 0.6 * initial, `loss ${initial} -> ${final}`);
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, y]);
      assert.equal(tf.memory().numTensors, tensors, 'training leaves no tensor behind');
    });
  }

  it('unregisterFastKernels restores stock wasm (the filter gradient is missing again)', () => {
    registerFastKernels('wasm');
    const removal = unregisterFastKernels('wasm');
    const missing: string[] = [
      tf.Conv2DBackpropFilter,
      tf.DepthwiseConv2dNativeBackpropInput,
      tf.DepthwiseConv2dNativeBackpropFilter,
      tf.UnsortedSegmentSum,
    ];
    assert.deepEqual([...removal.restored].sort(), FAST_KERNELS.wasm.filter((k) => !missing.includes(k)).sort());
    assert.deepEqual([...removal.removed].sort(), [...missing].sort());
    assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'), undefined);
    // the restored stock kernels still work
    const y = tf.tidy(() =>
      tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'valid'),
    );
    assert.deepEqual(Array.from(y.dataSync()), new Array(9).fill(4));
    y.dispose();
    registerFastKernels('wasm');
    assert.ok(FAST_KERNELS.wasm.every((k) => tf.getKernel(k, 'wasm') !== undefined));
  });
});
