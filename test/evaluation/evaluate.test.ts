import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import type { Classifier } from '../../src/core/classifier.js';
import type { LabeledData } from '../../src/core/types.js';
import { evaluate, evaluateFromLabels, evaluationTable, type Evaluation } from '../../src/evaluation/index.js';

before(async () => {
  await ready;
});

/** A 1×1×1-pixel classifier over 4 classes: predicts round(3 · pixel), shifted by `shift` (mod 4). */
function lookup(shift = 0): Classifier {
  return {
    inputShape: [1, 1, 1],
    numClasses: 4,
    predict: (x: tf.Tensor) =>
      tf.tidy(() => {
        const v = tf.reshape(x, [-1]);
        const k = tf.mod(tf.add(tf.round(tf.mul(v, 3)), shift), 4);
        return tf.cast(tf.oneHot(tf.cast(k, 'int32'), 4), 'float32') as tf.Tensor2D;
      }),
  };
}

/** Data whose pixel encodes the label `lookup(0)` predicts. */
function data(pred: number[], truth: number[]): LabeledData {
  return {
    x: tf.tensor4d(
      pred.map((p) => p / 3),
      [pred.length, 1, 1, 1],
    ),
    y: Int32Array.from(truth),
  };
}

describe('evaluateFromLabels (exact arithmetic)', () => {
  it('computes accuracy, ASR, robust accuracy, deltas and detection by hand', () => {
    // clean: 3/4 right before, 2/4 after
    // triggered: truth [1, 2, 3, 0(target, excluded), 1]; target 0
    const e = evaluateFromLabels(
      {
        cleanTruth: [0, 1, 2, 3],
        triggeredTruth: [1, 2, 3, 0, 1],
        target: 0,
        before: { clean: [0, 1, 2, 0], triggered: [0, 0, 0, 0, 1] },
        after: { clean: [0, 1, 0, 0], triggered: [1, 2, 0, 0, 1] },
      },
      {
        name: 'X',
        seconds: 2.5,
        detection: { flags: [1, 1, 0, 0], truth: [1, 0, 1, 0] },
        verdict: { backdoored: true, targets: [0] },
      },
    );
    assert.equal(e.name, 'X');
    assert.deepEqual(e.before, { cleanAccuracy: 0.75, asr: 0.75, robustAccuracy: 0.25 });
    assert.deepEqual(e.after, { cleanAccuracy: 0.5, asr: 0.25, robustAccuracy: 0.75 });
    assert.deepEqual(e.delta, { cleanAccuracy: -0.25, asr: -0.5, robustAccuracy: 0.5 });
    assert.equal(e.detection!.tp, 1);
    assert.equal(e.detection!.fp, 1);
    assert.equal(e.detection!.tpr, 0.5);
    assert.equal(e.detection!.fpr, 0.5);
    assert.deepEqual(e.verdict, { backdoored: true, targets: [0] });
    assert.equal(e.seconds, 2.5);
    // plain data
    assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
  });

  it('detection-only rows have no after/delta; per-sample targets work', () => {
    const e = evaluateFromLabels({
      cleanTruth: [0, 1],
      triggeredTruth: [0, 1, 2],
      target: [1, 2, 2],
      before: { clean: [0, 0], triggered: [1, 2, 2] },
    });
    assert.equal(e.after, null);
    assert.equal(e.delta, null);
    assert.equal(e.detection, null);
    assert.equal(e.seconds, null);
    assert.equal(e.name, 'defence');
    // eligible: samples 0 and 1 (sample 2's truth is its target): both hit
    assert.equal(e.before.asr, 1);
    assert.equal(e.before.robustAccuracy, 0);
    assert.equal(e.before.cleanAccuracy, 0.5);
  });

  it('rejects bad input naming the argument', () => {
    const base = { cleanTruth: [0, 1], triggeredTruth: [1], target: 0, before: { clean: [0, 1], triggered: [0] } };
    assert.throws(() => evaluateFromLabels({ ...base, before: { clean: [0], triggered: [0] } }), {
      code: 'SHAPE_MISMATCH',
      message: /labels\.before\.clean/,
    });
    assert.throws(() => evaluateFromLabels({ ...base, before: { clean: [0, 1.5], triggered: [0] } }), {
      message: /labels\.before\.clean/,
    });
    assert.throws(() => evaluateFromLabels(base, { seconds: -1 }), {
      code: 'INVALID_ARGUMENT',
      message: /options\.seconds/,
    });
    assert.throws(() => evaluateFromLabels(base, { name: '' }), { message: /options\.name/ });
    assert.throws(() => evaluateFromLabels(base, { bogus: 1 } as never), { message: /options\.bogus/ });
    assert.throws(() => evaluateFromLabels(base, { verdict: { backdoored: 'yes' } as never }), {
      message: /options\.verdict/,
    });
    assert.throws(
      () => evaluateFromLabels({ ...base, triggeredTruth: [0], before: { clean: [0, 1], triggered: [0] } }),
      {
        code: 'EMPTY_DATA',
      },
    );
  });
});

