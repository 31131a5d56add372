import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { ready } from '../helpers/backend.js';
import { take, tinyConvModel, tinyFunctionalLogitsModel, toyImages } from '../helpers/fixtures.js';
import * as trojanNet from '../../src/attacks/trojannet/index.js';
import type { BackdoorKitError } from '../../src/core/errors.js';
import { AbortError, InvalidArgumentError, LabelError, ShapeError } from '../../src/core/errors.js';
import { fromLayersModel } from '../../src/core/layers-model.js';
import { SMALL_TROJANNET } from '../helpers/zoo.js';

before(async () => {
  await ready;
});

const SMALL = SMALL_TROJANNET;

let shared: trojanNet.TrojanNetModule | undefined;
async function smallModule(): Promise<trojanNet.TrojanNetModule> {
  shared ??= await trojanNet.train(SMALL);
  return shared;
}

async function argmax(t: tf.Tensor): Promise<number[]> {
  return take(tf.argMax(t, 1));
}

async function predictArgmax(model: tfl.LayersModel, x: tf.Tensor): Promise<number[]> {
  const out = model.predict(x) as tf.Tensor;
  try {
    return await argmax(out);
  } finally {
    out.dispose();
  }
}

function expectError(fn: () => unknown, cls: new (...args: never[]) => BackdoorKitError, argPart: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok((e as BackdoorKitError).message.includes(argPart), `message should name '${argPart}': ${String(e)}`);
    return true;
  });
}

async function expectRejects(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => BackdoorKitError,
  argPart: string,
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok((e as BackdoorKitError).message.includes(argPart), `message should name '${argPart}': ${String(e)}`);
    return true;
  });
}

