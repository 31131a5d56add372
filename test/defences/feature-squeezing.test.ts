import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from '../../src/core/classifier.js';
import { subset } from '../../src/data/index.js';
import * as featureSqueezing from '../../src/defences/input/feature-squeezing.js';
import { detection } from '../../src/metrics/index.js';
import { backdoorFixture } from '../helpers/backdoor-fixture.js';
import { shapeClassifier } from '../helpers/fixtures.js';
import { ready } from '../helpers/backend.js';
import { errorPredicate as expectError } from '../helpers/errors.js';

before(async () => {
  await ready;
});

const { bitDepth, median, squeeze } = featureSqueezing;

/** The 4×4 test image of the median checks (distinct values 0..15). */
const IMG = [
  [3, 7, 1, 9],
  [4, 0, 8, 2],
  [6, 5, 11, 10],
  [15, 12, 14, 13],
];

function image(rows: number[][]): tf.Tensor4D {
  return tf.tensor4d(rows.flat(), [1, rows.length, rows[0]!.length, 1]);
}

async function values(t: tf.Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

describe('featureSqueezing squeezers (pixel-exact)', () => {
  it('bit depth: round(x·(2^b − 1)) / (2^b − 1), halves to even as numpy.rint', async () => {
    const x = tf.tensor4d([0, 0.1, 0.5, 0.6, 1, 0.25, 0.75, 0], [1, 2, 4, 1]);
    // numpy: np.rint(v * L) / L in float32, L = 2^bits - 1
    assert.deepEqual(await values(squeeze(x, bitDepth(1))), [0, 0, 0, 1, 1, 0, 1, 0]);
    const third = Math.fround(1 / 3);
    const twoThirds = Math.fround(2 / 3);
    assert.deepEqual(await values(squeeze(x, bitDepth(2))), [0, 0, twoThirds, twoThirds, 1, third, twoThirds, 0]);
    const s = (k: number) => Math.fround(k / 7);
    // 0.5·7 = 3.5 → 4 (even), 0.25·7 = 1.75 → 2, 0.75·7 = 5.25 → 5
    assert.deepEqual(await values(squeeze(x, bitDepth(3))), [0, s(1), s(4), s(4), 1, s(2), s(5), 0]);
    const grey = tf.tensor4d([0, 1 / 255, 128 / 255, 1], [1, 2, 2, 1]);
    assert.deepEqual(await values(squeeze(grey, bitDepth(8))), [0, 1 / 255, 128 / 255, 1].map(Math.fround));
    tf.dispose([x, grey]);
  });

  it('median 2x2: window one pixel up/left, upper median, edges reflected (scipy median_filter)', async () => {
    // hand check: out[1][1] = sorted(3, 7, 4, 0)[2] = 4; out[0][0] = median of the reflected 3s = 3
    const x = image(IMG);
    assert.deepEqual(await values(squeeze(x, median(2))), [3, 7, 7, 9, 4, 4, 7, 8, 6, 5, 8, 10, 15, 12, 12, 13]);
    const ramp = image([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
      [12, 13, 14, 15],
    ]);
    assert.deepEqual(await values(squeeze(ramp, median(2))), [0, 1, 2, 3, 4, 4, 5, 6, 8, 8, 9, 10, 12, 12, 13, 14]);
    tf.dispose([x, ramp]);
  });

  it('median 3x3 per channel and per image (scipy median_filter(size=(1, 3, 3, 1), mode="reflect"))', async () => {
    // hand check: out[1][1] = sorted(3, 7, 1, 4, 0, 8, 6, 5, 11)[4] = 5
    const chan0 = IMG.flat();
    const chan1 = chan0.map((v) => 15 - v);
    const data: number[] = [];
    for (let i = 0; i < 16; i++) data.push(chan0[i]!, chan1[i]!);
    const x = tf.tensor4d([...data, ...data.map((v) => v / 2)], [2, 4, 4, 2]);
    const out = await values(squeeze(x, median(3)));
    const c0 = [3, 3, 7, 8, 4, 5, 7, 9, 6, 8, 10, 10, 12, 12, 12, 13];
    const c1 = [12, 12, 8, 7, 11, 10, 8, 6, 9, 7, 5, 5, 3, 3, 3, 2];
    const want: number[] = [];
    for (let i = 0; i < 16; i++) want.push(c0[i]!, c1[i]!);
    assert.deepEqual(out, [...want, ...want.map((v) => v / 2)]);
    tf.dispose(x);
  });

  it('composes squeezers in order; repair batches the same; no mutation, no leak', async () => {
    const x = tf.tensor4d(
      Array.from({ length: 3 * 16 }, (_, i) => ((i * 37) % 17) / 16),
      [3, 4, 4, 1],
    );
    const copy = Array.from(await x.data());
    const before = tf.memory().numTensors;
    const both = await values(squeeze(x, [bitDepth(1), median(2)]));
    const step = squeeze(x, bitDepth(1));
    const manual = await values(squeeze(step, median(2)));
    step.dispose();
    assert.deepEqual(both, manual);
    const repaired = await values(
      featureSqueezing.repair(shapeClassifier([4, 4, 1]), x, { squeezers: [bitDepth(1), median(2)], batchSize: 2 }),
    );
    assert.deepEqual(repaired, both);
    assert.deepEqual(await values(featureSqueezing.repair(shapeClassifier([4, 4, 1]), x)), both);
    assert.deepEqual(await values(squeeze(x, median(1))), copy);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(await x.data()), copy);
    x.dispose();
  });

  it('rejects bad squeezers', () => {
    assert.throws(() => bitDepth(0), expectError('INVALID_ARGUMENT', 'bits', 'featureSqueezing.bitDepth'));
    assert.throws(() => bitDepth(9), expectError('INVALID_ARGUMENT', 'bits'));
    assert.throws(() => median(0), expectError('INVALID_ARGUMENT', 'size', 'featureSqueezing.median'));
    const x = tf.zeros([1, 3, 3, 1]);
    assert.throws(() => squeeze(x, median(4)), expectError('INVALID_ARGUMENT', 'squeezers[0].size'));
    assert.throws(() => squeeze(x, []), expectError('INVALID_ARGUMENT', 'squeezers'));
    assert.throws(
      () => squeeze(x, { kind: 'blur', size: 2 } as unknown as featureSqueezing.Squeezer),
      expectError('INVALID_ARGUMENT', 'squeezers[0].kind'),
    );
    const flat = tf.zeros([2, 5]);
    assert.throws(
      () => featureSqueezing.repair(shapeClassifier([5]), flat, { squeezers: [median(2)] }),
      expectError('SHAPE_MISMATCH', 'options.squeezers[0]'),
    );
    assert.throws(
      () => featureSqueezing.repair(shapeClassifier([3, 3, 1]), x, { batchSize: 0 }),
      expectError('INVALID_ARGUMENT', 'options.batchSize'),
    );
    tf.dispose([x, flat]);
  });
});

