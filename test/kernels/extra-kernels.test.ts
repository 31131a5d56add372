/**
 * The fast kernels besides convolution (pooling, sums, matrix products) and
 * their loops, on cpu, against naive references and tfjs's own kernels.
 *
 * @backend cpu
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradient functions

import { Rng } from '../../src/core/rng.js';
import { registerFastKernels, unregisterFastKernels } from '../../src/kernels/index.js';
import { batchMatMul, gemmNT } from '../../src/kernels/gemm-loops.js';
import { maxPoolBackprop, maxPoolForward, sumMiddle } from '../../src/kernels/pool-loops.js';
import { patchesTransposed } from '../../src/kernels/conv-loops.js';
import { type ConvGeometry } from '../../src/kernels/loop-types.js';
import { ready } from '../helpers/backend.js';
import {
  label,
  naiveMaxPoolGrad,
  outShape,
  padsOf,
  randomCases,
  randomValues,
  relError,
  type ConvCase,
} from './reference.js';

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Naive `op(a) x op(b)` for one pair, in double precision. */
function naiveMatMul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  tA: boolean,
  tB: boolean,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * m + i]! : a[i * k + p]!) * (tB ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = s;
    }
  return out;
}

function poolGeometry(
  shape: [number, number, number, number],
  k: number | [number, number],
  s: number | [number, number],
  pad: 'valid' | 'same',
): ConvGeometry {
  const info = tf.backend_util.computePool2DInfo(shape, k, s, 1, pad);
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
    dilationHeight: 1,
    dilationWidth: 1,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Naive max pooling with tfjs-backend-cpu's rules (strictly greater wins, -Infinity if nothing does). */
function naiveMaxPool(x: ArrayLike<number>, shape: [number, number, number, number], g: ConvGeometry): Float64Array {
  const [B, H, W, C] = shape;
  const y = new Float64Array(B * g.outHeight * g.outWidth * C);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < g.outHeight; oh++)
      for (let ow = 0; ow < g.outWidth; ow++)
        for (let c = 0; c < C; c++) {
          let m = -Infinity;
          for (let i = 0; i < g.filterHeight; i++)
            for (let j = 0; j < g.filterWidth; j++) {
              const h = oh * g.strideHeight + i - g.padTop;
              const w = ow * g.strideWidth + j - g.padLeft;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const v = x[((b * H + h) * W + w) * C + c]!;
              if (v > m) m = v;
            }
          y[((b * g.outHeight + oh) * g.outWidth + ow) * C + c] = m;
        }
  return y;
}

/** Exact equality that treats NaN as equal to NaN. */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(a[i] === b[i])) return false;
  return true;
}

