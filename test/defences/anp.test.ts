/**
 * anp.repair (optimising, or from an earlier result's masks): a hand-made network with one planted backdoor unit
 * that ANP must find and prune; the re-implemented forward pass on several
 * architectures; the pruning step computed by hand; purity, leaks (also
 * across the optimisation loop), determinism, progress/abort on the
 * planted-backdoor MNIST fixture; every bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { BackdoorKitError } from '../../src/core/errors.js';
import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import { Rng } from '../../src/core/rng.js';
import type { LabeledData } from '../../src/core/types.js';
import { subset } from '../../src/data/index.js';
import { ANP_DEFAULTS, repair, type AnpLayerMask, type AnpOptions } from '../../src/defences/model/anp.js';
import { accuracy, attackSuccessRate } from '../../src/metrics/index.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import { ready } from '../helpers/backend.js';
import { weightsOf } from '../helpers/fixtures.js';
import { bnCnn } from '../helpers/zoo.js';
import { plantedData, plantedModel } from '../helpers/hand-models.js';

let fx: BackdoorFixture;
let clean: LabeledData;

before(async () => {
  await ready;
  fx = await backdoorFixture();
  const idx: number[] = [];
  for (let i = 0; i < fx.poisoned.length && idx.length < 300; i++) if (fx.poisoned[i] === 0) idx.push(i);
  clean = subset(fx.cleanTrain, idx);
});

async function expectError(p: Promise<unknown> | (() => unknown), code: string, arg: string, fn = 'anp.repair') {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof BackdoorKitError, `expected a BackdoorKitError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.fn, fn);
    assert.ok(e.message.includes(arg), `message should name '${arg}': ${e.message}`);
    return true;
  });
}

describe('anp.repair finds a planted backdoor unit', () => {
  it('masks the near-threshold unit to 0, keeps the clean units, and removes the backdoor', async () => {
    const clf = plantedModel();
    const { clean: c, triggered } = plantedData();
    assert.equal(await accuracy(clf, c), 1);
    assert.equal(await attackSuccessRate(clf, triggered, 2), 1);
    const r = await repair(clf, c, { iterations: 50, trainBatchSize: 16 });
    assert.equal(r.masks.length, 1);
    assert.equal(r.masks[0]!.layer, 'hidden');
    const [m0, m1, m2] = Array.from(r.masks[0]!.values);
    assert.ok(m0! > 0.8 && m1! > 0.8, `clean units kept: ${m0}, ${m1}`);
    assert.ok(m2! <= 0.2, `backdoor unit masked: ${m2}`);
    assert.deepEqual(
      r.pruned.map((p) => [p.layer, p.unit]),
      [['hidden', 2]],
    );
    assert.equal(r.totalUnits, 3);
    assert.equal(r.accuracyBefore, 1);
    assert.equal(r.accuracyAfter, 1);
    assert.equal(await attackSuccessRate(r.classifier, triggered, 2), 0);
    // 'weights' pruning: h2's incoming weights are zero, its bias is kept
    const [kernel, bias] = r.classifier.model.getLayer('hidden').getWeights();
    const k = await kernel!.data();
    assert.deepEqual([k[2]! + 0, k[5]! + 0, k[8]! + 0], [0, 0, 0]);
    assert.deepEqual(Array.from(await bias!.data()), [0, 0, Math.fround(-0.6)]);
    r.classifier.dispose();
    clf.dispose();
    c.x.dispose();
    triggered.x.dispose();
  });

  it("with pruning: 'mask' inserts a 0/1 UnitMask instead", async () => {
    const clf = plantedModel();
    const { clean: c, triggered } = plantedData();
    const r = await repair(clf, c, { iterations: 50, trainBatchSize: 16, pruning: 'mask' });
    const mask = r.classifier.model.getLayer('hidden__unit_mask').getWeights()[0]!;
    assert.deepEqual(Array.from(await mask.data()), [1, 1, 0]);
    assert.equal(await attackSuccessRate(r.classifier, triggered, 2), 0);
    r.classifier.dispose();
    clf.dispose();
    c.x.dispose();
    triggered.x.dispose();
  });
});

/** `anp.repair` from given masks (an earlier result's): only the pruning step, on zero clean data. */
async function prune(clf: LayersModelClassifier, masks: readonly AnpLayerMask[], options?: AnpOptions) {
  const x = tf.zeros([12, ...clf.inputShape] as [number, number, number, number]) as tf.Tensor4D;
  try {
    return await repair(clf, { x, y: new Int32Array(12) }, { masks: masks as AnpLayerMask[] }, options);
  } finally {
    x.dispose();
  }
}