describe('evaluate (classifiers)', () => {
  it('matches the hand count, leaks nothing and mutates nothing', async () => {
    const clean = data([0, 1, 2, 0], [0, 1, 2, 3]);
    const triggered = data([0, 0, 0, 0, 1], [1, 2, 3, 0, 1]);
    const beforeX = Array.from(await clean.x.data());
    const n0 = tf.memory().numTensors;
    const e = await evaluate(
      { clean, triggered, target: 0, before: lookup(0), after: lookup(1) },
      { name: 'shift', seconds: 1 },
    );
    assert.equal(tf.memory().numTensors, n0);
    assert.deepEqual(Array.from(await clean.x.data()), beforeX);
    assert.deepEqual(e.before, { cleanAccuracy: 0.75, asr: 0.75, robustAccuracy: 0.25 });
    // after: predictions shifted by one: clean [1,2,3,1] → 0/4; triggered [1,1,1,1,2] → ASR 0, robust 1/4
    assert.deepEqual(e.after, { cleanAccuracy: 0, asr: 0, robustAccuracy: 0.25 });
    assert.deepEqual(e.delta, { cleanAccuracy: -0.75, asr: -0.75, robustAccuracy: 0 });
    clean.x.dispose();
    triggered.x.dispose();
  });

  it('rejects bad input before any work', async () => {
    const clean = data([0, 1], [0, 1]);
    const triggered = data([0], [1]);
    await assert.rejects(evaluate({ clean, triggered, target: 9, before: lookup() }), {
      message: /input\.target/,
    });
    await assert.rejects(evaluate({ clean, triggered, target: 0, before: {} as never }), {
      message: /input\.before/,
    });
    const wrong = { x: tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, y: Int32Array.of(0) };
    await assert.rejects(evaluate({ clean: wrong, triggered, target: 0, before: lookup() }), {
      message: /input\.clean/,
    });
    await assert.rejects(evaluate({ clean, triggered, target: 0, before: lookup() }, { batchSize: 0 }), {
      message: /options\.batchSize/,
    });
    wrong.x.dispose();
    clean.x.dispose();
    triggered.x.dispose();
  });
});

describe('evaluationTable', () => {
  it('renders one row per evaluation with exact cells', () => {
    const a: Evaluation = evaluateFromLabels(
      {
        cleanTruth: [0, 1, 2, 3],
        triggeredTruth: [1, 2, 3, 0, 1],
        target: 0,
        before: { clean: [0, 1, 2, 0], triggered: [0, 0, 0, 0, 1] },
        after: { clean: [0, 1, 0, 0], triggered: [1, 2, 0, 0, 1] },
      },
      { name: 'FP | x', seconds: 12.345 },
    );
    const b = evaluateFromLabels(
      { cleanTruth: [0], triggeredTruth: [1], target: 0, before: { clean: [0], triggered: [0] } },
      { name: 'NC', verdict: { backdoored: true, targets: [0] }, detection: { flags: [1, 0], truth: [1, 0] } },
    );
    const lines = evaluationTable([a, b]).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(
      lines[0],
      '| defence | clean acc | ASR | robust acc | Δ clean | Δ ASR | Δ robust | detection | seconds |',
    );
    assert.equal(lines[2], '| FP \\| x | 50.0% | 25.0% | 75.0% | -25.0 | -50.0 | +50.0 | – | 12.3 |');
    assert.equal(
      lines[3],
      '| NC | 100.0% | 100.0% | 0.0% | – | – | – | backdoor → 0; TPR 100.0% / FPR 0.0% / F1 1.00 | – |',
    );
    const short = evaluationTable([a], { robust: false, digits: 0 }).split('\n');
    assert.equal(short[2], '| FP \\| x | 50% | 25% | -25 | -50 | – | 12.3 |');
    assert.throws(() => evaluationTable([a], { digits: 1.5 }), { message: /options\.digits/ });
    assert.throws(() => evaluationTable('x' as never), { message: /rows/ });
  });
});
