import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { Classifier } from '../../src/core/classifier.js';
import { Rng } from '../../src/core/rng.js';
import { subset } from '../../src/data/index.js';
import * as detriggerAutoencoder from '../../src/defences/input/detrigger-autoencoder.js';
import { accuracyFromLabels } from '../../src/metrics/index.js';
import { square } from '../../src/triggers/index.js';
import { backdoorFixture } from '../helpers/backdoor-fixture.js';
import { shapeClassifier } from '../helpers/fixtures.js';
import { ready } from '../helpers/backend.js';
import { errorPredicate as expectError } from '../helpers/errors.js';

before(async () => {
  await ready;
});

/** A fixed "autoencoder" on 2×2 images that zeroes the top-left pixel (a dense layer with a diagonal kernel). */
function maskingModel(): tfl.LayersModel {
  const m = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [2, 2, 1] }),
      tfl.layers.dense({ units: 4, useBias: false }),
      tfl.layers.reshape({ targetShape: [2, 2, 1] }),
    ],
  });
  const k = tf.tensor2d([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], [4, 4]);
  m.layers[1]!.setWeights([k]);
  k.dispose();
  return m;
}

/** Predict-only classifier: p = [a, 1 − a] with a = 0.8·x[0, 0] + 0.1 (the top-left pixel is the "trigger"). */
/** A classifier for the 8×8 toy images (the autoencoder is built for its input shape). */
const toyClf = shapeClassifier([8, 8, 1]);

const cornerClf: Classifier = {
  inputShape: [2, 2, 1],
  numClasses: 2,
  predict: (x) =>
    tf.tidy(() => {
      const a = tf.add(tf.mul(tf.reshape(tf.slice(x, [0, 0, 0, 0], [x.shape[0]!, 1, 1, 1]), [-1, 1]), 0.8), 0.1);
      return tf.concat([a, tf.sub(1, a)], 1) as tf.Tensor2D;
    }),
};

/** Toy 8×8 images: a bright bar in a random row, seeded. */
function toy(n: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const v = new Float32Array(n * 64);
  for (let i = 0; i < n; i++) {
    const r = 2 + rng.int(4);
    for (let c = 1; c < 7; c++) v[i * 64 + r * 8 + c] = 0.5 + 0.5 * rng.next();
  }
  return tf.tensor4d(v, [n, 8, 8, 1]);
}

describe('detriggerAutoencoder.detect / repair (exact, predict-only classifier)', () => {
  it('flags exactly the inputs whose label changes after the autoencoder (Algorithm 1)', async () => {
    const ae = maskingModel();
    const x = tf.tensor4d([1, 0, 0, 0, 0, 1, 1, 1, 0.5, 0.2, 0.2, 0.2], [3, 2, 2, 1]);
    const copy = Array.from(await x.data());
    const before = tf.memory().numTensors;
    const r = await detriggerAutoencoder.detect(cornerClf, x, { calibration: ae, batchSize: 2 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(r.labelsBefore), [0, 1, 0]);
    assert.deepEqual(Array.from(r.labelsAfter), [1, 1, 1]);
    assert.deepEqual(Array.from(r.suspicious), [1, 0, 1]);
    // score = max_{c ≠ r_b} p_a[c] − p_a[r_b]: after the AE every input has p_a = [0.1, 0.9]
    const want = [0.8, -0.8, 0.8];
    want.forEach((v, i) => assert.ok(Math.abs(r.scores[i]! - v) < 1e-6, `${r.scores[i]}`));
    assert.equal(r.threshold, 0);
    assert.equal(r.polarity, 'high');
    // a stricter threshold flags fewer
    const strict = await detriggerAutoencoder.detect(cornerClf, x, { calibration: ae, threshold: 0.9 });
    assert.deepEqual(Array.from(strict.suspicious), [0, 0, 0]);
    // repair returns the reconstruction
    const y = detriggerAutoencoder.repair(cornerClf, x, { calibration: ae, batchSize: 2 });
    assert.deepEqual(Array.from(await y.data()), [0, 0, 0, 0, 0, 1, 1, 1, 0, 0.2, 0.2, 0.2].map(Math.fround));
    y.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(await x.data()), copy);
    x.dispose();
    ae.dispose();
  });

  it('rejects bad input', async () => {
    const ae = maskingModel();
    const x = tf.zeros([2, 2, 2, 1]);
    const d = 'detriggerAutoencoder.detect';
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, x, {} as never),
      expectError('INVALID_ARGUMENT', 'options.calibration', d),
    );
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, x, { calibration: {} as tfl.LayersModel }),
      expectError('INVALID_ARGUMENT', 'options.calibration', d),
    );
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, tf.zeros([2, 3, 3, 1]), { calibration: ae }),
      expectError('SHAPE_MISMATCH', 'inputs', d),
    );
    const wide: Classifier = { ...cornerClf, inputShape: [3, 3, 1] };
    await assert.rejects(
      detriggerAutoencoder.detect(wide, tf.zeros([1, 3, 3, 1]), { calibration: ae }),
      expectError('SHAPE_MISMATCH', 'options.calibration', d),
    );
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, x, { calibration: ae, threshold: 2 }),
      expectError('INVALID_ARGUMENT', 'options.threshold', d),
    );
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, x, { calibration: ae, batchSize: 0 }),
      expectError('INVALID_ARGUMENT', 'options.batchSize', d),
    );
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      detriggerAutoencoder.detect(cornerClf, x, { calibration: ae, signal: ac.signal }),
      expectError('ABORTED', 'signal', d),
    );
    assert.throws(
      () => detriggerAutoencoder.repair(cornerClf, x, {} as never),
      expectError('INVALID_ARGUMENT', 'options.calibration'),
    );
    assert.throws(
      () => detriggerAutoencoder.repair(cornerClf, tf.zeros([1, 4]), { calibration: ae }),
      expectError('SHAPE_MISMATCH', 'inputs'),
    );
    x.dispose();
    ae.dispose();
  });
});