describe('anp.repair from given masks computes the pruning by hand', () => {
  it('threshold (≤), number, weights vs mask', async () => {
    const clf = fromLayersModel(fxLikeModel(), { owned: true });
    const masks = [
      { layer: 'conv1', values: Float32Array.from([1, 0.2, 0.9, 0.05]) },
      { layer: 'dense1', values: Float32Array.from([0.5, 1, 0.1, 1, 1, 1, 1, 0.21]) },
    ];
    const byT = await prune(clf, masks, { threshold: 0.2 });
    assert.deepEqual(
      byT.pruned.map((p) => `${p.layer}:${p.unit}`),
      ['conv1:3', 'dense1:2', 'conv1:1'],
    );
    const byN = await prune(clf, masks, { pruneBy: 'number', count: 4 });
    assert.deepEqual(
      byN.pruned.map((p) => `${p.layer}:${p.unit}`),
      ['conv1:3', 'dense1:2', 'conv1:1', 'dense1:7'],
    );
    // weights: kernel columns of the pruned units are zero, everything else untouched
    const before = await weightsOf(clf);
    const after = await weightsOf(byT.classifier);
    const conv1Kernel = after[0]!;
    for (let i = 0; i < conv1Kernel.length; i++) {
      const unit = i % 4;
      assert.equal(conv1Kernel[i]! + 0, unit === 1 || unit === 3 ? 0 : before[0]![i]); // + 0: -0 → 0
    }
    assert.deepEqual(after[1], before[1]); // conv1 bias kept
    const dense1Kernel = after[2]!;
    for (let i = 0; i < dense1Kernel.length; i++) assert.equal(dense1Kernel[i]! + 0, i % 8 === 2 ? 0 : before[2]![i]);
    assert.deepEqual(after.slice(3), before.slice(3));
    // mask: UnitMask layers with 0/1 factors
    const asMask = await prune(clf, masks, { threshold: 0.2, pruning: 'mask' });
    const f1 = await asMask.classifier.model.getLayer('conv1__unit_mask').getWeights()[0]!.data();
    const f2 = await asMask.classifier.model.getLayer('dense1__unit_mask').getWeights()[0]!.data();
    assert.deepEqual(Array.from(f1), [1, 0, 1, 0]);
    assert.deepEqual(Array.from(f2), [1, 1, 0, 1, 1, 1, 1, 1]);
    assert.deepEqual(await weightsOf(clf), before);
    for (const r of [byT, byN, asMask]) r.classifier.dispose();
    clf.dispose();
  });

  it('rejects masks that do not fit the model', async () => {
    const clf = fromLayersModel(fxLikeModel(), { owned: true });
    const fn = 'anp.repair';
    await expectError(() => prune(clf, []), 'INVALID_ARGUMENT', 'report.masks', fn);
    await expectError(
      () => prune(clf, [{ layer: 'nope', values: new Float32Array(4) }]),
      'LAYER_NOT_FOUND',
      'report.masks[0].layer',
      fn,
    );
    await expectError(
      () => prune(clf, [{ layer: 'conv1', values: new Float32Array(3) }]),
      'SHAPE_MISMATCH',
      'report.masks[0].values',
      fn,
    );
    await expectError(
      () => prune(clf, [{ layer: 'conv1', values: Float32Array.from([1, NaN, 1, 1]) }]),
      'NON_FINITE',
      'report.masks[0].values[1]',
      fn,
    );
    const ok = [{ layer: 'conv1', values: new Float32Array(4) }];
    await expectError(() => prune(clf, ok, { threshold: 2 }), 'INVALID_ARGUMENT', 'options.threshold', fn);
    await expectError(() => prune(clf, ok, { pruneBy: 'number' }), 'INVALID_ARGUMENT', 'options.count', fn);
    await expectError(() => prune(clf, ok, { pruneBy: 'number', count: 5 }), 'INVALID_ARGUMENT', 'options.count', fn);
    clf.dispose();
  });
});

