import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { BackdoorKitError } from '../../src/core/errors.js';
import { EmptyDataError, InvalidArgumentError, LabelError, ShapeError } from '../../src/core/errors.js';
import type { LabeledData } from '../../src/core/types.js';
import * as poisoning from '../../src/poisoning/index.js';
import type { PoisonedData } from '../../src/poisoning/index.js';
import * as triggers from '../../src/triggers/index.js';
import { stampArray } from '../../src/triggers/index.js';
import { ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

function throwsArg(f: () => unknown, cls: new (...a: never[]) => BackdoorKitError, arg: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok(e.arg?.startsWith(arg), `expected arg ${arg}, got ${e.arg}`);
    assert.ok(e.message.includes(`'${arg}`), `message should name ${arg}: ${e.message}`);
    return true;
  });
}

const N = 40;
const SHAPE: [number, number, number, number] = [N, 6, 6, 1];
const PER = 36;
const square = triggers.square({ size: 2 });

/** 40 distinct 6×6 images, labels i % 4 (10 per class). */
function makeData(): { data: LabeledData; xs: Float32Array; ys: Int32Array } {
  const xs = new Float32Array(N * PER);
  for (let i = 0; i < xs.length; i++) xs[i] = ((i * 13) % 17) / 20;
  const ys = Int32Array.from({ length: N }, (_, i) => i % 4);
  return { data: { x: tf.tensor4d(xs, SHAPE), y: Int32Array.from(ys) }, xs, ys };
}

/** Runs a builder, checks no leak / no mutation, returns result arrays. */
function build(f: (d: LabeledData) => PoisonedData): {
  res: PoisonedData;
  x: Float32Array;
  src: Float32Array;
  ys: Int32Array;
  shape: number[];
} {
  const { data, xs, ys } = makeData();
  const before = tf.memory().numTensors;
  const res = f(data);
  assert.equal(tf.memory().numTensors, before + 1, 'only the result tensor is new');
  assert.deepEqual(data.x.dataSync(), xs, 'input images untouched');
  assert.deepEqual(data.y, ys, 'input labels untouched');
  assert.notEqual(res.data.x, data.x);
  assert.notEqual(res.data.y, data.y);
  const x = res.data.x.dataSync<'float32'>().slice();
  const shape = res.data.x.shape.slice();
  res.data.x.dispose();
  data.x.dispose();
  return { res, x, src: xs, ys, shape };
}

/** The stamped version of input sample i, by the plain-array twin. */
function stampedSample(src: Float32Array, i: number, opts: Parameters<typeof stampArray>[3] = {}): Float32Array {
  return stampArray(src.slice(i * PER, (i + 1) * PER), [1, 6, 6, 1], square, opts);
}

function sample(x: Float32Array, i: number): Float32Array {
  return x.slice(i * PER, (i + 1) * PER);
}

function countByClass(ys: Int32Array, indices: Int32Array): number[] {
  const counts = [0, 0, 0, 0];
  for (const i of indices) counts[ys[i]!]!++;
  return counts;
}

