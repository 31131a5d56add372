import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { EmptyDataError, InvalidArgumentError, LabelError, ShapeError } from '../../src/core/errors.js';
import type { LabeledData } from '../../src/core/types.js';
import { concatData, stratifiedSplit, stratifiedSplitIndices, subset } from '../../src/data/split.js';

/** n samples of 2x1x1; pixel values encode the sample index so rows can be traced. */
function makeData(labels: number[]): LabeledData {
  const n = labels.length;
  const px = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    px[2 * i] = i / 1000;
    px[2 * i + 1] = 0.5;
  }
  return { x: tf.tensor4d(px, [n, 2, 1, 1]), y: Int32Array.from(labels) };
}

/** Sample index encoded in each row of a makeData tensor. */
async function rowIds(x: tf.Tensor): Promise<number[]> {
  const v = await x.data();
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(Math.round(v[i]! * 1000));
  return out;
}

describe('stratifiedSplitIndices', () => {
  before(async () => {
    await ready;
  });

  const labels = Int32Array.from([
    ...Array<number>(10).fill(0),
    ...Array<number>(7).fill(1),
    ...Array<number>(3).fill(3), // class 2 absent
    ...Array<number>(5).fill(4),
  ]);

  it('takes round(testFraction * n_c) of each class and partitions the indices', () => {
    const { train, test } = stratifiedSplitIndices(labels, { testFraction: 0.3, seed: 5 });
    // round(3) + round(2.1) + round(0.9) + round(1.5) = 3 + 2 + 1 + 2 = 8
    assert.equal(test.length, 8);
    assert.equal(train.length, labels.length - 8);
    const perClass = new Map<number, number>();
    for (const i of test) perClass.set(labels[i]!, (perClass.get(labels[i]!) ?? 0) + 1);
    assert.deepEqual(
      [...perClass.entries()].sort((a, b) => a[0] - b[0]),
      [
        [0, 3],
        [1, 2],
        [3, 1],
        [4, 2],
      ],
    );
    const all = [...train, ...test].sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: labels.length }, (_, i) => i),
    );
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = stratifiedSplitIndices(labels, { seed: 1 });
    const b = stratifiedSplitIndices(labels, { seed: 1 });
    const c = stratifiedSplitIndices(labels, { seed: 2 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(Array.from(a.test), Array.from(c.test));
  });

  it('gives an empty test part for testFraction 0', () => {
    const { train, test } = stratifiedSplitIndices(labels, { testFraction: 0 });
    assert.equal(test.length, 0);
    assert.equal(train.length, labels.length);
  });

  it('rejects bad labels and options, naming the argument', () => {
    const cases: Array<[() => unknown, new (...a: never[]) => Error, string]> = [
      [() => stratifiedSplitIndices([0, 1] as unknown as Int32Array), InvalidArgumentError, 'labels'],
      [() => stratifiedSplitIndices(new Int32Array(0)), EmptyDataError, 'labels'],
      [() => stratifiedSplitIndices(Int32Array.from([0, -1])), LabelError, 'labels[1]'],
      [() => stratifiedSplitIndices(labels, { testFraction: 1 }), InvalidArgumentError, 'options.testFraction'],
      [() => stratifiedSplitIndices(labels, { testFraction: -0.1 }), InvalidArgumentError, 'options.testFraction'],
      [() => stratifiedSplitIndices(labels, { seed: Infinity }), InvalidArgumentError, 'options.seed'],
      [() => stratifiedSplitIndices(labels, { foo: 1 } as never), InvalidArgumentError, 'options.foo'],
      // 0.9 of one sample per class rounds to 1: nothing left for training.
      [
        () => stratifiedSplitIndices(Int32Array.from([0, 1, 2]), { testFraction: 0.9 }),
        InvalidArgumentError,
        'options.testFraction',
      ],
    ];
    for (const [call, cls, arg] of cases) {
      assert.throws(
        call,
        (e: unknown) => e instanceof cls && (e as { arg?: string }).arg === arg && e.message.includes(`'${arg}'`),
        arg,
      );
    }
  });
});

