import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from '../../src/core/classifier.js';
import { predictLabels } from '../../src/metrics/index.js';
import { ready } from '../helpers/backend.js';
import { expectRejects, inputsFor, passThrough } from './fixtures.js';

before(async () => {
  await ready;
});

const F = 'metrics.predictLabels';

describe('metrics.predictLabels', () => {
  it('returns the arg-max of predict, batch by batch, without leaking', async () => {
    const clf = passThrough(4);
    const labels = [3, 0, 2, 2, 1];
    const x = inputsFor(labels, 4);
    const copy = x.dataSync().slice();
    const before = tf.memory().numTensors;
    const pred = await predictLabels(clf, x, { batchSize: 2 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(pred instanceof Int32Array);
    assert.deepEqual(Array.from(pred), labels);
    assert.deepEqual(clf.calls, [2, 2, 1]);
    // same result for any batch size; one call when the batch covers everything
    assert.deepEqual(Array.from(await predictLabels(clf, x, { batchSize: 1 })), labels);
    assert.deepEqual(Array.from(await predictLabels(clf, x)), labels);
    assert.deepEqual(clf.calls.slice(-1), [5]);
    // input neither mutated nor disposed
    assert.equal(x.isDisposed, false);
    assert.deepEqual(x.dataSync(), copy);
    x.dispose();
  });

  it('breaks ties towards the lower class index', async () => {
    const x = tf.tensor4d([0.5, 0.5, 0.25, 0.25, 0.5, 0.25], [2, 1, 1, 3]);
    assert.deepEqual(Array.from(await predictLabels(passThrough(3), x)), [0, 1]);
    x.dispose();
  });

  it('rejects a classifier whose predict has the wrong shape, without leaking', async () => {
    const bad: Classifier = {
      inputShape: [1, 1, 3],
      numClasses: 4,
      predict: (x) => tf.reshape(x, [-1, 3]) as tf.Tensor2D,
    };
    const x = inputsFor([0, 1], 3);
    const before = tf.memory().numTensors;
    await expectRejects(() => predictLabels(bad, x), 'SHAPE_MISMATCH', 'classifier', F);
    const notTensor = { inputShape: [1, 1, 3], numClasses: 3, predict: () => [[1, 0, 0]] } as unknown as Classifier;
    await expectRejects(() => predictLabels(notTensor, x), 'SHAPE_MISMATCH', 'classifier', F);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  it('rejects bad arguments before predicting', async () => {
    const clf = passThrough(3);
    const x = inputsFor([0, 1], 3);
    const before = tf.memory().numTensors;
    await expectRejects(() => predictLabels({} as Classifier, x), 'INVALID_ARGUMENT', 'classifier', F);
    await expectRejects(() => predictLabels(clf, x, { batchSize: 0 }), 'INVALID_ARGUMENT', 'options.batchSize', F);
    await expectRejects(() => predictLabels(clf, x, { batchSize: 1.5 }), 'INVALID_ARGUMENT', 'options.batchSize', F);
    await expectRejects(() => predictLabels(clf, x, { batch: 2 } as never), 'INVALID_ARGUMENT', 'options.batch', F);
    const wrong = tf.zeros([2, 1, 1, 4]);
    await expectRejects(() => predictLabels(clf, wrong), 'SHAPE_MISMATCH', 'x', F);
    const empty = tf.zeros([0, 1, 1, 3]);
    await expectRejects(() => predictLabels(clf, empty), 'EMPTY_DATA', 'x', F);
    const nan = tf.tensor4d([Number.NaN, 0, 0], [1, 1, 1, 3]);
    await expectRejects(() => predictLabels(clf, nan), 'NON_FINITE', 'x', F);
    await expectRejects(() => predictLabels(clf, [1, 2] as never), 'INVALID_ARGUMENT', 'x', F);
    assert.equal(tf.memory().numTensors, before + 3);
    assert.deepEqual(clf.calls, []);
    tf.dispose([x, wrong, empty, nan]);
  });
});
