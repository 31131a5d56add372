import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { BackdoorKitError } from '../../src/core/errors.js';
import { activationsData, fromLayersModel } from '../../src/core/layers-model.js';
import { lastHiddenLayer } from '../../src/core/classifier.js';
import type { LabeledData } from '../../src/core/types.js';
import { ready } from '../helpers/backend.js';
import { take, tinyConvModel, tinyFunctionalLogitsModel, toyImages, values } from '../helpers/fixtures.js';
import { bnCnn, residualNet } from '../helpers/zoo.js';

function isCode(code: string, arg?: RegExp) {
  return (e: unknown) => e instanceof BackdoorKitError && e.code === code && (arg === undefined || arg.test(e.message));
}

describe('fromLayersModel', () => {
  let data: LabeledData;
  before(async () => {
    await ready;
    data = toyImages(30, 1);
  });
  after(() => data.x.dispose());

  it('wraps a model: shapes, probabilities, layer listing', async () => {
    const model = tinyConvModel(1);
    const clf = fromLayersModel(model);
    assert.deepEqual(clf.inputShape, [6, 6, 1]);
    assert.equal(clf.numClasses, 3);
    assert.deepEqual(
      clf.layers.map((l) => [l.name, l.kind, l.units, l.outputShape.join('x')]),
      [
        ['conv1', 'conv', 4, '4x4x4'],
        ['pool1', 'pool', 4, '2x2x4'],
        ['flatten', 'flatten', 16, '16'],
        ['dense1', 'dense', 8, '8'],
        ['output', 'dense', 3, '3'],
      ],
    );
    assert.equal(lastHiddenLayer('t', clf).name, 'dense1');
    const before = tf.memory().numTensors;
    const p = clf.predict(data.x);
    assert.deepEqual(p.shape, [30, 3]);
    const rows = await values(tf.sum(p, 1));
    for (const r of rows) assert.ok(Math.abs(r - 1) < 1e-5);
    tf.dispose(p);
    assert.ok(tf.memory().numTensors <= before + 1);
    model.dispose();
  });

  it('applies a softmax when the model outputs logits', async () => {
    const model = tinyFunctionalLogitsModel(2);
    const clf = fromLayersModel(model, { output: 'logits' });
    const expected = tf.tidy(() => tf.softmax(model.predict(data.x) as tf.Tensor2D));
    const got = clf.predict(data.x);
    assert.deepEqual(await values(got), await values(expected));
    tf.dispose([expected, got]);
    model.dispose();
  });

  it('activations are batched, flattened, equal to the unbatched values and leak nothing', async () => {
    const model = tinyConvModel(3);
    const clf = fromLayersModel(model);
    const ref = tf.tidy(() =>
      tf.reshape(
        tfl
          .model({ inputs: model.inputs, outputs: model.getLayer('conv1').output as tfl.SymbolicTensor })
          .predict(data.x) as tf.Tensor,
        [30, -1],
      ),
    );
    const start = tf.memory().numTensors;
    const a = clf.activations(data.x, 'conv1', { batchSize: 7 });
    assert.deepEqual(a.shape, [30, 64]);
    assert.deepEqual(await values(a), await values(ref));
    a.dispose();
    const plain = await activationsData(clf, data.x, 'dense1', 8);
    assert.equal(plain.rows, 30);
    assert.equal(plain.cols, 8);
    assert.equal(tf.memory().numTensors, start);
    ref.dispose();
    assert.throws(() => clf.activations(data.x, 'nope'), isCode('LAYER_NOT_FOUND', /'layer'.*nope/));
    assert.throws(() => clf.activations(data.x, 'conv1', { batchSize: 0 }), isCode('INVALID_ARGUMENT', /batchSize/));
    model.dispose();
  });

  it('withUnitMask scales units without touching the original (sequential and functional)', async () => {
    for (const [model, output] of [
      [tinyConvModel(4), 'probabilities'],
      [tinyFunctionalLogitsModel(4), 'logits'],
    ] as const) {
      const clf = fromLayersModel(model, { output });
      const before = await take(clf.predict(data.x));
      const keep = [1, 0, 0.5, 1];
      const start = tf.memory().numTensors;
      const masked = clf.withUnitMask('conv1', keep);
      assert.ok(masked.layers.some((l) => l.name === 'conv1__unit_mask' && l.kind === 'mask'));
      // the mask layer's output is conv1's output times keep, channel-wise
      const orig = clf.activations(data.x, 'conv1');
      const scaled = masked.activations(data.x, 'conv1__unit_mask');
      const o = await values(orig);
      const s = await values(scaled);
      for (let i = 0; i < o.length; i++) assert.ok(Math.abs(s[i]! - o[i]! * keep[i % 4]!) < 1e-6);
      tf.dispose([orig, scaled]);
      // predictions differ from the original, and the original is bit-identical
      const after = await take(clf.predict(data.x));
      assert.deepEqual(after, before);
      const m = await take(masked.predict(data.x));
      assert.notDeepEqual(m, before);
      // an all-ones mask is the identity
      const ones = clf.withUnitMask('dense1', new Array(8).fill(1));
      assert.deepEqual(await take(ones.predict(data.x)), before);
      // masking twice multiplies
      const twice = masked.withUnitMask('conv1', [0.5, 1, 1, 1]);
      const w = await take(tf.tidy(() => twice.activations(data.x, 'conv1__unit_mask')));
      const once = await take(tf.tidy(() => clf.activations(data.x, 'conv1')));
      for (let i = 0; i < w.length; i++) assert.ok(Math.abs(w[i]! - once[i]! * [0.5, 0, 0.5, 1][i % 4]!) < 1e-6);
      masked.dispose();
      ones.dispose();
      twice.dispose();
      assert.equal(tf.memory().numTensors, start);
      assert.throws(() => clf.withUnitMask('conv1', [1, 1]), isCode('SHAPE_MISMATCH', /'keep'/));
      assert.throws(() => clf.withUnitMask('conv1', [1, 1, NaN, 1]), isCode('NON_FINITE', /keep\[2\]/));
      assert.throws(() => clf.withUnitMask('zzz', [1]), isCode('LAYER_NOT_FOUND', /zzz/));
      model.dispose();
    }
  });

  it('a masked unit reads as exactly 0 after a following BatchNormalization and ReLU (sequential and functional)', async () => {
    const x = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 3);
    for (const [model, layer, site] of [
      [bnCnn(2), 'conv1', 'relu1'],
      [residualNet(2), 'res_conv1', 'res_relu1'],
      [residualNet(2), 'res_conv2', 'res_bn2'],
    ] as const) {
      // a BN shift far from 0: a mask before the BN would leave the channel at β − γ·μ/σ
      for (const l of model.layers) {
        if (l.getClassName() !== 'BatchNormalization') continue;
        const [gamma, beta, mean, variance] = l.getWeights();
        tf.tidy(() => l.setWeights([gamma!, tf.fill(beta!.shape, 0.7), tf.fill(mean!.shape, 0.2), variance!]));
      }
      const clf = fromLayersModel(model);
      const units = clf.layers.find((l) => l.name === layer)!.units;
      const keep = Array.from({ length: units }, (_, i) => (i === 2 ? 0 : 1));
      const start = tf.memory().numTensors;
      const masked = clf.withUnitMask(layer, keep);
      const names = masked.layers.map((l) => l.name);
      assert.equal(names.indexOf(`${layer}__unit_mask`), names.indexOf(site) + 1, `mask follows ${site}`);
      const a = await take(masked.activations(x, `${layer}__unit_mask`));
      const b = await take(clf.activations(x, site));
      for (let i = 0; i < a.length; i++) assert.equal(a[i], i % units === 2 ? 0 : b[i], `value ${i}`);
      assert.deepEqual(masked.unitMask(layer), Float32Array.from(keep));
      masked.dispose();
      assert.equal(tf.memory().numTensors, start);
      model.dispose();
    }
    x.dispose();
  });

  it('recomputeBatchNorm sets BN statistics to the sample-weighted batch statistics of the BN input; fit does it by default', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [3], units: 2, name: 'd', kernelInitializer: 'ones', biasInitializer: 'zeros' }),
        tfl.layers.batchNormalization({ name: 'bn' }),
        tfl.layers.dense({ units: 2, activation: 'softmax', name: 'out' }),
      ],
    });
    const clf = fromLayersModel(model);
    const fresh = clf.clone();
    // dense 'd' with all-ones kernel: both units read the row sum
    const rows = [
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
      [2, 2, 2],
    ];
    const x = tf.tensor2d(rows);
    const start = tf.memory().numTensors;
    assert.equal(await clf.recomputeBatchNorm(x, { batchSize: 3 }), 1);
    assert.equal(tf.memory().numTensors, start);
    const [, , mean, variance] = (
      await Promise.all(
        model
          .getLayer('bn')
          .getWeights()
          .map((w) => w.data()),
      )
    ).map((a) => Array.from(a));
    // batches {1,2,3} (mean 2, var 2/3) and {6} (mean 6, var 0), weighted 3:1
    const m = (3 * 2 + 6) / 4;
    const v = (3 * (2 / 3) + 0) / 4;
    for (let u = 0; u < 2; u++) {
      assert.ok(Math.abs(mean![u]! - m) < 1e-5, `mean ${mean![u]} vs ${m}`);
      assert.ok(Math.abs(variance![u]! - v) < 1e-5, `variance ${variance![u]} vs ${v}`);
    }
    assert.equal((model.getLayer('bn') as unknown as { momentum: number }).momentum, 0.99, 'momentum restored');
    // a network without BN: nothing to do
    const plain = fromLayersModel(tinyConvModel(1));
    assert.equal(await plain.recomputeBatchNorm(data.x), 0);
    await assert.rejects(clf.recomputeBatchNorm(x, { batchSize: 0 }), isCode('INVALID_ARGUMENT', /batchSize/));
    await assert.rejects(clf.recomputeBatchNorm(x, { batch: 3 } as never), isCode('INVALID_ARGUMENT', /batch/));
    await assert.rejects(
      clf.fit({ x, y: Int32Array.from([0, 1, 0, 1]) }, { batchNormStatistics: 'x' as never }),
      isCode('INVALID_ARGUMENT', /batchNormStatistics/),
    );
    // fit re-estimates by default, and keeps tfjs's moving averages with 'keep'
    const kept = fresh.clone();
    await kept.fit(
      { x, y: Int32Array.from([0, 1, 0, 1]) },
      { batchSize: 4, batchNormStatistics: 'keep', shuffle: false },
    );
    const keptMean = Array.from(await kept.model.getLayer('bn').getWeights()[2]!.data());
    const re = fresh;
    await re.fit({ x, y: Int32Array.from([0, 1, 0, 1]) }, { batchSize: 4, shuffle: false });
    const expected = tf.tidy(() => tf.moments(re.activations(x, 'd'), 0).mean.dataSync());
    const reMean = Array.from(await re.model.getLayer('bn').getWeights()[2]!.data());
    for (let u = 0; u < 2; u++) assert.ok(Math.abs(reMean[u]! - expected[u]!) < 1e-5);
    assert.ok(Math.abs(keptMean[0]! - expected[0]!) > 0.1, 'momentum 0.99 lags after one step');
    kept.dispose();
    re.dispose();
    x.dispose();
    model.dispose();
  });

  it('setUnitMask rewrites a mask in place, as a fresh withUnitMask copy would compute; unitMask reads it', async () => {
    const model = tinyConvModel(4);
    const clf = fromLayersModel(model);
    const start = tf.memory().numTensors;
    assert.equal(clf.unitMask('conv1'), undefined);
    const masked = clf.withUnitMask('conv1', [1, 1, 1, 1]);
    masked.setUnitMask('conv1', [0, 1, 0.25, 1]);
    assert.deepEqual(Array.from(masked.unitMask('conv1')!), [0, 1, 0.25, 1]);
    const fresh = clf.withUnitMask('conv1', [0, 1, 0.25, 1]);
    assert.deepEqual(await take(masked.predict(data.x)), await take(fresh.predict(data.x)));
    assert.throws(() => clf.setUnitMask('conv1', [1, 1, 1, 1]), isCode('INVALID_ARGUMENT', /withUnitMask/));
    assert.throws(() => masked.setUnitMask('conv1', [1, 1]), isCode('SHAPE_MISMATCH', /'keep'/));
    assert.throws(() => masked.setUnitMask('conv1', [1, Infinity, 1, 1]), isCode('NON_FINITE', /keep\[1\]/));
    assert.throws(() => masked.unitMask('nope'), isCode('LAYER_NOT_FOUND', /nope/));
    masked.dispose();
    fresh.dispose();
    assert.equal(tf.memory().numTensors, start);
    model.dispose();
  });

  it("perturbedForward reproduces predict; coefficients scale units; withScaledKernels zeroes a unit's weights", async () => {
    const model = tinyConvModel(5);
    const clf = fromLayersModel(model);
    const start = tf.memory().numTensors;
    const net = clf.perturbedForward(['conv1', 'dense1']);
    assert.deepEqual(net.layers, ['conv1', 'dense1']);
    assert.deepEqual(net.units, [4, 8]);
    assert.deepEqual(net.hasBias, [true, true]);
    assert.equal(net.outputsLogits, true); // the softmax of the last layer is dropped
    const mine = await take(tf.tidy(() => tf.softmax(net.forward(data.x, []))));
    const theirs = await take(clf.predict(data.x));
    for (let i = 0; i < mine.length; i++) assert.ok(Math.abs(mine[i]! - theirs[i]!) < 1e-5);
    // a zero weight coefficient (biases kept) computes what zeroing the unit's kernel does
    const keep = [1, 0, 1, 1];
    const scaled = clf.withScaledKernels({ conv1: keep });
    const viaCoeffs = await take(
      tf.tidy(() => tf.softmax(net.forward(data.x, [{ weight: tf.tensor1d(keep), bias: null }, null]))),
    );
    const viaKernels = await take(scaled.predict(data.x));
    for (let i = 0; i < viaKernels.length; i++) assert.ok(Math.abs(viaCoeffs[i]! - viaKernels[i]!) < 1e-5);
    // the original is unchanged
    assert.deepEqual(await take(clf.predict(data.x)), theirs);
    scaled.dispose();
    assert.equal(tf.memory().numTensors, start);
    assert.throws(() => clf.withScaledKernels({ conv1: [1, 1] }), isCode('SHAPE_MISMATCH', /scales\.conv1/));
    assert.throws(() => clf.withScaledKernels({ nope: [1] }), isCode('LAYER_NOT_FOUND', /nope/));
    assert.throws(() => clf.perturbedForward(['pool1']), isCode('UNSUPPORTED', /per-unit kernel/));
    assert.equal(tf.memory().numTensors, start);
    model.dispose();
  });

  it('fit trains a clone; the original stays bit-identical; seeded fits are identical', async () => {
    const model = tinyConvModel(5);
    const clf = fromLayersModel(model);
    const before = await take(clf.predict(data.x));
    const a = clf.clone();
    const b = clf.clone();
    assert.deepEqual(await take(a.predict(data.x)), before);
    const start = tf.memory().numTensors;
    const events: number[] = [];
    const h = await a.fit(data, {
      epochs: 15,
      batchSize: 8,
      learningRate: 0.01,
      seed: 9,
      onProgress: (e) => events.push(e.done),
    });
    assert.equal(tf.memory().numTensors, start);
    await b.fit(data, { epochs: 15, batchSize: 8, learningRate: 0.01, seed: 9 });
    assert.equal(h.loss.length, 15);
    assert.ok(h.loss[14]! < h.loss[0]! * 0.5, `loss ${h.loss[0]} -> ${h.loss[14]}`);
    assert.ok(h.accuracy[14]! > 0.9);
    assert.ok(events.length > 15);
    assert.deepEqual(await take(a.predict(data.x)), await take(b.predict(data.x)));
    assert.deepEqual(await take(clf.predict(data.x)), before);
    // a masked clone keeps its mask in force through training
    const masked = clf.withUnitMask('conv1', [0, 1, 1, 1]);
    await masked.fit(data, { epochs: 2, batchSize: 8, seed: 1 });
    const act = await take(tf.tidy(() => masked.activations(data.x, 'conv1__unit_mask')));
    for (let i = 0; i < act.length; i += 4) assert.equal(act[i], 0);
    a.dispose();
    b.dispose();
    masked.dispose();
    model.dispose();
  });

  it('fit with logits, sgd, no shuffle; abort; bad options', async () => {
    const model = tinyFunctionalLogitsModel(6);
    const clf = fromLayersModel(model, { output: 'logits' }).clone();
    const h = await clf.fit(data, { epochs: 10, batchSize: 10, optimizer: 'sgd', learningRate: 0.5, shuffle: false });
    assert.ok(h.loss[9]! < h.loss[0]!);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(clf.fit(data, { signal: ac.signal }), isCode('ABORTED'));
    const ac2 = new AbortController();
    const p = clf.fit(data, {
      epochs: 50,
      batchSize: 2,
      signal: ac2.signal,
      onProgress: (e) => e.done === 3 && ac2.abort(),
    });
    await assert.rejects(p, isCode('ABORTED'));
    await assert.rejects(clf.fit(data, { epochs: 0 }), isCode('INVALID_ARGUMENT', /options\.epochs/));
    await assert.rejects(clf.fit(data, { learningRate: -1 }), isCode('INVALID_ARGUMENT', /learningRate/));
    await assert.rejects(clf.fit(data, { epochz: 1 } as never), isCode('INVALID_ARGUMENT', /options\.epochz/));
    const badY = { x: data.x, y: new Int32Array(30).fill(7) };
    await assert.rejects(clf.fit(badY), isCode('LABEL_OUT_OF_RANGE', /data\.y\[0\]/));
    const nanX = tf.fill([30, 6, 6, 1], NaN) as tf.Tensor4D;
    await assert.rejects(clf.fit({ x: nanX, y: data.y }), isCode('NON_FINITE', /data\.x/));
    nanX.dispose();
    const wrong = tf.zeros([30, 5, 5, 1]) as tf.Tensor4D;
    await assert.rejects(clf.fit({ x: wrong, y: data.y }), isCode('SHAPE_MISMATCH', /data\.x/));
    wrong.dispose();
    clf.dispose();
    model.dispose();
  });

  it('fit is reproducible through dropout layers (per-step derived seeds)', async () => {
    const make = () =>
      tfl.sequential({
        layers: [
          tfl.layers.flatten({ inputShape: [6, 6, 1], name: 'flatten' }),
          tfl.layers.dense({
            units: 16,
            activation: 'relu',
            name: 'd1',
            kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
          }),
          tfl.layers.dropout({ rate: 0.5, name: 'drop' }),
          tfl.layers.dense({
            units: 3,
            activation: 'softmax',
            name: 'out',
            kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
          }),
        ],
      });
    const a = fromLayersModel(make(), { owned: true });
    const b = fromLayersModel(make(), { owned: true });
    const c = fromLayersModel(make(), { owned: true });
    await a.fit(data, { epochs: 3, batchSize: 8, seed: 4 });
    await b.fit(data, { epochs: 3, batchSize: 8, seed: 4 });
    await c.fit(data, { epochs: 3, batchSize: 8, seed: 5 });
    assert.deepEqual(await take(a.predict(data.x)), await take(b.predict(data.x)));
    assert.notDeepEqual(await take(a.predict(data.x)), await take(c.predict(data.x)));
    assert.equal((a.model.getLayer('drop') as unknown as { seed?: number }).seed, undefined);
    for (const k of [a, b, c]) k.dispose();
  });

  it('reinitialized draws fresh seeded weights', async () => {
    const model = tinyConvModel(7);
    const clf = fromLayersModel(model);
    const r1 = clf.reinitialized(3);
    const r2 = clf.reinitialized(3);
    const r3 = clf.reinitialized(4);
    const w = async (c: typeof clf) => values(c.model.getLayer('dense1').getWeights()[0]!);
    assert.deepEqual(await w(r1), await w(r2));
    assert.notDeepEqual(await w(r1), await w(r3));
    assert.notDeepEqual(await w(r1), await w(clf));
    for (const c of [r1, r2, r3]) c.dispose();
    model.dispose();
  });

  it('rejects what it cannot wrap', () => {
    assert.throws(() => fromLayersModel({} as never), isCode('INVALID_ARGUMENT', /'model'/));
    const a = tfl.input({ shape: [2] });
    const b = tfl.input({ shape: [2] });
    const s = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: [a, b], outputs: tfl.layers.dense({ units: 2 }).apply(s) as tfl.SymbolicTensor });
    assert.throws(() => fromLayersModel(m), isCode('UNSUPPORTED', /one input/));
    assert.throws(
      () => fromLayersModel(tinyConvModel(1), { output: 'x' as never }),
      isCode('INVALID_ARGUMENT', /options\.output/),
    );
    m.dispose();
  });
});
