/**
 * Tiny models and data sets made by the tests themselves.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { Rng } from '../../src/core/rng.js';
import type { Classifier } from '../../src/core/classifier.js';
import type { LayersModelClassifier } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';

/** A tiny seeded conv net: conv(4) → maxpool → flatten → dense(8) → dense(k, softmax). */
export function tinyConvModel(
  seed = 1,
  inputShape: [number, number, number] = [6, 6, 1],
  numClasses = 3,
): tfl.LayersModel {
  const rng = new Rng(seed);
  const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape,
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv1',
        kernelInitializer: init(),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 8, activation: 'relu', name: 'dense1', kernelInitializer: init() }),
      tfl.layers.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

/** The same architecture as a functional model, ending in logits. */
export function tinyFunctionalLogitsModel(seed = 1): tfl.LayersModel {
  const rng = new Rng(seed);
  const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  const input = tfl.input({ shape: [6, 6, 1], name: 'image' });
  const c = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'conv1', kernelInitializer: init() })
    .apply(input) as tfl.SymbolicTensor;
  const f = tfl.layers.flatten({ name: 'flatten' }).apply(c) as tfl.SymbolicTensor;
  const d = tfl.layers
    .dense({ units: 8, activation: 'relu', name: 'dense1', kernelInitializer: init() })
    .apply(f) as tfl.SymbolicTensor;
  const o = tfl.layers.dense({ units: 3, name: 'logits', kernelInitializer: init() }).apply(d) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: o });
}

/**
 * A separable toy image set: class k has a bright 2×2 block at one of three
 * positions plus a little seeded noise.
 */
export function toyImages(n: number, seed = 0, size = 6): LabeledData {
  const rng = new Rng(seed);
  const x = new Float32Array(n * size * size);
  const y = new Int32Array(n);
  const spots = [
    [0, 0],
    [0, size - 2],
    [size - 2, 0],
  ];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    y[i] = k;
    for (let p = 0; p < size * size; p++) x[i * size * size + p] = 0.1 * rng.next();
    const [r0, c0] = spots[k]!;
    for (let r = r0!; r < r0! + 2; r++) for (let c = c0!; c < c0! + 2; c++) x[i * size * size + r * size + c] = 0.9;
  }
  return { x: tf.tensor4d(x, [n, size, size, 1]), y };
}

/** Reads a tensor's values (test-only convenience). */
export async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Reads a tensor's values and disposes it (for tensors made inline in a test). */
export async function take(t: tf.Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

/**
 * A two-class classifier for any input shape (probabilities from the mean
 * input value), for defences that only read a classifier's input shape.
 */
export function shapeClassifier(inputShape: readonly number[]): Classifier {
  return {
    inputShape,
    numClasses: 2,
    predict: (x) =>
      tf.tidy(() => {
        const m = tf.mean(tf.reshape(x, [x.shape[0]!, -1]), 1, true);
        return tf.concat([m, tf.sub(1, m)], 1) as tf.Tensor2D;
      }),
  };
}

/** Every weight of a tfjs-layers classifier's model, as plain arrays (for before/after comparisons). */
export async function weightsOf(c: LayersModelClassifier): Promise<number[][]> {
  return Promise.all(c.model.getWeights().map(async (w) => Array.from(await w.data())));
}
