import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { gtsrbCnn, kwonCnn, smallCnn } from '../../src/models/index.js';
import { ready } from '../helpers/backend.js';
import { expectError } from '../helpers/errors.js';

before(async () => {
  await ready;
});

/** [name, params] of every layer, input included. */
function table(model: tfl.LayersModel): [string, number][] {
  return model.layers.map((l) => [l.name, l.countParams()]);
}

function weightValues(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('models.smallCnn', () => {
  it('has the documented layers and 56,714 parameters (28x28x1, 10 classes)', () => {
    const before = tf.memory().numTensors;
    const m = smallCnn();
    // Hand count: conv1 1*9*16+16, conv2 16*9*32+32, dense1 (5*5*32)*64+64, logits 64*10+10.
    assert.deepEqual(table(m), [
      ['input', 0],
      ['conv1', 160],
      ['pool1', 0],
      ['conv2', 4640],
      ['pool2', 0],
      ['flatten', 0],
      ['dense1', 51264],
      ['logits', 650],
      ['output', 0],
    ]);
    assert.equal(m.countParams(), 56714);
    assert.equal(m.name, 'small_cnn');
    assert.deepEqual(m.outputs[0]!.shape, [null, 10]);
    assert.deepEqual(
      m.layers.map((l) => l.outputShape),
      [
        [null, 28, 28, 1],
        [null, 26, 26, 16],
        [null, 13, 13, 16],
        [null, 11, 11, 32],
        [null, 5, 5, 32],
        [null, 800],
        [null, 64],
        [null, 10],
        [null, 10],
      ],
    );
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('predicts probabilities (softmax output, rows sum to 1)', () => {
    const m = smallCnn({ seed: 3 });
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1);
    const p = m.predict(x) as tf.Tensor;
    assert.deepEqual(p.shape, [3, 10]);
    const rows = tf.sum(p, 1).arraySync() as number[];
    for (const r of rows) assert.ok(Math.abs(r - 1) < 1e-5);
    assert.ok((tf.min(p).arraySync() as number) >= 0);
    tf.dispose([x, p]);
    m.dispose();
  });

  it('adapts to the input shape and number of classes', () => {
    const m = smallCnn({ inputShape: [32, 32, 3], numClasses: 3 });
    // conv1 3*9*16+16=448; 30 -> 15 -> 13 -> 6; dense1 6*6*32*64+64=73792; logits 64*3+3=195
    assert.equal(m.countParams(), 448 + 4640 + 73792 + 195);
    assert.deepEqual(m.outputs[0]!.shape, [null, 3]);
    m.dispose();
  });

  it('is seeded: same seed, bit-identical weights; another seed, different kernels; zero biases', () => {
    const a = smallCnn({ seed: 5 });
    const b = smallCnn({ seed: 5 });
    const c = smallCnn({ seed: 6 });
    const wa = weightValues(a);
    const wb = weightValues(b);
    const wc = weightValues(c);
    assert.equal(wa.length, 8);
    for (let i = 0; i < wa.length; i++) assert.deepEqual(wa[i], wb[i]);
    for (let i = 0; i < wa.length; i += 2) {
      assert.notDeepEqual(wa[i], wc[i], `kernel ${i} should differ across seeds`);
      assert.ok(
        wa[i + 1]!.every((v) => v === 0),
        'bias starts at zero',
      );
    }
    // layer names never pick up tfjs's global counters
    assert.deepEqual(
      a.layers.map((l) => l.name),
      c.layers.map((l) => l.name),
    );
    // kernels are Glorot-uniform: |w| <= sqrt(6 / (fanIn + fanOut)); conv1 fanIn 9, fanOut 144
    const limit = Math.sqrt(6 / (9 + 144));
    assert.ok(wa[0]!.every((v) => Math.abs(v) <= limit));
    for (const m of [a, b, c]) m.dispose();
  });

  it('rejects an input too small for its pooling stack, naming inputShape', () => {
    expectError(() => smallCnn({ inputShape: [9, 9, 1] }), 'SHAPE_MISMATCH', 'options.inputShape', 'models.smallCnn');
    expectError(() => smallCnn({ inputShape: [28, 9, 1] }), 'SHAPE_MISMATCH', 'options.inputShape', 'models.smallCnn');
    assert.throws(() => smallCnn({ inputShape: [9, 9, 1] }), /at least 10/);
    const m = smallCnn({ inputShape: [10, 10, 1] });
    assert.deepEqual(m.getLayer('pool2').outputShape, [null, 1, 1, 32]);
    m.dispose();
  });

  it('rejects bad options before building anything', () => {
    const before = tf.memory().numTensors;
    const f = 'models.smallCnn';
    expectError(() => smallCnn({ inputShape: [28, 28] }), 'INVALID_ARGUMENT', 'options.inputShape', f);
    expectError(() => smallCnn({ inputShape: [28, 28.5, 1] }), 'INVALID_ARGUMENT', 'options.inputShape', f);
    expectError(() => smallCnn({ inputShape: [28, 0, 1] }), 'INVALID_ARGUMENT', 'options.inputShape', f);
    expectError(() => smallCnn({ numClasses: 1 }), 'INVALID_ARGUMENT', 'options.numClasses', f);
    expectError(() => smallCnn({ numClasses: 2.5 }), 'INVALID_ARGUMENT', 'options.numClasses', f);
    expectError(() => smallCnn({ seed: Number.NaN }), 'INVALID_ARGUMENT', 'options.seed', f);
    expectError(() => smallCnn({ name: '' }), 'INVALID_ARGUMENT', 'options.name', f);
    expectError(() => smallCnn({ foo: 1 } as never), 'INVALID_ARGUMENT', 'options.foo', f);
    expectError(() => smallCnn(null as never), 'INVALID_ARGUMENT', 'options', f);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('models.kwonCnn', () => {
  it('reproduces Table 8 of Kwon: 312,202 parameters', () => {
    const before = tf.memory().numTensors;
    const m = kwonCnn();
    // valid 3x3 convs: 28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4; flatten 4*4*64 = 1024
    assert.deepEqual(table(m), [
      ['input', 0],
      ['conv1', 1 * 9 * 32 + 32],
      ['conv2', 32 * 9 * 32 + 32],
      ['pool1', 0],
      ['conv3', 32 * 9 * 64 + 64],
      ['conv4', 64 * 9 * 64 + 64],
      ['pool2', 0],
      ['flatten', 0],
      ['dense1', 1024 * 200 + 200],
      ['dropout1', 0],
      ['dense2', 200 * 200 + 200],
      ['logits', 200 * 10 + 10],
      ['output', 0],
    ]);
    assert.equal(m.countParams(), 312202);
    assert.deepEqual(m.getLayer('flatten').outputShape, [null, 1024]);
    assert.equal((m.getLayer('dropout1').getConfig() as { rate: number }).rate, 0.5);
    assert.equal(m.name, 'kwon_cnn');
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('takes a dropout rate, is seeded, and rejects bad options', () => {
    const a = kwonCnn({ seed: 1, dropout: 0.25 });
    const b = kwonCnn({ seed: 1 });
    assert.equal((a.getLayer('dropout1').getConfig() as { rate: number }).rate, 0.25);
    const wa = weightValues(a);
    const wb = weightValues(b);
    for (let i = 0; i < wa.length; i++) assert.deepEqual(wa[i], wb[i]);
    a.dispose();
    b.dispose();
    const f = 'models.kwonCnn';
    expectError(() => kwonCnn({ dropout: 1 }), 'INVALID_ARGUMENT', 'options.dropout', f);
    expectError(() => kwonCnn({ dropout: -0.1 }), 'INVALID_ARGUMENT', 'options.dropout', f);
    expectError(() => kwonCnn({ inputShape: [15, 15, 1] }), 'SHAPE_MISMATCH', 'options.inputShape', f);
    const small = kwonCnn({ inputShape: [16, 16, 1] });
    assert.deepEqual(small.getLayer('pool2').outputShape, [null, 1, 1, 64]);
    small.dispose();
  });
});

describe('models.gtsrbCnn', () => {
  it('reproduces Table 5.9 of the thesis (TrojanNet GTSRB model): 571,723 parameters', () => {
    const before = tf.memory().numTensors;
    const m = gtsrbCnn();
    // 32 (same) -> 30 (valid) -> 15 -> 15 -> 13 -> 6 -> 6 -> 4 -> 2; flatten 2*2*128 = 512
    assert.deepEqual(table(m), [
      ['input', 0],
      ['conv1', 3 * 9 * 32 + 32],
      ['conv2', 32 * 9 * 32 + 32],
      ['pool1', 0],
      ['dropout1', 0],
      ['conv3', 32 * 9 * 64 + 64],
      ['conv4', 64 * 9 * 64 + 64],
      ['pool2', 0],
      ['dropout2', 0],
      ['conv5', 64 * 9 * 128 + 128],
      ['conv6', 128 * 9 * 128 + 128],
      ['pool3', 0],
      ['dropout3', 0],
      ['flatten', 0],
      ['dense1', 512 * 512 + 512],
      ['dropout4', 0],
      ['logits', 512 * 43 + 43],
      ['output', 0],
    ]);
    assert.equal(m.countParams(), 571723);
    assert.deepEqual(m.getLayer('conv6').outputShape, [null, 4, 4, 128]);
    assert.deepEqual(m.outputs[0]!.shape, [null, 43]);
    const rates = ['dropout1', 'dropout2', 'dropout3', 'dropout4'].map(
      (n) => (m.getLayer(n).getConfig() as { rate: number }).rate,
    );
    assert.deepEqual(rates, [0.2, 0.2, 0.2, 0.5]);
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects inputs below 22x22 and bad dropout rates', () => {
    const f = 'models.gtsrbCnn';
    expectError(() => gtsrbCnn({ inputShape: [21, 21, 3] }), 'SHAPE_MISMATCH', 'options.inputShape', f);
    expectError(() => gtsrbCnn({ convDropout: 1.5 }), 'INVALID_ARGUMENT', 'options.convDropout', f);
    expectError(() => gtsrbCnn({ denseDropout: Number.NaN }), 'INVALID_ARGUMENT', 'options.denseDropout', f);
    expectError(() => gtsrbCnn({ numClasses: 0 }), 'INVALID_ARGUMENT', 'options.numClasses', f);
    const m = gtsrbCnn({ inputShape: [22, 22, 3], numClasses: 2 });
    assert.deepEqual(m.getLayer('pool3').outputShape, [null, 1, 1, 128]);
    m.dispose();
  });
});