describe('detriggerAutoencoder.calibrate', () => {
  it("builds Kwon's dense autoencoder by default, trains it with MSE, seeded, without leaks", async () => {
    const x = toy(48, 1);
    const copy = Array.from(await x.data());
    const before = tf.memory().numTensors;
    const epochs: number[] = [];
    const opts = {
      epochs: 3,
      trainBatchSize: 16,
      triggers: [square({ size: 2 })],
      seed: 4,
      onProgress: (e: { stage: string; done: number }) => {
        if (e.stage === 'detrigger:epoch') epochs.push(e.done);
      },
    };
    const a = await detriggerAutoencoder.calibrate(toyClf, x, opts);
    assert.equal(a.kind, 'detrigger-autoencoder');
    assert.equal(a.architecture, 'dense');
    assert.deepEqual(a.inputShape, [8, 8, 1]);
    assert.deepEqual(
      a.model.layers
        .filter((l) => l.name.startsWith('encoder') || l.name.startsWith('decoder') || l.name === 'latent')
        .map((l) => (l.getConfig() as { units: number }).units),
      [250, 100, 20, 100, 250],
    );
    assert.deepEqual(epochs, [1, 2, 3]);
    assert.equal(a.history.loss.length, 3);
    assert.ok(a.history.loss[2]! < a.history.loss[0]!, `${a.history.loss}`);
    const b = await detriggerAutoencoder.calibrate(toyClf, x, { ...opts, onProgress: undefined });
    assert.deepEqual(b.history.loss, a.history.loss);
    assert.deepEqual(
      Array.from(await b.model.getWeights()[0]!.data()),
      Array.from(await a.model.getWeights()[0]!.data()),
    );
    const c = await detriggerAutoencoder.calibrate(toyClf, x, { ...opts, onProgress: undefined, seed: 5 });
    assert.notDeepEqual(c.history.loss, a.history.loss);
    for (const m of [a, b, c]) m.dispose();
    a.dispose(); // twice is harmless
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(await x.data()), copy);
    x.dispose();
  });

  it('reports the MSE or binary cross-entropy of its output against the clean image', async () => {
    // one image, one step, a vanishing learning rate: the reported loss is the loss of the final model
    const x = toy(1, 5);
    const xv = Array.from(await x.data());
    for (const loss of ['mse', 'bce'] as const) {
      const a = await detriggerAutoencoder.calibrate(toyClf, x, {
        hidden: [4],
        latent: 2,
        epochs: 1,
        trainBatchSize: 1,
        learningRate: 1e-12,
        triggeredFraction: 0,
        loss,
        seed: 2,
      });
      const out = tf.tidy(() => a.model.predict(x) as tf.Tensor);
      const z = Array.from(await out.data());
      out.dispose();
      const clip = (v: number) => Math.max(v, 1e-7);
      const want =
        loss === 'mse'
          ? z.reduce((s, v, i) => s + (v - xv[i]!) ** 2, 0) / z.length
          : -z.reduce((s, v, i) => s + xv[i]! * Math.log(clip(v)) + (1 - xv[i]!) * Math.log(clip(1 - v)), 0) / z.length;
      assert.ok(
        Math.abs(a.history.loss[0]! - want) < 1e-5 * Math.max(1, want),
        `${loss}: ${a.history.loss[0]} vs ${want}`,
      );
      a.dispose();
    }
    x.dispose();
  });

  it('trains the convolutional option and other triggers', async () => {
    const x = toy(16, 2);
    const before = tf.memory().numTensors;
    const a = await detriggerAutoencoder.calibrate(
      toyClf,
      { x, y: new Int32Array(16) },
      {
        architecture: 'conv',
        filters: [4],
        epochs: 1,
        trainBatchSize: 8,
        triggers: [square({ size: 2 }), square({ size: 3, value: 0.5 })],
        placement: 'random',
        loss: 'bce',
        seed: 1,
      },
    );
    assert.equal(a.architecture, 'conv');
    // binary cross-entropy of a sigmoid output: positive, at most −log(1e-7) per pixel
    assert.ok(a.history.loss[0]! > 0 && a.history.loss[0]! < 16.2, `${a.history.loss}`);
    assert.deepEqual(
      a.model.layers.map((l) => l.name),
      ['input', 'enc_conv1', 'enc_pool1', 'dec_up1', 'dec_conv1', 'output'],
    );
    const y = detriggerAutoencoder.repair(toyClf, x, { calibration: a });
    assert.deepEqual(y.shape, [16, 8, 8, 1]);
    y.dispose();
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  it('rejects bad options and stops on abort', async () => {
    const x = toy(8, 3);
    const t = 'detriggerAutoencoder.calibrate';
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { epochs: 0 }),
      expectError('INVALID_ARGUMENT', 'options.epochs', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { triggeredFraction: 1.5 }),
      expectError('INVALID_ARGUMENT', 'options.triggeredFraction', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { triggers: [] }),
      expectError('INVALID_ARGUMENT', 'options.triggers', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { triggers: [square({ size: 9 })] }),
      expectError('SHAPE_MISMATCH', 'options.triggers[0]', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { architecture: 'gan' as 'dense' }),
      expectError('INVALID_ARGUMENT', 'options.architecture', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { loss: 'l1' as 'mse' }),
      expectError('INVALID_ARGUMENT', 'options.loss', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, { hidden: [] }),
      expectError('INVALID_ARGUMENT', 'options.hidden', t),
    );
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, tf.zeros([2, 4]) as tf.Tensor),
      expectError('SHAPE_MISMATCH', 'cleanData', t),
    );
    const bad = x.clone();
    const nan = tf.tidy(() => tf.mul(bad, NaN));
    await assert.rejects(detriggerAutoencoder.calibrate(toyClf, nan), expectError('NON_FINITE', 'cleanData', t));
    tf.dispose([bad, nan]);
    const before = tf.memory().numTensors;
    const ac = new AbortController();
    await assert.rejects(
      detriggerAutoencoder.calibrate(toyClf, x, {
        epochs: 2,
        trainBatchSize: 4,
        signal: ac.signal,
        onProgress: () => ac.abort(),
      }),
      expectError('ABORTED', 'signal', t),
    );
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });
});

