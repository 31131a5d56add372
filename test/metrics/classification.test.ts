import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { LabeledData } from '../../src/core/types.js';
import {
  accuracy,
  accuracyFromLabels,
  attackSuccessRate,
  attackSuccessRateFromLabels,
  confusionMatrix,
  robustAccuracy,
  robustAccuracyFromLabels,
} from '../../src/metrics/index.js';
import { ready } from '../helpers/backend.js';
import { expectError, expectRejects, inputsFor, passThrough } from './fixtures.js';

before(async () => {
  await ready;
});

/** Triggered data whose classifier predictions are `pred` and true labels `truth` (4 classes). */
function dataset(pred: number[], truth: number[]): LabeledData {
  return { x: inputsFor(pred, 4), y: Int32Array.from(truth) };
}

describe('metrics.accuracy', () => {
  it('is the share of correct predictions (exact), with no leak or mutation', async () => {
    const clf = passThrough(4);
    const data = dataset([0, 1, 2, 3, 0, 1], [0, 1, 2, 0, 1, 1]);
    const y = data.y.slice();
    const before = tf.memory().numTensors;
    assert.equal(await accuracy(clf, data, { batchSize: 4 }), 4 / 6);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(clf.calls, [4, 2]);
    assert.deepEqual(data.y, y);
    assert.equal(data.x.isDisposed, false);
    assert.equal(accuracyFromLabels([0, 1, 2, 3, 0, 1], Int32Array.of(0, 1, 2, 0, 1, 1)), 4 / 6);
    data.x.dispose();
  });

  it('rejects bad data and options', async () => {
    const F = 'metrics.accuracy';
    const clf = passThrough(4);
    const data = dataset([0, 1], [0, 1]);
    await expectRejects(() => accuracy(clf, { x: data.x, y: Int32Array.of(0) }), 'SHAPE_MISMATCH', 'data.y', F);
    await expectRejects(
      () => accuracy(clf, { x: data.x, y: Int32Array.of(0, 4) }),
      'LABEL_OUT_OF_RANGE',
      'data.y[1]',
      F,
    );
    await expectRejects(() => accuracy(clf, { x: data.x, y: [0, 1] as never }), 'INVALID_ARGUMENT', 'data.y', F);
    await expectRejects(() => accuracy(clf, null as never), 'INVALID_ARGUMENT', 'data', F);
    await expectRejects(() => accuracy(clf, data, { batchSize: -1 }), 'INVALID_ARGUMENT', 'options.batchSize', F);
    await expectRejects(() => accuracy({ predict: 1 } as never, data), 'INVALID_ARGUMENT', 'classifier', F);
    assert.deepEqual(clf.calls, []);
    data.x.dispose();
  });
});

describe('metrics.attackSuccessRate', () => {
  it('excludes inputs whose true label already is the target', async () => {
    // sample 0 (true label 0 = target) is excluded; of the other 5, samples 1, 2, 4 hit the target
    const pred = [0, 0, 0, 3, 0, 1];
    const truth = [0, 1, 2, 3, 1, 2];
    const clf = passThrough(4);
    const data = dataset(pred, truth);
    const before = tf.memory().numTensors;
    assert.equal(await attackSuccessRate(clf, data, 0, { batchSize: 5 }), 3 / 5);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(attackSuccessRateFromLabels(pred, truth, 0), 3 / 5);
    data.x.dispose();
  });

  it('takes one target per sample (all-to-all), excluding samples already at their target', async () => {
    const truth = [0, 1, 2, 3, 1, 2];
    const targets = Int32Array.of(1, 2, 3, 0, 1, 3); // sample 4's true label is its target: excluded
    const pred = [1, 2, 0, 0, 1, 2]; // hits on 0, 1, 3 (sample 4 would be a hit but is excluded)
    const clf = passThrough(4);
    const data = dataset(pred, truth);
    assert.equal(await attackSuccessRate(clf, data, targets), 3 / 5);
    assert.equal(attackSuccessRateFromLabels(pred, truth, [1, 2, 3, 0, 1, 3]), 3 / 5);
    data.x.dispose();
  });

  it('throws EmptyDataError before predicting when every true label is the target', async () => {
    const clf = passThrough(4);
    const data = dataset([1, 2], [2, 2]);
    await expectRejects(
      () => attackSuccessRate(clf, data, 2),
      'EMPTY_DATA',
      'triggered.y',
      'metrics.attackSuccessRate',
    );
    assert.deepEqual(clf.calls, []);
    expectError(
      () => attackSuccessRateFromLabels([1, 2], [2, 2], 2),
      'EMPTY_DATA',
      'truth',
      'metrics.attackSuccessRateFromLabels',
    );
    data.x.dispose();
  });

  it('rejects a target out of range or of the wrong length', async () => {
    const F = 'metrics.attackSuccessRate';
    const clf = passThrough(4);
    const data = dataset([0, 1, 2], [0, 1, 2]);
    await expectRejects(() => attackSuccessRate(clf, data, 4), 'LABEL_OUT_OF_RANGE', 'target', F);
    await expectRejects(() => attackSuccessRate(clf, data, -1), 'LABEL_OUT_OF_RANGE', 'target', F);
    await expectRejects(() => attackSuccessRate(clf, data, 1.5), 'INVALID_ARGUMENT', 'target', F);
    await expectRejects(() => attackSuccessRate(clf, data, '1' as never), 'INVALID_ARGUMENT', 'target', F);
    await expectRejects(() => attackSuccessRate(clf, data, Int32Array.of(0, 1)), 'SHAPE_MISMATCH', 'target', F);
    await expectRejects(
      () => attackSuccessRate(clf, data, Int32Array.of(0, 1, 9)),
      'LABEL_OUT_OF_RANGE',
      'target[2]',
      F,
    );
    assert.deepEqual(clf.calls, []);
    const G = 'metrics.attackSuccessRateFromLabels';
    expectError(() => attackSuccessRateFromLabels([0], [1], -2), 'LABEL_OUT_OF_RANGE', 'target', G);
    expectError(() => attackSuccessRateFromLabels([0, 1], [1], 0), 'SHAPE_MISMATCH', 'truth', G);
    data.x.dispose();
  });
});

