/**
 * finePruning.repair: the pruning order and stopping rule on a hand-made
 * model whose activations and accuracies are known exactly; effectiveness on
 * the planted-backdoor fixture; the three modes; purity, leaks, determinism,
 * progress/abort and every bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { FullClassifier } from '../../src/core/classifier.js';
import { BackdoorKitError } from '../../src/core/errors.js';
import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';
import { subset } from '../../src/data/index.js';
import { FINE_PRUNING_DEFAULTS, repair } from '../../src/defences/model/fine-pruning.js';
import { accuracy, attackSuccessRate } from '../../src/metrics/index.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import { ready } from '../helpers/backend.js';
import { weightsOf } from '../helpers/fixtures.js';
import { channelModel } from '../helpers/hand-models.js';

let fx: BackdoorFixture;
let clean: LabeledData;

before(async () => {
  await ready;
  fx = await backdoorFixture();
  // the defender's clean data: 300 training digits that were not poisoned
  const idx: number[] = [];
  for (let i = 0; i < fx.poisoned.length && idx.length < 300; i++) if (fx.poisoned[i] === 0) idx.push(i);
  clean = subset(fx.cleanTrain, idx);
});

/** 4 samples of class 0 (a = 0.6, b = 0.2) and 6 of class 1 (a = 0.1, b = 0.7). */
function handData(): LabeledData {
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
  return { x: tf.tensor4d(rows, [10, 1, 1, 2]), y: Int32Array.from(y) };
}

