/**
 * Fine-Pruning and ANP once on the wasm backend (run by scripts/run-tests.mjs
 * with BK_BACKEND=wasm): the hand-made cases of the cpu tests give the same
 * answers, ANP's gradients run through the conv kernels, nothing leaks.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import { Rng } from '../../src/core/rng.js';
import * as anp from '../../src/defences/model/anp.js';
import * as finePruning from '../../src/defences/model/fine-pruning.js';
import { attackSuccessRate } from '../../src/metrics/index.js';
import { backendName, ready } from '../helpers/backend.js';
import { channelModel, plantedData, plantedModel } from '../helpers/hand-models.js';

before(async () => {
  await ready;
});

describe(`pruning defences on ${backendName}`, () => {
  it('finePruning.repair: same ranking and stopping point as on cpu; fine-tunes with the mask in force', async () => {
    const clf = channelModel();
    const rows: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 4; i++) {
      rows.push(0.6, 0.2);
      y.push(0);
    }
    for (let i = 0; i < 6; i++) {
      rows.push(0.1, 0.7);
      y.push(1);
    }
    const data = { x: tf.tensor4d(rows, [10, 1, 1, 2]), y: Int32Array.from(y) };
    const before = tf.memory().numTensors;
    const r = await finePruning.repair(clf, data, { epochs: 2, trainBatchSize: 5 });
    assert.deepEqual(Array.from(r.order), [2, 0, 1]);
    assert.deepEqual(r.accuracyCurve, [1, 1, 0.6]);
    assert.deepEqual(Array.from(r.pruned), [2]);
    assert.equal(r.fineTuning.loss.length, 2);
    const mask = (r.classifier as LayersModelClassifier).model.getLayer('conv__unit_mask').getWeights()[0]!;
    assert.deepEqual(Array.from(await mask.data()), [1, 1, 0]);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    clf.dispose();
    data.x.dispose();
  });

  it('anp.repair prunes the planted unit and removes the backdoor', async () => {
    const clf = plantedModel();
    const { clean, triggered } = plantedData();
    const before = tf.memory().numTensors;
    const r = await anp.repair(clf, clean, { iterations: 50, trainBatchSize: 16 });
    assert.deepEqual(
      r.pruned.map((p) => p.unit),
      [2],
    );
    assert.equal(r.accuracyAfter, 1);
    assert.equal(await attackSuccessRate(r.classifier, triggered, 2), 0);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    clf.dispose();
    clean.x.dispose();
    triggered.x.dispose();
  });

  it('anp.repair runs its gradients through conv layers and keeps the tensor count flat', async () => {
    const rng = new Rng(2);
    const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
    const clf = fromLayersModel(
      tfl.sequential({
        layers: [
          tfl.layers.conv2d({
            inputShape: [8, 8, 1],
            filters: 4,
            kernelSize: 3,
            activation: 'relu',
            name: 'conv1',
            kernelInitializer: init(),
          }),
          tfl.layers.maxPooling2d({ poolSize: 2 }),
          tfl.layers.conv2d({
            filters: 6,
            kernelSize: 2,
            activation: 'relu',
            name: 'conv2',
            kernelInitializer: init(),
          }),
          tfl.layers.flatten({}),
          tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init() }),
        ],
      }),
      { owned: true },
    );
    const x = tf.tensor4d(
      Float32Array.from({ length: 24 * 64 }, () => rng.next()),
      [24, 8, 8, 1],
    );
    const data = { x, y: Int32Array.from({ length: 24 }, () => rng.int(3)) };
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await anp.repair(clf, data, {
      iterations: 6,
      trainBatchSize: 8,
      onProgress: (e) => {
        if (e.stage === 'anp:optimize') counts.push(tf.memory().numTensors);
      },
    });
    assert.deepEqual(
      r.masks.map((m) => [m.layer, m.values.length]),
      [
        ['conv1', 4],
        ['conv2', 6],
      ],
    );
    for (const m of r.masks) for (const v of m.values) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1);
    assert.ok(counts.every((c) => c === counts[0]));
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    clf.dispose();
    x.dispose();
  });
});
