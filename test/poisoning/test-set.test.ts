import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { BackdoorKitError } from '../../src/core/errors.js';
import { EmptyDataError, InvalidArgumentError, LabelError, ShapeError } from '../../src/core/errors.js';
import type { LabeledData } from '../../src/core/types.js';
import * as poisoning from '../../src/poisoning/index.js';
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

const N = 12;
const PER = 5 * 5 * 3;
const SHAPE: [number, number, number, number] = [N, 5, 5, 3];
const trigger = triggers.checkerboard({ size: 2 });

function makeTest(labels?: number[]): { data: LabeledData; xs: Float32Array; ys: Int32Array } {
  const xs = new Float32Array(N * PER);
  for (let i = 0; i < xs.length; i++) xs[i] = ((i * 11) % 19) / 20;
  const ys = Int32Array.from(labels ?? Array.from({ length: N }, (_, i) => i % 3));
  return { data: { x: tf.tensor4d(xs, SHAPE), y: Int32Array.from(ys) }, xs, ys };
}

function run(opts: poisoning.TriggeredTestSetOptions, labels?: number[]) {
  const { data, xs, ys } = makeTest(labels);
  const before = tf.memory().numTensors;
  const res = poisoning.triggeredTestSet(data, opts);
  assert.equal(tf.memory().numTensors, before + 1, 'only the result tensor is new');
  assert.deepEqual(data.x.dataSync(), xs, 'input untouched');
  assert.deepEqual(data.y, ys);
  const x = res.data.x.dataSync<'float32'>().slice();
  const shape = res.data.x.shape.slice();
  res.data.x.dispose();
  data.x.dispose();
  return { res, x, xs, ys, shape };
}

describe('poisoning.triggeredTestSet', () => {
  it('all-to-one: leaves out the target class, stamps the rest, keeps true labels', () => {
    const { res, x, xs, ys, shape } = run({ trigger, target: 1 });
    assert.equal(res.target, 1);
    const kept = [...Array(N).keys()].filter((i) => ys[i] !== 1);
    assert.deepEqual(Array.from(res.indices), kept);
    assert.deepEqual(shape, [kept.length, 5, 5, 3]);
    assert.deepEqual(
      Array.from(res.data.y),
      kept.map((i) => ys[i]),
    );
    assert.deepEqual(Array.from(res.targets), new Array(kept.length).fill(1));
    kept.forEach((i, j) => {
      const want = stampArray(xs.slice(i * PER, (i + 1) * PER), [1, 5, 5, 3], trigger);
      assert.deepEqual(x.slice(j * PER, (j + 1) * PER), want, `sample ${i}`);
    });
  });

  it('all-to-all: keeps every sample, per-sample targets (y + 1) mod K', () => {
    const { res, ys, shape } = run({ trigger, mode: 'all-to-all' });
    assert.equal(res.target, null);
    assert.deepEqual(shape, SHAPE);
    assert.deepEqual(res.data.y, ys);
    assert.deepEqual(
      Array.from(res.targets),
      Array.from(ys, (c) => (c + 1) % 3),
    );
    assert.deepEqual(Array.from(res.indices), [...Array(N).keys()]);
  });

  it('label-map and sourceClasses keep only the attacked classes', () => {
    const a = run({ trigger, mode: 'label-map', labelMap: { 2: 0 } });
    assert.deepEqual(Array.from(a.res.data.y), new Array(4).fill(2));
    assert.deepEqual(Array.from(a.res.targets), new Array(4).fill(0));
    const b = run({ trigger, target: 0, sourceClasses: [1] });
    assert.deepEqual(Array.from(b.res.indices), [1, 4, 7, 10]);
  });

  it('random-corner placement is seeded', () => {
    const a = run({ trigger, target: 0, placement: 'random-corner', seed: 2 });
    const b = run({ trigger, target: 0, placement: 'random-corner', seed: 2 });
    assert.deepEqual(a.x, b.x);
  });

  it('rejects bad input', () => {
    const { data } = makeTest();
    const before = tf.memory().numTensors;
    throwsArg(() => poisoning.triggeredTestSet(data, {} as never), InvalidArgumentError, 'options.trigger');
    throwsArg(() => poisoning.triggeredTestSet(data, { trigger, target: 3 }), LabelError, 'options.target');
    throwsArg(
      () => poisoning.triggeredTestSet(data, { trigger: triggers.square({ size: 6 }) }),
      ShapeError,
      'options.trigger',
    );
    throwsArg(
      () => poisoning.triggeredTestSet(data, { trigger, mode: 'x' as never }),
      InvalidArgumentError,
      'options.mode',
    );
    throwsArg(
      () => poisoning.triggeredTestSet(data, { trigger, sourceClasses: [] }),
      EmptyDataError,
      'options.sourceClasses',
    );
    throwsArg(
      () => poisoning.triggeredTestSet(data, { trigger, rate: 0.1 } as never),
      InvalidArgumentError,
      'options.rate',
    );
    assert.equal(tf.memory().numTensors, before);
    data.x.dispose();
    const allTarget = makeTest(new Array(N).fill(0));
    throwsArg(
      () => poisoning.triggeredTestSet(allTarget.data, { trigger, target: 0, numClasses: 3 }),
      EmptyDataError,
      'test.y',
    );
    allTarget.data.x.dispose();
  });
});
