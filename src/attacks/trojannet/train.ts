/**
 * TrojanNet training: the MLP, its schedule, and the module it yields.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {
  assertFiniteNumber,
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertPositiveInteger,
} from '../../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { fromLayersModel } from '../../core/layers-model.js';
import { resolveOptions } from '../../core/options.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import { makeRng, type Rng } from '../../core/rng.js';
import { BatchSource } from './batches.js';
import { makeFusedHead } from './fused-head.js';
import { NUM_PATTERNS, PATTERN_PIXELS, writePattern } from './patterns.js';
import { argmaxRows, hidden, HIDDEN_UNITS } from './mlp.js';
import { calibrateNoiseBias, recalibrateBatchNorm, refineOutput } from './refine.js';
import { TRAIN_DEFAULTS, type TrainOptions, type TrojanNetHistory, type TrojanNetModule } from './types.js';

const HIDDEN_LAYERS = 4;
/*
 * Polish-phase constants (hard-coded; chosen in full 4,368-pattern runs, see
 * the docs page): a tenth of the main learning rate, so that polishing refines
 * rather than retrains; half of the pattern slots and a third of the clean
 * negatives go to the currently misclassified examples, and the rest keep the
 * main mix so that what is already recognised is not forgotten.
 */
/** Learning rate of the polish epochs, relative to `learningRate`. */
const POLISH_LR_FACTOR = 0.1;
/** At most this many clean patches are checked before each polish epoch. */
const POLISH_CLEAN_LIMIT = 20000;

/** Builds the paper's MLP: 4 × [Dense 8 ReLU → BatchNorm] → Dense(numPatterns + 1) softmax. */
function buildMlp(numPatterns: number, rng: Rng): tfl.LayersModel {
  const init = (): ReturnType<typeof tfl.initializers.glorotUniform> =>
    tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
  const layers: tfl.layers.Layer[] = [];
  for (let i = 1; i <= HIDDEN_LAYERS; i++) {
    layers.push(
      tfl.layers.dense({
        units: HIDDEN_UNITS,
        activation: 'relu',
        name: `dense${i}`,
        kernelInitializer: init(),
        ...(i === 1 ? { inputShape: [PATTERN_PIXELS] } : {}),
      }),
    );
    layers.push(tfl.layers.batchNormalization({ name: `bn${i}` }));
  }
  layers.push(
    tfl.layers.dense({ units: numPatterns + 1, activation: 'softmax', name: 'output', kernelInitializer: init() }),
  );
  return tfl.sequential({ layers, name: 'trojannet' });
}

/** Adam whose learning rate can be changed between steps (cosine schedule). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

export function assertPatches(fn: string, arg: string, value: unknown): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a Float32Array of 4×4 patches (16 values each)');
  }
  if (value.length === 0 || value.length % PATTERN_PIXELS !== 0) {
    throw new ShapeError({ fn, arg, value }, 'must hold a positive whole number of patches (length a multiple of 16)');
  }
  for (let i = 0; i < value.length; i++) {
    const v = value[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be a finite value in [0, 1]');
    }
  }
}

function makeModule(
  model: tfl.LayersModel,
  numPatterns: number,
  history: TrojanNetHistory,
  trainedWith: Record<string, number | boolean>,
): TrojanNetModule {
  let disposed = false;
  return Object.freeze({
    model,
    numPatterns,
    noTriggerClass: numPatterns,
    history: Object.freeze({ loss: Object.freeze([...history.loss]), seconds: Object.freeze([...history.seconds]) }),
    trainedWith: Object.freeze({ ...trainedWith }),
    dispose(): void {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  });
}

/**
 * Trains a TrojanNet MLP: 16 inputs → four blocks of [Dense 8, ReLU,
 * BatchNormalization] → Dense(`numPatterns + 1`, softmax), the reference
 * architecture (Tang et al.'s code; the thesis' Figure 5.1).
 *
 * Batches are synthesised on the fly from the seeded generator (nothing is
 * held in memory): each step has `trainBatchSize * (1 - noiseFraction)` trigger
 * patterns, every pattern appearing once per pass over the family in a seeded
 * order, each labelled with its index; and `trainBatchSize * noiseFraction`
 * negatives labelled "no trigger": random binary patches (Tang et al.; never
 * one of the trained patterns), uniform grey noise with a random offset,
 * clipped (the reference code), and, when `cleanPatches` are given, real
 * image patches (half of those drawn among the 20% nearest to the trigger
 * family). The loss is the categorical cross-entropy, minimised by Adam with a
 * cosine learning-rate decay. Then the BatchNormalization statistics are set
 * to the exact statistics of the training distribution (every pattern once
 * plus matching negatives), and `polishEpochs` epochs with frozen
 * BatchNormalization train on what is still misclassified, keeping the best;
 * then (`refineOutputPasses`) the output layer alone is refit on the fixed
 * hidden features (margin perceptron over the patterns and `cleanPatches`)
 * and each pattern still missed gets its own bias raised; finally
 * (`calibrateNoiseBias`) the no-trigger bias is lowered just enough for any
 * pattern still losing only to "no trigger".
 * Deviations from the paper's 1,000 epochs of Adadelta are explained on the
 * docs page (`docs/attacks/trojannet.md`), with the measured results.
 *
 * Runs on any backend; uses `dataSync` inside each step (the fused output
 * layer is computed in JavaScript).
 *
 * @param options - See {@link TrainOptions}.
 * @returns The trained {@link TrojanNetModule} (the caller disposes it).
 * @throws {@link InvalidArgumentError} for a bad option (unknown key,
 *   `numPatterns` outside [1, 4368], `trainBatchSize` < 2, `noiseFraction` outside
 *   [0, 1) or leaving no pattern per step, a non-positive learning rate,
 *   `cleanPatches` not a Float32Array of values in [0, 1]).
 * @throws {@link ShapeError} if `cleanPatches.length` is not a positive multiple of 16.
 * @throws {@link AbortError} when `signal` is aborted.
 * @example
 * ```ts
 * const { train } = await datasets.mnist();
 * const cleanPatches = trojanNet.randomPatches(train.x, { seed: 1 });
 * const module = await trojanNet.train({ seed: 1, cleanPatches });
 * await trojanNet.evaluate(module, { cleanPatches }); // { patternAccuracy, silenceRate, ... }
 * ```
 */
