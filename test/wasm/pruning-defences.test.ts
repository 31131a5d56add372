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
import type { LabeledData } from '../../src/core/types.js';
import * as anp from '../../src/defences/anp.js';
import * as finePruning from '../../src/defences/fine-pruning.js';
import { attackSuccessRate } from '../../src/metrics/index.js';
import { backendName, ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

/** conv 1×1 (3 channels: a, b, 0.1a) → flatten → dense softmax (class 0 ← ch0, class 1 ← ch1). */
function channelModel(): LayersModelClassifier {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [1, 1, 2],
        filters: 3,
        kernelSize: 1,
        useBias: false,
        activation: 'relu',
        name: 'conv',
      }),
      tfl.layers.flatten({}),
      tfl.layers.dense({ units: 2, useBias: false, activation: 'softmax', name: 'out' }),
    ],
  });
  tf.tidy(() => {
    model.getLayer('conv').setWeights([tf.tensor4d([1, 0, 0.1, 0, 1, 0], [1, 1, 2, 3])]);
    model.getLayer('out').setWeights([tf.tensor2d([10, 0, 0, 10, 0, 0], [3, 2])]);
  });
  return fromLayersModel(model, { owned: true });
}

/** Hidden units a − b, b − a and a planted near-threshold unit 0.5a + 0.5b + 10t − 0.6 → class 2. */
function plantedModel(): LayersModelClassifier {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [1, 1, 3] }),
      tfl.layers.dense({ units: 3, activation: 'relu', name: 'hidden' }),
      tfl.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  tf.tidy(() => {
    model
      .getLayer('hidden')
      .setWeights([tf.tensor2d([1, -1, 0.5, -1, 1, 0.5, 0, 0, 10], [3, 3]), tf.tensor1d([0, 0, -0.6])]);
    model.getLayer('out').setWeights([tf.tensor2d([5, 0, 0, 0, 5, 0, 0, 0, 20], [3, 3]), tf.tensor1d([0, 0, 0])]);
  });
  return fromLayersModel(model, { owned: true });
}

function plantedData(): { clean: LabeledData; triggered: LabeledData } {
  const rng = new Rng(3);
  const rows: number[] = [];
  const trig: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 40; i++) {
    let a = 0;
    let b = 0;
    do {
      a = rng.next();
      b = 1 - a + 0.2 * (rng.next() - 0.5);
    } while (Math.abs(a - b) < 0.3);
    rows.push(a, b, 0);
    trig.push(a, b, 1);
    y.push(a > b ? 0 : 1);
  }
  return {
    clean: { x: tf.tensor4d(rows, [40, 1, 1, 3]), y: Int32Array.from(y) },
    triggered: { x: tf.tensor4d(trig, [40, 1, 1, 3]), y: Int32Array.from(y) },
  };
}

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
    const r = await finePruning.repair(clf, data, { epochs: 2, batchSize: 5 });
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
    const r = await anp.repair(clf, clean, { iterations: 50, batchSize: 16 });
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
      batchSize: 8,
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