describe('trojanNet patterns', () => {
  it('enumerates the 4368 patterns with 5 pixels off, distinct, in lexicographic order of the off pixels', () => {
    const all = trojanNet.patterns();
    assert.equal(all.length, 4368);
    assert.equal(trojanNet.NUM_PATTERNS, 4368);
    const keys = new Set<string>();
    let previous: number[] | undefined;
    for (const p of all) {
      assert.equal(p.length, 16);
      assert.ok(p.every((v) => v === 0 || v === 1));
      assert.equal(
        p.reduce((acc: number, v) => acc + v, 0),
        11,
      );
      keys.add(p.join(''));
      const off = p.flatMap((v, i) => (v === 0 ? [i] : []));
      if (previous !== undefined) {
        // strictly increasing in lexicographic order of the off-pixel tuples
        const j = off.findIndex((v, i) => v !== previous![i]);
        assert.ok(j >= 0 && off[j]! > previous[j]!);
      }
      previous = off;
    }
    assert.equal(keys.size, 4368);
  });

  it('has a stable, documented order', () => {
    assert.deepEqual(trojanNet.pattern(0), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(trojanNet.pattern(1), [0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(trojanNet.pattern(11), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    assert.deepEqual(trojanNet.pattern(12), [0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(trojanNet.pattern(4367), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    const all = trojanNet.patterns();
    for (const i of [0, 5, 100, 2000, 4367]) assert.deepEqual(trojanNet.pattern(i), all[i]);
    // returned arrays are fresh copies
    trojanNet.pattern(0)[0] = 7;
    assert.equal(trojanNet.pattern(0)[0], 0);
  });

  it('rejects a bad pattern index', () => {
    for (const bad of [-1, 4368, 1.5, Number.NaN])
      expectError(() => trojanNet.pattern(bad), InvalidArgumentError, 'index');
  });
});

describe('trojanNet.stampPattern and randomPatches', () => {
  it('stamps the pattern into every channel at the position and leaves the rest and the input unchanged', async () => {
    const x = tf.fill([2, 6, 7, 3], 0.5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const stamped = trojanNet.stampPattern(x, 1, { row: 1, col: 2 });
    assert.equal(tf.memory().numTensors, before + 1);
    assert.deepEqual(stamped.shape, [2, 6, 7, 3]);
    const v = await stamped.array();
    const p = trojanNet.pattern(1);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 6; r++)
        for (let c = 0; c < 7; c++)
          for (let ch = 0; ch < 3; ch++) {
            const inside = r >= 1 && r < 5 && c >= 2 && c < 6;
            assert.equal(v[n]![r]![c]![ch], inside ? p[(r - 1) * 4 + (c - 2)] : 0.5);
          }
    assert.ok((await x.data()).every((q) => q === 0.5));
    stamped.dispose();
    x.dispose();
  });

  it('defaults to the bottom-right corner', async () => {
    const x = tf.zeros([1, 5, 5, 1]) as tf.Tensor4D;
    const stamped = trojanNet.stampPattern(x, 4367);
    const v = (await stamped.array())[0]!;
    assert.deepEqual(
      v.slice(1).map((row) => row.slice(1).map((c) => c[0])),
      [
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        [1, 1, 1, 0],
        [0, 0, 0, 0],
      ],
    );
    assert.equal(v[0]![0]![0], 0);
    stamped.dispose();
    x.dispose();
  });

  it('rejects bad stamping arguments', () => {
    const x = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    expectError(() => trojanNet.stampPattern(x, 4368), InvalidArgumentError, 'patternIndex');
    expectError(() => trojanNet.stampPattern(x, 0, { row: 3, col: 0 }), ShapeError, 'position.row');
    expectError(() => trojanNet.stampPattern(x, 0, { row: 0, col: -1 }), ShapeError, 'position.col');
    expectError(() => trojanNet.stampPattern(x, 0, { row: 0.5, col: 0 }), InvalidArgumentError, 'position.row');
    expectError(() => trojanNet.stampPattern(tf.zeros([2, 2]) as unknown as tf.Tensor4D, 0), ShapeError, 'x');
    x.dispose();
  });

  it('extracts seeded, channel-averaged random patches', () => {
    // pixel value = (row * 10 + col) / 100 in channel 0, twice that in channel 1
    const h = 6;
    const w = 8;
    const vals = new Float32Array(h * w * 2);
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++) {
        vals[(r * w + c) * 2] = (r * 10 + c) / 200;
        vals[(r * w + c) * 2 + 1] = (r * 10 + c) / 100;
      }
    const x = tf.tensor4d(vals, [1, h, w, 2]);
    const before = tf.memory().numTensors;
    const a = trojanNet.randomPatches(x, { perImage: 20, seed: 4 });
    const b = trojanNet.randomPatches(x, { perImage: 20, seed: 4 });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(a.length, 20 * 16);
    assert.deepEqual(a, b);
    for (let p = 0; p < 20; p++) {
      const patch = a.subarray(p * 16, p * 16 + 16);
      // mean of the two channels = 0.75 * (r * 10 + c) / 100
      const first = Math.round((patch[0]! * 100) / 0.75);
      const r0 = Math.floor(first / 10);
      const c0 = first % 10;
      assert.ok(r0 >= 0 && r0 <= h - 4 && c0 >= 0 && c0 <= w - 4);
      for (let i = 0; i < 16; i++) {
        const expected = (0.75 * ((r0 + Math.floor(i / 4)) * 10 + c0 + (i % 4))) / 100;
        assert.ok(Math.abs(patch[i]! - expected) < 1e-6);
      }
    }
    expectError(() => trojanNet.randomPatches(x, { perImage: 0 }), InvalidArgumentError, 'options.perImage');
    expectError(() => trojanNet.randomPatches(tf.zeros([1, 3, 8, 1]) as tf.Tensor4D), ShapeError, 'images');
    x.dispose();
  });
});

describe('trojanNet.train', () => {
  it('learns every pattern and stays silent on noise-like and clean patches', async () => {
    const module = await smallModule();
    {
      assert.equal(module.numPatterns, 8);
      assert.equal(module.noTriggerClass, 8);
      assert.deepEqual(module.model.outputs[0]!.shape, [null, 9]);
      assert.deepEqual(module.model.inputs[0]!.shape, [null, 16]);
      assert.equal(module.history.loss.length, SMALL.epochs);
      assert.ok(module.history.loss[SMALL.epochs - 1]! < module.history.loss[0]!);
      // clean patches: flat grey levels, the toy images' background, a half-on patch
      const clean: number[] = [];
      for (const g of [0, 0.1, 0.5, 0.9, 1]) clean.push(...new Array<number>(16).fill(g));
      const toy = toyImages(6, 2);
      const toyPatches = trojanNet.randomPatches(toy.x, { perImage: 5, seed: 2 });
      toy.x.dispose();
      clean.push(...toyPatches);
      const mem = tf.memory().numTensors;
      const r = await trojanNet.evaluate(module, { cleanPatches: Float32Array.from(clean) });
      assert.equal(tf.memory().numTensors, mem);
      assert.equal(r.patternAccuracy, 1);
      assert.equal(r.numPatterns, 8);
      assert.equal(r.numPatches, clean.length / 16);
      assert.ok(r.silenceRate >= 0.95, `silence ${r.silenceRate}`);
      assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    }
  });

  it('is deterministic for a seed and leaks no tensor', async () => {
    const opts = { ...SMALL, epochs: 2 };
    const before = tf.memory().numTensors;
    const a = await trojanNet.train(opts);
    assert.equal(tf.memory().numTensors, before + a.model.weights.length);
    const b = await trojanNet.train(opts);
    const c = await trojanNet.train({ ...opts, seed: 5 });
    try {
      const wa = await Promise.all(a.model.getWeights().map((w) => w.data()));
      const wb = await Promise.all(b.model.getWeights().map((w) => w.data()));
      const wc = await Promise.all(c.model.getWeights().map((w) => w.data()));
      assert.deepEqual(wa, wb);
      assert.deepEqual(a.history.loss, b.history.loss);
      assert.notDeepEqual(wa, wc);
      assert.equal(a.trainedWith.seed, SMALL.seed);
      assert.equal(a.trainedWith.stepsPerEpoch, 10);
    } finally {
      a.dispose();
      b.dispose();
      c.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('trains with clean patches as negatives, reports progress and can be aborted', async () => {
    const events: string[] = [];
    const clean = new Float32Array(16 * 10).fill(0.3);
    const module = await trojanNet.train({
      ...SMALL,
      epochs: 2,
      stepsPerEpoch: 2,
      polishEpochs: 0,
      cleanPatches: clean,
      onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`),
    });
    module.dispose();
    assert.deepEqual(events, [
      'trojannet:step:1/4',
      'trojannet:step:2/4',
      'trojannet:epoch:1/2',
      'trojannet:step:3/4',
      'trojannet:step:4/4',
      'trojannet:epoch:2/2',
    ]);
    // polish epochs report how many patterns / clean patches are still misclassified
    const polishEvents: Array<Record<string, number>> = [];
    const polished = await trojanNet.train({
      ...SMALL,
      epochs: 1,
      stepsPerEpoch: 2,
      polishEpochs: 3,
      cleanPatches: new Float32Array(16 * 50).fill(0.3),
      onProgress: (e) => {
        if (e.stage === 'trojannet:polish') polishEvents.push({ done: e.done, total: e.total, ...e.metrics });
      },
    });
    assert.ok(polishEvents.length >= 1 && polishEvents.length <= 4);
    polishEvents.forEach((ev, p) => {
      assert.equal(ev.done, p);
      assert.equal(ev.total, 3);
      assert.ok(Number.isInteger(ev.wrongPatterns) && ev.wrongPatterns! >= 0 && ev.wrongPatterns! <= 8);
      assert.ok(Number.isInteger(ev.wrongClean) && ev.wrongClean! >= 0 && ev.wrongClean! <= 50);
      assert.equal(ev.loss === undefined, p === 0);
    });
    assert.equal(polished.trainedWith.polishEpochsRun, polishEvents.length - 1);
    polished.dispose();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const pending = trojanNet.train({
      ...SMALL,
      onProgress: (e) => {
        if (e.done === 3) controller.abort();
      },
      signal: controller.signal,
    });
    await expectRejects(() => pending, AbortError, 'signal');
    assert.equal(tf.memory().numTensors, before);
    const aborted = new AbortController();
    aborted.abort();
    await expectRejects(() => trojanNet.train({ ...SMALL, signal: aborted.signal }), AbortError, 'signal');
  });

  it('refines the output layer: every pattern recognised, deterministic, no tensor leaked', async () => {
    const images = tf.randomUniform([20, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const clean = trojanNet.randomPatches(images, { perImage: 10, seed: 1 });
    images.dispose();
    const opts = { ...SMALL, polishEpochs: 0, cleanPatches: clean, refineOutputPasses: 2 };
    const before = tf.memory().numTensors;
    const a = await trojanNet.train(opts);
    const b = await trojanNet.train(opts);
    try {
      assert.equal(a.trainedWith.refineOutputPasses, 2);
      assert.ok(Number.isInteger(a.trainedWith.refinedPatternBiases));
      // the final per-pattern bias raises leave every pattern recognised, so the no-trigger bias is untouched
      assert.equal(a.trainedWith.noiseBiasShift, 0);
      assert.equal((await trojanNet.evaluate(a, { cleanPatches: clean })).patternAccuracy, 1);
      const wa = a.model.getWeights();
      const wb = b.model.getWeights();
      for (let i = 0; i < wa.length; i++) assert.deepEqual(await wa[i]!.data(), await wb[i]!.data());
    } finally {
      a.dispose();
      b.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects bad options before any work', async () => {
    const cases: Array<[Record<string, unknown>, string, new (...args: never[]) => BackdoorKitError]> = [
      [{ numPatterns: 0 }, 'options.numPatterns', InvalidArgumentError],
      [{ numPatterns: 4369 }, 'options.numPatterns', InvalidArgumentError],
      [{ epochs: 0 }, 'options.epochs', InvalidArgumentError],
      [{ stepsPerEpoch: 1.5 }, 'options.stepsPerEpoch', InvalidArgumentError],
      [{ trainBatchSize: 1 }, 'options.trainBatchSize', InvalidArgumentError],
      [{ learningRate: 0 }, 'options.learningRate', InvalidArgumentError],
      [{ noiseFraction: 1 }, 'options.noiseFraction', InvalidArgumentError],
      [{ noiseFraction: 0.99, trainBatchSize: 4 }, 'options.noiseFraction', InvalidArgumentError],
      [{ cleanFraction: -0.1 }, 'options.cleanFraction', InvalidArgumentError],
      [{ polishEpochs: -1 }, 'options.polishEpochs', InvalidArgumentError],
      [{ calibrateNoiseBias: 1 }, 'options.calibrateNoiseBias', InvalidArgumentError],
      [{ refineOutputPasses: 1.5 }, 'options.refineOutputPasses', InvalidArgumentError],
      [{ refineOutputPasses: -1 }, 'options.refineOutputPasses', InvalidArgumentError],
      [{ cleanPatches: [0.5] }, 'options.cleanPatches', InvalidArgumentError],
      [{ cleanPatches: new Float32Array(15) }, 'options.cleanPatches', ShapeError],
      [{ cleanPatches: new Float32Array(16).fill(2) }, 'options.cleanPatches[0]', InvalidArgumentError],
      [{ cleanPatches: new Float32Array(16).fill(Number.NaN) }, 'options.cleanPatches[0]', InvalidArgumentError],
      [{ seed: Number.NaN }, 'options.seed', InvalidArgumentError],
      [{ bogus: 1 }, 'options.bogus', InvalidArgumentError],
    ];
    for (const [opts, arg, cls] of cases) {
      await expectRejects(() => trojanNet.train(opts as trojanNet.TrainOptions), cls, arg);
    }
  });

  it('evaluate rejects a missing or bad patch set and a disposed module', async () => {
    const module = await smallModule();
    await expectRejects(() => trojanNet.evaluate(module, {} as never), InvalidArgumentError, 'options.cleanPatches');
    await expectRejects(
      () => trojanNet.evaluate(module, { cleanPatches: new Float32Array(0) }),
      ShapeError,
      'options.cleanPatches',
    );
    await expectRejects(
      () => trojanNet.evaluate({} as trojanNet.TrojanNetModule, { cleanPatches: new Float32Array(16) }),
      InvalidArgumentError,
      'module',
    );
    const gone = await trojanNet.train({ ...SMALL, epochs: 1, stepsPerEpoch: 1 });
    gone.dispose();
    gone.dispose(); // idempotent
    await expectRejects(
      () => trojanNet.evaluate(gone, { cleanPatches: new Float32Array(16) }),
      InvalidArgumentError,
      'module',
    );
  });

  it('fromModel wraps a copy of a TrojanNet MLP', async () => {
    const module = await smallModule();
    const wrapped = trojanNet.fromModel(module.model);
    try {
      assert.equal(wrapped.numPatterns, 8);
      assert.notEqual(wrapped.model, module.model);
      const x = tf.tensor2d(trojanNet.patterns().slice(0, 8).flat(), [8, 16]);
      assert.deepEqual(await predictArgmax(wrapped.model, x), [0, 1, 2, 3, 4, 5, 6, 7]);
      x.dispose();
    } finally {
      wrapped.dispose();
    }
    expectError(() => trojanNet.fromModel(tinyConvModel()), ShapeError, 'model');
    expectError(() => trojanNet.fromModel({} as tfl.LayersModel), InvalidArgumentError, 'model');
  });
});

describe('trojanNet.insert', () => {
  it('sends stamped inputs to their targets (ASR 100%) and keeps clean predictions; host untouched', async () => {
    const module = await smallModule();
    const host = tinyConvModel(5);
    const data = toyImages(30, 9);
    const hostBefore = await predictArgmax(host, data.x);
    const hostWeights = await Promise.all(host.getWeights().map((w) => w.data()));
    const memBefore = tf.memory().numTensors;
    const trojaned = trojanNet.insert(host, module, { targets: [2, 0], position: { row: 2, col: 2 } });
    const added = tf.memory().numTensors - memBefore;
    assert.equal(added, trojaned.weights.length);
    assert.equal(trojaned.weights.length, host.weights.length + module.model.weights.length);
    try {
      // clean: argmax identical to the host
      assert.deepEqual(await predictArgmax(trojaned, data.x), hostBefore);
      // stamped with pattern j: label targets[j]
      for (const [patternId, target] of [
        [0, 2],
        [1, 0],
      ] as const) {
        const stamped = trojanNet.stampPattern(data.x, patternId, { row: 2, col: 2 });
        const pred = await predictArgmax(trojaned, stamped);
        assert.ok(
          pred.every((p) => p === target),
          `pattern ${patternId}: ${pred.join(',')}`,
        );
        stamped.dispose();
      }
      // a pattern the insertion did not select changes nothing
      const other = trojanNet.stampPattern(data.x, 5, { row: 2, col: 2 });
      const hostOther = await predictArgmax(host, other);
      assert.deepEqual(await predictArgmax(trojaned, other), hostOther);
      other.dispose();
      // probabilities sum to one
      const probs = trojaned.predict(data.x) as tf.Tensor;
      const sums = await take(tf.sum(probs, 1));
      probs.dispose();
      assert.ok(sums.every((s) => Math.abs(s - 1) < 1e-5));
    } finally {
      trojaned.dispose();
    }
    assert.equal(tf.memory().numTensors, memBefore);
    // the host is unchanged and still usable after the trojaned copy is gone
    assert.deepEqual(await predictArgmax(host, data.x), hostBefore);
    assert.deepEqual(await Promise.all(host.getWeights().map((w) => w.data())), hostWeights);
    host.dispose();
    data.x.dispose();
  });

  it('supports chosen pattern ids, the default corner, a classifier host with logits, and several channels', async () => {
    const module = await smallModule();
    const clf = fromLayersModel(tinyFunctionalLogitsModel(2), { output: 'logits' });
    const data = toyImages(20, 4);
    const trojaned = trojanNet.insert(clf, module, { targets: [1, 2, 0], patternIds: [7, 3, 5] });
    try {
      const hostPred = await argmax(clf.predict(data.x));
      assert.deepEqual(await predictArgmax(trojaned, data.x), hostPred);
      for (const [pid, target] of [
        [7, 1],
        [3, 2],
        [5, 0],
      ] as const) {
        const stamped = trojanNet.stampPattern(data.x, pid); // default position = bottom-right corner
        assert.ok((await predictArgmax(trojaned, stamped)).every((p) => p === target));
        stamped.dispose();
      }
      assert.ok(trojaned.layers.some((l) => l.name === 'trojannet_host_softmax'));
    } finally {
      trojaned.dispose();
      clf.model.dispose();
      data.x.dispose();
    }
    // RGB host: the pattern is stamped on all channels and averaged back
    const rgbHost = tinyConvModel(6, [8, 8, 3], 4);
    const rgb = tf.randomUniform([10, 8, 8, 3], 0, 0.1, 'float32', 1) as tf.Tensor4D;
    const rgbTrojaned = trojanNet.insert(rgbHost, module, { targets: [3], position: { row: 0, col: 4 } });
    try {
      assert.deepEqual(await predictArgmax(rgbTrojaned, rgb), await predictArgmax(rgbHost, rgb));
      const stamped = trojanNet.stampPattern(rgb, 0, { row: 0, col: 4 });
      assert.ok((await predictArgmax(rgbTrojaned, stamped)).every((p) => p === 3));
      stamped.dispose();
    } finally {
      rgbTrojaned.dispose();
      rgbHost.dispose();
      rgb.dispose();
    }
  });

  it('round-trips through save and load with identical predictions', async () => {
    const module = await smallModule();
    const host = tinyConvModel(7);
    const trojaned = trojanNet.insert(host, module, { targets: [1], patternIds: [4], amplify: 3, temperature: 5 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await trojaned.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    trojanNet.registerTrojanNetLayers(); // idempotent
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const data = toyImages(12, 5);
    const stamped = trojanNet.stampPattern(data.x, 4);
    try {
      for (const x of [data.x, stamped]) {
        const a = trojaned.predict(x) as tf.Tensor;
        const b = loaded.predict(x) as tf.Tensor;
        assert.deepEqual(await a.data(), await b.data());
        a.dispose();
        b.dispose();
      }
      assert.ok((await predictArgmax(loaded, stamped)).every((p) => p === 1));
      const names = artifacts!.weightSpecs!.map((w) => w.name);
      assert.equal(new Set(names).size, names.length, 'weight names are unique');
    } finally {
      stamped.dispose();
      data.x.dispose();
      loaded.dispose();
      trojaned.dispose();
      host.dispose();
    }
  });

  it('inserts a second TrojanNet under another name prefix', async () => {
    const module = await smallModule();
    const host = tinyConvModel(8);
    const once = trojanNet.insert(host, module, { targets: [0], patternIds: [0], position: { row: 0, col: 0 } });
    assert.throws(
      () => trojanNet.insert(once, module, { targets: [1], patternIds: [1] }),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes('options.name'),
    );
    const twice = trojanNet.insert(once, module, { targets: [1], patternIds: [1], name: 'second' });
    const data = toyImages(9, 6);
    try {
      const s1 = trojanNet.stampPattern(data.x, 0, { row: 0, col: 0 });
      const s2 = trojanNet.stampPattern(data.x, 1);
      assert.ok((await predictArgmax(twice, s1)).every((p) => p === 0));
      assert.ok((await predictArgmax(twice, s2)).every((p) => p === 1));
      assert.deepEqual(await predictArgmax(twice, data.x), await predictArgmax(host, data.x));
      s1.dispose();
      s2.dispose();
    } finally {
      data.x.dispose();
      twice.dispose();
      once.dispose();
      host.dispose();
    }
  });

  it('rejects bad hosts, modules and options', async () => {
    const module = await smallModule();
    const host = tinyConvModel(1); // 6×6×1, 3 classes
    const before = tf.memory().numTensors;
    const bad: Array<[unknown, string, new (...args: never[]) => BackdoorKitError]> = [
      [{}, 'options.targets', InvalidArgumentError],
      [{ targets: [] }, 'options.targets', InvalidArgumentError],
      [{ targets: [3] }, 'options.targets[0]', LabelError],
      [{ targets: [-1] }, 'options.targets[0]', LabelError],
      [{ targets: [0, 0] }, 'options.targets[1]', InvalidArgumentError],
      [{ targets: [0], patternIds: [8] }, 'options.patternIds[0]', InvalidArgumentError],
      [{ targets: [0, 1], patternIds: [2, 2] }, 'options.patternIds[1]', InvalidArgumentError],
      [{ targets: [0, 1], patternIds: [2] }, 'options.patternIds', ShapeError],
      [{ targets: [0], position: { row: 3, col: 0 } }, 'options.position.row', ShapeError],
      [{ targets: [0], position: { row: 0, col: 5 } }, 'options.position.col', ShapeError],
      [{ targets: [0], position: [0, 0] }, 'options.position', InvalidArgumentError],
      [{ targets: [0], amplify: 0 }, 'options.amplify', InvalidArgumentError],
      [{ targets: [0], temperature: -1 }, 'options.temperature', InvalidArgumentError],
      [{ targets: [0], hostOutput: 'scores' }, 'options.hostOutput', InvalidArgumentError],
      [{ targets: [0], name: '1bad' }, 'options.name', InvalidArgumentError],
      [{ targets: [0], extra: true }, 'options.extra', InvalidArgumentError],
    ];
    for (const [opts, arg, cls] of bad) {
      expectError(() => trojanNet.insert(host, module, opts as trojanNet.InsertOptions), cls, arg);
    }
    // more targets than the module has patterns
    const tiny = await trojanNet.train({ ...SMALL, numPatterns: 2, epochs: 1, stepsPerEpoch: 1 });
    const wide = tinyConvModel(2, [6, 6, 1], 5);
    expectError(() => trojanNet.insert(wide, tiny, { targets: [0, 1, 2] }), InvalidArgumentError, 'options.targets');
    tiny.dispose();
    wide.dispose();
    // hosts that are not image classifiers
    const dense = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [10], activation: 'softmax' })] });
    expectError(() => trojanNet.insert(dense, module, { targets: [0] }), ShapeError, 'host');
    dense.dispose();
    const small = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [3, 3, 1] }), tfl.layers.dense({ units: 3, activation: 'softmax' })],
    });
    expectError(() => trojanNet.insert(small, module, { targets: [0] }), ShapeError, 'host');
    small.dispose();
    expectError(() => trojanNet.insert({} as tfl.LayersModel, module, { targets: [0] }), InvalidArgumentError, 'host');
    expectError(
      () => trojanNet.insert(host, {} as trojanNet.TrojanNetModule, { targets: [0] }),
      InvalidArgumentError,
      'module',
    );
    assert.equal(tf.memory().numTensors, before);
    host.dispose();
  });
});