/** The shared tiny conv net: conv1(4) → pool → flatten → dense1(8) → output(3). */
function fxLikeModel(): tfl.LayersModel {
  const rng = new Rng(2);
  const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [6, 6, 1],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv1',
        kernelInitializer: init(),
        biasInitializer: tfl.initializers.constant({ value: 0.1 }),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 8, activation: 'relu', name: 'dense1', kernelInitializer: init() }),
      tfl.layers.dense({ units: 3, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

function randomData(n: number, shape: number[], classes: number, seed: number): LabeledData {
  const rng = new Rng(seed);
  const size = shape.reduce((a, d) => a * d, 1);
  const x = tf.tensor4d(
    Float32Array.from({ length: n * size }, () => rng.next()),
    [n, ...shape] as [number, number, number, number],
  );
  return { x, y: Int32Array.from({ length: n }, () => rng.int(classes)) };
}

describe('anp.repair re-computes other architectures faithfully', () => {
  it('a functional model with BatchNorm, Dropout, activation layers, global pooling and logits output', async () => {
    const input = tfl.input({ shape: [8, 8, 2] });
    let h = tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', strides: 2, name: 'c1' }).apply(input);
    h = tfl.layers.batchNormalization({ name: 'bn1' }).apply(h);
    h = tfl.layers.leakyReLU({ alpha: 0.1 }).apply(h);
    h = tfl.layers.conv2d({ filters: 6, kernelSize: 2, useBias: false, activation: 'tanh', name: 'c2' }).apply(h);
    h = tfl.layers.globalAveragePooling2d({}).apply(h);
    h = tfl.layers.dropout({ rate: 0.5 }).apply(h);
    h = tfl.layers.dense({ units: 7, activation: 'elu', name: 'd1' }).apply(h);
    h = tfl.layers.reLU({ maxValue: 2 }).apply(h);
    const out = tfl.layers.dense({ units: 4, name: 'logits' }).apply(h) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    // non-trivial BatchNorm statistics
    const bn = model.getLayer('bn1');
    tf.tidy(() =>
      bn.setWeights([
        tf.tensor1d([1.5, 0.5, 1, 2, 0.7]),
        tf.tensor1d([0.1, -0.2, 0, 0.3, 0]),
        tf.tensor1d([0.2, 0.1, -0.1, 0, 0.05]),
        tf.tensor1d([2, 0.5, 1, 1.5, 0.8]),
      ]),
    );
    const clf = fromLayersModel(model, { owned: true, output: 'logits' });
    const data = randomData(20, [8, 8, 2], 4, 9);
    const before = tf.memory().numTensors;
    // the forward self-check inside repair throws UNSUPPORTED if the re-computation disagrees
    const r = await repair(clf, data, { iterations: 2, trainBatchSize: 8, pruneBy: 'number', count: 0 });
    assert.deepEqual(
      r.masks.map((m) => [m.layer, m.values.length]),
      [
        ['c1', 5],
        ['c2', 6],
        ['d1', 7],
      ],
    );
    assert.equal(r.pruned.length, 0);
    assert.equal(r.accuracyAfter, r.accuracyBefore);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    clf.dispose();
    data.x.dispose();
  });

  it('on conv → BatchNorm perturbs the BN neurons (γ by the weight, β by the bias coefficient), as the paper does', async () => {
    const clf = fromLayersModel(bnCnn(2), { owned: true });
    const x = tf.randomUniform([5, 8, 8, 1], 0, 1, 'float32', 9);
    const net = clf.perturbedForward(['conv1']);
    const start = tf.memory().numTensors;
    const [got, want] = tf.tidy(() => {
      const w = tf.tensor1d([1, 1, 0, 1, 1, 1, 1, 1]);
      const bias = tf.tensor1d([1, 1, 2, 1, 1, 1, 1, 1]);
      const g = net.forward(x, [{ weight: w, bias }]);
      // by hand: γ[2] = 0 and β[2] doubled in a copy
      const copy = clf.clone();
      const bn = copy.model.getLayer('bn1');
      const [gamma, beta, mean, variance] = bn.getWeights();
      bn.setWeights([tf.mul(gamma!, w), tf.mul(beta!, bias), mean!, variance!]);
      const p = copy.predict(x);
      const out = [Array.from(g.dataSync()), Array.from(p.dataSync())];
      copy.dispose();
      return out;
    });
    for (let i = 0; i < want!.length; i++) assert.ok(Math.abs(got![i]! - want![i]!) < 1e-6);
    assert.equal(tf.memory().numTensors, start);
    // pruning by weights zeroes the same γ
    const pruned = clf.withScaledKernels({ conv1: [1, 1, 0, 1, 1, 1, 1, 1] });
    assert.equal((await pruned.model.getLayer('bn1').getWeights()[0]!.data())[2], 0);
    pruned.dispose();
    clf.dispose();
    x.dispose();
  });

  it('runs on models the chain interpreter cannot (padding, branches): scaled reads reproduce predict and pruning', async () => {
    const withPad = fromLayersModel(
      tfl.sequential({
        layers: [
          tfl.layers.zeroPadding2d({ inputShape: [6, 6, 1], padding: 1 }),
          tfl.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu' }),
          tfl.layers.flatten({}),
          tfl.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      }),
      { owned: true },
    );
    const data = randomData(12, [6, 6, 1], 3, 4);
    const padded = await repair(withPad, data, { iterations: 3, trainBatchSize: 6 });
    padded.classifier.dispose();
    const input = tfl.input({ shape: [6, 6, 1] });
    const a = tfl.layers
      .conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'a' })
      .apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers
      .conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'b' })
      .apply(input) as tfl.SymbolicTensor;
    const sum = tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten({ name: 'flat' }).apply(sum);
    const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(flat) as tfl.SymbolicTensor;
    const branching = fromLayersModel(tfl.model({ inputs: input, outputs: out }), { owned: true });
    const start = tf.memory().numTensors;
    const net = branching.perturbedForward(['a', 'b']);
    assert.deepEqual(net.units, [2, 2]);
    const [same, pruned, want, wantPruned] = tf.tidy(() => {
      const ones = tf.ones([2]);
      const half = tf.tensor1d([0, 1]);
      const scaled = branching.withScaledKernels({ a: [0, 1] });
      const r = [
        net.forward(data.x, [
          { weight: ones, bias: null },
          { weight: ones, bias: null },
        ]),
        net.forward(data.x, [{ weight: half, bias: null }, null]),
        branching.predict(data.x),
        scaled.predict(data.x),
      ].map((t) => Array.from(t.dataSync()));
      scaled.dispose();
      return r;
    });
    for (let i = 0; i < want!.length; i++) {
      assert.ok(Math.abs(same![i]! - want![i]!) < 1e-6, 'all-ones coefficients are the model itself');
      assert.ok(Math.abs(pruned![i]! - wantPruned![i]!) < 1e-6, 'a zero coefficient is a zeroed kernel');
    }
    assert.equal(tf.memory().numTensors, start);
    const r = await repair(branching, data, { iterations: 3, trainBatchSize: 6 });
    assert.deepEqual(
      r.masks.map((m) => m.layer),
      ['a', 'b'],
    );
    r.classifier.dispose();
    await expectError(repair(branching, data, { layers: ['flat'] }), 'INVALID_ARGUMENT', 'per-unit kernel');
    withPad.dispose();
    branching.dispose();
    data.x.dispose();
  });
});

