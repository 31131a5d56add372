/**
 * activationClustering.detect / repair: exact results on hand-made feature
 * data with a centroid classifier (every analysis, the ambiguous 50/50 class,
 * segmentation by prediction, a class with one sample); the planted-backdoor
 * MNIST fixture (≥ 90% of the poison flagged, ≤ 10% of the clean; both
 * repairs remove the backdoor); determinism, no mutation, no leak,
 * progress/abort, every bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { BackdoorKitError } from '../../src/core/errors.js';
import {
  ACTIVATION_CLUSTERING_DEFAULTS,
  ACTIVATION_CLUSTERING_REPAIR_DEFAULTS,
  detect,
  repair,
  type ActivationClusteringReport,
} from '../../src/defences/data/activation-clustering/index.js';
import { accuracy, attackSuccessRate, detection } from '../../src/metrics/index.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import { ready } from '../helpers/backend.js';
import { CentroidClassifier, handMade } from './centroid-classifier.js';

let fx: BackdoorFixture;
let fxReport: ActivationClusteringReport;
/** Retraining settings matching the fixture's own training (6 epochs, batch 32, lr 3e-3). */
const FX_RETRAIN = { retrainEpochs: 6, trainBatchSize: 32, retrainLearningRate: 3e-3 } as const;

before(async () => {
  await ready;
  fx = await backdoorFixture();
  fxReport = await detect(fx.backdoored, fx.train, { ...FX_RETRAIN, seed: 1 });
});

function comparable(r: ActivationClusteringReport): unknown {
  const { timing: _t, ...rest } = r;
  return rest;
}

async function rejects(p: () => Promise<unknown>, code: string, arg: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BackdoorKitError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(arg), `${e.message} should name ${arg}`);
    assert.ok(e.message.includes('activationClustering.'), e.message);
    return true;
  });
}

