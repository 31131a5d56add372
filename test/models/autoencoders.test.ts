import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { convAutoencoder, denseAutoencoder } from '../../src/models/index.js';
import { ready } from '../helpers/backend.js';
import { expectError } from '../helpers/errors.js';

before(async () => {
  await ready;
});

function table(model: tfl.LayersModel): [string, number][] {
  return model.layers.map((l) => [l.name, l.countParams()]);
}

/** Runs the model on a small batch and returns the output shape and value range. */
function probe(model: tfl.LayersModel, inputShape: number[]): { shape: number[]; min: number; max: number } {
  return tf.tidy(() => {
    const x = tf.randomUniform([2, ...inputShape], 0, 1, 'float32', 7);
    const y = model.predict(x) as tf.Tensor;
    return { shape: y.shape, min: tf.min(y).arraySync() as number, max: tf.max(y).arraySync() as number };
  });
}

describe('models.denseAutoencoder', () => {
  it("is Kwon's 250-100-20-100-250 autoencoder: 447,504 parameters on 28x28x1", () => {
    const before = tf.memory().numTensors;
    const m = denseAutoencoder();
    assert.deepEqual(table(m), [
      ['input', 0],
      ['flatten', 0],
      ['encoder1', 784 * 250 + 250],
      ['encoder2', 250 * 100 + 100],
      ['latent', 100 * 20 + 20],
      ['decoder1', 20 * 100 + 100],
      ['decoder2', 100 * 250 + 250],
      ['reconstruction', 250 * 784 + 784],
      ['output', 0],
    ]);
    assert.equal(m.countParams(), 447504);
    const acts = ['encoder1', 'encoder2', 'latent', 'decoder1', 'decoder2', 'reconstruction'].map(
      (n) => (m.getLayer(n).getConfig() as { activation: string }).activation,
    );
    assert.deepEqual(acts, ['relu', 'relu', 'relu', 'relu', 'relu', 'sigmoid']);
    const out = probe(m, [28, 28, 1]);
    assert.deepEqual(out.shape, [2, 28, 28, 1]);
    assert.ok(out.min > 0 && out.max < 1);
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('reconstructs any image shape and takes other widths', () => {
    const c = denseAutoencoder({ inputShape: [32, 32, 3] });
    assert.equal(c.countParams(), 1593792);
    assert.deepEqual(probe(c, [32, 32, 3]).shape, [2, 32, 32, 3]);
    c.dispose();
    const s = denseAutoencoder({ hidden: [64], latent: 8, outputActivation: 'linear' });
    assert.deepEqual(
      s.layers.map((l) => l.name),
      ['input', 'flatten', 'encoder1', 'latent', 'decoder1', 'reconstruction', 'output'],
    );
    assert.equal(s.countParams(), 784 * 64 + 64 + (64 * 8 + 8) + (8 * 64 + 64) + (64 * 784 + 784));
    assert.equal((s.getLayer('reconstruction').getConfig() as { activation: string }).activation, 'linear');
    s.dispose();
  });

  it('is seeded', () => {
    const a = denseAutoencoder({ seed: 11 });
    const b = denseAutoencoder({ seed: 11 });
    const c = denseAutoencoder({ seed: 12 });
    const [wa, wb, wc] = [a, b, c].map((m) => m.getWeights().map((w) => w.dataSync()));
    for (let i = 0; i < wa!.length; i++) assert.deepEqual(wa![i], wb![i]);
    assert.notDeepEqual(wa![0], wc![0]);
    for (const m of [a, b, c]) m.dispose();
  });

  it('trains (loss decreases on a tiny set)', async () => {
    const before = tf.memory().numTensors;
    const m = denseAutoencoder({ inputShape: [6, 6, 1], hidden: [16], latent: 4, seed: 2 });
    m.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const x = tf.randomUniform([16, 6, 6, 1], 0, 1, 'float32', 3);
    const h = await m.fit(x, x, { epochs: 15, batchSize: 16, verbose: 0, shuffle: false });
    const loss = h.history.loss as number[];
    assert.ok(loss[loss.length - 1]! < loss[0]!, `loss ${loss[0]} -> ${loss[loss.length - 1]}`);
    x.dispose();
    m.optimizer.dispose();
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects bad options', () => {
    const f = 'models.denseAutoencoder';
    expectError(() => denseAutoencoder({ hidden: [250, 0] }), 'INVALID_ARGUMENT', 'options.hidden', f);
    expectError(() => denseAutoencoder({ hidden: 250 as never }), 'INVALID_ARGUMENT', 'options.hidden', f);
    expectError(() => denseAutoencoder({ latent: 0 }), 'INVALID_ARGUMENT', 'options.latent', f);
    expectError(
      () => denseAutoencoder({ outputActivation: 'relu' as never }),
      'INVALID_ARGUMENT',
      'options.outputActivation',
      f,
    );
    expectError(() => denseAutoencoder({ inputShape: [784] }), 'INVALID_ARGUMENT', 'options.inputShape', f);
    expectError(() => denseAutoencoder({ seed: Infinity }), 'INVALID_ARGUMENT', 'options.seed', f);
    expectError(() => denseAutoencoder({ latentSize: 3 } as never), 'INVALID_ARGUMENT', 'options.latentSize', f);
  });
});

describe('models.convAutoencoder', () => {
  it('has the documented layers: 12,193 parameters on 28x28x1', () => {
    const before = tf.memory().numTensors;
    const m = convAutoencoder();
    assert.deepEqual(table(m), [
      ['input', 0],
      ['enc_conv1', 1 * 9 * 32 + 32],
      ['enc_pool1', 0],
      ['enc_conv2', 32 * 9 * 16 + 16],
      ['enc_pool2', 0],
      ['dec_up1', 0],
      ['dec_conv1', 16 * 9 * 16 + 16],
      ['dec_up2', 0],
      ['dec_conv2', 16 * 9 * 32 + 32],
      ['output', 32 * 9 * 1 + 1],
    ]);
    assert.equal(m.countParams(), 12193);
    assert.deepEqual(m.getLayer('enc_pool2').outputShape, [null, 7, 7, 16]);
    const out = probe(m, [28, 28, 1]);
    assert.deepEqual(out.shape, [2, 28, 28, 1]);
    assert.ok(out.min > 0 && out.max < 1);
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('works for 32x32x3 (13,347 parameters) and crops odd sizes back to the input', () => {
    const c = convAutoencoder({ inputShape: [32, 32, 3] });
    assert.equal(c.countParams(), 13347);
    assert.ok(!c.layers.some((l) => l.name === 'crop'));
    assert.deepEqual(probe(c, [32, 32, 3]).shape, [2, 32, 32, 3]);
    c.dispose();
    // 30 -> 15 -> 8 -> 16 -> 32, cropped to 30; 31 -> 16 -> 8 -> 16 -> 32, cropped to 31
    const odd = convAutoencoder({ inputShape: [30, 31, 2] });
    assert.deepEqual(odd.getLayer('crop').outputShape, [null, 30, 31, 16]);
    assert.deepEqual(probe(odd, [30, 31, 2]).shape, [2, 30, 31, 2]);
    odd.dispose();
    const tiny = convAutoencoder({ inputShape: [5, 7, 3], filters: [8] });
    assert.equal(tiny.countParams(), 3 * 9 * 8 + 8 + (8 * 9 * 8 + 8) + (8 * 9 * 3 + 3));
    assert.deepEqual(probe(tiny, [5, 7, 3]).shape, [2, 5, 7, 3]);
    tiny.dispose();
  });

  it('is seeded', () => {
    const a = convAutoencoder({ seed: 4 });
    const b = convAutoencoder({ seed: 4 });
    const c = convAutoencoder({ seed: 5 });
    const [wa, wb, wc] = [a, b, c].map((m) => m.getWeights().map((w) => w.dataSync()));
    for (let i = 0; i < wa!.length; i++) assert.deepEqual(wa![i], wb![i]);
    assert.notDeepEqual(wa![0], wc![0]);
    for (const m of [a, b, c]) m.dispose();
  });

  it('rejects bad options', () => {
    const f = 'models.convAutoencoder';
    expectError(() => convAutoencoder({ filters: [] }), 'INVALID_ARGUMENT', 'options.filters', f);
    expectError(() => convAutoencoder({ filters: [3.5] }), 'INVALID_ARGUMENT', 'options.filters', f);
    expectError(() => convAutoencoder({ inputShape: [28, 28, 1, 1] }), 'INVALID_ARGUMENT', 'options.inputShape', f);
    expectError(() => convAutoencoder({ name: 3 as never }), 'INVALID_ARGUMENT', 'options.name', f);
  });
});
