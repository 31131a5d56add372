/**
 * A small planted-backdoor fixture shared by the defence tests: real MNIST
 * digits average-pooled to 14×14 (so the cpu backend trains it in seconds), a
 * compact CNN (Conv8-Pool-Conv16-Pool-Dense32-Dense10, layer names as in
 * `models.smallCnn`), 2,400 training digits of which 10% carry a 3×3 white
 * square at the bottom-right and the label 0 (BadNets all-to-one), plus a
 * clean model trained the same way without poison. Built once per test
 * process (each test file is its own process) and shared by its tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';
import { mnist } from '../../src/data/index.js';
import { accuracy, attackSuccessRate } from '../../src/metrics/index.js';
import { Rng } from '../../src/core/rng.js';
import { badNets, triggeredTestSet } from '../../src/poisoning/index.js';
import { square, type Trigger } from '../../src/triggers/index.js';

export interface BackdoorFixture {
  /** The backdoored classifier (do not dispose). */
  readonly backdoored: LayersModelClassifier;
  /** A classifier trained on the same data without poison (do not dispose). */
  readonly clean: LayersModelClassifier;
  /** Poisoned training set (do not dispose). */
  readonly train: LabeledData;
  /** 1 for each poisoned training sample. */
  readonly poisoned: Uint8Array;
  /** Clean training set (before poisoning). */
  readonly cleanTrain: LabeledData;
  /** Clean test digits. */
  readonly test: LabeledData;
  /** Test digits not of the target class, stamped with the trigger; labels are the true ones. */
  readonly triggered: LabeledData;
  readonly trigger: Trigger;
  readonly target: number;
  /** Measured on the fixture: clean accuracy and ASR of both models. */
  readonly stats: { backdoored: { accuracy: number; asr: number }; clean: { accuracy: number; asr: number } };
}

let cached: Promise<BackdoorFixture> | undefined;

/** Builds (once per process) and returns the fixture. Seeded: identical every run. */
export function backdoorFixture(): Promise<BackdoorFixture> {
  cached ??= build();
  return cached;
}

/** Average-pools 28×28 digits to 14×14. */
function downsample(d: LabeledData): LabeledData {
  const x = tf.tidy(() => tf.avgPool(d.x, 2, 2, 'valid') as tf.Tensor4D);
  d.x.dispose();
  return { x, y: d.y };
}

/** The fixture's compact CNN (same layer names as models.smallCnn). */
export function fixtureCnn(seed: number): tfl.LayersModel {
  const rng = new Rng(seed);
  const init = () => tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [14, 14, 1],
        filters: 8,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv1',
        kernelInitializer: init(),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', name: 'conv2', kernelInitializer: init() }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 32, activation: 'relu', name: 'dense1', kernelInitializer: init() }),
      tfl.layers.dense({ units: 10, activation: 'softmax', name: 'output', kernelInitializer: init() }),
    ],
  });
}

async function build(): Promise<BackdoorFixture> {
  const raw = await mnist({ limit: 3000, testFraction: 0.2, seed: 11 });
  const cleanTrain = downsample(raw.train);
  const test = downsample(raw.test);
  const trigger = square({ size: 3, value: 1, channels: 1 });
  const target = 0;
  const poisonedSet = badNets(cleanTrain, { trigger, mode: 'all-to-one', target, rate: 0.1, seed: 11 });
  const trig = triggeredTestSet(test, { trigger, target });
  const make = () => fromLayersModel(fixtureCnn(5), { owned: true });
  const backdoored = make();
  await backdoored.fit(poisonedSet.data, { epochs: 6, batchSize: 32, learningRate: 3e-3, seed: 3 });
  const clean = make();
  await clean.fit(cleanTrain, { epochs: 6, batchSize: 32, learningRate: 3e-3, seed: 3 });
  const stats = {
    backdoored: {
      accuracy: await accuracy(backdoored, test),
      asr: await attackSuccessRate(backdoored, trig.data, target),
    },
    clean: { accuracy: await accuracy(clean, test), asr: await attackSuccessRate(clean, trig.data, target) },
  };
  return {
    backdoored,
    clean,
    train: poisonedSet.data,
    poisoned: poisonedSet.poisoned,
    cleanTrain,
    test,
    triggered: trig.data,
    trigger,
    target,
    stats,
  };
}

/** Number of tensors the fixture holds (for leak checks that run after it is built). */
export function fixtureTensorCount(): number {
  return tf.memory().numTensors;
}