export async function train(options?: TrainOptions): Promise<TrojanNetModule> {
  const fn = 'trojanNet.train';
  const o = resolveOptions(fn, TRAIN_DEFAULTS, options);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertInteger(fn, 'options.numPatterns', o.numPatterns, 1, NUM_PATTERNS);
  assertPositiveInteger(fn, 'options.epochs', o.epochs);
  if (o.stepsPerEpoch !== undefined) assertPositiveInteger(fn, 'options.stepsPerEpoch', o.stepsPerEpoch);
  assertInteger(fn, 'options.trainBatchSize', o.trainBatchSize, 2);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.noiseFraction', o.noiseFraction, 0, 1, { maxOpen: true });
  assertInRange(fn, 'options.cleanFraction', o.cleanFraction, 0, 1);
  assertInteger(fn, 'options.polishEpochs', o.polishEpochs, 0);
  assertInteger(fn, 'options.refineOutputPasses', o.refineOutputPasses, 0);
  if (typeof o.calibrateNoiseBias !== 'boolean') {
    throw new InvalidArgumentError(
      { fn, arg: 'options.calibrateNoiseBias', value: o.calibrateNoiseBias },
      'must be a boolean',
    );
  }
  if (o.cleanPatches !== undefined) assertPatches(fn, 'options.cleanPatches', o.cleanPatches);
  assertLongRunning(fn, o);
  const negatives = Math.round(o.trainBatchSize * o.noiseFraction);
  const positives = o.trainBatchSize - negatives;
  if (positives < 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.noiseFraction', value: o.noiseFraction },
      `leaves no trigger pattern in a batch of ${o.trainBatchSize}`,
    );
  }
  throwIfAborted(o.signal, fn);

  const rng = makeRng(o.seed, fn);
  const stepsPerEpoch = o.stepsPerEpoch ?? Math.ceil(o.numPatterns / positives);
  const totalSteps = o.epochs * stepsPerEpoch;
  const model = buildMlp(o.numPatterns, rng.derive('init'));
  const source = new BatchSource(rng.derive('batches'), o.numPatterns, o.cleanPatches, o.cleanFraction);
  const optimizer = new ScheduledAdam(o.learningRate, 0.9, 0.999, 1e-7);
  const output = model.layers[model.layers.length - 1]!;
  const [kernel, bias] = output.trainableWeights.map((v) => v.read() as tf.Variable);
  const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
  let labels: Int32Array = new Int32Array(0);
  const head = makeFusedHead(() => labels);
  const history = { loss: [] as number[], seconds: [] as number[] };
  const allEpochs = o.epochs + o.polishEpochs;

  // Calibration set for the BatchNorm statistics: every pattern once plus matching negatives.
  const calNegatives = Math.round((o.numPatterns * negatives) / positives);
  const cal = new Float32Array((o.numPatterns + calNegatives) * PATTERN_PIXELS);
  for (let i = 0; i < o.numPatterns; i++) writePattern(i, cal, i * PATTERN_PIXELS);
  const calSource = new BatchSource(rng.derive('calibration'), o.numPatterns, o.cleanPatches, o.cleanFraction);
  for (let i = 0; i < calNegatives; i++) calSource.negative(cal, o.numPatterns + i);
  const patternRows = cal.subarray(0, o.numPatterns * PATTERN_PIXELS);
  // Clean patches checked during polishing (a seeded subset of at most POLISH_CLEAN_LIMIT).
  let polishClean: Int32Array = new Int32Array(0);
  let polishCleanRows = new Float32Array(0);
  if (o.cleanPatches !== undefined && o.polishEpochs > 0) {
    const count = o.cleanPatches.length / PATTERN_PIXELS;
    polishClean = rng.derive('polish').sample(count, Math.min(count, POLISH_CLEAN_LIMIT));
    polishCleanRows = new Float32Array(polishClean.length * PATTERN_PIXELS);
    polishClean.forEach((src, i) =>
      polishCleanRows.set(
        o.cleanPatches!.subarray(src * PATTERN_PIXELS, (src + 1) * PATTERN_PIXELS),
        i * PATTERN_PIXELS,
      ),
    );
  }

  const runEpoch = async (epoch: number, learningRate: (t: number) => number, training: boolean): Promise<void> => {
    const t0 = performance.now();
    let lossSum = 0;
    for (let step = 0; step < stepsPerEpoch; step++) {
      throwIfAborted(o.signal, fn);
      const t = epoch * stepsPerEpoch + step;
      optimizer.setLearningRate(learningRate(t));
      const batch = source.batch(o.trainBatchSize, negatives);
      labels = batch.y;
      const loss = tf.tidy(() => {
        const x = tf.tensor2d(batch.x, [o.trainBatchSize, PATTERN_PIXELS]);
        return optimizer.minimize(() => head(hidden(model, x, training), kernel!, bias!) as tf.Scalar, true, vars)!;
      });
      lossSum += (await loss.data())[0]!;
      loss.dispose();
      if (o.onProgress !== undefined || o.signal !== undefined) {
        report(o.onProgress, { stage: 'trojannet:step', done: t + 1, total: allEpochs * stepsPerEpoch });
        await yieldToEventLoop();
      }
    }
    history.loss.push(lossSum / stepsPerEpoch);
    history.seconds.push((performance.now() - t0) / 1000);
  };
  const recalibrate = (): void => {
    const calX = tf.tensor2d(cal, [o.numPatterns + calNegatives, PATTERN_PIXELS]);
    try {
      recalibrateBatchNorm(model, calX);
    } finally {
      calX.dispose();
    }
  };

  /** The trained patterns not recognised, and the checked clean patches (their indices) not silent. */
  const mistakes = async (): Promise<{ wrongPatterns: Int32Array; wrongClean: Int32Array }> => {
    const predicted = await argmaxRows(model, patternRows, 4096);
    const wrongPatterns = Int32Array.from(Array.from(predicted).flatMap((v, i) => (v === i ? [] : [i])));
    let wrongClean = new Int32Array(0);
    if (polishClean.length > 0) {
      const silent = await argmaxRows(model, polishCleanRows, 4096);
      wrongClean = Int32Array.from(
        Array.from(silent).flatMap((v, i) => (v === o.numPatterns ? [] : [polishClean[i]!])),
      );
    }
    return { wrongPatterns, wrongClean };
  };
  /**
   * The polish phase (see {@link TrainOptions.polishEpochs}): checks the model, then alternates
   * one focused epoch and one check, and finally restores the best checked weights (the
   * unpolished model included). Returns the number of polish epochs run.
   */
  const polish = async (): Promise<number> => {
    let best: { weights: tf.Tensor[]; wrongPatterns: number; wrongClean: number } | undefined;
    let ran = 0;
    try {
      for (let p = 0; ; p++) {
        const { wrongPatterns, wrongClean } = await mistakes();
        const score = { wrongPatterns: wrongPatterns.length, wrongClean: wrongClean.length };
        if (
          best === undefined ||
          score.wrongPatterns < best.wrongPatterns ||
          (score.wrongPatterns === best.wrongPatterns && score.wrongClean < best.wrongClean)
        ) {
          for (const w of best?.weights ?? []) w.dispose();
          best = { weights: model.getWeights().map((w) => tf.clone(w)), ...score };
        }
        report(o.onProgress, {
          stage: 'trojannet:polish',
          done: p,
          total: o.polishEpochs,
          metrics: p > 0 ? { loss: history.loss[o.epochs + p - 1]!, ...score } : score,
        });
        if (p === o.polishEpochs || (score.wrongPatterns === 0 && score.wrongClean === 0)) break;
        source.focusPatterns = wrongPatterns;
        source.focusClean = wrongClean;
        // BatchNorm frozen at the calibrated statistics (inference mode): the focused batches are
        // far from the training distribution, and their batch statistics would corrupt the layers.
        await runEpoch(o.epochs + p, () => o.learningRate * POLISH_LR_FACTOR, false);
        ran = p + 1;
      }
      model.setWeights(best.weights);
    } finally {
      for (const w of best?.weights ?? []) w.dispose();
    }
    return ran;
  };

  let polished = 0;
  let noiseBiasShift = 0;
  let refinedPatternBiases = 0;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      await runEpoch(epoch, (t) => o.learningRate * 0.5 * (1 + Math.cos((Math.PI * t) / totalSteps)), true);
      report(o.onProgress, {
        stage: 'trojannet:epoch',
        done: epoch + 1,
        total: o.epochs,
        metrics: { loss: history.loss[epoch]! },
      });
    }
    recalibrate();
    if (o.polishEpochs > 0) polished = await polish();
    if (o.refineOutputPasses > 0) {
      refinedPatternBiases = await refineOutput(
        model,
        patternRows,
        o.cleanPatches,
        o.refineOutputPasses,
        rng.derive('refine'),
        o.signal,
        fn,
      );
    }
    if (o.calibrateNoiseBias) noiseBiasShift = await calibrateNoiseBias(model, patternRows);
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    optimizer.dispose();
  }
  return makeModule(model, o.numPatterns, history, {
    seed: o.seed,
    numPatterns: o.numPatterns,
    epochs: o.epochs,
    stepsPerEpoch,
    trainBatchSize: o.trainBatchSize,
    learningRate: o.learningRate,
    noiseFraction: o.noiseFraction,
    cleanFraction: o.cleanFraction,
    polishEpochs: o.polishEpochs,
    polishEpochsRun: polished,
    calibrateNoiseBias: o.calibrateNoiseBias,
    noiseBiasShift,
    refineOutputPasses: o.refineOutputPasses,
    refinedPatternBiases,
    cleanPatches: o.cleanPatches === undefined ? 0 : o.cleanPatches.length / PATTERN_PIXELS,
  });
}