async function expectError(p: Promise<unknown>, code: string, arg: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BackdoorKitError, `expected a BackdoorKitError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.fn, 'finePruning.repair');
    assert.ok(e.message.includes(arg), `message should name '${arg}': ${e.message}`);
    return true;
  });
}

describe('finePruning.repair on a hand-made model', () => {
  it('ranks channels by mean activation and stops before the accuracy drop exceeds the threshold', async () => {
    const clf = channelModel();
    const data = handData();
    const r = await repair(clf, data, { mode: 'pruning' });
    // means over the 10 samples: a = 0.3, b = 0.5, 0.1·a = 0.03
    assert.deepEqual(
      Array.from(r.meanActivation, (v) => Number(v.toFixed(6))),
      [0.3, 0.5, 0.03],
    );
    assert.deepEqual(Array.from(r.order), [2, 0, 1]);
    // pruning ch2 changes nothing; pruning ch0 sends everything to class 1 (accuracy 0.6): stop, keep ch0
    assert.deepEqual(r.accuracyCurve, [1, 1, 0.6]);
    assert.deepEqual(Array.from(r.pruned), [2]);
    assert.equal(r.stoppedBy, 'accuracy-drop');
    assert.equal(r.layer, 'conv');
    assert.equal(r.units, 3);
    assert.equal(r.accuracyBefore, 1);
    assert.equal(r.accuracyAfterPruning, 1);
    assert.equal(r.accuracyAfter, 1);
    assert.deepEqual(r.fineTuning, { loss: [], accuracy: [], seconds: [] });
    // the returned model carries the mask (0 for ch2) in a UnitMask layer
    const masked = r.classifier as LayersModelClassifier;
    const mask = masked.model.getLayer('conv__unit_mask').getWeights()[0]!;
    assert.deepEqual(Array.from(await mask.data()), [1, 1, 0]);
    assert.equal(await accuracy(masked, data), 1);
    // the input model has no mask layer
    assert.equal(
      clf.layers.some((l) => l.kind === 'mask'),
      false,
    );
    r.classifier.dispose();
    clf.dispose();
    data.x.dispose();
  });

  it('with maxAccuracyDrop 1 prunes up to all but one unit (maxPrunedFraction caps it further)', async () => {
    const clf = channelModel();
    const data = handData();
    const all = await repair(clf, data, { mode: 'pruning', maxAccuracyDrop: 1 });
    assert.deepEqual(Array.from(all.pruned), [2, 0]);
    assert.equal(all.stoppedBy, 'max-pruned');
    assert.deepEqual(all.accuracyCurve, [1, 1, 0.6]);
    assert.equal(all.accuracyAfter, 0.6);
    all.classifier.dispose();
    const capped = await repair(clf, data, { mode: 'pruning', maxAccuracyDrop: 1, maxPrunedFraction: 0.34 });
    assert.deepEqual(Array.from(capped.pruned), [2]);
    assert.equal(capped.stoppedBy, 'max-pruned');
    capped.classifier.dispose();
    clf.dispose();
    data.x.dispose();
  });

  it('works through withUnitMask alone for a maskable classifier that is not a LayersModelClassifier', async () => {
    const inner = channelModel();
    const data = handData();
    const wrap = (c: LayersModelClassifier): FullClassifier => ({
      inputShape: c.inputShape,
      numClasses: c.numClasses,
      layers: c.layers,
      predict: (x) => c.predict(x),
      activations: (x, layer, o) => c.activations(x, layer, o),
      withUnitMask: (layer, keep) => wrap(c.withUnitMask(layer, keep)) as ReturnType<FullClassifier['withUnitMask']>,
      clone: function () {
        return wrap(c.clone()) as never;
      },
      reinitialized: function (seed: number) {
        return wrap(c.reinitialized(seed)) as never;
      },
      fit: (d, o) => c.fit(d, o),
      dispose: () => c.dispose(),
    });
    const before = tf.memory().numTensors;
    const r = await repair(wrap(inner), data, { mode: 'pruning' });
    assert.deepEqual(Array.from(r.pruned), [2]);
    assert.deepEqual(r.accuracyCurve, [1, 1, 0.6]);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    inner.dispose();
    data.x.dispose();
  });

  it('fine-tuning mode trains a copy and leaves the input untouched', async () => {
    const clf = channelModel();
    const data = handData();
    const w0 = await weightsOf(clf);
    const r = await repair(clf, data, { mode: 'fine-tuning', epochs: 2, trainBatchSize: 5 });
    assert.equal(r.layer, null);
    assert.equal(r.pruned.length, 0);
    assert.equal(r.fineTuning.loss.length, 2);
    assert.deepEqual(await weightsOf(clf), w0);
    const w1 = await weightsOf(r.classifier as LayersModelClassifier);
    assert.notDeepEqual(w1, w0);
    r.classifier.dispose();
    clf.dispose();
    data.x.dispose();
  });
});

describe('finePruning.repair on the planted-backdoor fixture', () => {
  it('defaults: prunes conv2 within the 4% rule, fine-tunes, and cuts the ASR', async () => {
    assert.equal(FINE_PRUNING_DEFAULTS.maxAccuracyDrop, 0.04);
    const xSum = tf.tidy(() => tf.sum(clean.x).dataSync()[0]);
    const ySnap = Array.from(clean.y);
    const w0 = await weightsOf(fx.backdoored);
    const before = tf.memory().numTensors;
    const events: string[] = [];
    const r = await repair(fx.backdoored, clean, { onProgress: (e) => events.push(e.stage) });
    assert.equal(r.layer, 'conv2');
    assert.ok(r.pruned.length >= 1 && r.pruned.length < 16, `pruned ${r.pruned.length}`);
    // the rule: every kept step is within 4 points, the next one (if any) is not
    for (let k = 1; k <= r.pruned.length; k++) assert.ok(r.accuracyBefore - r.accuracyCurve[k]! <= 0.04 + 1e-9);
    if (r.stoppedBy === 'accuracy-drop') assert.ok(r.accuracyBefore - r.accuracyCurve.at(-1)! > 0.04);
    assert.equal(r.fineTuning.loss.length, FINE_PRUNING_DEFAULTS.epochs);
    // the pruned units stay pruned through fine-tuning
    const mask = (r.classifier as LayersModelClassifier).model.getLayer('conv2__unit_mask').getWeights()[0]!;
    const m = await mask.data();
    for (const u of r.pruned) assert.equal(m[u], 0);
    // effectiveness (measured: ASR 0.98 -> 0.71, clean accuracy 0.918 -> 0.907)
    const acc = await accuracy(r.classifier, fx.test);
    const asr = await attackSuccessRate(r.classifier, fx.triggered, fx.target);
    assert.ok(asr <= 0.85, `ASR after fine-pruning ${asr}`);
    assert.ok(fx.stats.backdoored.asr - asr >= 0.1, `ASR fell only from ${fx.stats.backdoored.asr} to ${asr}`);
    assert.ok(fx.stats.backdoored.accuracy - acc <= 0.04, `clean accuracy fell to ${acc}`);
    // progress: activations, one event per pruning step, then the fine-tuning
    assert.equal(events[0], 'fine-pruning:activations');
    assert.equal(events.filter((s) => s === 'fine-pruning:prune').length, r.accuracyCurve.length - 1);
    assert.ok(events.includes('fine-pruning:fine-tune:epoch'));
    // purity and leaks
    assert.deepEqual(await weightsOf(fx.backdoored), w0);
    assert.equal(
      tf.tidy(() => tf.sum(clean.x).dataSync()[0]),
      xSum,
    );
    assert.deepEqual(Array.from(clean.y), ySnap);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('pruning-only keeps the accuracy on the clean data within the rule and matches the reported curve', async () => {
    const before = tf.memory().numTensors;
    const r = await repair(fx.backdoored, clean, { mode: 'pruning', maxAccuracyDrop: 0.02 });
    assert.equal(r.fineTuning.loss.length, 0);
    assert.ok(r.accuracyBefore - r.accuracyAfter <= 0.02 + 1e-9);
    assert.equal(await accuracy(r.classifier, clean), r.accuracyAfter);
    // a looser threshold prunes at least as many units, in the same order
    const loose = await repair(fx.backdoored, clean, { mode: 'pruning', maxAccuracyDrop: 0.06 });
    assert.ok(loose.pruned.length >= r.pruned.length);
    assert.deepEqual(Array.from(loose.pruned.slice(0, r.pruned.length)), Array.from(r.pruned));
    r.classifier.dispose();
    loose.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('is deterministic for a seed', async () => {
    const opts = { layer: 'dense1', epochs: 1, seed: 4 } as const;
    const a = await repair(fx.backdoored, clean, opts);
    const b = await repair(fx.backdoored, clean, opts);
    assert.deepEqual(Array.from(a.pruned), Array.from(b.pruned));
    assert.deepEqual(a.accuracyCurve, b.accuracyCurve);
    assert.deepEqual(a.fineTuning.loss, b.fineTuning.loss);
    assert.deepEqual(
      await weightsOf(a.classifier as LayersModelClassifier),
      await weightsOf(b.classifier as LayersModelClassifier),
    );
    a.classifier.dispose();
    b.classifier.dispose();
  });

  it('honours an AbortSignal (before and during the work) without leaking', async () => {
    const before = tf.memory().numTensors;
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(repair(fx.backdoored, clean, { signal: pre.signal }), { code: 'ABORTED' });
    for (const stage of ['fine-pruning:prune', 'fine-pruning:fine-tune']) {
      const ctl = new AbortController();
      await assert.rejects(
        repair(fx.backdoored, clean, {
          signal: ctl.signal,
          onProgress: (e) => {
            if (e.stage === stage) ctl.abort();
          },
        }),
        { code: 'ABORTED' },
      );
    }
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('finePruning.repair rejects bad input before any work', () => {
  it('a model without conv layers (no layer named)', async () => {
    const dense = fromLayersModel(
      tfl.sequential({
        layers: [
          tfl.layers.flatten({ inputShape: [14, 14, 1] }),
          tfl.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      }),
      { owned: true },
    );
    await expectError(repair(dense, clean), 'LAYER_NOT_FOUND', 'conv');
    dense.dispose();
  });

  it('an unknown or unsuitable layer', async () => {
    await expectError(repair(fx.backdoored, clean, { layer: 'conv9' }), 'LAYER_NOT_FOUND', 'options.layer');
    await expectError(repair(fx.backdoored, clean, { layer: 'pool1' }), 'INVALID_ARGUMENT', 'options.layer');
  });

  it('too little clean data, or malformed data', async () => {
    const few = subset(clean, [0, 1, 2, 3, 4]);
    await expectError(repair(fx.backdoored, few), 'INVALID_ARGUMENT', 'cleanData');
    few.x.dispose();
    await expectError(repair(fx.backdoored, { x: clean.x, y: new Int32Array(3) }), 'SHAPE_MISMATCH', 'cleanData.y');
    const wrongShape = { x: tf.zeros([12, 28, 28, 1]) as tf.Tensor4D, y: new Int32Array(12) };
    await expectError(repair(fx.backdoored, wrongShape), 'SHAPE_MISMATCH', 'cleanData.x');
    wrongShape.x.dispose();
  });

  it('thresholds and other options outside their range', async () => {
    await expectError(
      repair(fx.backdoored, clean, { maxAccuracyDrop: 1.5 }),
      'INVALID_ARGUMENT',
      'options.maxAccuracyDrop',
    );
    await expectError(
      repair(fx.backdoored, clean, { maxAccuracyDrop: -0.01 }),
      'INVALID_ARGUMENT',
      'options.maxAccuracyDrop',
    );
    await expectError(
      repair(fx.backdoored, clean, { maxPrunedFraction: 2 }),
      'INVALID_ARGUMENT',
      'options.maxPrunedFraction',
    );
    await expectError(repair(fx.backdoored, clean, { epochs: -1 }), 'INVALID_ARGUMENT', 'options.epochs');
    await expectError(repair(fx.backdoored, clean, { learningRate: 0 }), 'INVALID_ARGUMENT', 'options.learningRate');
    await expectError(repair(fx.backdoored, clean, { mode: 'prune' as never }), 'INVALID_ARGUMENT', 'options.mode');
    await expectError(repair(fx.backdoored, clean, { thresold: 0.1 } as never), 'INVALID_ARGUMENT', 'options.thresold');
  });

  it('a classifier without the needed capabilities', async () => {
    const bare = { inputShape: [14, 14, 1], numClasses: 10, predict: (x: tf.Tensor) => fx.backdoored.predict(x) };
    await expectError(repair(bare as never, clean), 'MISSING_CAPABILITY', 'classifier');
    await expectError(repair(bare as never, clean, { mode: 'fine-tuning' }), 'MISSING_CAPABILITY', 'classifier');
  });
});