describe('poisoning.badNets all-to-one', () => {
  it('replace: round(rate·n) samples, none of the target class, relabelled, stamped in place', () => {
    const { res, x, src, ys, shape } = build((d) =>
      poisoning.badNets(d, { trigger: square, target: 0, rate: 0.25, seed: 3 }),
    );
    assert.deepEqual(shape, SHAPE);
    assert.equal(res.indices.length, 10);
    assert.deepEqual(
      Array.from(res.indices),
      [...res.indices].sort((a, b) => a - b),
    );
    assert.equal(new Set(res.indices).size, 10);
    assert.equal(countByClass(ys, res.indices)[0], 0, 'target-class samples are never sources');
    assert.deepEqual(res.positions, res.indices);
    const set = new Set(res.indices);
    for (let i = 0; i < N; i++) {
      const p = set.has(i);
      assert.equal(res.poisoned[i], p ? 1 : 0);
      assert.equal(res.originalLabels[i], ys[i]);
      assert.equal(res.data.y[i], p ? 0 : ys[i]);
      assert.deepEqual(sample(x, i), p ? stampedSample(src, i) : sample(src, i), `sample ${i}`);
    }
  });

  it('append: n + k samples, the first n unchanged, copies at the end in index order', () => {
    const { res, x, src, ys, shape } = build((d) =>
      poisoning.badNets(d, { trigger: square, target: 2, count: 7, injection: 'append', seed: 1 }),
    );
    assert.deepEqual(shape, [N + 7, 6, 6, 1]);
    assert.equal(res.data.y.length, N + 7);
    assert.equal(res.poisoned.length, N + 7);
    assert.equal(res.indices.length, 7);
    assert.deepEqual(Array.from(res.positions), [40, 41, 42, 43, 44, 45, 46]);
    assert.deepEqual(sample(x, 0).length, PER);
    assert.deepEqual(x.slice(0, N * PER), src, 'originals kept');
    assert.deepEqual(res.data.y.slice(0, N), ys);
    assert.deepEqual(Array.from(res.poisoned.slice(0, N)), new Array(N).fill(0));
    for (let j = 0; j < 7; j++) {
      const i = res.indices[j]!;
      assert.notEqual(ys[i], 2);
      assert.equal(res.poisoned[N + j], 1);
      assert.equal(res.data.y[N + j], 2);
      assert.equal(res.originalLabels[N + j], ys[i]);
      assert.deepEqual(sample(x, N + j), stampedSample(src, i));
    }
  });

  it('defaults: target 0, 10% of the data set, bottom-right with margin 1', () => {
    const { res, x, src, ys } = build((d) => poisoning.badNets(d, { trigger: square }));
    assert.equal(res.indices.length, 4);
    for (const i of res.indices) {
      assert.notEqual(ys[i], 0);
      assert.equal(res.data.y[i], 0);
      assert.deepEqual(sample(x, i), stampedSample(src, i, { placement: 'bottom-right', margin: 1 }));
    }
  });

  it('count is exact and rate rounds to nearest', () => {
    for (const [opts, k] of [
      [{ count: 0 }, 0],
      [{ count: 30 }, 30],
      [{ rate: 0 }, 0],
      [{ rate: 0.29 }, 12], // 11.6 -> 12
      [{ rate: 0.01 }, 0], // 0.4 -> 0
      [{ rate: 0.75 }, 30], // every eligible sample
    ] as const) {
      const { res } = build((d) => poisoning.badNets(d, { trigger: square, ...opts }));
      assert.equal(res.indices.length, k, JSON.stringify(opts));
    }
  });

  it('source-restricted: only the given classes, rateOf source / dataset', () => {
    const a = build((d) =>
      poisoning.badNets(d, { trigger: square, target: 0, sourceClasses: [2], rate: 0.5, rateOf: 'source' }),
    );
    assert.deepEqual(countByClass(a.ys, a.res.indices), [0, 0, 5, 0]);
    const b = build((d) => poisoning.badNets(d, { trigger: square, target: 0, sourceClasses: [1, 3], rate: 0.25 }));
    const cb = countByClass(b.ys, b.res.indices);
    assert.equal(cb[1]! + cb[3]!, 10);
    assert.equal(cb[0]! + cb[2]!, 0);
    const c = build((d) =>
      poisoning.badNets(d, { trigger: square, target: 3, rate: 0.2, rateOf: 'per-class', sourceClasses: [0, 1, 3] }),
    );
    assert.deepEqual(countByClass(c.ys, c.res.indices), [2, 2, 0, 0]);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = build((d) => poisoning.badNets(d, { trigger: square, seed: 11, placement: 'random-corner' }));
    const b = build((d) => poisoning.badNets(d, { trigger: square, seed: 11, placement: 'random-corner' }));
    const c = build((d) => poisoning.badNets(d, { trigger: square, seed: 12, placement: 'random-corner' }));
    assert.deepEqual(a.res.indices, b.res.indices);
    assert.deepEqual(a.x, b.x);
    assert.deepEqual(a.res.data.y, b.res.data.y);
    assert.notDeepEqual(a.res.indices, c.res.indices);
  });
});