describe('stratifiedSplit / subset / concatData', () => {
  before(async () => {
    await ready;
  });

  it('splits tensors consistently with the index split, without leaks or mutation', async () => {
    const labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2];
    const data = makeData(labels);
    const xBefore = Array.from(await data.x.data());
    const yBefore = Array.from(data.y);
    const count = tf.memory().numTensors;
    const { train, test } = stratifiedSplit(data, { testFraction: 0.25, seed: 3 });
    assert.equal(tf.memory().numTensors, count + 2);
    const idx = stratifiedSplitIndices(data.y, { testFraction: 0.25, seed: 3 });
    assert.deepEqual(await rowIds(train.x), Array.from(idx.train));
    assert.deepEqual(await rowIds(test.x), Array.from(idx.test));
    assert.deepEqual(
      Array.from(test.y),
      Array.from(idx.test, (i) => labels[i]!),
    );
    assert.deepEqual(train.x.shape, [9, 2, 1, 1]);
    assert.deepEqual(Array.from(await data.x.data()), xBefore);
    assert.deepEqual(Array.from(data.y), yBefore);
    assert.equal(data.x.isDisposed, false);
    tf.dispose([train.x, test.x, data.x]);
  });

  it('returns a 0-row test tensor for testFraction 0', () => {
    const data = makeData([0, 1, 1]);
    const { train, test } = stratifiedSplit(data, { testFraction: 0 });
    assert.deepEqual(test.x.shape, [0, 2, 1, 1]);
    assert.equal(test.y.length, 0);
    assert.equal(train.y.length, 3);
    tf.dispose([train.x, test.x, data.x]);
  });

  it('subset picks rows in order, with repeats', async () => {
    const data = makeData([5, 6, 7, 8]);
    const count = tf.memory().numTensors;
    const s = subset(data, [3, 0, 3]);
    assert.equal(tf.memory().numTensors, count + 1);
    assert.deepEqual(await rowIds(s.x), [3, 0, 3]);
    assert.deepEqual(Array.from(s.y), [8, 5, 8]);
    const t = subset(data, Int32Array.from([1]));
    assert.deepEqual(Array.from(t.y), [6]);
    assert.throws(
      () => subset(data, [4]),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'indices[0]',
    );
    assert.throws(
      () => subset(data, [0, 1.5]),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'indices[1]',
    );
    assert.throws(
      () => subset(data, []),
      (e: unknown) => e instanceof EmptyDataError && e.arg === 'indices',
    );
    assert.throws(
      () => subset(data, 'x' as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'indices',
    );
    assert.throws(
      () => subset({ x: data.x } as never, [0]),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'data.y',
    );
    assert.equal(tf.memory().numTensors, count + 2);
    tf.dispose([s.x, t.x, data.x]);
  });

  it('concatData joins rows and labels and checks shapes', async () => {
    const a = makeData([1, 2]);
    const b = makeData([3]);
    const count = tf.memory().numTensors;
    const c = concatData(a, b);
    assert.equal(tf.memory().numTensors, count + 1);
    assert.deepEqual(c.x.shape, [3, 2, 1, 1]);
    assert.deepEqual(await rowIds(c.x), [0, 1, 0]);
    assert.deepEqual(Array.from(c.y), [1, 2, 3]);
    const other = { x: tf.zeros([1, 1, 2, 1]) as tf.Tensor4D, y: Int32Array.from([0]) };
    assert.throws(
      () => concatData(a, other),
      (e: unknown) => e instanceof ShapeError && e.arg === 'b.x',
    );
    assert.throws(
      () => concatData(a, null as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'b',
    );
    tf.dispose([a.x, b.x, c.x, other.x]);
  });
});
