/**
 * Nested models: layers of a sub-model are listed with qualified names and
 * can be read, masked, cloned and trained like top-level layers.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { convLayers, lastHiddenLayer } from '../../src/core/classifier.js';
import { fromLayersModel } from '../../src/core/layers-model.js';
import { ready } from '../helpers/backend.js';
import { take } from '../helpers/fixtures.js';
import { nestedNet } from '../helpers/zoo.js';

describe('nested models', () => {
  before(async () => {
    await ready;
  });

  it('lists sub-model layers with qualified names; defaults look inside', () => {
    const model = nestedNet(3);
    const clf = fromLayersModel(model);
    assert.deepEqual(
      clf.layers.map((l) => [l.name, l.kind]),
      [
        ['image', 'input'],
        ['backbone', 'model'],
        ['backbone/conv1', 'conv'],
        ['backbone/pool1', 'pool'],
        ['backbone/conv2', 'conv'],
        ['backbone/flatten', 'flatten'],
        ['head', 'dense'],
        ['output', 'dense'],
      ],
    );
    assert.deepEqual(
      convLayers(clf).map((l) => l.name),
      ['backbone/conv1', 'backbone/conv2'],
    );
    assert.equal(lastHiddenLayer('test', clf).name, 'head');
    model.dispose();
  });

  it('activations of an inner layer equal the backbone computed by hand, leak nothing', async () => {
    const model = nestedNet(3);
    const clf = fromLayersModel(model);
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1);
    const backbone = model.getLayer('backbone') as tfl.Sequential;
    const want = await take(
      tf.tidy(() => {
        let a: tf.Tensor = x;
        for (const l of backbone.layers.slice(0, 3)) a = l.apply(a) as tf.Tensor;
        return tf.reshape(a, [4, -1]);
      }),
    );
    const start = tf.memory().numTensors;
    const got = await take(clf.activations(x, 'backbone/conv2'));
    assert.equal(tf.memory().numTensors, start);
    assert.equal(got.length, want.length);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6);
    // the sub-model itself reads as its output
    assert.equal((await take(clf.activations(x, 'backbone'))).length, 4 * clf.layers[1]!.units);
    x.dispose();
    model.dispose();
  });

  it('masks an inner layer (the mask lives in the sub-model), rewrites it in place, clones and trains', async () => {
    const model = nestedNet(3);
    const clf = fromLayersModel(model);
    const x = tf.randomUniform([6, 8, 8, 1], 0, 1, 'float32', 2);
    const keep = [1, 0, 1, 1, 0, 1];
    const start = tf.memory().numTensors;
    const masked = clf.withUnitMask('backbone/conv2', keep);
    assert.ok(masked.layers.some((l) => l.name === 'backbone/conv2__unit_mask' && l.kind === 'mask'));
    assert.deepEqual(masked.unitMask('backbone/conv2'), Float32Array.from(keep));
    const a = await take(masked.activations(x, 'backbone/conv2__unit_mask'));
    const b = await take(clf.activations(x, 'backbone/conv2'));
    for (let i = 0; i < a.length; i++) assert.equal(a[i], keep[i % 6] === 0 ? 0 : b[i]);
    // every other weight was copied: an all-ones rewrite gives the original predictions
    masked.setUnitMask('backbone/conv2', new Array(6).fill(1));
    const p0 = await take(clf.predict(x));
    const p1 = await take(masked.predict(x));
    for (let i = 0; i < p0.length; i++) assert.ok(Math.abs(p0[i]! - p1[i]!) < 1e-6);
    const copy = masked.clone();
    await copy.fit({ x: x as tf.Tensor4D, y: Int32Array.from([0, 1, 2, 0, 1, 2]) }, { epochs: 1, batchSize: 3 });
    assert.deepEqual(copy.unitMask('backbone/conv2'), Float32Array.from(new Array(6).fill(1)));
    copy.dispose();
    masked.dispose();
    assert.equal(tf.memory().numTensors, start);
    x.dispose();
    model.dispose();
  });
});
