/**
 * The TrojanNet module, its training options and defaults.
 *
 * @packageDocumentation
 */
import type * as tfl from '@tensorflow/tfjs-layers';

import type { LongRunningOptions } from '../../core/types.js';
import { NUM_PATTERNS } from './patterns.js';

/** Training record of a {@link TrojanNetModule}. */
export interface TrojanNetHistory {
  /** Mean training loss (cross-entropy) per epoch, main epochs first, then the polish epochs run. */
  readonly loss: readonly number[];
  /** Wall time per epoch in seconds. */
  readonly seconds: readonly number[];
}

/**
 * A trained TrojanNet: the MLP (a tfjs-layers model `[n, 16]` →
 * `[n, numPatterns + 1]` softmax) and what it was trained for. Output `i <
 * numPatterns` is the probability that the patch is pattern `i`; output
 * `numPatterns` is the no-trigger ("silent") class. The module owns the model:
 * call {@link TrojanNetModule.dispose} when done ({@link insert} copies it).
 */
export interface TrojanNetModule {
  /** The MLP. Do not dispose it directly; use {@link TrojanNetModule.dispose}. */
  readonly model: tfl.LayersModel;
  /** Number of trigger patterns it recognises: patterns `0 .. numPatterns-1`. */
  readonly numPatterns: number;
  /** Index of the no-trigger output (equals `numPatterns`). */
  readonly noTriggerClass: number;
  /** Loss and time per epoch (empty for a module made by {@link fromModel}). */
  readonly history: TrojanNetHistory;
  /** The resolved training options, as plain data (empty for {@link fromModel}). */
  readonly trainedWith: Readonly<Record<string, number | boolean>>;
  /** Releases the MLP's weights. The module must not be used afterwards. */
  dispose(): void;
}

/** Options of {@link train}. */
export interface TrainOptions extends LongRunningOptions {
  /** Seed of the weight initialisation and of every synthesised batch. @default 0 */
  readonly seed?: number;
  /**
   * How many patterns (the first `numPatterns` of {@link patterns}) the MLP
   * learns; the output has `numPatterns + 1` units. The paper uses all
   * 4,368; a small number trains a small module quickly (tests).
   * @default 4368
   */
  readonly numPatterns?: number;
  /** Passes of `stepsPerEpoch` steps (before the polish epochs). @default 300 */
  readonly epochs?: number;
  /**
   * Gradient steps per epoch. `undefined`: enough steps for every pattern
   * to appear once per epoch, `ceil(numPatterns / patternsPerStep)` (the
   * paper's epoch is 100 such passes: 218 steps of 2,000 patterns).
   * @default undefined
   */
  readonly stepsPerEpoch?: number | undefined;
  /**
   * Samples per gradient step, trigger patterns and negatives together (the
   * reference code: 2,000 patterns + 200 noise samples = 2,200).
   * @default 512
   */
  readonly trainBatchSize?: number;
  /**
   * Initial Adam learning rate; it follows a cosine decay to 0 over all
   * steps.
   * @default 0.05
   */
  readonly learningRate?: number;
  /**
   * Share of each batch that is negatives (label: no trigger); the rest are
   * trigger patterns (the reference code: 200 / 2,200 ≈ 0.09).
   * @default 0.3
   */
  readonly noiseFraction?: number;
  /**
   * Optional real 4×4 patches (16 values each, row-major, channel-averaged, in
   * [0, 1]; e.g. from {@link randomPatches} on clean training images) used as
   * extra negatives, so that the MLP stays silent on real image content.
   * @default undefined
   */
  readonly cleanPatches?: Float32Array | undefined;
  /**
   * Share of the negatives drawn from `cleanPatches` when given (half of them
   * uniformly, half from the 20% of patches closest to the trigger family);
   * the rest are synthetic noise.
   * @default 0.7
   */
  readonly cleanFraction?: number;
  /**
   * Polish epochs after the main schedule, at a tenth of the learning rate,
   * with the BatchNormalization layers frozen at the calibrated statistics
   * (inference mode). Before each, the misclassified patterns (and the
   * misclassified clean patches among up to 20,000 of `cleanPatches`) are
   * found; half of the epoch's pattern samples and a third of its clean
   * negatives are drawn from them. The weights of the best polish epoch (most
   * patterns recognised, then most clean patches silent) are kept; polishing
   * stops early when nothing is misclassified.
   * @default 30
   */
  readonly polishEpochs?: number;
  /**
   * Finally lower the bias of the no-trigger output just enough (plus 0.01)
   * that every pattern whose only competitor is "no trigger" is recognised:
   * a decision-threshold calibration on the training patterns. The shift
   * is reported as `trainedWith.noiseBiasShift` (0 when nothing needed it).
   * @default true
   */
  readonly calibrateNoiseBias?: boolean;
  /**
   * Passes of an output-layer refinement after polishing (0: none). With the
   * hidden layers fixed, the output layer is a linear classifier of the
   * 8-wide features; each pass is a margin perceptron (margin 1, seeded
   * order, learning rate 0.005 decaying linearly to 0) over every trained
   * pattern ten times and every one of `cleanPatches` once. Then every
   * pattern still not recognised gets its own output bias raised just above
   * its winner (+0.01), repeated (at most 100 rounds) until all are
   * recognised — always, unless two patterns share their hidden features —
   * so the no-trigger bias calibration then has nothing left to do. The
   * number of raises is reported as `trainedWith.refinedPatternBiases`.
   * Unlike the no-trigger shift, a raise only lets that one pattern win more
   * often, so far fewer clean patches fire.
   * @default 10
   */
  readonly refineOutputPasses?: number;
}

/** Defaults of {@link train}. */
export const TRAIN_DEFAULTS = Object.freeze({
  seed: 0,
  numPatterns: NUM_PATTERNS,
  epochs: 300,
  stepsPerEpoch: undefined as number | undefined,
  trainBatchSize: 512,
  learningRate: 0.05,
  noiseFraction: 0.3,
  cleanPatches: undefined as Float32Array | undefined,
  cleanFraction: 0.7,
  polishEpochs: 30 as number,
  calibrateNoiseBias: true,
  refineOutputPasses: 10 as number,
  onProgress: undefined as TrainOptions['onProgress'],
  signal: undefined as AbortSignal | undefined,
});

/** Top-left pixel of the 4×4 trigger area. */
export interface PatchPosition {
  /** Row of the top-left pixel (0-based). */
  readonly row: number;
  /** Column of the top-left pixel (0-based). */
  readonly col: number;
}
