/**
 * Activation Clustering and Spectral Signatures on the wasm backend: a tiny
 * conv net with a planted backdoor (toy 6×6 images, a 2×2 trigger in the free
 * corner on 20 images of class 1, labelled 0), detection with exclusionary reclassification
 * (retraining through the fast conv kernels), both repairs, no leaks.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';
import * as activationClustering from '../../src/defences/data/activation-clustering/index.js';
import * as spectralSignatures from '../../src/defences/data/spectral-signatures.js';
import { attackSuccessRate, detection } from '../../src/metrics/index.js';
import { backendName, ready } from '../helpers/backend.js';
import { tinyConvModel, toyImages } from '../helpers/fixtures.js';

let train: LabeledData;
let poisoned: Uint8Array;
let triggered: tf.Tensor4D;
let clf: LayersModelClassifier;

/** Sets the free bottom-right 2×2 corner of each image to 1. */
function stampCorner(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const mask = tf.buffer([1, 6, 6, 1]);
    for (const r of [4, 5]) for (const c of [4, 5]) mask.set(1, 0, r, c, 0);
    const m = mask.toTensor();
    return tf.add(tf.mul(x, tf.sub(1, m)), m) as tf.Tensor4D;
  });
}

before(async () => {
  await ready;
  const clean = toyImages(150, 1);
  // poison: 20 images of class 1, stamped and labelled 0
  const src: number[] = [];
  for (let i = 0; i < 150 && src.length < 20; i++) if (clean.y[i] === 1) src.push(i);
  const stamped = tf.tidy(() => stampCorner(tf.gather(clean.x, src) as tf.Tensor4D));
  train = { x: tf.concat([clean.x, stamped]) as tf.Tensor4D, y: Int32Array.from([...clean.y, ...src.map(() => 0)]) };
  poisoned = Uint8Array.from([...new Array(150).fill(0), ...new Array(20).fill(1)]);
  stamped.dispose();
  const test = toyImages(60, 2);
  const notZero: number[] = [];
  test.y.forEach((c, i) => c !== 0 && notZero.push(i));
  triggered = tf.tidy(() => stampCorner(tf.gather(test.x, notZero) as tf.Tensor4D));
  test.x.dispose();
  clean.x.dispose();
  clf = fromLayersModel(tinyConvModel(4), { owned: true });
  await clf.fit(train, { epochs: 30, batchSize: 16, learningRate: 0.01, seed: 2 });
});

describe('training-data defences on wasm', () => {
  it('runs on wasm and the planted backdoor works', async () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(backendName, 'wasm');
    const asr = await attackSuccessRate(clf, { x: triggered, y: new Int32Array(triggered.shape[0]).fill(1) }, 0);
    assert.ok(asr > 0.9, `ASR ${asr}`);
  });

  it('Activation Clustering finds the poison, relabel-repairs the model, and leaks nothing', async () => {
    const start = tf.memory().numTensors;
    const r = await activationClustering.detect(clf, train, {
      dims: 4,
      retrainEpochs: 30,
      trainBatchSize: 16,
      retrainLearningRate: 0.01,
    });
    assert.equal(tf.memory().numTensors, start);
    const d = detection(r.suspicious, poisoned);
    assert.ok(d.recall >= 0.9 && d.fpr <= 0.1, JSON.stringify(d));
    const fixed = await activationClustering.repair(clf, train, r, {
      trainBatchSize: 16,
      learningRate: 0.01,
      maxEpochs: 10,
    });
    const asr = await attackSuccessRate(
      fixed.classifier,
      { x: triggered, y: new Int32Array(triggered.shape[0]).fill(1) },
      0,
    );
    assert.ok(asr <= 0.2, `ASR after repair ${asr}`);
    fixed.classifier.dispose();
    fixed.data.x.dispose();
    assert.equal(tf.memory().numTensors, start);
  });

  it('Spectral Signatures scores and removes, and leaks nothing', async () => {
    const start = tf.memory().numTensors;
    const r = await spectralSignatures.detect(clf, train, { expectedPoisonFraction: [0.4, 0, 0] });
    assert.equal(tf.memory().numTensors, start);
    const d = detection(r.suspicious, poisoned, r.scores);
    assert.ok(d.recall >= 0.9, JSON.stringify(d));
    const fixed = await spectralSignatures.repair(clf, train, r, {
      trainBatchSize: 16,
      learningRate: 0.01,
      maxEpochs: 5,
    });
    assert.equal(fixed.data.y.length, train.y.length - r.suspicious.reduce((a, b) => a + b, 0));
    fixed.classifier.dispose();
    fixed.data.x.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
});