/** Predict-only classifier on 2×2 images: p = [mean(x), 1 − mean(x)]. */
const meanClf: Classifier = {
  inputShape: [2, 2, 1],
  numClasses: 2,
  predict: (x) =>
    tf.tidy(() => {
      const m = tf.mean(tf.reshape(x, [x.shape[0]!, 4]), 1, true);
      return tf.concat([m, tf.sub(1, m)], 1) as tf.Tensor2D;
    }),
};

describe('featureSqueezing.detect (exact, predict-only classifier)', () => {
  it('score = max L1 distance over the squeezers; threshold = clean quantile at 1 − FRR', async () => {
    // clean images: constant values; 1-bit moves v to round(v): |Δp|₁ = 2·|v − round(v)|
    const vals = [0.1, 0.2, 0.3, 0.05, 0.9];
    const clean = tf.tensor4d(
      vals.flatMap((v) => [v, v, v, v]),
      [5, 2, 2, 1],
    );
    const before = tf.memory().numTensors;
    const cal = await featureSqueezing.calibrate(meanClf, clean, { squeezers: [bitDepth(1)], frr: 0.25 });
    assert.equal(tf.memory().numTensors, before);
    const want = vals.map((v) => Math.fround(2 * Math.abs(v - Math.round(v))));
    cal.cleanScores.forEach((s, i) => assert.ok(Math.abs(s - want[i]!) < 1e-6));
    // scores [0.2, 0.4, 0.6, 0.1, 0.2]; numpy.quantile(scores, 0.75) = 0.4
    assert.ok(Math.abs(cal.threshold - 0.4) < 1e-6);
    // 0.45 → 0 (L1 0.9); [0.3, 0.3, 0.3, 1] → [0, 0, 0, 1] (mean 0.475 → 0.25, L1 0.45); 0.1 → 0 (L1 0.2)
    const inputs = tf.tensor4d([0.45, 0.45, 0.45, 0.45, 0.3, 0.3, 0.3, 1, 0.1, 0.1, 0.1, 0.1], [3, 2, 2, 1]);
    const r = await featureSqueezing.detect(meanClf, inputs, { calibration: cal });
    assert.ok(Math.abs(r.scores[0]! - 0.9) < 1e-6);
    assert.ok(Math.abs(r.scores[1]! - 0.45) < 1e-6);
    assert.ok(Math.abs(r.scores[2]! - 0.2) < 1e-6);
    assert.deepEqual(Array.from(r.suspicious), [1, 1, 0]);
    assert.equal(r.polarity, 'high');
    assert.deepEqual(
      r.perSqueezer.map((s) => s.name),
      ['1-bit'],
    );
    // joint detection: max over 1-bit and 2×2 median
    const joint = await featureSqueezing.detect(meanClf, inputs, {
      cleanData: clean,
      squeezers: [bitDepth(1), median(2)],
    });
    for (let i = 0; i < 3; i++) {
      const m = Math.max(joint.perSqueezer[0]!.scores[i]!, joint.perSqueezer[1]!.scores[i]!);
      assert.equal(joint.scores[i], m);
    }
    // [[0.3, 0.3], [0.3, 1]] → 2x2 median (window up/left, reflected, upper median) = all 0.3: L1 2·0.175
    assert.ok(Math.abs(joint.perSqueezer[1]!.scores[1]! - 0.35) < 1e-6);
    assert.ok(Math.abs(joint.scores[1]! - 0.45) < 1e-6);
    // a different FRR re-derives the threshold from the stored clean scores
    const r2 = await featureSqueezing.detect(meanClf, inputs, { calibration: cal, frr: 0.5 });
    assert.ok(Math.abs(r2.threshold - 0.2) < 1e-6);
    assert.equal(tf.memory().numTensors, before + 1);
    tf.dispose([clean, inputs]);
  });

  it('works on non-image inputs with bit-depth squeezers (calibration reused)', async () => {
    const flat: Classifier = {
      inputShape: [4],
      numClasses: 2,
      predict: (t) => meanClf.predict(tf.reshape(t, [-1, 2, 2, 1])),
    };
    const clean = tf.tensor2d([0.1, 0.2, 0.3, 0.05, 0.9].map((v) => [v, v, v, v]));
    const inputs = tf.tensor2d([[0.45, 0.45, 0.45, 0.45]]);
    const cal = await featureSqueezing.calibrate(flat, clean, { squeezers: [bitDepth(1)], frr: 0.25 });
    const r = await featureSqueezing.detect(flat, inputs, { calibration: cal });
    assert.ok(Math.abs(r.scores[0]! - 0.9) < 1e-6);
    assert.deepEqual(Array.from(r.suspicious), [1]);
    tf.dispose([clean, inputs]);
  });

  it('rejects bad input', async () => {
    const clean = tf.zeros([4, 2, 2, 1]);
    const x = tf.zeros([2, 2, 2, 1]);
    const d = 'featureSqueezing.detect';
    await assert.rejects(
      featureSqueezing.detect(meanClf, x),
      expectError('INVALID_ARGUMENT', 'options.calibration', d),
    );
    for (const frr of [0, 1, 2]) {
      await assert.rejects(
        featureSqueezing.detect(meanClf, x, { cleanData: clean, frr }),
        expectError('INVALID_ARGUMENT', 'options.frr', d),
      );
    }
    await assert.rejects(
      featureSqueezing.detect(meanClf, tf.zeros([2, 3, 3, 1]), { cleanData: clean }),
      expectError('SHAPE_MISMATCH', 'inputs', d),
    );
    await assert.rejects(
      featureSqueezing.calibrate(meanClf, tf.zeros([2, 3, 3, 1])),
      expectError('SHAPE_MISMATCH', 'cleanData', 'featureSqueezing.calibrate'),
    );
    const cal = await featureSqueezing.calibrate(meanClf, clean);
    await assert.rejects(
      featureSqueezing.detect(meanClf, x, { calibration: cal, squeezers: [bitDepth(2)] }),
      expectError('INVALID_ARGUMENT', 'options.squeezers', d),
    );
    await assert.rejects(
      featureSqueezing.detect(meanClf, x, { calibration: cal, cleanData: clean }),
      expectError('INVALID_ARGUMENT', 'options.calibration', d),
    );
    const flat: Classifier = {
      inputShape: [4],
      numClasses: 2,
      predict: (t) => meanClf.predict(tf.reshape(t, [-1, 2, 2, 1])),
    };
    await assert.rejects(
      featureSqueezing.detect(flat, tf.zeros([1, 4]), { cleanData: tf.zeros([3, 4]) }),
      expectError('SHAPE_MISMATCH', 'options.squeezers[1]', d),
    );
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      featureSqueezing.detect(meanClf, x, { cleanData: clean, signal: ac.signal }),
      expectError('ABORTED', 'signal', d),
    );
    tf.dispose([clean, x]);
  });
});

