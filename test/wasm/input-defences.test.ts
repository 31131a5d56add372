/**
 * Input-level defences on the wasm backend (run by scripts/run-tests.mjs with
 * BK_BACKEND=wasm): STRIP's entropies, the squeezers' pixels and the
 * de-trigger autoencoder's training and detection agree with the exact
 * values the cpu tests check, without leaks.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from '../../src/core/classifier.js';
import { Rng } from '../../src/core/rng.js';
import * as detriggerAutoencoder from '../../src/defences/input/detrigger-autoencoder.js';
import * as featureSqueezing from '../../src/defences/input/feature-squeezing.js';
import * as strip from '../../src/defences/input/strip.js';
import { square } from '../../src/triggers/index.js';
import { shapeClassifier } from '../helpers/fixtures.js';
import { backendName, ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

const H = (p: number[]): number => -p.reduce((s, v) => s + (v > 0 ? v * Math.log2(v) : 0), 0);

const ratio: Classifier = {
  inputShape: [2],
  numClasses: 2,
  predict: (x) => tf.tidy(() => tf.div(x, tf.sum(x, 1, true)) as tf.Tensor2D),
};

describe(`input-level defences on ${backendName}`, () => {
  it('STRIP: clean entropies exact, batched, adaptive mode, no leak', async () => {
    const rows = [
      [1, 1],
      [1.2, 1],
      [1, 1.5],
      [2, 1],
      [1, 3],
    ];
    const x = tf.tensor2d(rows);
    const inputs = tf.tensor2d([
      [9, 0.1],
      [1, 1],
    ]);
    const before = tf.memory().numTensors;
    const cal = await strip.calibrate(ratio, x, { overlays: 4, batchSize: 3 });
    rows.forEach((a, i) => {
      let s = 0;
      rows.forEach((b, k) => {
        if (k !== i) s += H([a[0]! + b[0]!, a[1]! + b[1]!].map((v, _, arr) => v / (arr[0]! + arr[1]!)));
      });
      assert.ok(Math.abs(cal.cleanEntropy[i]! - s / 4) < 1e-5);
    });
    const r = await strip.detect(ratio, inputs, { calibration: cal });
    const ad = await strip.detect(ratio, inputs, { calibration: cal, adaptive: true, minOverlays: 2, overlayStep: 1 });
    assert.deepEqual(Array.from(ad.suspicious), Array.from(r.suspicious));
    assert.deepEqual(Array.from(r.suspicious), [1, 0]);
    // k = 2 overlays per image, pixel-wise maximum: with N = 2 each image meets all 4 others
    const calK = await strip.calibrate(ratio, x, { overlays: 2, overlaysPerImage: 2, superimpose: 'max' });
    const hMax = (a: number[], b: number[]) =>
      H([Math.max(a[0]!, b[0]!), Math.max(a[1]!, b[1]!)].map((v, _, arr) => v / (arr[0]! + arr[1]!)));
    rows.forEach((a, i) => {
      // the draw splits the four others into two pairs: the score is the mean over one of the 3 splittings
      const [o0, o1, o2, o3] = rows.filter((_, j) => j !== i) as [number[], number[], number[], number[]];
      const both = (b: number[], c: number[]) => [Math.max(b[0]!, c[0]!), Math.max(b[1]!, c[1]!)];
      const splits = [
        [both(o0, o1), both(o2, o3)],
        [both(o0, o2), both(o1, o3)],
        [both(o0, o3), both(o1, o2)],
      ].map(([p, q]) => (hMax(a, p!) + hMax(a, q!)) / 2);
      const v = calK.cleanEntropy[i]!;
      assert.ok(
        splits.some((m) => Math.abs(m - v) < 1e-5),
        `${i}: ${v} not one of [${splits}]`,
      );
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, inputs]);
  });

  it('feature squeezing: bit depth and median pixels as on cpu (scipy reference)', async () => {
    const x = tf.tensor4d([3, 7, 1, 9, 4, 0, 8, 2, 6, 5, 11, 10, 15, 12, 14, 13], [1, 4, 4, 1]);
    const m2 = featureSqueezing.squeeze(x, featureSqueezing.median(2));
    const m3 = featureSqueezing.squeeze(x, featureSqueezing.median(3));
    assert.deepEqual(Array.from(await m2.data()), [3, 7, 7, 9, 4, 4, 7, 8, 6, 5, 8, 10, 15, 12, 12, 13]);
    assert.deepEqual(Array.from(await m3.data()), [3, 3, 7, 8, 4, 5, 7, 9, 6, 8, 10, 10, 12, 12, 12, 13]);
    const v = tf.tensor4d([0, 0.1, 0.5, 0.6, 1, 0.25, 0.75, 0], [1, 2, 4, 1]);
    const b3 = featureSqueezing.squeeze(v, featureSqueezing.bitDepth(3));
    const s = (k: number) => Math.fround(k / 7);
    assert.deepEqual(Array.from(await b3.data()), [0, s(1), s(4), s(4), 1, s(2), s(5), 0]);
    tf.dispose([x, m2, m3, v, b3]);
  });

  it('de-trigger autoencoder: dense and conv training run, detection by label change', async () => {
    const rng = new Rng(1);
    const data = new Float32Array(32 * 64);
    for (let i = 0; i < 32; i++) for (let c = 1; c < 7; c++) data[i * 64 + (2 + rng.int(4)) * 8 + c] = 1;
    const x = tf.tensor4d(data, [32, 8, 8, 1]);
    const before = tf.memory().numTensors;
    for (const architecture of ['dense', 'conv'] as const) {
      const ae = await detriggerAutoencoder.calibrate(shapeClassifier([8, 8, 1]), x, {
        architecture,
        filters: [4],
        epochs: 2,
        trainBatchSize: 8,
        triggers: [square({ size: 2 })],
        seed: 1,
      });
      assert.equal(ae.history.loss.length, 2);
      assert.ok(ae.history.loss.every(Number.isFinite));
      const clf: Classifier = {
        inputShape: [8, 8, 1],
        numClasses: 2,
        predict: (t) =>
          tf.tidy(() => {
            const a = tf.reshape(tf.slice(t, [0, 0, 0, 0], [t.shape[0]!, 1, 1, 1]), [-1, 1]);
            return tf.concat([a, tf.sub(1, a)], 1) as tf.Tensor2D;
          }),
      };
      const r = await detriggerAutoencoder.detect(clf, x, { calibration: ae });
      r.labelsBefore.forEach((b, i) => assert.equal(r.suspicious[i], b !== r.labelsAfter[i] ? 1 : 0));
      ae.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
});