describe('extra kernel loops against naive references', () => {
  before(async () => {
    await ready;
  });

  it('gemmNT multiplies by a transposed factor (odd sizes, offsets, row stride)', () => {
    const rng = new Rng(41);
    for (const [m, k, n] of [
      [1, 1, 1],
      [2, 3, 4],
      [5, 7, 3],
      [7, 1, 9],
      [9, 16, 13],
      [4, 0, 3],
    ] as const) {
      const a = randomValues(rng, 3 + m * k);
      const bT = randomValues(rng, 2 + n * k);
      const c = new Float32Array(5 + m * (n + 2)).fill(7);
      gemmNT(a, 3, m, k, bT, 2, n, c, 5, n + 2);
      const ref = naiveMatMul(a.subarray(3), bT.subarray(2), m, k, n, false, true);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          assert.ok(Math.abs(c[5 + i * (n + 2) + j]! - ref[i * n + j]!) <= 1e-5 * (1 + Math.abs(ref[i * n + j]!)));
        }
        // the padding between rows is untouched
        if (i < m - 1) assert.deepEqual(Array.from(c.subarray(5 + i * (n + 2) + n, 5 + (i + 1) * (n + 2))), [7, 7]);
      }
      assert.deepEqual(Array.from(c.subarray(0, 5)), [7, 7, 7, 7, 7], `${m}x${k}x${n}`);
    }
  });

  it('batchMatMul handles transposes and a factor shared over the batch', () => {
    const rng = new Rng(42);
    for (const [batch, sharedA, sharedB] of [
      [1, false, false],
      [3, false, false],
      [3, true, false],
      [3, false, true],
    ] as const) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const [m, k, n] = [5, 6, 7];
          const a = randomValues(rng, (sharedA ? 1 : batch) * m * k);
          const b = randomValues(rng, (sharedB ? 1 : batch) * k * n);
          const out = new Float32Array(batch * m * n).fill(Number.NaN);
          batchMatMul(a, b, batch, sharedA ? 0 : m * k, sharedB ? 0 : k * n, m, k, n, tA, tB, out);
          for (let i = 0; i < batch; i++) {
            const ai = sharedA ? a : a.subarray(i * m * k, (i + 1) * m * k);
            const bi = sharedB ? b : b.subarray(i * k * n, (i + 1) * k * n);
            const ref = naiveMatMul(ai, bi, m, k, n, tA, tB);
            assert.ok(relError(out.subarray(i * m * n, (i + 1) * m * n), ref) <= 1e-6, `${batch} ${tA} ${tB}`);
          }
        }
      }
    }
  });

  it('patchesTransposed builds the transposed patch matrix (strides, paddings, dilations)', () => {
    const rng = new Rng(43);
    const cases: ConvCase[] = [...randomCases(rng, 16, ['valid', 'same', 'explicit', 'number'])];
    const x0: ConvCase['x'] = [2, 9, 8, 3];
    const f0: ConvCase['f'] = [3, 2, 3, 4];
    cases.push({
      x: x0,
      f: f0,
      strides: [1, 2],
      dilations: [2, 2],
      pad: 'same',
      pads: padsOf(x0, f0, [1, 2], [2, 2], 'same'),
    });
    for (const c of cases) {
      const [B, H, W, Ci] = c.x;
      const [KH, KW] = c.f;
      const [, OH, OW] = outShape(c);
      const g: ConvGeometry = {
        batch: B,
        inHeight: H,
        inWidth: W,
        inChannels: Ci,
        outHeight: OH,
        outWidth: OW,
        outChannels: c.f[3],
        filterHeight: KH,
        filterWidth: KW,
        strideHeight: c.strides[0],
        strideWidth: c.strides[1],
        dilationHeight: c.dilations[0],
        dilationWidth: c.dilations[1],
        padTop: c.pads[0],
        padLeft: c.pads[2],
      };
      const xv = randomValues(rng, size(c.x));
      const M = B * OH * OW;
      const got = patchesTransposed(xv, g, new Float32Array(KH * KW * Ci * M).fill(Number.NaN));
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++)
          for (let ci = 0; ci < Ci; ci++)
            for (let b = 0; b < B; b++)
              for (let oh = 0; oh < OH; oh++)
                for (let ow = 0; ow < OW; ow++) {
                  const ih = oh * c.strides[0] + kh * c.dilations[0] - c.pads[0];
                  const iw = ow * c.strides[1] + kw * c.dilations[1] - c.pads[2];
                  const want = ih < 0 || ih >= H || iw < 0 || iw >= W ? 0 : xv[((b * H + ih) * W + iw) * Ci + ci]!;
                  const at = ((kh * KW + kw) * Ci + ci) * M + (b * OH + oh) * OW + ow;
                  assert.equal(got[at], want, label(c));
                }
    }
  });

  it('maxPoolForward and maxPoolBackprop follow tfjs-backend-cpu (ties, NaN, -Infinity, windows and paddings)', () => {
    const rng = new Rng(44);
    const shape: [number, number, number, number] = [2, 9, 7, 3];
    const setups: Array<[number | [number, number], number | [number, number], 'valid' | 'same']> = [
      [2, 2, 'valid'],
      [2, 2, 'same'],
      [3, 2, 'same'],
      [3, 1, 'same'],
      [2, 1, 'valid'],
      [[2, 3], [2, 1], 'same'],
      [1, 1, 'valid'],
    ];
    const n = size(shape);
    const special = Float32Array.from({ length: n }, () => {
      const r = rng.int(8);
      if (r === 0) return Number.NaN;
      if (r === 1) return Number.NEGATIVE_INFINITY;
      return rng.int(3) - 1;
    });
    // a window of NaN and -Infinity only (no maximum: no gradient, output -Infinity)
    for (const i of [0, 3, 21, 24]) special[i] = Number.NaN;
    special[21 + 3] = Number.NEGATIVE_INFINITY;
    for (const xv of [randomValues(rng, n), Float32Array.from({ length: n }, () => rng.int(3)), special]) {
      for (const [k, s, pad] of setups) {
        const g = poolGeometry(shape, k, s, pad);
        const y = maxPoolForward(xv, g, new Float32Array(size([2, g.outHeight, g.outWidth, 3])).fill(5));
        assert.ok(sameValues(y, naiveMaxPool(xv, shape, g)), `forward ${JSON.stringify([k, s, pad])}`);
        const dy = randomValues(rng, y.length);
        const dx = maxPoolBackprop(xv, dy, g, new Float32Array(n).fill(5));
        if (typeof k === 'number' && typeof s === 'number') {
          assert.ok(relError(dx, naiveMaxPoolGrad(xv, shape, dy, k, s, pad)) <= 1e-6, `grad ${k} ${s} ${pad}`);
        }
        // a fresh result equals the one written into a dirty buffer
        assert.deepEqual(Array.from(maxPoolBackprop(xv, dy, g)), Array.from(dx));
      }
    }
  });

  it('sumMiddle sums narrow and wide inner blocks', () => {
    const rng = new Rng(45);
    for (const [outer, reduced, inner] of [
      [1, 50, 16],
      [3, 7, 5],
      [2, 9, 33],
      [2, 4, 3],
      [1, 1, 1],
    ] as const) {
      const x = randomValues(rng, outer * reduced * inner);
      const ref = new Float64Array(outer * inner);
      for (let a = 0; a < outer; a++)
        for (let r = 0; r < reduced; r++)
          for (let c = 0; c < inner; c++) ref[a * inner + c] = ref[a * inner + c]! + x[(a * reduced + r) * inner + c]!;
      const out = sumMiddle(x, outer, reduced, inner, new Float32Array(outer * inner).fill(Number.NaN));
      assert.ok(relError(out, ref) <= 1e-6, `${outer} ${reduced} ${inner}`);
    }
  });
});

