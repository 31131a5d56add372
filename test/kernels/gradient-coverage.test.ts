/**
 * Kernel coverage: one training-mode gradient step of a tiny model per
 * tfjs-layers layer class, on the backend under test with the fast kernels,
 * against the stock cpu kernels (fast kernels unregistered). Every weight
 * gradient and the input gradient (float inputs) must match to 1e-4 relative
 * to the largest magnitude; a missing kernel fails the case.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { fromLayersModel } from '../../src/core/layers-model.js';
import { UnsupportedError } from '../../src/core/errors.js';
import { registerFastKernels, unregisterFastKernels } from '../../src/kernels/index.js';
import { Rng } from '../../src/core/rng.js';
import { backendName, ready } from '../helpers/backend.js';

const L = tfl.layers;

interface Case {
  readonly build: () => tfl.LayersModel;
  readonly input: (rng: Rng) => { values: number[]; shape: number[]; dtype: 'float32' | 'int32' };
}

function seq(layers: tfl.layers.Layer[]): tfl.LayersModel {
  const m = tfl.sequential();
  for (const l of layers) m.add(l);
  return m;
}

const floats = (shape: number[]) => (rng: Rng) => ({
  values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() * 2 - 1),
  shape,
  dtype: 'float32' as const,
});

/** A layer that gathers columns (TrojanNet's select, and users' models, gather). */
class GatherColumns extends tfl.layers.Layer {
  static readonly className = 'TestGatherColumns';
  override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.gather(Array.isArray(x) ? x[0]! : x, [0, 2, 4, 2], 1);
  }
  override computeOutputShape(s: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return [(s as tfl.Shape)[0]!, 4];
  }
}