describe('featureSqueezing on the planted-backdoor fixture', () => {
  it('keeps its clean FRR but barely detects a BadNets trigger (it targets adversarial noise)', async () => {
    const f = await backdoorFixture();
    const held = subset(
      f.cleanTrain,
      Array.from({ length: 400 }, (_, i) => i),
    );
    const n = 200;
    const x = tf.concat([tf.slice(f.test.x, 0, n), tf.slice(f.triggered.x, 0, n)]);
    const truth = new Uint8Array(2 * n).fill(1, n);
    const before = tf.memory().numTensors;
    let progress = 0;
    const r = await featureSqueezing.detect(f.backdoored, x, {
      cleanData: held,
      batchSize: 64,
      onProgress: (e) => {
        if (e.stage === 'feature-squeezing:detect') progress = e.done;
      },
    });
    assert.equal(progress, 2 * n);
    assert.equal(tf.memory().numTensors, before);
    const d = detection(r.suspicious, truth);
    // measured: FRR 0.035, detection rate 0.005 (1-bit + 2x2 median, FRR 5% on 400 clean training digits)
    assert.ok(d.fpr <= 0.12, `FRR ${d.fpr}`);
    assert.ok(d.tpr <= 0.3, `detection rate ${d.tpr}`);
    // the squeezed trigger still fires: squeezing is no repair for a 3×3 white square
    const sq = featureSqueezing.repair(f.backdoored, f.triggered.x, { squeezers: [bitDepth(1)] });
    const labels = tf.tidy(() => tf.argMax(f.backdoored.predict(sq), 1));
    const hits = Array.from(await labels.data()).filter((v) => v === f.target).length;
    tf.dispose([sq, labels]);
    assert.ok(hits / f.triggered.y.length > 0.8, `ASR after 1-bit ${hits / f.triggered.y.length}`);
    x.dispose();
    held.x.dispose();
  });
});