describe('poisoning.badNets all-to-all and label maps', () => {
  it('all-to-all: round(rate·n_c) from every class, c → (c + 1) mod K', () => {
    const { res, ys } = build((d) => poisoning.badNets(d, { trigger: square, mode: 'all-to-all', rate: 0.2, seed: 5 }));
    assert.deepEqual(countByClass(ys, res.indices), [2, 2, 2, 2]);
    for (const i of res.indices) assert.equal(res.data.y[i], (ys[i]! + 1) % 4);
  });

  it('all-to-all with numClasses larger than the data wraps at numClasses', () => {
    const { res, ys } = build((d) =>
      poisoning.badNets(d, { trigger: square, mode: 'all-to-all', rate: 0.1, numClasses: 5 }),
    );
    for (const i of res.indices) assert.equal(res.data.y[i], ys[i]! + 1);
  });

  it('label-map (record): only listed classes are sources', () => {
    const { res, ys } = build((d) =>
      poisoning.badNets(d, { trigger: square, mode: 'label-map', labelMap: { 1: 3, 2: 0 }, rate: 0.3 }),
    );
    assert.deepEqual(countByClass(ys, res.indices), [0, 3, 3, 0]);
    for (const i of res.indices) assert.equal(res.data.y[i], ys[i] === 1 ? 3 : 0);
  });

  it('label map (array) in all-to-all: identity entries are not sources; count is uniform over eligible', () => {
    const { res, ys } = build((d) =>
      poisoning.badNets(d, { trigger: square, mode: 'all-to-all', labelMap: [1, 1, 3, 2], count: 12, seed: 2 }),
    );
    assert.equal(res.indices.length, 12);
    assert.equal(countByClass(ys, res.indices)[1], 0);
    for (const i of res.indices) assert.equal(res.data.y[i], [1, 1, 3, 2][ys[i]!]);
  });
});

describe('poisoning.cleanLabel', () => {
  it('poisons only target-class samples and keeps every label', () => {
    const { res, x, src, ys } = build((d) =>
      poisoning.cleanLabel(d, { trigger: square, target: 1, rate: 0.5, seed: 4 }),
    );
    assert.deepEqual(countByClass(ys, res.indices), [0, 5, 0, 0]);
    assert.deepEqual(res.data.y, ys);
    assert.deepEqual(res.originalLabels, ys);
    for (const i of res.indices) assert.deepEqual(sample(x, i), stampedSample(src, i));
  });

  it('defaults to 33% of the target class (ART pp_poison)', () => {
    const { res, ys } = build((d) => poisoning.cleanLabel(d, { trigger: square }));
    assert.deepEqual(countByClass(ys, res.indices), [3, 0, 0, 0]); // round(0.33 · 10)
  });

  it('append and count', () => {
    const { res, shape, ys } = build((d) =>
      poisoning.cleanLabel(d, { trigger: square, target: 3, count: 10, injection: 'append' }),
    );
    assert.deepEqual(shape, [50, 6, 6, 1]);
    assert.deepEqual(Array.from(res.data.y.slice(N)), new Array(10).fill(3));
    assert.deepEqual(countByClass(ys, res.indices), [0, 0, 0, 10]);
  });
});

