/**
 * Hand-made tiny models whose behaviour is computable by hand, shared by the
 * Fine-Pruning and ANP tests (cpu and wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import { Rng } from '../../src/core/rng.js';
import type { LabeledData } from '../../src/core/types.js';

/**
 * Input [1,1,2] = (a, b); conv 1×1 with 3 channels: ch0 = a, ch1 = b,
 * ch2 = 0.1·a; ReLU; dense without bias: class 0 ← ch0, class 1 ← ch1.
 * Layers `conv`, `flat`, `out`.
 */
export function channelModel(): LayersModelClassifier {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [1, 1, 2],
        filters: 3,
        kernelSize: 1,
        useBias: false,
        activation: 'relu',
        name: 'conv',
      }),
      tfl.layers.flatten({ name: 'flat' }),
      tfl.layers.dense({ units: 2, useBias: false, activation: 'softmax', name: 'out' }),
    ],
  });
  tf.tidy(() => {
    model.getLayer('conv').setWeights([tf.tensor4d([1, 0, 0.1, 0, 1, 0], [1, 1, 2, 3])]);
    model.getLayer('out').setWeights([tf.tensor2d([10, 0, 0, 10, 0, 0], [3, 2])]);
  });
  return fromLayersModel(model, { owned: true });
}

/**
 * Inputs (a, b, t) as [1,1,3] images; class 0 when a > b, 1 when b > a.
 * Hidden ReLU units: h0 = a − b, h1 = b − a (the clean task) and the planted
 * backdoor unit h2 = 0.5a + 0.5b + 10t − 0.6, silent on clean inputs
 * (a + b ≈ 1) but close to firing; logits 5·h0, 5·h1, 20·h2 (class 2 is the
 * target). The trigger is t = 1. Layers `flat`, `hidden`, `out`.
 */
export function plantedModel(): LayersModelClassifier {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [1, 1, 3], name: 'flat' }),
      tfl.layers.dense({ units: 3, activation: 'relu', name: 'hidden' }),
      tfl.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  tf.tidy(() => {
    model
      .getLayer('hidden')
      .setWeights([tf.tensor2d([1, -1, 0.5, -1, 1, 0.5, 0, 0, 10], [3, 3]), tf.tensor1d([0, 0, -0.6])]);
    model.getLayer('out').setWeights([tf.tensor2d([5, 0, 0, 0, 5, 0, 0, 0, 20], [3, 3]), tf.tensor1d([0, 0, 0])]);
  });
  return fromLayersModel(model, { owned: true });
}

/** `n` clean inputs (a + b ≈ 1, |a − b| ≥ 0.3, t = 0) for {@link plantedModel} and their triggered twins (t = 1). */
export function plantedData(n = 40): { clean: LabeledData; triggered: LabeledData } {
  const rng = new Rng(3);
  const rows: number[] = [];
  const trig: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    do {
      a = rng.next();
      b = 1 - a + 0.2 * (rng.next() - 0.5);
    } while (Math.abs(a - b) < 0.3);
    rows.push(a, b, 0);
    trig.push(a, b, 1);
    y.push(a > b ? 0 : 1);
  }
  return {
    clean: { x: tf.tensor4d(rows, [n, 1, 1, 3]), y: Int32Array.from(y) },
    triggered: { x: tf.tensor4d(trig, [n, 1, 1, 3]), y: Int32Array.from(y) },
  };
}
