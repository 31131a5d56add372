/**
 * The fast convolution kernels of the cpu backend against the stock ones,
 * and the other strategies run on cpu kernels.
 *
 * @backend cpu
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradient functions

import { BackdoorKitError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { fastKernelFunc } from '../../src/kernels/fast-conv.js';
import { FAST_KERNELS, registerFastKernels, unregisterFastKernels } from '../../src/kernels/index.js';
import { avgPoolBackprop, maxPoolBackprop, sumMiddle } from '../../src/kernels/pool-loops.js';
import { conv2dBackpropFilter, conv2dBackpropInput, conv2dForward } from '../../src/kernels/conv-loops.js';
import { ready } from '../helpers/backend.js';
import {
  convGrads,
  caseValues,
  label,
  naiveConv,
  naiveConvDf,
  naiveConvDx,
  outShape,
  padsOf,
  randomCases,
  randomValues,
  relError,
  type ConvCase,
} from './reference.js';

const TOL = 1e-4;

function geometryOf(c: ConvCase) {
  const [batch, inHeight, inWidth, inChannels] = c.x;
  const [filterHeight, filterWidth, , outChannels] = c.f;
  const [, outHeight, outWidth] = outShape(c);
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels,
    filterHeight,
    filterWidth,
    strideHeight: c.strides[0],
    strideWidth: c.strides[1],
    dilationHeight: c.dilations[0],
    dilationWidth: c.dilations[1],
    padTop: c.pads[0],
    padLeft: c.pads[2],
  };
}

describe('fast kernels: loops against naive references', () => {
  before(async () => {
    await ready;
  });

  it('conv2dForward matches a naive convolution (strides, dilations, paddings)', () => {
    const rng = new Rng(11);
    const cases = randomCases(rng, 24, ['valid', 'same', 'explicit', 'number']);
    // add dilated cases
    for (const d of [2, 3] as const) {
      const x: ConvCase['x'] = [2, 11, 9, 3];
      const f: ConvCase['f'] = [3, 2, 3, 5];
      cases.push({ x, f, strides: [1, 1], dilations: [d, d], pad: 'same', pads: padsOf(x, f, [1, 1], [d, d], 'same') });
    }
    for (const c of cases) {
      const xv = randomValues(
        rng,
        c.x.reduce((a, b) => a * b, 1),
      );
      const fv = randomValues(
        rng,
        c.f.reduce((a, b) => a * b, 1),
      );
      const got = conv2dForward(xv, fv, geometryOf(c));
      assert.ok(relError(got, naiveConv(c, xv, fv)) <= TOL, label(c));
    }
  });

  it('conv2dBackpropInput and conv2dBackpropFilter match naive gradients', () => {
    const rng = new Rng(12);
    for (const c of randomCases(rng, 30, ['valid', 'same', 'explicit', 'number'])) {
      const { xv, fv, dyv } = caseValues(rng, c);
      const g = geometryOf(c);
      assert.ok(relError(conv2dBackpropInput(dyv, fv, g), naiveConvDx(c, dyv, fv)) <= TOL, `dx ${label(c)}`);
      assert.ok(relError(conv2dBackpropFilter(xv, dyv, g), naiveConvDf(c, xv, dyv)) <= TOL, `df ${label(c)}`);
    }
  });

  it('maxPoolBackprop sends each gradient to the first maximum of its window', () => {
    // 1 image, 4x4, 1 channel; 2x2 windows with stride 2; ties resolved to the first (row-major).
    const x = Float32Array.from([1, 5, 2, 2, 3, 0, 2, 2, 0, 0, 7, 1, 0, 0, 1, 7]);
    const dy = Float32Array.from([10, 20, 30, 40]);
    const g = {
      batch: 1,
      inHeight: 4,
      inWidth: 4,
      inChannels: 1,
      outHeight: 2,
      outWidth: 2,
      outChannels: 1,
      filterHeight: 2,
      filterWidth: 2,
      strideHeight: 2,
      strideWidth: 2,
      dilationHeight: 1,
      dilationWidth: 1,
      padTop: 0,
      padLeft: 0,
    };
    assert.deepEqual(Array.from(maxPoolBackprop(x, dy, g)), [0, 10, 20, 0, 0, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0]);
    // avg: every input of a window gets dy / 4.
    assert.deepEqual(
      Array.from(avgPoolBackprop(dy, g)),
      [2.5, 2.5, 5, 5, 2.5, 2.5, 5, 5, 7.5, 7.5, 10, 10, 7.5, 7.5, 10, 10],
    );
  });

  it('sumMiddle sums the middle block of an [outer, reduced, inner] view', () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    // [2, 3, 4]: out[a, c] = sum_r x[a, r, c]
    assert.deepEqual(Array.from(sumMiddle(x, 2, 3, 4)), [12, 15, 18, 21, 48, 51, 54, 57]);
    assert.deepEqual(Array.from(sumMiddle(x, 1, 24, 1)), [276]);
  });
});

describe('registerFastKernels on cpu', () => {
  before(async () => {
    await ready;
    unregisterFastKernels('cpu');
  });

  it('rejects a bad backend name before doing anything', () => {
    for (const bad of ['', 42, null]) {
      assert.throws(
        () => registerFastKernels(bad as string),
        (e: unknown) => e instanceof BackdoorKitError && e.code === 'INVALID_ARGUMENT' && /backendName/.test(e.message),
      );
      assert.throws(
        () => unregisterFastKernels(bad as string),
        (e: unknown) => e instanceof BackdoorKitError && e.code === 'INVALID_ARGUMENT' && /backendName/.test(e.message),
      );
    }
  });

  it('does nothing on a backend it has no kernels for', () => {
    const info = registerFastKernels('webgl');
    assert.deepEqual(info, { backend: 'webgl', supported: false, replaced: [], added: [] });
    assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, 'webgl'), undefined);
    assert.deepEqual(unregisterFastKernels('webgl'), { backend: 'webgl', restored: [], removed: [] });
  });

  it('gives the same gradients through tf.conv2d as the stock kernels (strides 1, 2; valid, same)', () => {
    const rng = new Rng(21);
    const cases = [
      ...randomCases(rng, 20, ['valid', 'same']),
      // numeric padding is only consistent in tfjs for square filters and equal strides
      ...randomCases(rng, 4, ['number', 'explicit'], [1, 2], true),
    ];
    const data = cases.map((c) => ({
      xv: randomValues(
        rng,
        c.x.reduce((a, b) => a * b, 1),
      ),
      fv: randomValues(
        rng,
        c.f.reduce((a, b) => a * b, 1),
      ),
      dyv: randomValues(
        rng,
        outShape(c).reduce((a, b) => a * b, 1),
      ),
    }));
    unregisterFastKernels('cpu');
    const reference = cases.map((c, i) => convGrads(c, data[i]!.xv, data[i]!.fv, data[i]!.dyv));
    registerFastKernels('cpu');
    try {
      cases.forEach((c, i) => {
        const d = data[i]!;
        const got = convGrads(c, d.xv, d.fv, d.dyv);
        const ref = reference[i]!;
        assert.deepEqual(got.yShape, ref.yShape, label(c));
        assert.ok(relError(got.y, ref.y) <= TOL, `y ${label(c)}`);
        assert.ok(relError(got.dx, ref.dx) <= TOL, `dx ${label(c)}`);
        assert.ok(relError(got.df, ref.df) <= TOL, `df ${label(c)}`);
      });
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('treats numeric padding as explicit padding on every side (non-square filters too)', () => {
    registerFastKernels('cpu');
    try {
      const rng = new Rng(22);
      for (const c of randomCases(rng, 8, ['number'])) {
        const { xv, fv, dyv } = caseValues(rng, c);
        const got = convGrads(c, xv, fv, dyv);
        assert.deepEqual(got.yShape, outShape(c), label(c));
        assert.ok(relError(got.y, naiveConv(c, xv, fv)) <= TOL, `y ${label(c)}`);
        assert.ok(relError(got.dx, naiveConvDx(c, dyv, fv)) <= TOL, `dx ${label(c)}`);
        assert.ok(relError(got.df, naiveConvDf(c, xv, dyv)) <= TOL, `df ${label(c)}`);
      }
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  for (const strategy of ['wasm', 'convolution'] as const) {
    it(`runs the ${strategy} strategy (gradients as matrix products or forward convolutions) correctly on cpu kernels`, () => {
      const rng = new Rng(23);
      const backend = tf.backend();
      const filterGrad = fastKernelFunc(tf.Conv2DBackpropFilter, 'cpu', strategy);
      const inputGrad = fastKernelFunc(tf.Conv2DBackpropInput, 'cpu', strategy);
      const idsBefore = backend.numDataIds();
      for (const c of randomCases(rng, 24, ['valid', 'same', 'explicit', 'number'])) {
        const { xv, fv, dyv } = caseValues(rng, c);
        const x = tf.tensor4d(xv, c.x);
        const f = tf.tensor4d(fv, c.f);
        const dy = tf.tensor4d(dyv, outShape(c));
        const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
        const df = filterGrad({ inputs: { x, dy }, backend, attrs: { ...common, filterShape: c.f } }) as tf.TensorInfo;
        const dx = inputGrad({
          inputs: { dy, filter: f },
          backend,
          attrs: { ...common, inputShape: c.x },
        }) as tf.TensorInfo;
        assert.deepEqual(df.shape, c.f, label(c));
        assert.deepEqual(dx.shape, c.x, label(c));
        assert.ok(
          relError(backend.readSync(df.dataId) as Float32Array, naiveConvDf(c, xv, dyv)) <= TOL,
          `df ${label(c)}`,
        );
        assert.ok(
          relError(backend.readSync(dx.dataId) as Float32Array, naiveConvDx(c, dyv, fv)) <= TOL,
          `dx ${label(c)}`,
        );
        backend.disposeData(df.dataId);
        backend.disposeData(dx.dataId);
        tf.dispose([x, f, dy]);
      }
      assert.equal(backend.numDataIds(), idsBefore, 'no intermediate left in the backend');
    });
  }

  it('handles NCHW like the stock kernels', () => {
    const rng = new Rng(24);
    const xv = randomValues(rng, 2 * 3 * 7 * 6);
    const fv = randomValues(rng, 3 * 3 * 3 * 4);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [2, 3, 7, 6]);
        const f = tf.tensor4d(fv, [3, 3, 3, 4]);
        const loss = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same', 'NCHW')));
        return tf
          .grads(loss)([x, f])
          .map((g) => g.dataSync().slice());
      });
    unregisterFastKernels('cpu');
    const ref = run();
    registerFastKernels('cpu');
    try {
      const got = run();
      assert.ok(relError(got[0]!, ref[0]!) <= TOL);
      assert.ok(relError(got[1]!, ref[1]!) <= TOL);
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('matches the stock pooling gradients, ties included', () => {
    const rng = new Rng(25);
    const setups: Array<[number, number, 'valid' | 'same']> = [
      [2, 2, 'valid'],
      [3, 2, 'same'],
      [3, 1, 'same'],
      [2, 1, 'valid'],
    ];
    // small integers: many ties inside windows
    const inputs = setups.map(() => Float32Array.from({ length: 2 * 9 * 7 * 3 }, () => rng.int(4)));
    const run = () =>
      setups.map(([size, stride, pad], i) =>
        tf.tidy(() => {
          const x = tf.tensor4d(inputs[i]!, [2, 9, 7, 3]);
          const gm = tf.grad((a: tf.Tensor) => tf.mul(tf.maxPool(a as tf.Tensor4D, size, stride, pad), i + 1))(x);
          const ga = tf.grad((a: tf.Tensor) => tf.mul(tf.avgPool(a as tf.Tensor4D, size, stride, pad), i + 1))(x);
          return [gm.dataSync().slice(), ga.dataSync().slice()];
        }),
      );
    unregisterFastKernels('cpu');
    const ref = run();
    registerFastKernels('cpu');
    try {
      run().forEach((pair, i) => {
        assert.deepEqual(Array.from(pair[0]!), Array.from(ref[i]![0]!), `max pool ${JSON.stringify(setups[i])}`);
        assert.ok(relError(pair[1]!, ref[i]![1]!) <= 1e-6, `avg pool ${JSON.stringify(setups[i])}`);
      });
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('matches the stock FusedConv2D (bias, activations) and Sum', () => {
    const rng = new Rng(26);
    const xv = randomValues(rng, 2 * 9 * 8 * 3);
    const fv = randomValues(rng, 3 * 2 * 3 * 5);
    const bv = randomValues(rng, 5);
    const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
    const sums: Array<[number[] | number | undefined, boolean]> = [
      [[0, 1, 2], false],
      [[0, 1, 2], true],
      [[3], false],
      [[1, 2], true],
      [-1, false],
      [[0, 2], false],
      [undefined, false],
      [[2, 1], false],
    ];
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [2, 9, 8, 3]);
        const f = tf.tensor4d(fv, [3, 2, 3, 5]);
        const bias = tf.tensor1d(bv);
        const fused = activations.map((activation) =>
          tf.fused
            .conv2d({
              x,
              filter: f,
              strides: 2,
              pad: 'same',
              bias,
              activation,
              preluActivationWeights: activation === 'prelu' ? tf.scalar(0.3) : undefined,
              leakyreluAlpha: 0.1,
            })
            .dataSync()
            .slice(),
        );
        const noBias = tf.fused.conv2d({ x, filter: f, strides: 1, pad: 'valid' }).dataSync().slice();
        const summed = sums.map(([axis, keep]) => {
          const t = tf.sum(x, axis, keep);
          return { shape: t.shape, v: t.dataSync().slice() };
        });
        const intSum = tf.sum(tf.cast(tf.mul(x, 10), 'int32'), [0, 1]);
        return { fused, noBias, summed, intSum: { dtype: intSum.dtype, v: Array.from(intSum.dataSync()) } };
      });
    unregisterFastKernels('cpu');
    const ref = run();
    registerFastKernels('cpu');
    try {
      const got = run();
      got.fused.forEach((v, i) => assert.ok(relError(v, ref.fused[i]!) <= TOL, activations[i]));
      assert.ok(relError(got.noBias, ref.noBias) <= TOL);
      got.summed.forEach((r, i) => {
        assert.deepEqual(r.shape, ref.summed[i]!.shape, JSON.stringify(sums[i]));
        assert.ok(relError(r.v, ref.summed[i]!.v) <= 1e-6, JSON.stringify(sums[i]));
      });
      assert.deepEqual(got.intSum, ref.intSum);
    } finally {
      unregisterFastKernels('cpu');
    }
  });

  it('is idempotent, and unregistering restores the original kernels', () => {
    const originals = FAST_KERNELS.cpu.map((name) => tf.getKernel(name, 'cpu'));
    const first = registerFastKernels();
    assert.deepEqual(first, { backend: 'cpu', supported: true, replaced: [...FAST_KERNELS.cpu], added: [] });
    const installed = FAST_KERNELS.cpu.map((name) => tf.getKernel(name, 'cpu'));
    installed.forEach((k, i) => assert.notEqual(k, originals[i]));
    assert.deepEqual(registerFastKernels('cpu'), first);
    FAST_KERNELS.cpu.forEach((name, i) => assert.equal(tf.getKernel(name, 'cpu'), installed[i], name));
    const removal = unregisterFastKernels('cpu');
    assert.deepEqual([...removal.restored].sort(), [...FAST_KERNELS.cpu].sort());
    assert.deepEqual(removal.removed, []);
    FAST_KERNELS.cpu.forEach((name, i) => assert.equal(tf.getKernel(name, 'cpu'), originals[i], name));
    assert.deepEqual(unregisterFastKernels('cpu'), { backend: 'cpu', restored: [], removed: [] });
    // results are plain data
    assert.deepEqual(JSON.parse(JSON.stringify(first)), first);
  });

  it('leaks no tensor or backend buffer and does not touch its inputs', () => {
    registerFastKernels('cpu');
    try {
      const rng = new Rng(27);
      const xv = randomValues(rng, 3 * 10 * 9 * 4);
      const fv = randomValues(rng, 3 * 3 * 4 * 6);
      const x = tf.tensor4d(xv, [3, 10, 9, 4]);
      const f = tf.tensor4d(fv, [3, 3, 4, 6]);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      tf.tidy(() => {
        const loss = (a: tf.Tensor, b: tf.Tensor) => {
          const h = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'));
          const p = tf.maxPool(h as tf.Tensor4D, 2, 2, 'same');
          return tf.sum(tf.avgPool(p, 2, 1, 'same'));
        };
        const [gx, gf] = tf.grads(loss)([x, f]);
        gx!.dataSync();
        gf!.dataSync();
      });
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(tf.backend().numDataIds(), buffers);
      assert.deepEqual(x.dataSync(), xv);
      assert.deepEqual(f.dataSync(), fv);
      tf.dispose([x, f]);
    } finally {
      unregisterFastKernels('cpu');
    }
  });
});