describe('activationClustering.detect on hand-made features', () => {
  it('exclusionary reclassification flags exactly the planted poison and names its source', async () => {
    // class 0: 60 clean + 20 poison from class 2 with a trigger feature
    const h = handMade([60, 70, 70], 20);
    const before = tf.memory().numTensors;
    const r = await detect(h.model, h.data, { dims: 2 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(r.suspicious), Array.from(h.poisoned));
    assert.equal(r.layer, 'features');
    assert.equal(r.retrainings, 1);
    const c0 = r.perClass[0]!;
    assert.deepEqual(c0.clusterSizes, [20, 60]);
    assert.deepEqual(c0.suspiciousClusters, [0]);
    assert.equal(c0.suspectedSource, 2);
    assert.equal(c0.exRe.length, 1);
    assert.deepEqual(
      { ...c0.exRe[0]!, confidence: 0 },
      { cluster: 0, labelCount: 0, sourceCount: 20, source: 2, score: 0, confidence: 0 },
    );
    assert.ok(c0.separation > 10);
    // the clean classes are one blob each: not separated enough to be tested
    for (const c of [1, 2]) {
      assert.ok(r.perClass[c]!.separation < ACTIVATION_CLUSTERING_DEFAULTS.separationThreshold);
      assert.deepEqual(r.perClass[c]!.exRe, []);
      assert.equal(r.perClass[c]!.suspectedSource, -1);
    }
    r.suspectedSources.forEach((s, i) => assert.equal(s, h.poisoned[i] === 1 ? 2 : -1));
    r.clusters.forEach((k, i) => assert.ok(k === 0 || k === 1, String(i)));
    assert.deepEqual(Array.from(r.segments), Array.from(h.data.y));
    // plain data
    assert.doesNotThrow(() => JSON.stringify(r));
    h.data.x.dispose();
  });

  it('tests both halves of an ambiguous 50/50 class and picks the poison (reclassified with confidence)', async () => {
    const h = handMade([50, 70, 70], 50);
    const r = await detect(h.model, h.data, { dims: 2 });
    assert.deepEqual(Array.from(r.suspicious), Array.from(h.poisoned));
    assert.equal(r.retrainings, 2);
    const c0 = r.perClass[0]!;
    assert.equal(c0.exRe.length, 2);
    // both halves fail ExRe (a class removed whole leaves no examples), poison is the confident one
    assert.ok(c0.exRe.every((e) => e.score < 1));
    const poisonCluster = r.clusters[h.poisoned.indexOf(1)]!;
    const [p, c] = poisonCluster === 0 ? [c0.exRe[0]!, c0.exRe[1]!] : [c0.exRe[1]!, c0.exRe[0]!];
    assert.ok(p.confidence > 0.99 && c.confidence < 0.9, `${p.confidence} vs ${c.confidence}`);
    assert.deepEqual(c0.suspiciousClusters, [poisonCluster]);
    h.data.x.dispose();
  });

  it('implements the other analyses as specified', async () => {
    const h = handMade([60, 70, 70], 20);
    const flagged = async (analysis: 'smaller' | 'relative-size' | 'silhouette' | 'distance', extra = {}) =>
      detect(h.model, h.data, { dims: 2, analysis, ...extra });
    // relative size: the poison holds 25% ≤ 35% of class 0; the clean classes split about evenly
    const rs = await flagged('relative-size');
    assert.deepEqual(Array.from(rs.suspicious), Array.from(h.poisoned));
    assert.equal(rs.retrainings, 0);
    // distance: the poison cluster's median is nearer class 2's median than class 0's
    const dist = await flagged('distance');
    assert.deepEqual(Array.from(dist.suspicious), Array.from(h.poisoned));
    assert.equal(dist.perClass[0]!.suspectedSource, 2);
    // smaller: the smaller cluster of every class, clean halves included
    const sm = await flagged('smaller');
    for (const c of sm.perClass) assert.deepEqual(c.suspiciousClusters, [0]);
    // silhouette: only classes at or above the threshold
    const sil = await flagged('silhouette', { silhouetteThreshold: 0.5 });
    assert.ok(sil.perClass[0]!.silhouette >= 0.5 && sil.perClass[1]!.silhouette < 0.5);
    assert.deepEqual(Array.from(sil.suspicious), Array.from(h.poisoned));
    const silLow = await flagged('silhouette', { silhouetteThreshold: 0.1 });
    for (const c of silLow.perClass) assert.deepEqual(c.suspiciousClusters, [0]);
    h.data.x.dispose();
  });

  it('segments by the model prediction when asked (Algorithm 1)', async () => {
    const h = handMade([60, 70, 70], 20);
    const r = await detect(h.model, h.data, { dims: 2, segmentBy: 'prediction' });
    // the "backdoored" model predicts the poison as 0, so both segmentations agree here
    assert.deepEqual(Array.from(r.segments), Array.from(h.data.y));
    assert.deepEqual(Array.from(r.suspicious), Array.from(h.poisoned));
    h.data.x.dispose();
  });

  it('works with PCA or no reduction', async () => {
    const h = handMade([60, 70, 70], 20);
    for (const reduction of ['pca', 'none'] as const) {
      const r = await detect(h.model, h.data, { dims: 2, reduction });
      assert.deepEqual(Array.from(r.suspicious), Array.from(h.poisoned), reduction);
    }
    h.data.x.dispose();
  });

  it('handles a class with a single sample and an empty class without crashing', async () => {
    const h = handMade([60, 70, 70, 1], 20);
    const model = new CentroidClassifier(4, 5, undefined);
    const r = await detect(model, h.data, { dims: 2 });
    assert.deepEqual(Array.from(r.suspicious), Array.from(h.poisoned));
    assert.equal(r.perClass[3]!.clustered, false);
    assert.deepEqual(r.perClass[3]!.clusterSizes, [1, 0]);
    assert.ok(Number.isNaN(r.perClass[3]!.silhouette));
    assert.equal(r.perClass[4]!.size, 0);
    assert.equal(r.perClass[4]!.clustered, false);
    const idx = h.data.y.indexOf(3);
    assert.equal(r.clusters[idx], -1);
    assert.equal(r.suspicious[idx], 0);
    h.data.x.dispose();
  });

  it('is deterministic for a seed and does not modify the data or the classifier', async () => {
    const h = handMade([60, 70, 70], 20);
    const xBefore = Array.from(await h.data.x.data());
    const yBefore = Array.from(h.data.y);
    const centroids = h.model.centroids!.slice();
    const a = await detect(h.model, h.data, { dims: 2, seed: 7 });
    const b = await detect(h.model, h.data, { dims: 2, seed: 7 });
    assert.deepEqual(comparable(a), comparable(b));
    assert.deepEqual(Array.from(await h.data.x.data()), xBefore);
    assert.deepEqual(Array.from(h.data.y), yBefore);
    assert.deepEqual(h.model.centroids, centroids);
    assert.equal(h.model.disposed, false);
    assert.equal(h.data.x.isDisposed, false);
    h.data.x.dispose();
  });

  it('reports progress and honours an AbortSignal', async () => {
    const h = handMade([60, 70, 70], 20);
    const stages = new Set<string>();
    await detect(h.model, h.data, { dims: 2, batchSize: 50, onProgress: (e) => stages.add(e.stage) });
    for (const s of [
      'activation-clustering:activations',
      'activation-clustering:cluster',
      'activation-clustering:retrain 1/1',
    ]) {
      assert.ok(stages.has(s), `${s} in ${[...stages].join(', ')}`);
    }
    const before = tf.memory().numTensors;
    await rejects(() => detect(h.model, h.data, { dims: 2, signal: AbortSignal.abort() }), 'ABORTED', 'signal');
    const ctl = new AbortController();
    await rejects(
      () =>
        detect(h.model, h.data, {
          dims: 2,
          signal: ctl.signal,
          onProgress: (e) => e.stage.startsWith('activation-clustering:retrain') && ctl.abort(),
        }),
      'ABORTED',
      'signal',
    );
    assert.equal(tf.memory().numTensors, before);
    h.data.x.dispose();
  });

  it('rejects bad input before any work, naming the argument', async () => {
    const h = handMade([60, 70, 70], 20);
    const fits = CentroidClassifier.fits;
    const predictOnly = { inputShape: [1, 1, 4], numClasses: 3, predict: (x: tf.Tensor) => h.model.predict(x) };
    const noTrain = {
      inputShape: [1, 1, 4],
      numClasses: 3,
      layers: h.model.layers,
      predict: (x: tf.Tensor) => h.model.predict(x),
      activations: (x: tf.Tensor, l: string) => h.model.activations(x, l),
    };
    await rejects(() => detect(h.model, h.data, { dims: 4 }), 'INVALID_ARGUMENT', 'options.dims');
    await rejects(() => detect(h.model, h.data, { dims: 0 }), 'INVALID_ARGUMENT', 'options.dims');
    await rejects(
      () => detect(h.model, h.data, { dims: 2, analysis: 'gap' as never }),
      'INVALID_ARGUMENT',
      'options.analysis',
    );
    await rejects(() => detect(h.model, h.data, { dims: 2, layer: 'conv9' }), 'LAYER_NOT_FOUND', 'options.layer');
    await rejects(() => detect(h.model, h.data, { dims: 2, nbDims: 3 } as never), 'INVALID_ARGUMENT', 'options.nbDims');
    await rejects(
      () => detect(h.model, h.data, { dims: 2, segmentBy: 'x' as never }),
      'INVALID_ARGUMENT',
      'options.segmentBy',
    );
    await rejects(
      () => detect(h.model, h.data, { dims: 2, reduction: 'tsne' as never }),
      'INVALID_ARGUMENT',
      'options.reduction',
    );
    await rejects(() => detect(h.model, h.data, { dims: 2, nInit: 0 }), 'INVALID_ARGUMENT', 'options.nInit');
    await rejects(
      () => detect(h.model, h.data, { dims: 2, sizeThreshold: 0.6 }),
      'INVALID_ARGUMENT',
      'options.sizeThreshold',
    );
    await rejects(
      () => detect(h.model, h.data, { dims: 2, exReThreshold: 0 }),
      'INVALID_ARGUMENT',
      'options.exReThreshold',
    );
    await rejects(
      () => detect(h.model, h.data, { dims: 2, retrainEpochs: 0 }),
      'INVALID_ARGUMENT',
      'options.retrainEpochs',
    );
    await rejects(() => detect(h.model, h.data, { dims: 2, seed: Infinity }), 'INVALID_ARGUMENT', 'options.seed');
    await rejects(
      () => detect(h.model, h.data, { dims: 2, signal: 'stop' as never }),
      'INVALID_ARGUMENT',
      'options.signal',
    );
    await rejects(() => detect(predictOnly, h.data, { dims: 2 }), 'MISSING_CAPABILITY', 'classifier');
    await rejects(() => detect(noTrain, h.data, { dims: 2 }), 'MISSING_CAPABILITY', 'classifier');
    // without the 'train' capability the other analyses still run
    const ok = await detect(noTrain, h.data, { dims: 2, analysis: 'relative-size' });
    assert.equal(ok.suspicious.length, h.data.y.length);
    await rejects(
      () => detect(h.model, { x: h.data.x, y: h.data.y.slice(1) }, { dims: 2 }),
      'SHAPE_MISMATCH',
      'data.y',
    );
    const badY = h.data.y.slice();
    badY[0] = 7;
    await rejects(() => detect(h.model, { x: h.data.x, y: badY }, { dims: 2 }), 'LABEL_OUT_OF_RANGE', 'data.y[0]');
    const wrong = tf.zeros([3, 2, 2, 1]) as tf.Tensor4D;
    await rejects(
      () => detect(h.model, { x: wrong, y: Int32Array.of(0, 1, 2) }, { dims: 2 }),
      'SHAPE_MISMATCH',
      'data.x',
    );
    wrong.dispose();
    assert.equal(CentroidClassifier.fits, fits);
    h.data.x.dispose();
  });
});

describe('activationClustering on the planted-backdoor fixture', () => {
  it('flags ≥ 90% of the poison and ≤ 10% of the clean samples with the default analysis', () => {
    const d = detection(fxReport.suspicious, fx.poisoned);
    assert.ok(d.recall >= 0.9, `recall ${d.recall}`);
    assert.ok(d.fpr <= 0.1, `clean flagged ${d.fpr}`);
    assert.equal(fxReport.analysis, 'exclusionary-reclassification');
    assert.equal(fxReport.layer, 'dense1');
    // only the target class is tested and flagged
    fxReport.perClass.forEach((c) => assert.equal(c.suspiciousClusters.length > 0, c.label === fx.target));
  });

  it('left the fixture untouched and leaked nothing', async () => {
    const probs = async (): Promise<number[][]> => {
      const t = tf.tidy(() => fx.backdoored.predict(tf.slice(fx.test.x, [0, 0, 0, 0], [20, -1, -1, -1])));
      const v = await t.array();
      t.dispose();
      return v;
    };
    const x0 = await fx.train.x.data();
    const y0 = fx.train.y.slice();
    const p0 = await probs();
    const before = tf.memory().numTensors;
    const r = await detect(fx.backdoored, fx.train, { analysis: 'relative-size', seed: 1 });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(r.suspicious.length, fx.train.y.length);
    assert.deepEqual(await probs(), p0);
    assert.deepEqual(await fx.train.x.data(), x0);
    assert.deepEqual(fx.train.y, y0);
  });

  it('repairs by relabelling and continuing training (ASR ≤ 10%, clean accuracy kept), without touching the original', async () => {
    const before = tf.memory().numTensors;
    const asrBefore = fx.stats.backdoored.asr;
    const stages = new Set<string>();
    const r = await repair(fx.backdoored, fx.train, fxReport, {
      mode: 'relabel',
      trainBatchSize: 32,
      learningRate: 3e-3,
      maxEpochs: 5,
      onProgress: (e) => stages.add(e.stage),
    });
    try {
      assert.equal(r.mode, 'relabel');
      assert.equal(
        r.relabelled,
        fxReport.suspicious.reduce((a, b) => a + b, 0),
      );
      assert.equal(r.removed, 0);
      assert.equal(r.data.y.length, fx.train.y.length);
      assert.ok(r.epochs >= 2 && r.epochs <= 5);
      assert.ok(stages.has('activation-clustering:repair:epoch'));
      // relabelled samples carry their suspected source, never the target
      fxReport.suspicious.forEach((f, i) => {
        if (f === 1) assert.equal(r.data.y[i], fxReport.suspectedSources[i]);
      });
      const asr = await attackSuccessRate(r.classifier, fx.triggered, fx.target);
      const acc = await accuracy(r.classifier, fx.test);
      assert.ok(asr <= 0.1, `ASR ${asrBefore} → ${asr}`);
      assert.ok(acc >= fx.stats.clean.accuracy - 0.03, `accuracy ${acc}`);
      // the original still carries its backdoor
      assert.ok((await attackSuccessRate(fx.backdoored, fx.triggered, fx.target)) > 0.9);
    } finally {
      r.classifier.dispose();
      r.data.x.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('repairs by removing and retraining from scratch', async () => {
    const before = tf.memory().numTensors;
    const r = await repair(fx.backdoored, fx.train, fxReport, {
      mode: 'retrain',
      trainBatchSize: 32,
      learningRate: 3e-3,
      maxEpochs: 6,
      tolerance: 0,
    });
    try {
      const flagged = fxReport.suspicious.reduce((a, b) => a + b, 0);
      assert.equal(r.removed, flagged);
      assert.equal(r.data.y.length, fx.train.y.length - flagged);
      assert.equal(r.data.x.shape[0], r.data.y.length);
      assert.equal(r.epochs, 6);
      assert.equal(r.converged, false);
      const asr = await attackSuccessRate(r.classifier, fx.triggered, fx.target);
      const acc = await accuracy(r.classifier, fx.test);
      assert.ok(asr <= 0.1, `ASR ${asr}`);
      assert.ok(acc >= fx.stats.clean.accuracy - 0.03, `accuracy ${acc}`);
    } finally {
      r.classifier.dispose();
      r.data.x.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair estimates sources when the report has none, and rejects bad input', async () => {
    const h = handMade([60, 70, 70], 20);
    const r = await repair(h.model, h.data, { suspicious: h.poisoned }, { mode: 'relabel', maxEpochs: 3 });
    h.poisoned.forEach((p, i) => assert.equal(r.data.y[i], p === 1 ? 2 : h.data.y[i]));
    r.data.x.dispose();
    const bad = async (p: () => Promise<unknown>, code: string, arg: string) =>
      assert.rejects(p, (e: unknown) => e instanceof BackdoorKitError && e.code === code && e.message.includes(arg));
    await bad(() => repair(h.model, h.data, { suspicious: new Uint8Array(3) }), 'SHAPE_MISMATCH', 'report.suspicious');
    await bad(() => repair(h.model, h.data, {} as never), 'INVALID_ARGUMENT', "'report'");
    await bad(
      () => repair(h.model, h.data, { suspicious: new Uint8Array(h.poisoned.length).fill(1) }),
      'INVALID_ARGUMENT',
      'report.suspicious',
    );
    await bad(
      () => repair(h.model, h.data, { suspicious: h.poisoned }, { mode: 'prune' as never }),
      'INVALID_ARGUMENT',
      'options.mode',
    );
    await bad(
      () => repair(h.model, h.data, { suspicious: h.poisoned }, { maxEpochs: 0 }),
      'INVALID_ARGUMENT',
      'options.maxEpochs',
    );
    await bad(
      () => repair(h.model, h.data, { suspicious: h.poisoned }, { tolerance: 2 }),
      'INVALID_ARGUMENT',
      'options.tolerance',
    );
    await bad(
      () =>
        repair({ inputShape: [1, 1, 4], numClasses: 3, predict: (x: tf.Tensor) => h.model.predict(x) }, h.data, {
          suspicious: h.poisoned,
        }),
      'MISSING_CAPABILITY',
      'classifier',
    );
    await bad(
      () => repair(h.model, h.data, { suspicious: h.poisoned }, { signal: AbortSignal.abort() }),
      'ABORTED',
      'signal',
    );
    h.data.x.dispose();
  });

  it('has frozen defaults with the documented values', () => {
    assert.ok(Object.isFrozen(ACTIVATION_CLUSTERING_DEFAULTS));
    assert.ok(Object.isFrozen(ACTIVATION_CLUSTERING_REPAIR_DEFAULTS));
    assert.equal(ACTIVATION_CLUSTERING_DEFAULTS.dims, 10);
    assert.equal(ACTIVATION_CLUSTERING_DEFAULTS.analysis, 'exclusionary-reclassification');
    assert.equal(ACTIVATION_CLUSTERING_DEFAULTS.exReThreshold, 1);
    assert.equal(ACTIVATION_CLUSTERING_REPAIR_DEFAULTS.mode, 'relabel');
  });
});