describe('metrics.robustAccuracy', () => {
  it('is the share still classified as the true label, with the ASR exclusion when a target is given', async () => {
    const pred = [0, 1, 0, 3, 0, 2];
    const truth = [0, 1, 2, 3, 1, 2];
    const clf = passThrough(4);
    const data = dataset(pred, truth);
    const before = tf.memory().numTensors;
    // no target: 4 of 6 correct (samples 0, 1, 3, 5)
    assert.equal(await robustAccuracy(clf, data), 4 / 6);
    // target 0: sample 0 excluded, 3 of 5 correct (1, 3, 5)
    assert.equal(await robustAccuracy(clf, data, { target: 0, batchSize: 4 }), 3 / 5);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(robustAccuracyFromLabels(pred, truth), 4 / 6);
    assert.equal(robustAccuracyFromLabels(pred, truth, 0), 3 / 5);
    // robust accuracy + ASR <= 1 on the same samples
    assert.ok(robustAccuracyFromLabels(pred, truth, 0) + attackSuccessRateFromLabels(pred, truth, 0) <= 1);
    const F = 'metrics.robustAccuracy';
    await expectRejects(() => robustAccuracy(clf, data, { target: 7 }), 'LABEL_OUT_OF_RANGE', 'options.target', F);
    await expectRejects(() => robustAccuracy(clf, data, { tgt: 0 } as never), 'INVALID_ARGUMENT', 'options.tgt', F);
    const same = dataset([1, 1], [1, 1]);
    await expectRejects(() => robustAccuracy(clf, same, { target: 1 }), 'EMPTY_DATA', 'triggered.y', F);
    tf.dispose([data.x, same.x]);
  });
});

describe('metrics.*FromLabels input checks', () => {
  it('reject non-arrays, empty arrays, non-integers, negative labels and length mismatches without mutating', () => {
    const F = 'metrics.accuracyFromLabels';
    expectError(() => accuracyFromLabels('01' as never, [0, 1]), 'INVALID_ARGUMENT', 'pred', F);
    expectError(() => accuracyFromLabels([], []), 'EMPTY_DATA', 'pred', F);
    expectError(() => accuracyFromLabels([0, 1.5], [0, 1]), 'INVALID_ARGUMENT', 'pred[1]', F);
    expectError(() => accuracyFromLabels([0, Number.NaN], [0, 1]), 'INVALID_ARGUMENT', 'pred[1]', F);
    expectError(() => accuracyFromLabels([0, 1], [0, -1]), 'LABEL_OUT_OF_RANGE', 'truth[1]', F);
    expectError(() => accuracyFromLabels([0, 1], [0, 1, 1]), 'SHAPE_MISMATCH', 'truth', F);
    const pred = Int32Array.of(2, 1, 0);
    const truth = Int32Array.of(2, 0, 0);
    robustAccuracyFromLabels(pred, truth, Int32Array.of(0, 0, 1));
    assert.deepEqual(Array.from(pred), [2, 1, 0]);
    assert.deepEqual(Array.from(truth), [2, 0, 0]);
  });
});

describe('metrics.confusionMatrix', () => {
  it('counts true x predicted, with per-class accuracy and support (0 for an absent class)', () => {
    const pred = Int32Array.of(0, 1, 1, 2, 2, 0);
    const truth = Int32Array.of(0, 1, 0, 2, 1, 0);
    const r = confusionMatrix(pred, truth, 4);
    assert.deepEqual(r, {
      matrix: [
        [2, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0],
      ],
      support: [3, 2, 1, 0],
      perClassAccuracy: [2 / 3, 1 / 2, 1, 0],
      accuracy: 4 / 6,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    const F = 'metrics.confusionMatrix';
    expectError(() => confusionMatrix(pred, truth, 2), 'LABEL_OUT_OF_RANGE', 'pred[3]', F);
    expectError(() => confusionMatrix(pred, truth, 0), 'INVALID_ARGUMENT', 'numClasses', F);
    expectError(() => confusionMatrix(pred, truth.subarray(1), 3), 'SHAPE_MISMATCH', 'truth', F);
  });
});
