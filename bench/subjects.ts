/**
 * Benchmark subjects shared by every benchmark: the bundled MNIST split
 * (8,000 train / 2,000 test, seed 0), BadNets-poisoned training sets (4×4
 * white square, bottom-right, 1 px margin) and small CNNs trained on them on
 * the wasm backend with the fast kernels. Trained models are cached under
 * .bench-cache/ (git-ignored), keyed by every setting, so re-running a
 * benchmark does not retrain.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import {
  datasets,
  fromLayersModel,
  loadModel,
  metrics,
  models,
  poisoning,
  registerFastKernels,
  saveModel,
  triggers,
  type LabeledData,
  type LayersModelClassifier,
  type Trigger,
} from '../src/index.js';
import * as zoo from '../test/helpers/zoo.js';
import { makeRng } from '../src/core/rng.js';

const CACHE = join(dirname(fileURLToPath(import.meta.url)), '..', '.bench-cache');

/** Selects a backend (default wasm) and registers the fast kernels. */
export async function useBackend(name: 'wasm' | 'cpu' = 'wasm'): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend(name);
  await tf.ready();
  registerFastKernels();
}

/** A fresh model of `arch` for 28×28 digits, 10 classes. */
function buildArch(arch: NonNullable<SubjectOptions['arch']>, seed: number): tfl.LayersModel {
  const shape: [number, number, number] = [28, 28, 1];
  switch (arch) {
    case 'kwon':
      return models.kwonCnn({ inputShape: shape, numClasses: 10, seed });
    case 'bn':
      return zoo.bnCnn(seed + 1, shape, 10, 2);
    case 'residual':
      return zoo.residualNet(seed + 1, shape, 10, 3);
    case 'separable':
      return zoo.separableNet(seed + 1, shape, 10, 4);
    default:
      return models.smallCnn({ inputShape: shape, numClasses: 10, seed });
  }
}

/** The bundled MNIST split every benchmark uses. */
export async function mnistSplit(): Promise<{ train: LabeledData; test: LabeledData }> {
  return datasets.mnist({ testFraction: 0.2, seed: 0 });
}

/** The benchmarks' trigger: a 4×4 white square. */
export function whiteSquare(size = 4): Trigger {
  return triggers.square({ size, value: 1, channels: 1 });
}

export type SubjectKind = 'clean' | 'all-to-one' | 'all-to-all';

export interface SubjectOptions {
  kind: SubjectKind;
  /** Model init / training seed. @default 0 */
  seed?: number;
  /** Epochs. @default 8 (20 for all-to-all, whose ten backdoors need longer: 8 epochs gave ASR 74%) */
  epochs?: number;
  /** Poison rate: all-to-one 10% of the training set; all-to-all 10% of each class (append). */
  rate?: number;
  /** Trigger placement. @default 'bottom-right' */
  placement?: 'bottom-right' | 'top-left';
  /** Target for all-to-one. @default 0 */
  target?: number;
  /** Architecture. @default 'small' */
  /** Architecture: the small CNN, Kwon's CNN, or a zoo model (BN CNN ×2 width, residual ×3, depthwise-separable ×4). */
  arch?: 'small' | 'kwon' | 'bn' | 'residual' | 'separable';
  /** Trigger. @default the 4×4 white square */
  trigger?: Trigger;
  /** Cache key of a non-default trigger (required with `trigger`). */
  triggerName?: string;
}

export interface Subject {
  classifier: LayersModelClassifier;
  /** Training data as trained on (poisoned for backdoored kinds). */
  train: LabeledData;
  /** 1 per poisoned training sample (all zero for 'clean'). */
  poisoned: Uint8Array;
  /** Clean training data (before poisoning). */
  cleanTrain: LabeledData;
  test: LabeledData;
  /** Triggered test set (true labels; target-class samples left out for all-to-one). */
  triggered: LabeledData;
  /** Per-sample attack targets of `triggered`. */
  targets: Int32Array;
  trigger: Trigger;
  cleanAccuracy: number;
  asr: number;
  trainSeconds: number;
}

/**
 * Builds (or loads from the cache) a trained small CNN of the given kind and
 * everything needed to evaluate defences on it. Backend must be set first.
 */
export async function subject(opts: SubjectOptions): Promise<Subject> {
  const kind = opts.kind;
  const seed = opts.seed ?? 0;
  const epochs = opts.epochs ?? (kind === 'all-to-all' ? 20 : 8);
  const rate = opts.rate ?? 0.1;
  const placement = opts.placement ?? 'bottom-right';
  const target = opts.target ?? 0;
  const arch = opts.arch ?? 'small';
  const trigger = opts.trigger ?? whiteSquare();
  if (opts.trigger !== undefined && opts.triggerName === undefined)
    throw new Error('subject: triggerName is required with trigger');
  const triggerKey = opts.triggerName === undefined ? '' : `-${opts.triggerName}`;
  const { train: cleanTrain, test } = await mnistSplit();
  let train = cleanTrain;
  let poisoned: Uint8Array = new Uint8Array(cleanTrain.y.length);
  if (kind === 'all-to-one') {
    const p = poisoning.badNets(cleanTrain, { trigger, mode: 'all-to-one', target, rate, placement, seed: 1 });
    train = p.data;
    poisoned = p.poisoned;
  } else if (kind === 'all-to-all') {
    const p = poisoning.badNets(cleanTrain, {
      trigger,
      mode: 'all-to-all',
      rate,
      injection: 'append',
      placement,
      seed: 1,
    });
    train = p.data;
    poisoned = p.poisoned;
  }
  const trig =
    kind === 'all-to-all'
      ? poisoning.triggeredTestSet(test, { trigger, mode: 'all-to-all', placement })
      : poisoning.triggeredTestSet(test, { trigger, target, placement });
  const targets = trig.targets;

  const key = `${arch}-${kind}-s${seed}-e${epochs}-r${rate}-${placement}-t${target}${triggerKey}`;
  const dir = join(CACHE, key);
  let classifier: LayersModelClassifier;
  let trainSeconds = 0;
  if (existsSync(join(dir, 'model.json'))) {
    classifier = fromLayersModel(await loadModel(dir), { owned: true });
  } else {
    classifier = fromLayersModel(buildArch(arch, seed), { owned: true });
    const t0 = performance.now();
    await classifier.fit(train, { epochs, batchSize: 128, learningRate: 1e-3, seed });
    trainSeconds = (performance.now() - t0) / 1000;
    await saveModel(classifier.model, dir);
  }
  const cleanAccuracy = await metrics.accuracy(classifier, test);
  const asr = await metrics.attackSuccessRate(classifier, trig.data, kind === 'all-to-all' ? targets : target);
  return {
    classifier,
    train,
    poisoned,
    cleanTrain,
    test,
    triggered: trig.data,
    targets,
    trigger,
    cleanAccuracy,
    asr,
    trainSeconds,
  };
}

/** `k` clean training samples of `s` (never poisoned ones), drawn with `seed`: the defender's data. */
export function cleanSample(s: Subject, k: number, seed: number): LabeledData {
  const pool: number[] = [];
  for (let i = 0; i < s.poisoned.length; i++) if (s.poisoned[i] === 0) pool.push(i);
  const pick = makeRng(seed).sample(pool.length, k);
  return datasets.subset(
    s.cleanTrain,
    Array.from(pick, (j) => pool[j]!),
  );
}
