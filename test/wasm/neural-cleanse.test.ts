/**
 * Neural Cleanse on the wasm backend (run by scripts/run-tests.mjs with
 * BK_BACKEND=wasm): detect (batched and sequential agree, same result as on
 * cpu, no leak) and both repairs plus the filter run there, on a tiny conv
 * net trained for a moment on toy images.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';
import { detect, filter, repair, type NeuralCleanseOptions } from '../../src/defences/model/neural-cleanse/index.js';
import { backendName, ready } from '../helpers/backend.js';
import { tinyConvModel, toyImages } from '../helpers/fixtures.js';

const OPTS: NeuralCleanseOptions = Object.freeze({
  steps: 8,
  samplesPerStep: 32,
  trainBatchSize: 16,
  patience: 2,
  initCost: 0.01,
  earlyStopPatience: 2,
  seed: 3,
});

let clf: LayersModelClassifier;
let data: LabeledData;

before(async () => {
  await ready;
  data = toyImages(96, 1);
  clf = fromLayersModel(tinyConvModel(2), { owned: true });
  await clf.fit(data, { epochs: 3, batchSize: 16, learningRate: 1e-2, seed: 1 });
});

describe(`neuralCleanse on ${backendName}`, () => {
  it('detects batched and sequentially with the same result, as on cpu, without leaks', async () => {
    const before = tf.memory().numTensors;
    const b = await detect(clf, data, OPTS);
    const s = await detect(clf, data, { ...OPTS, mode: 'sequential' });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(b.perClass.length, 3);
    b.perClass.forEach((p, i) => {
      const q = s.perClass[i]!;
      assert.equal(p.steps, q.steps);
      assert.ok(Math.abs(p.norm - q.norm) <= 1e-3 * q.norm, `${p.norm} vs ${q.norm}`);
      assert.ok(p.mask.every((v) => v >= 0 && v <= 1));
    });

    // the same run on cpu (same weights, same seed) gives the same triggers up to float noise
    const weights = clf.model.getWeights().map((w) => ({ shape: w.shape, values: w.dataSync().slice() }));
    const here = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      const model = tinyConvModel(2);
      tf.tidy(() => model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape))));
      const onCpu = fromLayersModel(model, { owned: true });
      const c = await detect(onCpu, data, OPTS);
      onCpu.dispose();
      b.perClass.forEach((p, i) => {
        const q = c.perClass[i]!;
        assert.ok(Math.abs(p.norm - q.norm) <= 1e-2 * q.norm, `label ${p.label}: wasm ${p.norm} vs cpu ${q.norm}`);
      });
    } finally {
      await tf.setBackend(here);
    }
  });

  it('repairs by unlearning and pruning and filters inputs', async () => {
    const report = await detect(clf, data, OPTS);
    const before = tf.memory().numTensors;
    const u = await repair(clf, data, report, { targets: [0], layer: 'conv1' });
    assert.equal(u.method, 'unlearning');
    assert.ok(Number.isFinite(u.cleanAccuracyAfter));
    assert.equal(u.unlearning!.stamped, Math.round(0.2 * 96));
    u.classifier.dispose();
    const p = await repair(clf, data, report, { targets: [0], method: 'pruning' });
    assert.equal(p.pruning!.layer, 'dense1');
    assert.equal(p.pruning!.ranking.length, 8);
    const spec = p.filter!;
    const f = await filter(clf, data.x, spec);
    assert.equal(f.scores.length, 96);
    assert.ok(f.suspicious.reduce((a, v) => a + v, 0) <= Math.ceil(0.05 * 96));
    p.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
