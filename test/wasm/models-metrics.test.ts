/**
 * models + metrics on the wasm backend (run by scripts/run-tests.mjs with
 * BK_BACKEND=wasm): the small CNN builds and predicts there, its seeded
 * weights are the same as on cpu, and the batched metrics agree with a direct
 * arg-max of model.predict.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import type { Classifier } from '../../src/core/classifier.js';
import { accuracy, attackSuccessRate, predictLabels } from '../../src/metrics/index.js';
import { smallCnn } from '../../src/models/index.js';
import { backendName, ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

function wrap(model: tfl.LayersModel): Classifier {
  return {
    inputShape: [28, 28, 1],
    numClasses: 10,
    predict: (x) => model.predict(x) as tf.Tensor2D,
  };
}

describe(`models + metrics on ${backendName}`, () => {
  it('smallCnn has the same seeded weights on wasm as on cpu', async () => {
    const here = smallCnn({ seed: 21 });
    const mine = here.getWeights().map((w) => Array.from(w.dataSync()));
    here.dispose();
    const original = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      const ref = smallCnn({ seed: 21 });
      const theirs = ref.getWeights().map((w) => Array.from(w.dataSync()));
      ref.dispose();
      assert.deepEqual(mine, theirs);
    } finally {
      await tf.setBackend(original);
    }
    assert.equal(tf.getBackend(), backendName);
  });

  it('accuracy and ASR of smallCnn agree with a direct arg-max, batched, without leaking', async () => {
    const model = smallCnn({ seed: 1 });
    const clf = wrap(model);
    const n = 40;
    const x = tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const direct = tf.tidy(() => tf.argMax(model.predict(x) as tf.Tensor, 1));
    const expected = (await direct.data()) as Int32Array;
    direct.dispose();
    // first half labelled as predicted, second half labelled one class off: accuracy exactly 0.5
    const y = Int32Array.from(expected, (p, i) => (i < n / 2 ? p : (p + 1) % 10));
    const before = tf.memory().numTensors;
    const pred = await predictLabels(clf, x, { batchSize: 7 });
    assert.deepEqual(Array.from(pred), Array.from(expected));
    assert.equal(await accuracy(clf, { x, y }, { batchSize: 16 }), 0.5);
    // ASR towards the first sample's predicted class, counted by hand with the exclusion rule
    const target = expected[0]!;
    let eligible = 0;
    let hits = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] === target) continue;
      eligible++;
      if (expected[i] === target) hits++;
    }
    assert.equal(await attackSuccessRate(clf, { x, y }, target, { batchSize: 9 }), hits / eligible);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    model.dispose();
  });
});
