/**
 * With the fast kernels the cpu backend trains the small CNN for one epoch on
 * the 8,000 bundled training digits (stock tfjs needs ~15 minutes for it).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { fromLayersModel } from '../../src/core/layers-model.js';
import { mnist } from '../../src/data/index.js';
import { accuracy } from '../../src/metrics/index.js';
import { smallCnn } from '../../src/models/index.js';
import { ready } from '../helpers/backend.js';

describe('small CNN training with the fast kernels', () => {
  before(async () => {
    await ready;
  });

  it('one epoch on 8,000 digits reaches > 80% test accuracy, without leaks', async () => {
    const { train, test } = await mnist({ testFraction: 0.2, seed: 0 });
    const start = tf.memory().numTensors;
    const clf = fromLayersModel(smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { owned: true });
    const weights = tf.memory().numTensors - start;
    await clf.fit(train, { epochs: 1, batchSize: 128, seed: 0 });
    const acc = await accuracy(clf, test);
    assert.ok(acc > 0.8, `test accuracy ${acc}`);
    assert.equal(tf.memory().numTensors, start + weights);
    clf.dispose();
    assert.equal(tf.memory().numTensors, start);
    train.x.dispose();
    test.x.dispose();
  });
});
