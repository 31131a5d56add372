/**
 * spectralSignatures.detect / repair: scores computed by hand on a tiny
 * class, the planted poison on hand-made features, the 50/50 blind spot, the
 * planted-backdoor MNIST fixture (≥ 90% of the poison flagged, ≤ 10% of the
 * clean, with ε on the target class), repair, determinism, no mutation, no
 * leak, progress/abort, every bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { BackdoorKitError } from '../../src/core/errors.js';
import {
  detect,
  repair,
  SPECTRAL_SIGNATURES_DEFAULTS,
  SPECTRAL_SIGNATURES_REPAIR_DEFAULTS,
} from '../../src/defences/data/spectral-signatures.js';
import { accuracy, attackSuccessRate, detection } from '../../src/metrics/index.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import { ready } from '../helpers/backend.js';
import { CentroidClassifier, handMade } from './centroid-classifier.js';

let fx: BackdoorFixture;

before(async () => {
  await ready;
  fx = await backdoorFixture();
});

async function rejects(p: () => Promise<unknown>, code: string, arg: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BackdoorKitError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(arg), `${e.message} should name ${arg}`);
    assert.ok(e.message.includes('spectralSignatures.'), e.message);
    return true;
  });
}

describe('spectralSignatures.detect', () => {
  it('scores the squared projection of the centred representation on the top singular vector', async () => {
    // one class: (3,0,0,0) and three times (−1,0,0,0) → mean 0, top direction e₀, scores 9, 1, 1, 1;
    // plus (0,0,1,0) and (0,0,−1,0), orthogonal to it → score 0
    const rows = [
      [3, 0, 0, 0],
      [-1, 0, 0, 0],
      [-1, 0, 0, 0],
      [-1, 0, 0, 0],
      [0, 0, 1, 0],
      [0, 0, -1, 0],
    ];
    const x = tf.tensor4d(rows.flat(), [6, 1, 1, 4]);
    const model = new CentroidClassifier(4, 2, undefined);
    const before = tf.memory().numTensors;
    const r = await detect(model, { x, y: new Int32Array(6) }, { expectedPoisonFraction: 0.2 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(r.scores), [9, 1, 1, 1, 0, 0]);
    // ⌊1.5 · 0.2 · 6⌋ = 1 removed: the top score
    assert.deepEqual(Array.from(r.suspicious), [1, 0, 0, 0, 0, 0]);
    const c0 = r.perClass[0]!;
    assert.equal(c0.removed, 1);
    assert.equal(c0.threshold, 9);
    assert.ok(Math.abs(c0.topSingularValue - Math.sqrt(12)) < 1e-12);
    assert.ok(Math.abs(c0.topShare - 12 / 14) < 1e-12);
    assert.deepEqual(r.perClass[1], {
      label: 1,
      size: 0,
      removed: 0,
      threshold: Infinity,
      topSingularValue: 0,
      topShare: 0,
    });
    x.dispose();
  });

  it('centres before projecting (an offset class gives the same scores; ART projects uncentred data)', async () => {
    const rows = [
      [3, 0, 0, 0],
      [-1, 0, 0, 0],
      [-1, 0, 0, 0],
      [-1, 0, 0, 0],
    ];
    const shifted = rows.map((r) => r.map((v, j) => v + [50, -20, 7, 1][j]!));
    const model = new CentroidClassifier(4, 1 + 1, undefined);
    const a = tf.tensor4d(rows.flat(), [4, 1, 1, 4]);
    const b = tf.tensor4d(shifted.flat(), [4, 1, 1, 4]);
    const ra = await detect(model, { x: a, y: new Int32Array(4) }, { expectedPoisonFraction: 0.2 });
    const rb = await detect(model, { x: b, y: new Int32Array(4) }, { expectedPoisonFraction: 0.2 });
    Array.from(ra.scores).forEach((s, i) => assert.ok(Math.abs(s - rb.scores[i]!) < 1e-4));
    a.dispose();
    b.dispose();
  });

  it('flags the planted poison of hand-made features when it is a minority of its class', async () => {
    const h = handMade([60, 70, 70], 20);
    // ε = 20/80 on class 0 only: ⌊1.5 · 0.25 · 80⌋ = 30 removed, all 20 poison among them
    const r = await detect(h.model, h.data, { expectedPoisonFraction: [0.25, 0, 0] });
    const d = detection(r.suspicious, h.poisoned);
    assert.equal(d.tp, 20);
    assert.equal(d.fp, 10);
    assert.equal(r.perClass[0]!.removed, 30);
    // every poison sample outscores every clean sample of its class
    let minPoison = Infinity;
    let maxClean = -Infinity;
    h.data.y.forEach((c, i) => {
      if (c !== 0) return;
      if (h.poisoned[i] === 1) minPoison = Math.min(minPoison, r.scores[i]!);
      else maxClean = Math.max(maxClean, r.scores[i]!);
    });
    assert.ok(minPoison > maxClean);
    h.data.x.dispose();
  });

  it('cannot tell poison from clean when the poison is half of its class (scores are symmetric)', async () => {
    const h = handMade([50, 70, 70], 50);
    const r = await detect(h.model, h.data, { expectedPoisonFraction: [0.5, 0, 0] });
    const d = detection(r.suspicious, h.poisoned);
    // 75 of 100 removed: both halves sit as far from the class mean, so recall stays far from 1
    assert.equal(d.tp + d.fp, 75);
    assert.ok(d.tp < 60 && d.fp > 15, `tp ${d.tp}, fp ${d.fp}`);
    h.data.x.dispose();
  });

  it('on the fixture flags ≥ 90% of the poison and ≤ 10% of the clean samples with ε on the target class', async () => {
    // The fixture's poison is half of the target class, where spectral scores are nearly symmetric
    // (see the 50/50 test above): reaching 90% recall takes ε = 0.6, i.e. removing 90% of the target
    // class; the other classes are left alone (ε = 0), as after Neural Cleanse has named the target.
    const eps = new Array<number>(10).fill(0);
    eps[fx.target] = 0.6;
    const before = tf.memory().numTensors;
    const r = await detect(fx.backdoored, fx.train, { expectedPoisonFraction: eps });
    assert.equal(tf.memory().numTensors, before);
    const d = detection(r.suspicious, fx.poisoned, r.scores);
    assert.ok(d.recall >= 0.9, `recall ${d.recall}`);
    assert.ok(d.fpr <= 0.1, `clean flagged ${d.fpr}`);
    assert.equal(r.layer, 'dense1');
  });

  it('is deterministic and does not modify the data or the classifier', async () => {
    const h = handMade([60, 70, 70], 20);
    const x0 = Array.from(await h.data.x.data());
    const y0 = h.data.y.slice();
    const c0 = h.model.centroids!.slice();
    const a = await detect(h.model, h.data);
    const b = await detect(h.model, h.data);
    assert.deepEqual(a, b);
    assert.deepEqual(Array.from(await h.data.x.data()), x0);
    assert.deepEqual(h.data.y, y0);
    assert.deepEqual(h.model.centroids, c0);
    // default ε = 0.33: ⌊1.5 · 0.33 · n⌋ of every class
    a.perClass.forEach((c) => assert.equal(c.removed, Math.floor(1.5 * 0.33 * c.size + 1e-9)));
    h.data.x.dispose();
  });

  it('segments by prediction when asked', async () => {
    const h = handMade([60, 70, 70], 20);
    const r = await detect(h.model, h.data, { segmentBy: 'prediction', expectedPoisonFraction: [0.25, 0, 0] });
    assert.deepEqual(Array.from(r.segments), Array.from(h.data.y));
    assert.equal(detection(r.suspicious, h.poisoned).tp, 20);
    h.data.x.dispose();
  });

  it('reports progress and honours an AbortSignal', async () => {
    const h = handMade([60, 70, 70], 20);
    const stages = new Set<string>();
    await detect(h.model, h.data, { batchSize: 64, onProgress: (e) => stages.add(e.stage) });
    assert.ok(stages.has('spectral-signatures:activations') && stages.has('spectral-signatures:score'));
    const before = tf.memory().numTensors;
    await rejects(() => detect(h.model, h.data, { signal: AbortSignal.abort() }), 'ABORTED', 'signal');
    const ctl = new AbortController();
    await rejects(
      () =>
        detect(h.model, h.data, {
          batchSize: 64,
          signal: ctl.signal,
          onProgress: (e) => {
            if (e.stage === 'spectral-signatures:activations') ctl.abort();
          },
        }),
      'ABORTED',
      'signal',
    );
    assert.equal(tf.memory().numTensors, before);
    h.data.x.dispose();
  });

  it('rejects bad input, naming the argument', async () => {
    const h = handMade([60, 70, 70], 20);
    const predictOnly = { inputShape: [1, 1, 4], numClasses: 3, predict: (x: tf.Tensor) => h.model.predict(x) };
    await rejects(() => detect(predictOnly, h.data), 'MISSING_CAPABILITY', 'classifier');
    await rejects(() => detect(h.model, h.data, { layer: 'nope' }), 'LAYER_NOT_FOUND', 'options.layer');
    await rejects(
      () => detect(h.model, h.data, { expectedPoisonFraction: 1.2 }),
      'INVALID_ARGUMENT',
      'options.expectedPoisonFraction',
    );
    await rejects(
      () => detect(h.model, h.data, { expectedPoisonFraction: 0.9 }),
      'INVALID_ARGUMENT',
      'options.expectedPoisonFraction',
    );
    await rejects(
      () => detect(h.model, h.data, { expectedPoisonFraction: [0.1, 0.1] }),
      'SHAPE_MISMATCH',
      'options.expectedPoisonFraction',
    );
    await rejects(
      () => detect(h.model, h.data, { expectedPoisonFraction: [0.1, -1, 0] }),
      'INVALID_ARGUMENT',
      'options.expectedPoisonFraction[1]',
    );
    await rejects(
      () => detect(h.model, h.data, { removalMultiplier: -1 }),
      'INVALID_ARGUMENT',
      'options.removalMultiplier',
    );
    await rejects(
      () => detect(h.model, h.data, { segmentBy: 'both' as never }),
      'INVALID_ARGUMENT',
      'options.segmentBy',
    );
    await rejects(() => detect(h.model, h.data, { batchSize: 0 }), 'INVALID_ARGUMENT', 'options.batchSize');
    await rejects(() => detect(h.model, h.data, { epsilon: 0.1 } as never), 'INVALID_ARGUMENT', 'options.epsilon');
    const badY = h.data.y.slice();
    badY[2] = -1;
    await rejects(() => detect(h.model, { x: h.data.x, y: badY }), 'LABEL_OUT_OF_RANGE', 'data.y[2]');
    h.data.x.dispose();
  });
});

describe('spectralSignatures.repair', () => {
  it('removes the flagged samples and retrains from scratch; the original is untouched', async () => {
    const eps = new Array<number>(10).fill(0);
    eps[fx.target] = 0.6;
    const found = await detect(fx.backdoored, fx.train, { expectedPoisonFraction: eps });
    const before = tf.memory().numTensors;
    const r = await repair(fx.backdoored, fx.train, found, { trainBatchSize: 32, learningRate: 3e-3, maxEpochs: 6 });
    try {
      const flagged = found.suspicious.reduce((a, b) => a + b, 0);
      assert.equal(r.removed, flagged);
      assert.equal(r.data.y.length, fx.train.y.length - flagged);
      assert.ok(r.epochs >= 2 && r.epochs <= 6);
      const asr = await attackSuccessRate(r.classifier, fx.triggered, fx.target);
      const acc = await accuracy(r.classifier, fx.test);
      assert.ok(asr <= 0.2, `ASR ${asr}`);
      assert.ok(acc >= fx.stats.clean.accuracy - 0.05, `accuracy ${acc}`);
      assert.ok((await attackSuccessRate(fx.backdoored, fx.triggered, fx.target)) > 0.9);
    } finally {
      r.classifier.dispose();
      r.data.x.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects bad input', async () => {
    const h = handMade([60, 70, 70], 20);
    await rejects(
      () => repair(h.model, h.data, { suspicious: new Uint8Array(2) }),
      'SHAPE_MISMATCH',
      'report.suspicious',
    );
    await rejects(
      () => repair(h.model, h.data, { suspicious: h.poisoned }, { maxEpochs: 0 }),
      'INVALID_ARGUMENT',
      'options.maxEpochs',
    );
    await rejects(
      () => repair(h.model, h.data, { suspicious: new Uint8Array(h.poisoned.length).fill(1) }),
      'INVALID_ARGUMENT',
      'report.suspicious',
    );
    await rejects(
      () =>
        repair({ inputShape: [1, 1, 4], numClasses: 3, predict: (x: tf.Tensor) => h.model.predict(x) }, h.data, {
          suspicious: h.poisoned,
        }),
      'MISSING_CAPABILITY',
      'classifier',
    );
    h.data.x.dispose();
  });

  it('has frozen defaults with the documented values', () => {
    assert.ok(Object.isFrozen(SPECTRAL_SIGNATURES_DEFAULTS) && Object.isFrozen(SPECTRAL_SIGNATURES_REPAIR_DEFAULTS));
    assert.equal(SPECTRAL_SIGNATURES_DEFAULTS.expectedPoisonFraction, 0.33);
    assert.equal(SPECTRAL_SIGNATURES_DEFAULTS.removalMultiplier, 1.5);
  });
});