describe('poisoning builders: bad input', () => {
  const cases: [string, (d: LabeledData) => unknown, new (...a: never[]) => BackdoorKitError, string][] = [
    ['missing trigger', (d) => poisoning.badNets(d, {} as never), InvalidArgumentError, 'options.trigger'],
    ['rate above 1', (d) => poisoning.badNets(d, { trigger: square, rate: 1.5 }), InvalidArgumentError, 'options.rate'],
    [
      'negative rate',
      (d) => poisoning.badNets(d, { trigger: square, rate: -0.1 }),
      InvalidArgumentError,
      'options.rate',
    ],
    [
      'NaN rate',
      (d) => poisoning.cleanLabel(d, { trigger: square, rate: Number.NaN }),
      InvalidArgumentError,
      'options.rate',
    ],
    [
      'rate and count',
      (d) => poisoning.badNets(d, { trigger: square, rate: 0.1, count: 2 }),
      InvalidArgumentError,
      'options.count',
    ],
    [
      'negative count',
      (d) => poisoning.badNets(d, { trigger: square, count: -1 }),
      InvalidArgumentError,
      'options.count',
    ],
    [
      'count above eligible',
      (d) => poisoning.badNets(d, { trigger: square, count: 31 }),
      InvalidArgumentError,
      'options.count',
    ],
    [
      'rate above eligible (source-specific, of the data set)',
      (d) => poisoning.badNets(d, { trigger: square, sourceClasses: [1], rate: 0.5 }),
      InvalidArgumentError,
      'options.rate',
    ],
    ['target out of range', (d) => poisoning.badNets(d, { trigger: square, target: 4 }), LabelError, 'options.target'],
    [
      'target out of range with numClasses',
      (d) => poisoning.cleanLabel(d, { trigger: square, target: 10, numClasses: 10 }),
      LabelError,
      'options.target',
    ],
    ['negative target', (d) => poisoning.badNets(d, { trigger: square, target: -1 }), LabelError, 'options.target'],
    [
      'fractional target',
      (d) => poisoning.badNets(d, { trigger: square, target: 0.5 }),
      InvalidArgumentError,
      'options.target',
    ],
    [
      'trigger larger than the image',
      (d) => poisoning.badNets(d, { trigger: triggers.square({ size: 7 }) }),
      ShapeError,
      'options.trigger',
    ],
    [
      'trigger off the image at the placement',
      (d) => poisoning.badNets(d, { trigger: square, placement: { row: 5, col: 5 } }),
      ShapeError,
      'options.placement',
    ],
    [
      'empty source set',
      (d) => poisoning.badNets(d, { trigger: square, sourceClasses: [] }),
      EmptyDataError,
      'options.sourceClasses',
    ],
    [
      'source set holding only the target',
      (d) => poisoning.badNets(d, { trigger: square, target: 2, sourceClasses: [2] }),
      EmptyDataError,
      'options.sourceClasses',
    ],
    [
      'source class absent from the data',
      (d) => poisoning.badNets(d, { trigger: square, sourceClasses: [5], numClasses: 6 }),
      EmptyDataError,
      'data.y',
    ],
    [
      'source class out of range',
      (d) => poisoning.badNets(d, { trigger: square, sourceClasses: [9] }),
      LabelError,
      'options.sourceClasses[0]',
    ],
    [
      'unknown mode',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'one-to-one' as never }),
      InvalidArgumentError,
      'options.mode',
    ],
    [
      'unknown injection',
      (d) => poisoning.badNets(d, { trigger: square, injection: 'insert' as never }),
      InvalidArgumentError,
      'options.injection',
    ],
    [
      'unknown rateOf',
      (d) => poisoning.badNets(d, { trigger: square, rateOf: 'all' as never }),
      InvalidArgumentError,
      'options.rateOf',
    ],
    [
      'unknown option',
      (d) => poisoning.badNets(d, { trigger: square, ratio: 0.1 } as never),
      InvalidArgumentError,
      'options.ratio',
    ],
    [
      'label-map without a map',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'label-map' }),
      InvalidArgumentError,
      'options.labelMap',
    ],
    [
      'target with all-to-all',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'all-to-all', target: 1 }),
      InvalidArgumentError,
      'options.target',
    ],
    [
      'labelMap with all-to-one',
      (d) => poisoning.badNets(d, { trigger: square, labelMap: [1, 2, 3, 0] }),
      InvalidArgumentError,
      'options.labelMap',
    ],
    [
      'label map of the wrong length',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'label-map', labelMap: [1, 0] }),
      InvalidArgumentError,
      'options.labelMap',
    ],
    [
      'label map entry out of range',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'label-map', labelMap: { 1: 7 } }),
      LabelError,
      'options.labelMap[1]',
    ],
    [
      'identity label map',
      (d) => poisoning.badNets(d, { trigger: square, mode: 'label-map', labelMap: [0, 1, 2, 3] }),
      EmptyDataError,
      'options.labelMap',
    ],
    [
      'NaN seed',
      (d) => poisoning.badNets(d, { trigger: square, seed: Number.NaN }),
      InvalidArgumentError,
      'options.seed',
    ],
    [
      'label beyond numClasses',
      (d) => poisoning.badNets(d, { trigger: square, numClasses: 3 }),
      LabelError,
      'data.y[3]',
    ],
    ['data not LabeledData', () => poisoning.badNets(null as never, { trigger: square }), InvalidArgumentError, 'data'],
    [
      'clean-label target class empty',
      (d) => poisoning.cleanLabel(d, { trigger: square, target: 4, numClasses: 5 }),
      EmptyDataError,
      'data.y',
    ],
    [
      'clean-label count above class size',
      (d) => poisoning.cleanLabel(d, { trigger: square, count: 11 }),
      InvalidArgumentError,
      'options.count',
    ],
  ];
  for (const [name, f, cls, arg] of cases) {
    it(name, () => {
      const { data } = makeData();
      const before = tf.memory().numTensors;
      throwsArg(() => f(data), cls, arg);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked on error');
      data.x.dispose();
    });
  }

  it('rejects labels that are not an Int32Array', () => {
    const { data } = makeData();
    throwsArg(
      () => poisoning.badNets({ x: data.x, y: [0, 1] as never }, { trigger: square }),
      InvalidArgumentError,
      'data.y',
    );
    data.x.dispose();
  });
});
