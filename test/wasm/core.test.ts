/**
 * Core on the wasm backend: fromLayersModel predict / activations / masks /
 * fit (through the fast conv kernels), and one epoch of the small CNN on the
 * 8,000 bundled training digits.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { fromLayersModel } from '../../src/core/layers-model.js';
import { mnist } from '../../src/data/index.js';
import { accuracy } from '../../src/metrics/index.js';
import { smallCnn } from '../../src/models/index.js';
import { backendName, ready } from '../helpers/backend.js';
import { take, tinyConvModel, toyImages } from '../helpers/fixtures.js';

describe('core on wasm', () => {
  before(async () => {
    await ready;
  });

  it('runs on the wasm backend', () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(backendName, 'wasm');
  });

  it('fit, masks and activations work and leak nothing', async () => {
    const data = toyImages(30, 2);
    const clf = fromLayersModel(tinyConvModel(3), { owned: true });
    const start = tf.memory().numTensors;
    const h = await clf.fit(data, { epochs: 15, batchSize: 8, learningRate: 0.01, seed: 1 });
    assert.ok(h.loss[14]! < h.loss[0]! * 0.5);
    const masked = clf.withUnitMask('conv1', [0, 1, 1, 1]);
    const act = await take(masked.activations(data.x, 'conv1__unit_mask', { batchSize: 7 }));
    for (let i = 0; i < act.length; i += 4) assert.equal(act[i], 0);
    masked.dispose();
    assert.equal(tf.memory().numTensors, start);
    clf.dispose();
    data.x.dispose();
  });

  it('trains the small CNN for one epoch on the 8,000 bundled digits', async () => {
    const { train, test } = await mnist({ testFraction: 0.2, seed: 0 });
    assert.equal(train.y.length, 8000);
    const clf = fromLayersModel(smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { owned: true });
    const h = await clf.fit(train, { epochs: 1, batchSize: 128, seed: 0 });
    const acc = await accuracy(clf, test);
    assert.ok(acc > 0.8, `test accuracy ${acc}`);
    assert.ok(h.loss[0]! < 1.5);
    clf.dispose();
    train.x.dispose();
    test.x.dispose();
  });
});