describe('extra kernels on cpu against tfjs', () => {
  before(async () => {
    await ready;
    unregisterFastKernels('cpu');
  });

  it('MaxPool matches the stock kernel (values, NaN, -Infinity, int32 fallback)', () => {
    const rng = new Rng(46);
    const shape: [number, number, number, number] = [2, 8, 9, 4];
    const xv = Float32Array.from({ length: size(shape) }, () => {
      const r = rng.int(10);
      return r === 0 ? Number.NaN : r === 1 ? Number.NEGATIVE_INFINITY : rng.normal();
    });
    const setups: Array<[number, number, 'valid' | 'same']> = [
      [2, 2, 'valid'],
      [3, 2, 'same'],
      [3, 1, 'valid'],
      [1, 1, 'same'],
    ];
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, shape);
        const xi = tf.cast(
          tf.mul(tf.tensor4d(randomValues(new Rng(1), size(shape)), shape), 10),
          'int32',
        ) as tf.Tensor4D;
        return setups.map(([k, s, pad]) => {
          const y = tf.maxPool(x, k, s, pad);
          const yi = tf.maxPool(xi, k, s, pad);
          return { y: Array.from(y.dataSync()), shape: y.shape, yi: Array.from(yi.dataSync()), dtype: yi.dtype };
        });
      });
    const ref = run();
    registerFastKernels('cpu');
    try {
      run().forEach((r, i) => assert.deepEqual(r, ref[i], JSON.stringify(setups[i])));
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('BatchMatMul and _FusedMatMul match the stock kernels (transposes, batches, broadcasts, bias, activations)', () => {
    const rng = new Rng(47);
    const mats: Array<[number[], number[], boolean, boolean]> = [
      [[6, 5], [5, 4], false, false],
      [[5, 6], [5, 4], true, false],
      [[6, 5], [4, 5], false, true],
      [[5, 6], [4, 5], true, true],
      [[3, 6, 5], [3, 5, 4], false, false],
      [[3, 6, 5], [5, 4], false, false],
      [[1, 6, 5], [3, 4, 5], false, true],
      [[2, 3, 6, 5], [5, 4], false, false],
      [[1, 1, 5, 6], [2, 3, 5, 4], true, false],
      [[1, 7], [7, 1], false, false],
    ];
    const values = mats.map(([sa, sb]) => [randomValues(rng, size(sa)), randomValues(rng, size(sb))] as const);
    const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
    const run = () =>
      tf.tidy(() =>
        mats.map(([sa, sb, tA, tB], i) => {
          const a = tf.tensor(values[i]![0], sa);
          const b = tf.tensor(values[i]![1], sb);
          const plain = tf.matMul(a, b, tA, tB);
          const n = plain.shape.at(-1)!;
          const bias = tf.tensor1d(randomValues(new Rng(i), n));
          const fused = activations.map((activation) =>
            Array.from(
              tf.fused
                .matMul({
                  a,
                  b,
                  transposeA: tA,
                  transposeB: tB,
                  bias: activation === 'relu6' ? tf.scalar(0.5) : bias,
                  activation,
                  preluActivationWeights: activation === 'prelu' ? tf.scalar(0.2) : undefined,
                  leakyreluAlpha: 0.3,
                })
                .dataSync(),
            ),
          );
          // a bias broadcast along rows (not per column): falls back to the original kernel
          const rowBias = tf.fused.matMul({
            a,
            b,
            transposeA: tA,
            transposeB: tB,
            bias: tf.ones([plain.shape.at(-2)!, 1]),
          });
          return {
            shape: plain.shape,
            v: Array.from(plain.dataSync()),
            fused,
            rowBias: Array.from(rowBias.dataSync()),
          };
        }),
      );
    const ref = run();
    registerFastKernels('cpu');
    try {
      run().forEach((r, i) => {
        const want = ref[i]!;
        const tag = JSON.stringify(mats[i]);
        assert.deepEqual(r.shape, want.shape, tag);
        assert.ok(relError(r.v, want.v) <= 1e-5, tag);
        r.fused.forEach((f, j) => assert.ok(relError(f, want.fused[j]!) <= 1e-5, `${tag} ${activations[j]}`));
        assert.ok(relError(r.rowBias, want.rowBias) <= 1e-5, tag);
      });
      // dense-layer gradients go through the transposed products
      const w = tf.tensor2d(randomValues(rng, 12), [4, 3]);
      const x = tf.tensor2d(randomValues(rng, 20), [5, 4]);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b))))([x, w]);
      const xv = x.dataSync();
      const wv = w.dataSync();
      const y = naiveMatMul(xv, wv, 5, 4, 3, false, false);
      const dy = y.map((v) => 2 * v);
      assert.ok(relError(gw!.dataSync(), naiveMatMul(xv, dy, 4, 5, 3, true, false)) <= 1e-5);
      assert.ok(relError(gx!.dataSync(), naiveMatMul(dy, wv, 5, 3, 4, false, true)) <= 1e-5);
      tf.dispose([w, x, gx!, gw!]);
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('Add, Multiply, Relu and Step match the stock kernels bit for bit (broadcasts, NaN, -0, fallbacks)', () => {
    const rng = new Rng(49);
    const special = [Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-30, -1e-30];
    const valuesOf = (shape: number[]) =>
      Float32Array.from({ length: size(shape) }, () =>
        rng.int(5) === 0 ? special[rng.int(special.length)]! : rng.normal(),
      );
    const pairs: Array<[number[], number[]]> = [
      [
        [2, 3, 4],
        [2, 3, 4],
      ],
      [[2, 3, 4], [4]],
      [[4], [2, 3, 4]],
      [
        [2, 3, 4],
        [1, 3, 4],
      ],
      [[2, 3, 4], []],
      [[], [5]],
      [
        [2, 3, 4],
        [3, 1],
      ], // not a trailing block: falls back to the original
      [
        [3, 1],
        [1, 4],
      ],
    ];
    const data = pairs.map(([sa, sb]) => [valuesOf(sa), valuesOf(sb)] as const);
    const unary = valuesOf([3, 7]);
    const run = () =>
      tf.tidy(() => {
        const binary = pairs.map(([sa, sb], i) => {
          const a = tf.tensor(data[i]![0], sa);
          const b = tf.tensor(data[i]![1], sb);
          const sum = tf.add(a, b);
          return { shape: sum.shape, add: Array.from(sum.dataSync()), mul: Array.from(tf.mul(a, b).dataSync()) };
        });
        const x = tf.tensor(unary, [3, 7]);
        const ints = tf.tensor([-2, 0, 3], [3], 'int32');
        return {
          binary,
          relu: Array.from(tf.relu(x).dataSync()),
          step: Array.from(tf.step(x, 0.25).dataSync()),
          intRelu: Array.from(tf.relu(ints).dataSync()),
          intAdd: tf.add(ints, ints).dtype,
        };
      });
    const ref = run();
    registerFastKernels('cpu');
    try {
      const got = run();
      const same = (u: number[], v: number[]) => u.length === v.length && u.every((a, i) => Object.is(a, v[i]));
      got.binary.forEach((r, i) => {
        const tag = JSON.stringify(pairs[i]);
        assert.deepEqual(r.shape, ref.binary[i]!.shape, tag);
        assert.ok(same(r.add, ref.binary[i]!.add), `add ${tag}`);
        assert.ok(same(r.mul, ref.binary[i]!.mul), `mul ${tag}`);
      });
      assert.ok(same(got.relu, ref.relu), 'relu');
      assert.ok(same(got.step, ref.step), 'step');
      assert.deepEqual(got.intRelu, ref.intRelu);
      assert.equal(got.intAdd, 'int32');
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('leaves no tensor or backend buffer behind and does not touch its inputs', () => {
    registerFastKernels('cpu');
    try {
      const rng = new Rng(48);
      const xv = randomValues(rng, 2 * 6 * 6 * 3);
      const wv = randomValues(rng, 27 * 5);
      const x = tf.tensor4d(xv, [2, 6, 6, 3]);
      const w = tf.tensor2d(wv, [27, 5]);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      tf.tidy(() => {
        const loss = (a: tf.Tensor, b: tf.Tensor) => {
          const p = tf.maxPool(a as tf.Tensor4D, 2, 2, 'same');
          const flat = tf.reshape(p, [2, 27]);
          return tf.sum(
            tf.relu(tf.fused.matMul({ a: flat, b: b as tf.Tensor2D, bias: tf.ones([5]), activation: 'relu' })),
          );
        };
        const [gx, gw] = tf.grads(loss)([x, w]);
        gx!.dataSync();
        gw!.dataSync();
      });
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(tf.backend().numDataIds(), buffers);
      assert.deepEqual(x.dataSync(), xv);
      assert.deepEqual(w.dataSync(), wv);
      tf.dispose([x, w]);
    } finally {
      unregisterFastKernels('cpu');
    }
  });
});