/**
 * Wraps an existing TrojanNet MLP (for instance one saved after {@link train}
 * and loaded back) as a {@link TrojanNetModule}. The module takes a copy: the
 * given model stays the caller's.
 *
 * @param model - A tfjs-layers model with input `[null, 16]` and output
 *   `[null, numPatterns + 1]`, `numPatterns` in [1, 4368].
 * @returns A module owning a copy of `model`.
 * @throws {@link InvalidArgumentError} for a non-model; {@link ShapeError} for wrong input/output shapes.
 * @example
 * ```ts
 * const mlp = await tfl.loadLayersModel(tf.io.fromMemory(saved));
 * const module = trojanNet.fromModel(mlp);
 * ```
 */
export function fromModel(model: tfl.LayersModel): TrojanNetModule {
  const fn = 'trojanNet.fromModel';
  const m = model as Partial<tfl.LayersModel> | null;
  if (m === null || typeof m !== 'object' || !Array.isArray(m.inputs) || !Array.isArray(m.outputs)) {
    throw new InvalidArgumentError({ fn, arg: 'model', value: model }, 'must be a tfjs-layers LayersModel');
  }
  const inShape = model.inputs.length === 1 ? model.inputs[0]!.shape : [];
  if (inShape.length !== 2 || inShape[1] !== PATTERN_PIXELS) {
    throw new ShapeError({ fn, arg: 'model', value: inShape }, 'must take one input of shape [null, 16]');
  }
  const outShape = model.outputs.length === 1 ? model.outputs[0]!.shape : [];
  const width = outShape[1];
  if (outShape.length !== 2 || typeof width !== 'number' || width < 2 || width > NUM_PATTERNS + 1) {
    throw new ShapeError(
      { fn, arg: 'model', value: outShape },
      'must have one output [null, numPatterns + 1] (2..4369)',
    );
  }
  const copy = fromLayersModel(model).clone().model;
  return makeModule(copy, width - 1, { loss: [], seconds: [] }, {});
}

export function assertModule(fn: string, value: unknown): asserts value is TrojanNetModule {
  const m = value as Partial<TrojanNetModule> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.numPatterns !== 'number' ||
    m.model === undefined ||
    typeof (m.model as Partial<tfl.LayersModel>).apply !== 'function'
  ) {
    throw new InvalidArgumentError({ fn, arg: 'module', value }, 'must be a TrojanNetModule (see trojanNet.train)');
  }
  let disposed: boolean;
  try {
    disposed = m.model.weights.some((w) => w.read().isDisposed);
  } catch {
    disposed = true; // tfjs-layers throws when reading a disposed variable
  }
  if (disposed) throw new InvalidArgumentError({ fn, arg: 'module', value: 'disposed module' }, 'has been disposed');
}