describe('anp.repair on the planted-backdoor fixture', () => {
  const quick = { iterations: 20, trainBatchSize: 32, seed: 5 } as const;

  it('leaves its inputs alone, leaks nothing (not even across iterations), reports progress', async () => {
    assert.equal(ANP_DEFAULTS.epsilon, 0.4);
    const w0 = await weightsOf(fx.backdoored);
    const xSum = tf.tidy(() => tf.sum(clean.x).dataSync()[0]);
    const ySnap = Array.from(clean.y);
    const before = tf.memory().numTensors;
    const during: number[] = [];
    const stages = new Set<string>();
    const r = await repair(fx.backdoored, clean, {
      ...quick,
      onProgress: (e) => {
        stages.add(e.stage);
        if (e.stage === 'anp:optimize') during.push(tf.memory().numTensors);
      },
    });
    assert.equal(during.length, quick.iterations);
    assert.ok(
      during.every((v) => v === during[0]),
      `tensor count drifted across iterations: ${during.join(',')}`,
    );
    assert.deepEqual([...stages], ['anp:optimize', 'anp:prune']);
    assert.deepEqual(
      r.masks.map((m) => [m.layer, m.values.length]),
      [
        ['conv1', 8],
        ['conv2', 16],
        ['dense1', 32],
      ],
    );
    for (const m of r.masks) for (const v of m.values) assert.ok(v >= 0 && v <= 1);
    assert.equal(r.history.length, 20);
    assert.equal(r.history.at(-1)!.iteration, 20);
    // the pruned classifier is a normal, independent LayersModelClassifier
    assert.equal(await accuracy(r.classifier, clean), r.accuracyAfter);
    assert.deepEqual(await weightsOf(fx.backdoored), w0);
    assert.equal(
      tf.tidy(() => tf.sum(clean.x).dataSync()[0]),
      xSum,
    );
    assert.deepEqual(Array.from(clean.y), ySnap);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const a = await repair(fx.backdoored, clean, quick);
    const b = await repair(fx.backdoored, clean, quick);
    const c = await repair(fx.backdoored, clean, { ...quick, seed: 6 });
    const flat = (r: typeof a) => r.masks.flatMap((m) => Array.from(m.values));
    assert.deepEqual(flat(a), flat(b));
    assert.deepEqual(a.pruned, b.pruned);
    assert.notDeepEqual(flat(a), flat(c));
    for (const r of [a, b, c]) r.classifier.dispose();
  });

  it('honours an AbortSignal before and during the optimisation, without leaking', async () => {
    const before = tf.memory().numTensors;
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(repair(fx.backdoored, clean, { ...quick, signal: pre.signal }), { code: 'ABORTED' });
    const ctl = new AbortController();
    let seen = 0;
    await assert.rejects(
      repair(fx.backdoored, clean, {
        ...quick,
        signal: ctl.signal,
        onProgress: (e) => {
          seen = e.done;
          if (e.done === 5) ctl.abort();
        },
      }),
      { code: 'ABORTED' },
    );
    assert.equal(seen, 5);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('anp.repair rejects bad input before any work', () => {
  it('options out of range', async () => {
    await expectError(repair(fx.backdoored, clean, { threshold: 1.5 }), 'INVALID_ARGUMENT', 'options.threshold');
    await expectError(repair(fx.backdoored, clean, { threshold: -0.1 }), 'INVALID_ARGUMENT', 'options.threshold');
    await expectError(repair(fx.backdoored, clean, { epsilon: 2 }), 'INVALID_ARGUMENT', 'options.epsilon');
    await expectError(repair(fx.backdoored, clean, { alpha: 1.1 }), 'INVALID_ARGUMENT', 'options.alpha');
    await expectError(repair(fx.backdoored, clean, { iterations: 0 }), 'INVALID_ARGUMENT', 'options.iterations');
    await expectError(repair(fx.backdoored, clean, { momentum: 1 }), 'INVALID_ARGUMENT', 'options.momentum');
    await expectError(repair(fx.backdoored, clean, { pruneBy: 'number' }), 'INVALID_ARGUMENT', 'options.count');
    await expectError(
      repair(fx.backdoored, clean, { pruneBy: 'number', count: 57 }),
      'INVALID_ARGUMENT',
      'options.count',
    );
    await expectError(
      repair(fx.backdoored, clean, { pruning: 'zero' as never }),
      'INVALID_ARGUMENT',
      'options.pruning',
    );
    await expectError(repair(fx.backdoored, clean, { eps: 0.4 } as never), 'INVALID_ARGUMENT', 'options.eps');
  });

  it('layers that do not exist or cannot be perturbed', async () => {
    await expectError(repair(fx.backdoored, clean, { layers: ['conv9'] }), 'LAYER_NOT_FOUND', 'options.layers[0]');
    await expectError(
      repair(fx.backdoored, clean, { layers: ['conv1', 'pool1'] }),
      'INVALID_ARGUMENT',
      'options.layers[1]',
    );
    await expectError(repair(fx.backdoored, clean, { layers: [] }), 'INVALID_ARGUMENT', 'options.layers');
    const single = fromLayersModel(
      tfl.sequential({
        layers: [
          tfl.layers.flatten({ inputShape: [14, 14, 1] }),
          tfl.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      }),
      { owned: true },
    );
    await expectError(repair(single, clean), 'LAYER_NOT_FOUND', 'classifier');
    single.dispose();
  });

  it('too little clean data, or data that does not fit', async () => {
    const few = subset(clean, [0, 1, 2, 3, 4, 5]);
    await expectError(repair(fx.backdoored, few), 'INVALID_ARGUMENT', 'cleanData');
    few.x.dispose();
    const wrong = { x: tf.zeros([12, 28, 28, 1]) as tf.Tensor4D, y: new Int32Array(12) };
    await expectError(repair(fx.backdoored, wrong), 'SHAPE_MISMATCH', 'cleanData.x');
    wrong.x.dispose();
  });

  it('a classifier that is not a LayersModelClassifier', async () => {
    const bare = { inputShape: [14, 14, 1], numClasses: 10, predict: (x: tf.Tensor) => fx.backdoored.predict(x) };
    await expectError(repair(bare as never, clean), 'MISSING_CAPABILITY', 'classifier');
    const lookalike = {
      inputShape: fx.backdoored.inputShape,
      numClasses: fx.backdoored.numClasses,
      layers: fx.backdoored.layers,
      predict: (x: tf.Tensor) => fx.backdoored.predict(x),
      activations: () => {
        throw new Error('unused');
      },
      clone: () => fx.backdoored.clone(),
      fit: () => Promise.reject(new Error('unused')),
      dispose: () => undefined,
    };
    await expectError(repair(lookalike as never, clean), 'MISSING_CAPABILITY', 'LayersModelClassifier');
  });
});
