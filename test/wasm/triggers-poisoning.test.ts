// Runs on the wasm backend (scripts/run-tests.mjs sets BK_BACKEND=wasm for test/wasm/).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import * as poisoning from '../../src/poisoning/index.js';
import * as triggers from '../../src/triggers/index.js';
import { stamp, stampArray } from '../../src/triggers/index.js';
import { backendName, ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

describe(`triggers and poisoning on ${backendName}`, () => {
  it('runs on the intended backend', () => {
    assert.equal(tf.getBackend(), backendName);
  });

  it('stamp matches the plain-array reference (mask, per-sample and additive triggers)', () => {
    const shape: [number, number, number, number] = [6, 8, 8, 3];
    const src = new Float32Array(6 * 8 * 8 * 3);
    for (let i = 0; i < src.length; i++) src[i] = ((i * 7) % 10) / 10;
    const x = tf.tensor4d(src, shape);
    const before = tf.memory().numTensors;
    const cases = [
      [triggers.square({ size: 3, value: [1, 0.5, 0] }), { placement: 'bottom-right' }],
      [triggers.artPixelPattern(), { placement: 'random-corner', seed: 4 }],
      [triggers.blend({ image: triggers.noiseImage({ height: 8, width: 8, seed: 1 }), height: 8, width: 8 }), {}],
      [
        triggers.reflection({
          image: triggers.noiseImage({ height: 8, width: 8, channels: 3, seed: 2 }),
          height: 8,
          width: 8,
          model: 'ghost',
          offset: [2, 3],
        }),
        {},
      ],
    ] as const;
    for (const [t, opts] of cases) {
      const y = stamp(x, t, opts);
      close(y.dataSync(), stampArray(src, shape, t, opts));
      y.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(x.dataSync(), src);
    x.dispose();
  });

  it('badNets and triggeredTestSet build exact sets without leaks', () => {
    const n = 30;
    const xs = new Float32Array(n * 36);
    for (let i = 0; i < xs.length; i++) xs[i] = ((i * 13) % 17) / 20;
    const data = { x: tf.tensor4d(xs, [n, 6, 6, 1]), y: Int32Array.from({ length: n }, (_, i) => i % 3) };
    const before = tf.memory().numTensors;
    const trigger = triggers.square({ size: 2 });
    const res = poisoning.badNets(data, { trigger, target: 0, rate: 0.2, seed: 1, injection: 'append' });
    assert.equal(res.indices.length, 6);
    assert.deepEqual(res.data.x.shape, [36, 6, 6, 1]);
    const out = res.data.x.dataSync();
    assert.deepEqual(out.slice(0, n * 36), xs);
    res.indices.forEach((i, j) => {
      assert.notEqual(data.y[i], 0);
      assert.equal(res.data.y[n + j], 0);
      const want = stampArray(xs.slice(i * 36, (i + 1) * 36), [1, 6, 6, 1], trigger);
      close(out.slice((n + j) * 36, (n + j + 1) * 36), want);
    });
    res.data.x.dispose();
    const test = poisoning.triggeredTestSet(data, { trigger, target: 0 });
    assert.equal(test.indices.length, 20);
    test.data.x.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(data.x.dataSync(), xs);
    data.x.dispose();
  });
});
