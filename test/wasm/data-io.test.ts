/**
 * data + io on the wasm backend (run by scripts/run-tests.mjs with
 * BK_BACKEND=wasm): mnist() gives the same split and pixels as on cpu (the
 * split is pure JS; the tensors are built from the same Float32Array), a
 * CIFAR batch decodes, and a conv model saves and loads bit-exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { CIFAR_RECORD_BYTES, readCifar10Batch } from '../../src/data/cifar.js';
import { loadMnistPixels, mnist } from '../../src/data/mnist.js';
import { stratifiedSplit, stratifiedSplitIndices, subset } from '../../src/data/split.js';
import { loadModel, saveModel } from '../../src/io/model-io.js';
import { backendName, ready } from '../helpers/backend.js';

describe(`data + io on ${backendName}`, () => {
  let dir = '';
  before(async () => {
    await ready;
    dir = await mkdtemp(join(tmpdir(), 'bk-wasm-io-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('mnist() loads, splits per class and matches the cached pixels', async () => {
    const count = tf.memory().numTensors;
    const { train, test } = await mnist({ seed: 2, limit: 2000 });
    assert.equal(tf.getBackend(), backendName);
    assert.equal(train.x.shape[0] + test.x.shape[0], 2000);
    assert.ok(Math.abs(test.x.shape[0] - 400) <= 5, `test size ${test.x.shape[0]}`);
    assert.deepEqual(test.x.shape.slice(1), [28, 28, 1]);
    const full = await mnist({ seed: 2 });
    const all = await loadMnistPixels();
    const idx = stratifiedSplitIndices(all.labels, { seed: 2 });
    const k = idx.test[5]!;
    const rows = await full.test.x.data();
    assert.deepEqual(
      Array.from(rows.subarray(5 * 784, 6 * 784)),
      Array.from(all.pixels.subarray(k * 784, (k + 1) * 784)),
    );
    const picked = subset(full.test, [5]);
    assert.deepEqual(Array.from(await picked.x.data()), Array.from(rows.subarray(5 * 784, 6 * 784)));
    const none = await mnist({ limit: 20, testFraction: 0 });
    assert.deepEqual(none.test.x.shape, [0, 28, 28, 1]);
    const split = stratifiedSplit(none.train, { testFraction: 0.5, seed: 1 });
    assert.deepEqual([split.train.y.length, split.test.y.length], [10, 10]);
    tf.dispose([
      train.x,
      test.x,
      full.train.x,
      full.test.x,
      picked.x,
      none.train.x,
      none.test.x,
      split.train.x,
      split.test.x,
    ]);
    assert.equal(tf.memory().numTensors, count);
  });

  it('decodes a CIFAR-10 record', async () => {
    const bytes = new Uint8Array(CIFAR_RECORD_BYTES);
    bytes[0] = 7;
    bytes[1 + 33] = 255; // red (1, 1)
    bytes[1 + 1024 + 33] = 51; // green (1, 1)
    const data = readCifar10Batch(bytes);
    const px = await data.x.data();
    assert.deepEqual(Array.from(px.subarray((32 + 1) * 3, (32 + 1) * 3 + 3)), [1, Math.fround(0.2), 0]);
    assert.deepEqual(Array.from(data.y), [7]);
    data.x.dispose();
  });

  it('saves and loads a conv model bit-exactly', async () => {
    const model = tfl.sequential();
    model.add(
      tfl.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 2,
        kernelSize: 3,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      }),
    );
    model.add(tfl.layers.flatten());
    model.add(
      tfl.layers.dense({
        units: 3,
        activation: 'softmax',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
      }),
    );
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 3);
    const count = tf.memory().numTensors;
    await saveModel(model, join(dir, 'm'));
    const loaded = await loadModel(join(dir, 'm'));
    assert.equal(tf.memory().numTensors, count + loaded.weights.length);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    assert.deepEqual(Array.from(await b.data()), Array.from(await a.data()));
    const wa = model.getWeights();
    const wb = loaded.getWeights();
    for (let i = 0; i < wa.length; i++)
      assert.deepEqual(Array.from(await wb[i]!.data()), Array.from(await wa[i]!.data()));
    tf.dispose([a, b, x]);
    loaded.dispose();
    model.dispose();
  });
});