const CASES: Record<string, Case> = {
  'DepthwiseConv2D valid, multiplier 2': {
    build: () =>
      seq([
        L.depthwiseConv2d({ inputShape: [7, 7, 3], kernelSize: 3, depthMultiplier: 2 }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    input: floats([3, 7, 7, 3]),
  },
  'DepthwiseConv2D stride 2, same': {
    build: () =>
      seq([
        L.depthwiseConv2d({ inputShape: [8, 8, 4], kernelSize: 3, strides: 2, padding: 'same' }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    input: floats([3, 8, 8, 4]),
  },
  SeparableConv2D: {
    build: () =>
      seq([
        L.separableConv2d({ inputShape: [8, 8, 3], kernelSize: 3, filters: 5, padding: 'same' }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    input: floats([3, 8, 8, 3]),
  },
  'BatchNormalization (training mode) after Conv2D stride 2': {
    build: () =>
      seq([
        L.conv2d({ inputShape: [8, 8, 2], kernelSize: 3, filters: 4, strides: 2, padding: 'same' }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    input: floats([4, 8, 8, 2]),
  },
  Conv1D: {
    build: () =>
      seq([L.conv1d({ inputShape: [10, 3], kernelSize: 3, filters: 4 }), L.flatten(), L.dense({ units: 3 })]),
    input: floats([3, 10, 3]),
  },
  Conv2DTranspose: {
    build: () =>
      seq([
        L.conv2dTranspose({ inputShape: [5, 5, 2], kernelSize: 3, filters: 3, strides: 2 }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    input: floats([2, 5, 5, 2]),
  },
  'AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D': {
    build: () => {
      const inp = tfl.input({ shape: [8, 8, 2] });
      const c = L.conv2d({ kernelSize: 3, filters: 3 }).apply(inp) as tfl.SymbolicTensor;
      const a = L.globalAveragePooling2d({}).apply(L.averagePooling2d({ poolSize: 2 }).apply(c)) as tfl.SymbolicTensor;
      const m = L.globalMaxPooling2d({}).apply(c) as tfl.SymbolicTensor;
      const out = L.dense({ units: 3 }).apply(L.concatenate().apply([a, m])) as tfl.SymbolicTensor;
      return tfl.model({ inputs: inp, outputs: out });
    },
    input: floats([3, 8, 8, 2]),
  },
  'Embedding → Conv1D → GlobalMaxPooling1D (a text CNN)': {
    build: () =>
      seq([
        L.embedding({ inputDim: 12, outputDim: 4, inputLength: 6 }),
        L.conv1d({ kernelSize: 2, filters: 3, activation: 'relu' }),
        L.globalMaxPooling1d({}),
        L.dense({ units: 2 }),
      ]),
    input: (rng) => ({
      values: Array.from({ length: 18 }, () => rng.int(12)),
      shape: [3, 6],
      dtype: 'int32',
    }),
  },
  'UpSampling2D, ZeroPadding2D, Cropping2D': {
    build: () =>
      seq([
        L.zeroPadding2d({ inputShape: [5, 5, 2], padding: 1 }),
        L.conv2d({ kernelSize: 3, filters: 3 }),
        L.upSampling2d({ size: [2, 2] }),
        L.cropping2D({ cropping: 1 }),
        L.flatten(),
        L.dense({ units: 3 }),
      ]),
    // batch 1: stock cpu's nearest-neighbour resize gradient is wrong for larger batches (tested below)
    input: floats([1, 5, 5, 2]),
  },
  'Add, Concatenate, Multiply (residual)': {
    build: () => {
      const inp = tfl.input({ shape: [6, 6, 3] });
      const a = L.conv2d({ kernelSize: 3, filters: 3, padding: 'same' }).apply(inp) as tfl.SymbolicTensor;
      const s = L.add().apply([a, inp]) as tfl.SymbolicTensor;
      const c = L.concatenate().apply([s, inp]) as tfl.SymbolicTensor;
      const m = L.multiply().apply([c, c]) as tfl.SymbolicTensor;
      const out = L.dense({ units: 3 }).apply(L.flatten().apply(m)) as tfl.SymbolicTensor;
      return tfl.model({ inputs: inp, outputs: out });
    },
    input: floats([2, 6, 6, 3]),
  },
  'gather (UnsortedSegmentSum gradient)': {
    build: () => {
      const inp = tfl.input({ shape: [6] });
      const d = L.dense({ units: 5 }).apply(inp) as tfl.SymbolicTensor;
      const out = L.dense({ units: 3 }).apply(new GatherColumns({}).apply(d)) as tfl.SymbolicTensor;
      return tfl.model({ inputs: inp, outputs: out });
    },
    input: floats([4, 6]),
  },
  'LSTM, GRU': {
    build: () =>
      seq([
        L.lstm({ inputShape: [5, 3], units: 4, returnSequences: true, recurrentInitializer: 'glorotUniform' }),
        L.gru({ units: 3, recurrentInitializer: 'glorotUniform' }),
        L.dense({ units: 2 }),
      ]),
    input: floats([3, 5, 3]),
  },
  'Dense with PReLU, LeakyReLU, ELU, tanh, softmax; LayerNormalization': {
    build: () =>
      seq([
        L.dense({ inputShape: [6], units: 5 }),
        L.prelu({}),
        L.leakyReLU({}),
        L.dense({ units: 5, activation: 'tanh' }),
        L.layerNormalization({}),
        L.elu({}),
        L.dense({ units: 3, activation: 'softmax' }),
      ]),
    input: floats([4, 6]),
  },
};

/** Weight gradients (in trainable-weight order) and the input gradient, as plain arrays. */
function gradients(c: Case, weights: Float32Array[], input: ReturnType<Case['input']>): Float32Array[] {
  const model = c.build();
  try {
    const ts = weights.map((w, i) => tf.tensor(w, model.weights[i]!.shape as number[]));
    model.setWeights(ts);
    tf.dispose(ts);
    return tf.tidy(() => {
      const x = tf.tensor(input.values, input.shape, input.dtype);
      const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const target = tf.randomUniform([input.shape[0]!, model.outputs[0]!.shape[1] as number], -1, 1, 'float32', 7);
      const loss = (xx: tf.Tensor) =>
        tf.mean(tf.square(tf.sub(model.apply(xx, { training: true }) as tf.Tensor, target))) as tf.Scalar;
      const { grads } = tf.variableGrads(() => loss(x), vars);
      const out = vars.map((v) => grads[v.name]!.dataSync() as Float32Array);
      if (input.dtype === 'float32') out.push(tf.grad(loss)(x).dataSync() as Float32Array);
      return out.map((a) => Float32Array.from(a));
    });
  } finally {
    model.dispose();
  }
}

/**
 * Largest difference relative to the reference's largest magnitude; a
 * gradient that is zero in theory (a conv bias before BatchNorm) is held to
 * the scale of the whole step (`floor`), not to its own rounding noise.
 */
function maxRelative(a: Float32Array, b: Float32Array, floor: number): number {
  let scale = floor;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  return worst;
}

describe(`gradients of every layer class on ${backendName} match stock cpu`, () => {
  before(async () => {
    await ready;
  });

  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      const start = tf.memory().numTensors;
      const rng = new Rng(11);
      const probe = c.build();
      const weights = probe.weights.map((w) => {
        const n = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
        // BN moving variance must stay positive; everything else in [-0.5, 0.5)
        return Float32Array.from({ length: n }, () =>
          w.name.includes('variance') ? 0.5 + rng.uniform() : rng.uniform() - 0.5,
        );
      });
      probe.dispose();
      const input = c.input(rng);
      const got = gradients(c, weights, input);
      await tf.setBackend('cpu');
      unregisterFastKernels('cpu');
      let want: Float32Array[];
      try {
        want = gradients(c, weights, input);
      } finally {
        if (backendName === 'cpu') registerFastKernels('cpu');
        await tf.setBackend(backendName);
      }
      assert.equal(got.length, want.length);
      const floor = 1e-2 * Math.max(...want.map((w) => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
      for (let i = 0; i < got.length; i++) {
        assert.equal(got[i]!.length, want[i]!.length);
        const err = maxRelative(got[i]!, want[i]!, floor);
        assert.ok(err < 1e-4, `${name}: gradient ${i} differs by ${err.toExponential(2)} (relative)`);
      }
      assert.equal(tf.memory().numTensors, start);
    });
  }
});

describe(`nearest-neighbour resize gradient on ${backendName}`, () => {
  before(async () => {
    await ready;
  });

  // <resize(x), dy> = <x, grad(dy)> for every x: the gradient is the adjoint of the forward pass
  for (const [alignCorners, halfPixelCenters, size] of [
    [false, false, [6, 6]],
    [true, false, [7, 5]],
    [false, true, [5, 7]],
  ] as const) {
    it(`is the adjoint of the forward resize for a batch of 3 (alignCorners ${alignCorners}, halfPixelCenters ${halfPixelCenters})`, () => {
      const start = tf.memory().numTensors;
      const [lhs, rhs] = tf.tidy(() => {
        const x = tf.randomUniform([3, 3, 4, 2], -1, 1, 'float32', 1) as tf.Tensor4D;
        const dy = tf.randomUniform([3, size[0], size[1], 2], -1, 1, 'float32', 2);
        const f = (xx: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.image.resizeNearestNeighbor(xx as tf.Tensor4D, [size[0], size[1]], alignCorners, halfPixelCenters),
              dy,
            ),
          );
        const g = tf.grad(f)(x);
        return [f(x).dataSync()[0]!, tf.sum(tf.mul(x, g)).dataSync()[0]!];
      });
      assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
      assert.equal(tf.memory().numTensors, start);
    });
  }
});

describe(`what cannot be differentiated on ${backendName} is a typed error, before work or without leaks`, () => {
  before(async () => {
    await ready;
  });

  const data = () => ({
    x: tf.randomUniform([6, 9, 9, 2], 0, 1, 'float32', 4) as tf.Tensor4D,
    y: Int32Array.from([0, 1, 2, 0, 1, 2]),
  });

  it('fit on a dilated convolution names the layer before any work', async () => {
    const clf = fromLayersModel(
      seq([
        L.conv2d({ inputShape: [9, 9, 2], kernelSize: 3, filters: 3, dilationRate: 2, name: 'atrous' }),
        L.flatten(),
        L.dense({ units: 3, activation: 'softmax' }),
      ]),
      { owned: true },
    );
    const d = data();
    const start = tf.memory().numTensors;
    const before = clf.model.getWeights()[0]!.dataSync().slice();
    await assert.rejects(
      clf.fit(d, { epochs: 1, batchSize: 3 }),
      (e: unknown) => e instanceof UnsupportedError && /'atrous'.*dilationRate/.test(e.message),
    );
    assert.equal(tf.memory().numTensors, start);
    assert.deepEqual(clf.model.getWeights()[0]!.dataSync(), before);
    clf.dispose();
    d.x.dispose();
  });

  it(
    'a kernel the backend lacks is named with the backend (wasm without registerFastKernels)',
    { skip: backendName !== 'wasm' },
    async () => {
      const clf = fromLayersModel(
        seq([
          L.depthwiseConv2d({ inputShape: [9, 9, 2], kernelSize: 3 }),
          L.flatten(),
          L.dense({ units: 3, activation: 'softmax' }),
        ]),
        { owned: true },
      );
      const d = data();
      unregisterFastKernels('wasm');
      try {
        const start = tf.memory().numTensors;
        await assert.rejects(
          clf.fit(d, { epochs: 1, batchSize: 3 }),
          (e: unknown) =>
            e instanceof UnsupportedError && /DepthwiseConv2dNativeBackprop\w+'.*backend 'wasm'/.test(e.message),
        );
        assert.equal(tf.memory().numTensors, start);
      } finally {
        registerFastKernels('wasm');
        clf.dispose();
        d.x.dispose();
      }
    },
  );
});
