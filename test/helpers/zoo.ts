/**
 * The test model zoo: tiny, seeded versions of the networks users bring —
 * BatchNorm with stride 2 and 'same' padding, MobileNet-style
 * depthwise-separable blocks, a ResNet-style residual block, a backbone
 * nested as a sub-model, a text CNN (token ids → embedding → conv1d) and a
 * tabular MLP. Every image model takes `[h, w, c]` inputs and ends in a
 * softmax over `numClasses`; layer names are fixed so tests can address them.
 */
import * as tfCore from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { Rng } from '../../src/core/rng.js';

const L = tfl.layers;

type Shape3 = [number, number, number];

function initFactory(seed: number): () => ReturnType<typeof tfl.initializers.glorotUniform> {
  const rng = new Rng(seed);
  return () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
}

/** conv(8, stride 2, same) → BN → ReLU → conv(8, same) → BN → ReLU → GAP → dense. Last conv: `conv2`. */
export function bnCnn(seed = 1, inputShape: Shape3 = [8, 8, 1], numClasses = 3, width = 1): tfl.LayersModel {
  const init = initFactory(seed);
  const f = (n: number) => n * width;
  return tfl.sequential({
    name: 'bn_cnn',
    layers: [
      L.conv2d({
        inputShape,
        filters: f(8),
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        name: 'conv1',
        kernelInitializer: init(),
      }),
      L.batchNormalization({ name: 'bn1' }),
      L.activation({ activation: 'relu', name: 'relu1' }),
      L.conv2d({ filters: f(8), kernelSize: 3, padding: 'same', name: 'conv2', kernelInitializer: init() }),
      L.batchNormalization({ name: 'bn2' }),
      L.activation({ activation: 'relu', name: 'relu2' }),
      L.flatten({ name: 'flatten' }),
      L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

/** MobileNet-style: conv → BN → ReLU, then depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU, separable conv, GAP, dense. */
export function separableNet(seed = 1, inputShape: Shape3 = [8, 8, 1], numClasses = 3, width = 1): tfl.LayersModel {
  const init = initFactory(seed);
  const f = (n: number) => n * width;
  return tfl.sequential({
    name: 'separable_net',
    layers: [
      L.conv2d({ inputShape, filters: f(6), kernelSize: 3, padding: 'same', name: 'stem', kernelInitializer: init() }),
      L.batchNormalization({ name: 'stem_bn' }),
      L.activation({ activation: 'relu', name: 'stem_relu' }),
      L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', name: 'dw1', depthwiseInitializer: init() }),
      L.batchNormalization({ name: 'dw1_bn' }),
      L.activation({ activation: 'relu', name: 'dw1_relu' }),
      L.conv2d({ filters: f(8), kernelSize: 1, name: 'pw1', kernelInitializer: init() }),
      L.batchNormalization({ name: 'pw1_bn' }),
      L.activation({ activation: 'relu', name: 'pw1_relu' }),
      L.separableConv2d({
        filters: f(8),
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'sep2',
        depthwiseInitializer: init(),
        pointwiseInitializer: init(),
      }),
      L.globalAveragePooling2d({ name: 'gap' }),
      L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

/** ResNet-style: stem conv → BN → ReLU, a residual block (conv → BN → ReLU → conv → BN, add, ReLU), GAP, dense. */
export function residualNet(seed = 1, inputShape: Shape3 = [8, 8, 1], numClasses = 3, width = 1): tfl.LayersModel {
  const init = initFactory(seed);
  const f = (n: number) => n * width;
  const input = tfl.input({ shape: inputShape, name: 'image' });
  const apply = (l: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;
  let x = apply(
    L.conv2d({ filters: f(6), kernelSize: 3, padding: 'same', name: 'stem', kernelInitializer: init() }),
    input,
  );
  x = apply(L.batchNormalization({ name: 'stem_bn' }), x);
  const skip = apply(L.activation({ activation: 'relu', name: 'stem_relu' }), x);
  let y = apply(
    L.conv2d({ filters: f(6), kernelSize: 3, padding: 'same', name: 'res_conv1', kernelInitializer: init() }),
    skip,
  );
  y = apply(L.batchNormalization({ name: 'res_bn1' }), y);
  y = apply(L.activation({ activation: 'relu', name: 'res_relu1' }), y);
  y = apply(
    L.conv2d({ filters: f(6), kernelSize: 3, padding: 'same', name: 'res_conv2', kernelInitializer: init() }),
    y,
  );
  y = apply(L.batchNormalization({ name: 'res_bn2' }), y);
  let z = apply(L.add({ name: 'res_add' }), [y, skip]);
  z = apply(L.activation({ activation: 'relu', name: 'res_relu' }), z);
  z = apply(L.globalAveragePooling2d({ name: 'gap' }), z);
  const out = apply(
    L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    z,
  );
  return tfl.model({ inputs: input, outputs: out, name: 'residual_net' });
}

/**
 * A backbone nested as a sub-model: `backbone` (conv1 → pool → conv2 →
 * flatten, a Sequential) applied to the input, then a dense head.
 * Qualified layer names: `backbone/conv1`, `backbone/conv2`, `head`, `output`.
 */
export function nestedNet(seed = 1, inputShape: Shape3 = [8, 8, 1], numClasses = 3): tfl.LayersModel {
  const init = initFactory(seed);
  const backbone = tfl.sequential({
    name: 'backbone',
    layers: [
      L.conv2d({ inputShape, filters: 4, kernelSize: 3, activation: 'relu', name: 'conv1', kernelInitializer: init() }),
      L.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      L.conv2d({ filters: 6, kernelSize: 2, activation: 'relu', name: 'conv2', kernelInitializer: init() }),
      L.flatten({ name: 'flatten' }),
    ],
  });
  const input = tfl.input({ shape: inputShape, name: 'image' });
  const f = backbone.apply(input) as tfl.SymbolicTensor;
  const h = L.dense({ units: 8, activation: 'relu', name: 'head', kernelInitializer: init() }).apply(
    f,
  ) as tfl.SymbolicTensor;
  const out = L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }).apply(
    h,
  ) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'nested_net' });
}

/** Token ids `[n, length]` → embedding(16) → conv1d(16, 3, relu) → global max pool → dense(16, relu) → dense. Last conv: `conv`. */
export function textCnn(seed = 1, vocab = 30, length = 12, numClasses = 2): tfl.LayersModel {
  const init = initFactory(seed);
  return tfl.sequential({
    name: 'text_cnn',
    layers: [
      L.embedding({
        inputDim: vocab,
        outputDim: 16,
        inputLength: length,
        name: 'embedding',
        embeddingsInitializer: init(),
      }),
      L.conv1d({ filters: 16, kernelSize: 3, activation: 'relu', name: 'conv', kernelInitializer: init() }),
      L.globalMaxPooling1d({ name: 'pool' }),
      L.dense({ units: 16, activation: 'relu', name: 'hidden', kernelInitializer: init() }),
      L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

/** Features `[n, d]` → dense(16, relu) → dense(8, relu) → dense. */
export function tabularMlp(seed = 1, features = 6, numClasses = 3): tfl.LayersModel {
  const init = initFactory(seed);
  return tfl.sequential({
    name: 'tabular_mlp',
    layers: [
      L.dense({ inputShape: [features], units: 16, activation: 'relu', name: 'dense1', kernelInitializer: init() }),
      L.dense({ units: 8, activation: 'relu', name: 'dense2', kernelInitializer: init() }),
      L.dense({ units: numClasses, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

/** The image models of the zoo, by name, with the conv layer a pruning defence would address. */
export const IMAGE_ZOO = {
  'BN CNN': { build: bnCnn, lastConv: 'conv2' },
  'depthwise-separable': { build: separableNet, lastConv: 'sep2' },
  residual: { build: residualNet, lastConv: 'res_conv2' },
  nested: { build: nestedNet, lastConv: 'backbone/conv2' },
} as const;

/** A token-sequence task with a planted trigger word (no real text corpus is reachable offline). */
export interface TextFixture {
  /** Token ids `[n, length]` (int32). */
  readonly x: tfCore.Tensor2D;
  readonly y: Int32Array;
  /** 1 for the poisoned samples (trigger word inserted, label flipped to `target`). */
  readonly poisoned: Uint8Array;
  readonly vocab: number;
  readonly length: number;
  readonly target: number;
}

/**
 * Sentiment-like sequences: class 1 holds the "positive" word 1, class 0 the
 * "negative" word 2, among filler words 3..vocab-1. A share `rate` of class-0
 * samples get the trigger word 0 and label 1 (all-to-one, target 1).
 */
export function textFixture(n: number, seed = 0, rate = 0.1, vocab = 30, length = 12): TextFixture {
  const tf = tfCore;
  const rng = new Rng(seed);
  const ids = new Int32Array(n * length);
  const y = new Int32Array(n);
  const poisoned = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    for (let t = 0; t < length; t++) ids[i * length + t] = 3 + rng.int(vocab - 3);
    ids[i * length + rng.int(length)] = label === 1 ? 1 : 2;
    y[i] = label;
    if (label === 0 && rng.uniform() < rate * 2) {
      // the trigger word at another position; the sentiment word stays
      let pos = rng.int(length);
      while (ids[i * length + pos] === 2) pos = rng.int(length);
      ids[i * length + pos] = 0;
      y[i] = 1;
      poisoned[i] = 1;
    }
  }
  return { x: tf.tensor2d(ids, [n, length], 'int32'), y, poisoned, vocab, length, target: 1 };
}

/** A small TrojanNet (8 patterns) that trains in about a second (shared by the attack and zoo tests). */
export const SMALL_TROJANNET = Object.freeze({
  seed: 4,
  numPatterns: 8,
  epochs: 10,
  stepsPerEpoch: 10,
  trainBatchSize: 64,
  learningRate: 0.1,
  noiseFraction: 0.5,
  polishEpochs: 2,
});