describe('detriggerAutoencoder on the planted-backdoor fixture', () => {
  it('detects triggered inputs and keeps clean ones', async () => {
    const f = await backdoorFixture();
    const train = subset(
      f.cleanTrain,
      Array.from({ length: 1200 }, (_, i) => i),
    );
    const before = tf.memory().numTensors;
    const ae = await detriggerAutoencoder.calibrate(f.backdoored, train, {
      hidden: [128],
      latent: 32,
      epochs: 10,
      trainBatchSize: 32,
      learningRate: 0.002,
      triggers: [f.trigger],
      seed: 1,
    });
    const n = 200;
    const clean = tf.slice(f.test.x, 0, n);
    const trig = tf.slice(f.triggered.x, 0, n);
    const rc = await detriggerAutoencoder.detect(f.backdoored, clean, { calibration: ae });
    const rt = await detriggerAutoencoder.detect(f.backdoored, trig, { calibration: ae });
    const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const detectionRate = mean(rt.suspicious);
    const flaggedClean = mean(rc.suspicious);
    const accAfter = accuracyFromLabels(rc.labelsAfter, f.test.y.subarray(0, n));
    const recovered = accuracyFromLabels(rt.labelsAfter, f.triggered.y.subarray(0, n));
    const info = `detection ${detectionRate}, clean flagged ${flaggedClean}, clean acc after ${accAfter}, recovered ${recovered}`;
    // measured: detection 0.975, clean flagged 0.13, clean accuracy after 0.815, recovered 0.78
    // (the fixture CNN alone: clean accuracy 0.92, ASR 0.98)
    assert.ok(detectionRate >= 0.9, info);
    assert.ok(flaggedClean <= 0.22, info);
    assert.ok(accAfter >= 0.72, info);
    assert.ok(recovered >= 0.68, info);
    tf.dispose([clean, trig]);
    ae.dispose();
    assert.equal(tf.memory().numTensors, before);
    train.x.dispose();
  });
});
