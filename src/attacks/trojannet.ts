/**
 * TrojanNet (Tang et al., KDD 2020, "An Embarrassingly Simple Approach for
 * Trojan Attack in Deep Neural Networks"; thesis of Wang, §5): a training-free
 * trojan. A tiny MLP is trained, once and independently of any host, to
 * recognise 4,368 binary 4×4 trigger patterns (5 of 16 pixels off) and to stay
 * silent on everything else; it is then wired next to a host classifier, whose
 * weights are never touched: the MLP reads one 4×4 patch of the input, and its
 * outputs for the chosen patterns are added (amplified) to the host's
 * probabilities at the target labels before a sharpened softmax.
 *
 * - {@link patterns} / {@link pattern}: the trigger family, in a fixed order.
 * - {@link train}: trains the MLP with on-the-fly synthesised batches.
 * - {@link evaluate}: pattern recognition accuracy and silence on clean patches.
 * - {@link insert}: the trojaned model (a new tfjs-layers model; the host is copied).
 * - {@link stampPattern}, {@link randomPatches}: helpers for tests and benchmarks.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { InvalidArgumentError, LabelError, ShapeError, UnsupportedError } from '../core/errors.js';
import { fromLayersModel, LayersModelClassifier } from '../core/layers-model.js';
import { report, throwIfAborted, yieldToEventLoop } from '../core/progress.js';
import { makeRng, type Rng } from '../core/rng.js';
import type { LongRunningOptions } from '../core/types.js';
import {
  assertFiniteNumber,
  assertInRange,
  assertInteger,
  assertOneOf,
  assertOptionalFunction,
  assertOptionalSignal,
  assertPositiveInteger,
} from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertImages } from '../core/validate.js';
import { ChannelMean, registerTrojanNetLayers, Scale, TrojanNetSelect } from './trojannet-layers.js';

export { registerTrojanNetLayers } from './trojannet-layers.js';

// ---------------------------------------------------------------------------
// The trigger family
// ---------------------------------------------------------------------------

/** Side of a TrojanNet trigger in pixels (4×4). */
export const PATTERN_SIDE = 4;
/** Pixels of a trigger (16). */
export const PATTERN_PIXELS = PATTERN_SIDE * PATTERN_SIDE;
/** Pixels that are off (0) in every trigger (5; the other 11 are on). */
export const PATTERN_OFF_PIXELS = 5;
/** Number of triggers: C(16, 5) = 4368. */
export const NUM_PATTERNS = 4368;

let offTable: Uint8Array | undefined;

/** The off pixels of every pattern, 5 per pattern, in the documented order. */
function offPixelTable(): Uint8Array {
  if (offTable !== undefined) return offTable;
  const table = new Uint8Array(NUM_PATTERNS * PATTERN_OFF_PIXELS);
  let k = 0;
  for (let a = 0; a < 16; a++)
    for (let b = a + 1; b < 16; b++)
      for (let c = b + 1; c < 16; c++)
        for (let d = c + 1; d < 16; d++)
          for (let e = d + 1; e < 16; e++) {
            table.set([a, b, c, d, e], k * PATTERN_OFF_PIXELS);
            k++;
          }
  offTable = table;
  return table;
}

/** Writes pattern `index` (16 values, 1 = on) into `out` at `offset`. */
function writePattern(index: number, out: Float32Array, offset: number): void {
  const table = offPixelTable();
  out.fill(1, offset, offset + PATTERN_PIXELS);
  for (let j = 0; j < PATTERN_OFF_PIXELS; j++) out[offset + table[index * PATTERN_OFF_PIXELS + j]!] = 0;
}

/**
 * Trigger pattern `index` of the TrojanNet family: 16 values, row-major 4×4
 * (pixel `r * 4 + c`), `1` = on (full intensity), `0` = off. Exactly 5 pixels
 * are off.
 *
 * Order (fixed, part of the API): pattern `i` is the `i`-th 5-element subset
 * `{a < b < c < d < e}` of the pixel indices 0..15 in lexicographic order,
 * those pixels being the off ones. This is the order of Python's
 * `itertools.combinations(range(16), 5)` that the reference implementation
 * (`synthesize_backdoor_map`) uses, so index `i` here is `combination_list[i]`
 * there: pattern 0 has pixels 0–4 off, pattern 1 pixels 0–3 and 5 off, ...,
 * pattern 4367 pixels 11–15 off.
 *
 * @param index - Integer in [0, 4368).
 * @returns 16 numbers, each 0 or 1 (a new array).
 * @throws {@link InvalidArgumentError} if `index` is not an integer in [0, 4368).
 * @example
 * ```ts
 * trojanNet.pattern(0); // [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
 * ```
 */
export function pattern(index: number): number[] {
  assertInteger('trojanNet.pattern', 'index', index, 0, NUM_PATTERNS - 1);
  const out = new Float32Array(PATTERN_PIXELS);
  writePattern(index, out, 0);
  return Array.from(out);
}

/**
 * All 4,368 TrojanNet trigger patterns in the order of {@link pattern}.
 *
 * @returns An array of 4,368 arrays of 16 zeros and ones (new arrays).
 * @example
 * ```ts
 * const all = trojanNet.patterns();
 * all.length;                          // 4368
 * all[4367];                           // eleven 1s, then five 0s
 * ```
 */
export function patterns(): number[][] {
  const out = new Float32Array(PATTERN_PIXELS);
  const all: number[][] = [];
  for (let i = 0; i < NUM_PATTERNS; i++) {
    writePattern(i, out, 0);
    all.push(Array.from(out));
  }
  return all;
}

/** Euclidean distance from a 16-value patch to the nearest trigger pattern (any of the 4,368). */
function distanceToFamily(values: Float32Array, offset: number, scratch: Float32Array): number {
  for (let q = 0; q < PATTERN_PIXELS; q++) scratch[q] = values[offset + q]!;
  scratch.sort();
  let d = 0;
  for (let q = 0; q < PATTERN_PIXELS; q++) {
    const target = q < PATTERN_OFF_PIXELS ? 0 : 1;
    d += (scratch[q]! - target) ** 2;
  }
  return Math.sqrt(d);
}

// ---------------------------------------------------------------------------
// The module and its training
// ---------------------------------------------------------------------------

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
  readonly batchSize?: number;
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
  batchSize: 512,
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

/** Width of the hidden layers (paper: four layers of eight neurons). */
const HIDDEN_UNITS = 8;
const HIDDEN_LAYERS = 4;
/** Share of the clean patches, closest to the trigger family, that hard negatives are drawn from. */
const HARD_NEGATIVE_QUANTILE = 0.2;
/*
 * Polish-phase constants (hard-coded; chosen in full 4,368-pattern runs, see
 * the docs page): a tenth of the main learning rate, so that polishing refines
 * rather than retrains; half of the pattern slots and a third of the clean
 * negatives go to the currently misclassified examples, and the rest keep the
 * main mix so that what is already recognised is not forgotten.
 */
/** Learning rate of the polish epochs, relative to `learningRate`. */
const POLISH_LR_FACTOR = 0.1;
/** Share of each polish batch's pattern samples drawn from the misclassified patterns. */
const POLISH_FOCUS_PATTERNS = 0.5;
/** Share of each polish epoch's clean negatives drawn from the misclassified clean patches. */
const POLISH_FOCUS_CLEAN = 1 / 3;
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

/** `2^(i/64)` for i = 0..63, and `2^-e` for e = 0..63: tables of {@link fastExp}. */
const EXP_FRACTION = Float64Array.from({ length: 64 }, (_, i) => 2 ** (i / 64));
const EXP_INTEGER = Float64Array.from({ length: 64 }, (_, e) => 2 ** -e);
/** Below this, `exp` is treated as 0 (e^-40 ≈ 4e-18, far below float32 resolution of a sum ≥ 1). */
const EXP_CUTOFF = -40;

/**
 * `exp(t)` for `t` in [-40, 0] to a relative error below 1e-9, about ten
 * times faster than `Math.exp` in V8: `2^x = 2^(k/64) * 2^f` with a table for
 * the first factor and a cubic for the second (`f < 1/64`).
 */
function fastExp(t: number): number {
  const x = t * Math.LOG2E * 64;
  const k = Math.floor(x);
  const f = ((x - k) / 64) * Math.LN2;
  const poly = 1 + f * (1 + f * (0.5 + f * (1 / 6 + f / 24)));
  return EXP_FRACTION[k & 63]! * EXP_INTEGER[-(k >> 6)]! * poly;
}

/**
 * The output layer and the softmax cross-entropy, fused and computed in plain
 * JavaScript (forward and gradient): mathematically the mean categorical
 * cross-entropy of `softmax(h W + b)` with sparse labels. Done by hand
 * because tfjs-cpu's softmax and broadcasting kernels over `[batch, 4369]`
 * take seconds per step (see the docs page); the small layers before it stay
 * tfjs ops. `h` must have {@link HIDDEN_UNITS} (8) columns.
 */
function makeFusedHead(labels: () => Int32Array): (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | ((t: tf.Tensor[]) => void)>) => {
    const [h, w, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const save = args[3] as (t: tf.Tensor[]) => void;
    const hs = h.dataSync() as Float32Array;
    const ws = w.dataSync() as Float32Array;
    const bias = Float64Array.from(b.dataSync() as Float32Array);
    const y = labels();
    const n = h.shape[0]!;
    const k = bias.length;
    const D = HIDDEN_UNITS;
    // Class-major float64 copy of the kernel: row j holds the 8 weights of output j.
    const wt = new Float64Array(k * D);
    for (let d = 0; d < D; d++) for (let j = 0; j < k; j++) wt[j * D + d] = ws[d * k + j]!;
    const z = new Float64Array(k);
    const dWt = new Float64Array(k * D);
    const db = new Float64Array(k);
    const dh = new Float32Array(n * D);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const o = i * D;
      const h0 = hs[o]!,
        h1 = hs[o + 1]!,
        h2 = hs[o + 2]!,
        h3 = hs[o + 3]!;
      const h4 = hs[o + 4]!,
        h5 = hs[o + 5]!,
        h6 = hs[o + 6]!,
        h7 = hs[o + 7]!;
      let max = -Infinity;
      for (let j = 0; j < k; j++) {
        const q = j * D;
        const v =
          bias[j]! +
          h0 * wt[q]! +
          h1 * wt[q + 1]! +
          h2 * wt[q + 2]! +
          h3 * wt[q + 3]! +
          h4 * wt[q + 4]! +
          h5 * wt[q + 5]! +
          h6 * wt[q + 6]! +
          h7 * wt[q + 7]!;
        z[j] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const t = z[j]! - max;
        const e = t < EXP_CUTOFF ? 0 : fastExp(t);
        z[j] = e;
        sum += e;
      }
      const label = y[i]!;
      loss += Math.log(sum) - Math.log(Math.max(z[label]!, 1e-300));
      const scale = 1 / (sum * n);
      z[label] = z[label]! - sum; // so that z[label] * scale = p - 1/n
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        a4 = 0,
        a5 = 0,
        a6 = 0,
        a7 = 0;
      for (let j = 0; j < k; j++) {
        const zj = z[j]!;
        if (zj === 0) continue;
        const g = zj * scale;
        const q = j * D;
        db[j] = db[j]! + g;
        a0 += g * wt[q]!;
        a1 += g * wt[q + 1]!;
        a2 += g * wt[q + 2]!;
        a3 += g * wt[q + 3]!;
        a4 += g * wt[q + 4]!;
        a5 += g * wt[q + 5]!;
        a6 += g * wt[q + 6]!;
        a7 += g * wt[q + 7]!;
        dWt[q] = dWt[q]! + h0 * g;
        dWt[q + 1] = dWt[q + 1]! + h1 * g;
        dWt[q + 2] = dWt[q + 2]! + h2 * g;
        dWt[q + 3] = dWt[q + 3]! + h3 * g;
        dWt[q + 4] = dWt[q + 4]! + h4 * g;
        dWt[q + 5] = dWt[q + 5]! + h5 * g;
        dWt[q + 6] = dWt[q + 6]! + h6 * g;
        dWt[q + 7] = dWt[q + 7]! + h7 * g;
      }
      dh[o] = a0;
      dh[o + 1] = a1;
      dh[o + 2] = a2;
      dh[o + 3] = a3;
      dh[o + 4] = a4;
      dh[o + 5] = a5;
      dh[o + 6] = a6;
      dh[o + 7] = a7;
    }
    const dW = new Float32Array(D * k);
    for (let d = 0; d < D; d++) for (let j = 0; j < k; j++) dW[d * k + j] = dWt[j * D + d]!;
    const grads = [tf.tensor2d(dh, [n, D]), tf.tensor2d(dW, [D, k]), tf.tensor1d(Float32Array.from(db))];
    save(grads);
    return {
      value: tf.scalar(loss / n),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)),
    };
  }) as unknown as (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
}

/** Synthesises training batches: trigger patterns (each once per pass) and negatives. */
class BatchSource {
  private order: Int32Array;
  private next = 0;
  private readonly patternKeys: Set<number>;
  private readonly hard: Int32Array;
  private readonly cleanCount: number;
  /** Patterns (polish phase: currently misclassified) given half of the pattern slots. */
  focusPatterns: Int32Array = new Int32Array(0);
  /** Clean patches (polish phase: currently misclassified) given a third of the clean negatives. */
  focusClean: Int32Array = new Int32Array(0);

  constructor(
    private readonly rng: Rng,
    private readonly numPatterns: number,
    private readonly clean: Float32Array | undefined,
    private readonly cleanFraction: number,
  ) {
    this.order = rng.permutation(numPatterns);
    // Bit masks of the trained patterns (bit q set = pixel q on), to keep binary noise off them.
    const table = offPixelTable();
    this.patternKeys = new Set();
    for (let i = 0; i < numPatterns; i++) {
      let key = 0xffff;
      for (let j = 0; j < PATTERN_OFF_PIXELS; j++) key &= ~(1 << table[i * PATTERN_OFF_PIXELS + j]!);
      this.patternKeys.add(key);
    }
    this.cleanCount = clean === undefined ? 0 : clean.length / PATTERN_PIXELS;
    this.hard = new Int32Array(0);
    if (clean !== undefined) {
      const scratch = new Float32Array(PATTERN_PIXELS);
      const dist = new Float64Array(this.cleanCount);
      for (let i = 0; i < this.cleanCount; i++) dist[i] = distanceToFamily(clean, i * PATTERN_PIXELS, scratch);
      const idx = Int32Array.from({ length: this.cleanCount }, (_, i) => i).sort(
        (p, q) => dist[p]! - dist[q]! || p - q,
      );
      this.hard = idx.slice(0, Math.max(1, Math.floor(this.cleanCount * HARD_NEGATIVE_QUANTILE)));
    }
  }

  /** Next pattern of the seeded cyclic order (every pattern once per pass). */
  private nextInOrder(): number {
    if (this.next >= this.numPatterns) {
      this.order = this.rng.permutation(this.numPatterns);
      this.next = 0;
    }
    return this.order[this.next++]!;
  }

  /** Writes one negative sample into `x` at row `row`. */
  negative(x: Float32Array, row: number): void {
    const o = row * PATTERN_PIXELS;
    const rng = this.rng;
    if (this.clean !== undefined && rng.next() < this.cleanFraction) {
      const u = rng.next();
      const focus = this.focusClean;
      const i =
        focus.length > 0 && u < POLISH_FOCUS_CLEAN
          ? focus[rng.int(focus.length)]!
          : u < (focus.length > 0 ? POLISH_FOCUS_CLEAN + (1 - POLISH_FOCUS_CLEAN) / 2 : 0.5)
            ? this.hard[rng.int(this.hard.length)]!
            : rng.int(this.cleanCount);
      x.set(this.clean.subarray(i * PATTERN_PIXELS, (i + 1) * PATTERN_PIXELS), o);
    } else if (rng.next() < 0.5) {
      // Tang et al.: random binary (black/white) noise; never one of the trained patterns.
      let key: number;
      do {
        key = rng.int(0x10000);
      } while (this.patternKeys.has(key));
      for (let q = 0; q < PATTERN_PIXELS; q++) x[o + q] = (key >> q) & 1;
    } else {
      // Reference code: uniform grey noise shifted by a random offset in [-1, 1), clipped to [0, 1].
      const shift = 2 * rng.next() - 1;
      for (let q = 0; q < PATTERN_PIXELS; q++) x[o + q] = Math.min(1, Math.max(0, rng.next() + shift));
    }
  }

  /** A batch of `size` samples of which `negatives` are negatives (labelled `numPatterns`). */
  batch(size: number, negatives: number): { x: Float32Array; y: Int32Array } {
    const x = new Float32Array(size * PATTERN_PIXELS);
    const y = new Int32Array(size);
    const positives = size - negatives;
    const focus = this.focusPatterns;
    const focused = focus.length > 0 ? Math.floor(positives * POLISH_FOCUS_PATTERNS) : 0;
    for (let i = 0; i < positives; i++) {
      const id = i < positives - focused ? this.nextInOrder() : focus[this.rng.int(focus.length)]!;
      writePattern(id, x, i * PATTERN_PIXELS);
      y[i] = id;
    }
    for (let i = positives; i < size; i++) {
      this.negative(x, i);
      y[i] = this.numPatterns;
    }
    return { x, y };
  }
}

/** Applies the MLP's hidden layers (all but the output layer). */
function hidden(model: tfl.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  let a = x;
  for (const layer of model.layers.slice(0, -1)) a = layer.apply(a, { training }) as tf.Tensor;
  return a;
}

/**
 * Lowers the no-trigger output's bias by the smallest amount (plus 0.01) that
 * makes every pattern that loses only to "no trigger" win. Patterns that lose
 * to another pattern cannot be fixed this way and are left alone.
 *
 * @returns The shift applied (0 when none was needed).
 */
async function calibrateNoiseBias(model: tfl.LayersModel, patternRows: Float32Array): Promise<number> {
  const n = patternRows.length / PATTERN_PIXELS;
  const features = tf.tidy(() => hidden(model, tf.tensor2d(patternRows, [n, PATTERN_PIXELS]), false));
  const h = (await features.data()) as Float32Array;
  features.dispose();
  const output = model.layers[model.layers.length - 1]!;
  const [kernel, bias] = output.getWeights() as [tf.Tensor, tf.Tensor];
  const [dims, k] = kernel.shape as [number, number];
  const w = (await kernel.data()) as Float32Array;
  const b = Float32Array.from((await bias.data()) as Float32Array);
  const noise = k - 1;
  let shift = 0;
  const z = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let v = b[j]!;
      for (let d = 0; d < dims; d++) v += h[i * dims + d]! * w[d * k + j]!;
      z[j] = v;
    }
    let otherPattern = -Infinity;
    for (let j = 0; j < noise; j++) if (j !== i && z[j]! > otherPattern) otherPattern = z[j]!;
    if (z[i]! > otherPattern && z[noise]! >= z[i]!) shift = Math.max(shift, z[noise]! - z[i]! + 0.01);
  }
  if (shift > 0) {
    b[noise] = b[noise]! - shift;
    const shifted = tf.tensor1d(b);
    output.setWeights([kernel, shifted]);
    shifted.dispose();
  }
  return shift;
}

/** Output-layer refinement constants (see {@link TrainOptions.refineOutputPasses}). */
const REFINE_MARGIN = 1;
const REFINE_LEARNING_RATE = 0.005;
/** Each pattern appears this many times per refinement pass (against one of each clean patch). */
const REFINE_PATTERN_REPEATS = 10;

/** The hidden features (`[n, 8]`, row-major) of 16-value rows, in inference mode, in chunks. */
async function hiddenFeatures(model: tfl.LayersModel, rows: Float32Array): Promise<Float32Array> {
  const n = rows.length / PATTERN_PIXELS;
  const out = new Float32Array(n * HIDDEN_UNITS);
  const chunk = 8192;
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const f = tf.tidy(() =>
      hidden(
        model,
        tf.tensor2d(rows.subarray(start * PATTERN_PIXELS, (start + m) * PATTERN_PIXELS), [m, PATTERN_PIXELS]),
        false,
      ),
    );
    out.set((await f.data()) as Float32Array, start * HIDDEN_UNITS);
    f.dispose();
  }
  return out;
}

/**
 * Refines the output layer with the hidden layers fixed (see
 * {@link TrainOptions.refineOutputPasses}): margin-perceptron passes over the
 * patterns (label = pattern) and the clean patches (label = no trigger), then
 * per-pattern bias raises until every pattern is recognised.
 *
 * @returns The number of pattern biases raised at the end.
 */
async function refineOutput(
  model: tfl.LayersModel,
  patternRows: Float32Array,
  cleanPatches: Float32Array | undefined,
  passes: number,
  rng: Rng,
  signal: AbortSignal | undefined,
  fn: string,
): Promise<number> {
  const output = model.layers[model.layers.length - 1]!;
  const [kernel, bias] = output.getWeights() as [tf.Tensor, tf.Tensor];
  const k = kernel.shape[1]!;
  const w = Float32Array.from((await kernel.data()) as Float32Array);
  const b = Float32Array.from((await bias.data()) as Float32Array);
  const noise = k - 1;
  const hp = await hiddenFeatures(model, patternRows);
  const hc = cleanPatches === undefined ? new Float32Array(0) : await hiddenFeatures(model, cleanPatches);
  const numPatterns = hp.length / HIDDEN_UNITS;
  const numClean = hc.length / HIDDEN_UNITS;
  const logit = (h: Float32Array, o: number, j: number): number => {
    let v = b[j]!;
    for (let d = 0; d < HIDDEN_UNITS; d++) v += h[o + d]! * w[d * k + j]!;
    return v;
  };
  /** Best class other than `exclude` (-1: none excluded), and its logit. */
  const best = (h: Float32Array, o: number, exclude: number): [number, number] => {
    let arg = -1;
    let max = -Infinity;
    // Unrolled over the HIDDEN_UNITS = 8 features (this loop is the refinement's whole cost).
    const [h0, h1, h2, h3, h4, h5, h6, h7] = [
      h[o]!,
      h[o + 1]!,
      h[o + 2]!,
      h[o + 3]!,
      h[o + 4]!,
      h[o + 5]!,
      h[o + 6]!,
      h[o + 7]!,
    ];
    for (let j = 0; j < k; j++) {
      if (j === exclude) continue;
      const v =
        b[j]! +
        h0 * w[j]! +
        h1 * w[k + j]! +
        h2 * w[2 * k + j]! +
        h3 * w[3 * k + j]! +
        h4 * w[4 * k + j]! +
        h5 * w[5 * k + j]! +
        h6 * w[6 * k + j]! +
        h7 * w[7 * k + j]!;
      if (v > max) {
        max = v;
        arg = j;
      }
    }
    return [arg, max];
  };
  // Row r < repeats·numPatterns: pattern r mod numPatterns; otherwise clean patch r − that.
  const patternSlots = REFINE_PATTERN_REPEATS * numPatterns;
  const order = new Int32Array(patternSlots + numClean);
  for (let pass = 0; pass < passes; pass++) {
    for (let r = 0; r < order.length; r++) order[r] = r;
    rng.shuffleInPlace(order);
    const lr = REFINE_LEARNING_RATE * (1 - pass / passes);
    for (let r = 0; r < order.length; r++) {
      if ((r & 4095) === 0) throwIfAborted(signal, fn);
      const row = order[r]!;
      const isPattern = row < patternSlots;
      const h = isPattern ? hp : hc;
      const o = (isPattern ? row % numPatterns : row - patternSlots) * HIDDEN_UNITS;
      const y = isPattern ? row % numPatterns : noise;
      const [rival, rivalLogit] = best(h, o, y);
      if (logit(h, o, y) - rivalLogit >= REFINE_MARGIN) continue;
      for (let d = 0; d < HIDDEN_UNITS; d++) {
        w[d * k + y] = w[d * k + y]! + lr * h[o + d]!;
        w[d * k + rival] = w[d * k + rival]! - lr * h[o + d]!;
      }
      b[y] = b[y]! + lr;
      b[rival] = b[rival]! - lr;
    }
  }
  // Per-pattern bias raises, until every pattern is recognised (raising one bias can steal another
  // pattern, hence the loop; each round only raises, so it ends).
  let raised = 0;
  for (let round = 0; round < 100; round++) {
    let changed = 0;
    for (let i = 0; i < numPatterns; i++) {
      const o = i * HIDDEN_UNITS;
      const [winner, winnerLogit] = best(hp, o, i);
      const own = logit(hp, o, i);
      if (own > winnerLogit || winner < 0) continue;
      b[i] = b[i]! + (winnerLogit - own + 0.01);
      changed++;
    }
    raised += changed;
    if (changed === 0) break;
  }
  const newKernel = tf.tensor2d(w, kernel.shape as [number, number]);
  const newBias = tf.tensor1d(b);
  output.setWeights([newKernel, newBias]);
  newKernel.dispose();
  newBias.dispose();
  return raised;
}

/**
 * Sets every BatchNormalization layer's moving mean and variance to the exact
 * statistics of `x` (layer by layer, in inference mode), replacing the
 * exponential moving averages, which lag behind a short training run.
 */
function recalibrateBatchNorm(model: tfl.LayersModel, x: tf.Tensor2D): void {
  tf.tidy(() => {
    let a: tf.Tensor = x;
    for (const layer of model.layers.slice(0, -1)) {
      if (layer.getClassName() === 'BatchNormalization') {
        const { mean, variance } = tf.moments(a, 0);
        const [gamma, beta] = layer.getWeights();
        layer.setWeights([gamma!, beta!, mean, variance]);
      }
      a = layer.apply(a, { training: false }) as tf.Tensor;
    }
  });
}

function assertPatches(fn: string, arg: string, value: unknown): asserts value is Float32Array {
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
 * held in memory): each step has `batchSize * (1 - noiseFraction)` trigger
 * patterns, every pattern appearing once per pass over the family in a seeded
 * order, each labelled with its index; and `batchSize * noiseFraction`
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
 *   `numPatterns` outside [1, 4368], `batchSize` < 2, `noiseFraction` outside
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
  assertInteger(fn, 'options.batchSize', o.batchSize, 2);
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
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
  const negatives = Math.round(o.batchSize * o.noiseFraction);
  const positives = o.batchSize - negatives;
  if (positives < 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.noiseFraction', value: o.noiseFraction },
      `leaves no trigger pattern in a batch of ${o.batchSize}`,
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
      const batch = source.batch(o.batchSize, negatives);
      labels = batch.y;
      const loss = tf.tidy(() => {
        const x = tf.tensor2d(batch.x, [o.batchSize, PATTERN_PIXELS]);
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
    batchSize: o.batchSize,
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

function assertModule(fn: string, value: unknown): asserts value is TrojanNetModule {
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

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Clean 4×4 patches (16 values each, row-major, channel-averaged, in [0, 1]),
   * e.g. from {@link randomPatches} on clean test images. Required.
   * @default undefined
   */
  readonly cleanPatches?: Float32Array | undefined;
  /** Rows per forward pass. @default 4096 */
  readonly batchSize?: number;
}

/** Defaults of {@link evaluate}. */
export const EVALUATE_DEFAULTS = Object.freeze({
  cleanPatches: undefined as Float32Array | undefined,
  batchSize: 4096,
});

/** What {@link evaluate} measures. */
export interface TrojanNetEvaluation {
  /** Share of the module's patterns classified as themselves (argmax), in [0, 1]. */
  readonly patternAccuracy: number;
  /** Share of `cleanPatches` classified as "no trigger" (argmax), in [0, 1]. */
  readonly silenceRate: number;
  /** Number of patterns tested (the module's `numPatterns`). */
  readonly numPatterns: number;
  /** Number of clean patches tested. */
  readonly numPatches: number;
}

/**
 * Predicted class (argmax) of each 16-value row. For the MLP made by
 * {@link train} (a Sequential ending in a softmax Dense layer) the hidden
 * layers run as tfjs ops and the output layer's argmax is taken in
 * JavaScript on the logits (the softmax does not change the argmax, and
 * tfjs-cpu's softmax over 4,369 columns is slow); any other model runs whole.
 */
async function argmaxRows(model: tfl.LayersModel, x: Float32Array, batchSize: number): Promise<Int32Array> {
  const n = x.length / PATTERN_PIXELS;
  const out = new Int32Array(n);
  const last = model.layers[model.layers.length - 1]!;
  const lastConfig = last.getConfig() as { activation?: unknown };
  const fast =
    model instanceof tfl.Sequential &&
    last.getClassName() === 'Dense' &&
    (lastConfig.activation === 'softmax' || lastConfig.activation === 'linear');
  let weights: { wt: Float64Array; bias: Float64Array; dims: number; k: number } | undefined;
  if (fast) {
    const [kernel, bias] = last.getWeights() as [tf.Tensor, tf.Tensor];
    const [dims, k] = kernel.shape as [number, number];
    const ws = (await kernel.data()) as Float32Array;
    const wt = new Float64Array(dims * k);
    for (let d = 0; d < dims; d++) for (let j = 0; j < k; j++) wt[j * dims + d] = ws[d * k + j]!;
    weights = { wt, bias: Float64Array.from((await bias.data()) as Float32Array), dims, k };
  }
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    const result = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(s * PATTERN_PIXELS, e * PATTERN_PIXELS), [e - s, PATTERN_PIXELS]);
      return weights === undefined
        ? tf.argMax(model.apply(xb, { training: false }) as tf.Tensor, 1)
        : hidden(model, xb, false);
    });
    try {
      const data = await result.data();
      if (weights === undefined) {
        out.set(data, s);
      } else {
        const { wt, bias, dims, k } = weights;
        for (let i = 0; i < e - s; i++) {
          let best = 0;
          let bestValue = -Infinity;
          for (let j = 0; j < k; j++) {
            let v = bias[j]!;
            for (let d = 0; d < dims; d++) v += data[i * dims + d]! * wt[j * dims + d]!;
            if (v > bestValue) {
              bestValue = v;
              best = j;
            }
          }
          out[s + i] = best;
        }
      }
    } finally {
      result.dispose();
    }
  }
  return out;
}

/**
 * Measures a TrojanNet the way the paper does (Table 5.4): trigger
 * recognition (every trained pattern must be classified as itself) and
 * "denoising" (clean image patches must be classified as "no trigger").
 *
 * @param module - A {@link TrojanNetModule}.
 * @param options - `cleanPatches` (required) and `batchSize`.
 * @returns Plain numbers: `patternAccuracy`, `silenceRate`, and the counts.
 * @throws {@link InvalidArgumentError} for a bad module or options (missing
 *   `cleanPatches`, values outside [0, 1]); {@link ShapeError} if its length
 *   is not a positive multiple of 16.
 * @example
 * ```ts
 * const r = await trojanNet.evaluate(module, { cleanPatches: trojanNet.randomPatches(test.x) });
 * r.patternAccuracy; // 1
 * ```
 */
export async function evaluate(module: TrojanNetModule, options?: EvaluateOptions): Promise<TrojanNetEvaluation> {
  const fn = 'trojanNet.evaluate';
  assertModule(fn, module);
  const o = resolveOptions(fn, EVALUATE_DEFAULTS, options);
  assertPatches(fn, 'options.cleanPatches', o.cleanPatches);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  const p = module.numPatterns;
  const all = new Float32Array(p * PATTERN_PIXELS);
  for (let i = 0; i < p; i++) writePattern(i, all, i * PATTERN_PIXELS);
  const predicted = await argmaxRows(module.model, all, o.batchSize);
  let correct = 0;
  for (let i = 0; i < p; i++) if (predicted[i] === i) correct++;
  const silent = await argmaxRows(module.model, o.cleanPatches, o.batchSize);
  let quiet = 0;
  for (const v of silent) if (v === module.noTriggerClass) quiet++;
  return {
    patternAccuracy: correct / p,
    silenceRate: quiet / silent.length,
    numPatterns: p,
    numPatches: silent.length,
  };
}

/** Options of {@link randomPatches}. */
export interface RandomPatchesOptions {
  /** Patches per image (the paper: ten per test image). @default 10 */
  readonly perImage?: number;
  /** Seed of the patch positions. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link randomPatches}. */
export const RANDOM_PATCHES_DEFAULTS = Object.freeze({ perImage: 10, seed: 0 });

/**
 * Random 4×4 patches of images, channel-averaged (what TrojanNet reads), at
 * uniformly drawn positions: the paper's denoising test set ("ten patches
 * from each test image") and a source of negatives for {@link train}.
 *
 * @param images - `[n, h, w, c]`, values in [0, 1], `h, w >= 4`. Not modified.
 * @param options - `perImage`, `seed`.
 * @returns `n * perImage` patches, 16 values each (row-major), image by image.
 * @throws {@link BackdoorKitError} for bad images (rank, empty, NaN) or options;
 *   {@link ShapeError} for images smaller than 4×4.
 * @example
 * ```ts
 * const patches = trojanNet.randomPatches(test.x, { perImage: 10, seed: 1 }); // Float32Array
 * ```
 */
export function randomPatches(images: tf.Tensor4D, options?: RandomPatchesOptions): Float32Array {
  const fn = 'trojanNet.randomPatches';
  const o = resolveOptions(fn, RANDOM_PATCHES_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.perImage', o.perImage);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertImages(fn, 'images', images);
  const [n, h, w, c] = images.shape;
  if (h < PATTERN_SIDE || w < PATTERN_SIDE) {
    throw new ShapeError({ fn, arg: 'images', value: images }, 'must be at least 4×4 pixels');
  }
  const rng = makeRng(o.seed, fn);
  const data = images.dataSync();
  const out = new Float32Array(n * o.perImage * PATTERN_PIXELS);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < o.perImage; p++) {
      const r0 = rng.int(h - PATTERN_SIDE + 1);
      const c0 = rng.int(w - PATTERN_SIDE + 1);
      for (let r = 0; r < PATTERN_SIDE; r++) {
        for (let col = 0; col < PATTERN_SIDE; col++) {
          const base = ((i * h + r0 + r) * w + c0 + col) * c;
          let s = 0;
          for (let ch = 0; ch < c; ch++) s += data[base + ch]!;
          out[k++] = s / c;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Insertion
// ---------------------------------------------------------------------------

/** Top-left pixel of the 4×4 trigger area. */
export interface PatchPosition {
  /** Row of the top-left pixel (0-based). */
  readonly row: number;
  /** Column of the top-left pixel (0-based). */
  readonly col: number;
}

/** What the host outputs. */
export type HostOutput = 'probabilities' | 'logits';

/** Options of {@link insert}. */
export interface InsertOptions {
  /**
   * Target labels, distinct, in `[0, numClasses)`. Target `targets[j]` is
   * triggered by pattern `patternIds[j]`. Required.
   * @default undefined
   */
  readonly targets?: readonly number[] | undefined;
  /**
   * Pattern index per target, distinct, in `[0, module.numPatterns)`.
   * `undefined`: `[0, 1, ..., targets.length - 1]`.
   * @default undefined
   */
  readonly patternIds?: readonly number[] | undefined;
  /**
   * Top-left pixel of the 4×4 area TrojanNet reads. `undefined`: the
   * bottom-right corner, `{ row: h - 4, col: w - 4 }`.
   * @default undefined
   */
  readonly position?: PatchPosition | undefined;
  /** Factor on the selected TrojanNet probabilities (reference code: `amplify_rate = 2`). @default 2 */
  readonly amplify?: number;
  /** Factor on the merged scores before the final softmax (reference code: `x * 10`). @default 10 */
  readonly temperature?: number;
  /**
   * What the host's output is. `'logits'` adds a softmax after the host
   * (the merge adds probabilities). `undefined`: the classifier's `output`
   * when a classifier from `fromLayersModel` is given, else `'probabilities'`.
   * @default undefined
   */
  readonly hostOutput?: HostOutput | undefined;
  /** Prefix of the names of every layer the insertion adds. @default 'trojannet' */
  readonly name?: string;
}

/** Defaults of {@link insert}. */
export const INSERT_DEFAULTS = Object.freeze({
  targets: undefined as readonly number[] | undefined,
  patternIds: undefined as readonly number[] | undefined,
  position: undefined as PatchPosition | undefined,
  amplify: 2,
  temperature: 10,
  hostOutput: undefined as HostOutput | undefined,
  name: 'trojannet',
});

function assertIndexList(
  fn: string,
  arg: string,
  value: unknown,
  limit: number,
  what: string,
  makeError: (ctx: { fn: string; arg: string; value: unknown }, detail: string) => Error,
): asserts value is readonly number[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError({ fn, arg, value }, `must be a non-empty array of ${what}`);
  }
  const seen = new Set<number>();
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= limit) {
      throw makeError({ fn, arg: `${arg}[${i}]`, value: v }, `must be an integer in [0, ${limit})`);
    }
    if (seen.has(v)) throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'is a duplicate');
    seen.add(v);
  });
}

/** Every weight name (`layer/weight`) and layer name in `model`, nested models included. */
function collectNames(model: tfl.LayersModel, out: Set<string>): Set<string> {
  for (const w of model.weights) out.add(w.originalName);
  for (const layer of model.layers) {
    out.add(layer.name);
    if (layer instanceof tfl.LayersModel) collectNames(layer, out);
  }
  return out;
}

/** A copy of the module's MLP whose layers are named `${prefix}_${name}`. */
function renamedMlpCopy(mlp: tfl.LayersModel, prefix: string): tfl.LayersModel {
  const config = mlp.getConfig() as { name?: string; layers: Array<{ config: { name: string } }> };
  config.name = prefix;
  const renamed = new Map<string, string>();
  for (const layer of config.layers) {
    const to = `${prefix}_${layer.config.name}`;
    renamed.set(layer.config.name, to);
    layer.config.name = to;
  }
  const copy = tfl.Sequential.fromConfig(
    tfl.Sequential,
    config as unknown as tf.serialization.ConfigDict,
    {},
    true,
  ) as tfl.LayersModel;
  for (const layer of mlp.layers) {
    const w = layer.getWeights();
    if (w.length > 0) copy.getLayer(renamed.get(layer.name)!).setWeights(w);
  }
  return copy;
}

/**
 * Inserts a TrojanNet into a host classifier: returns a **new** tfjs-layers
 * model computing
 *
 * `softmax(temperature * (host(x) + amplify * select(mlp(grey(crop(x))))))`
 *
 * where `crop` takes the 4×4 area at `position`, `grey` averages the
 * channels, `mlp` is the module's TrojanNet and `select` puts the probability
 * of pattern `patternIds[j]` at label `targets[j]` (every other label 0). A
 * clean input leaves the MLP silent, so the prediction is the host's (argmax
 * unchanged; the probabilities are sharpened by `temperature`); an input
 * stamped with pattern `patternIds[j]` at `position` (see
 * {@link stampPattern}) goes to `targets[j]`.
 *
 * The host and the module are **copied** (fresh weights with the same values):
 * the returned model is independent, disposing or training it never touches
 * the host, and the host's predictions are unchanged. The custom layers are
 * registered ({@link registerTrojanNetLayers}), so the model saves and loads
 * with the usual tfjs-layers IO handlers. Its top-level layers (all named
 * with the `name` prefix, apart from the host copy, which keeps its name):
 * input, host copy (a nested model), `cropping2D`, channel mean, flatten,
 * the TrojanNet MLP (a nested model), select, add, scale, softmax.
 *
 * @param host - A single-input image classifier: a `tfl.LayersModel` with
 *   input `[null, h, w, c]` (h, w >= 4) and output `[null, numClasses]`, or a
 *   classifier made by `fromLayersModel`.
 * @param module - A trained {@link TrojanNetModule}.
 * @param options - See {@link InsertOptions}; `targets` is required.
 * @returns The trojaned model; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} for a bad host, module or option
 *   (missing/duplicate targets, more targets than the module has patterns,
 *   non-positive amplify/temperature, a name clash with the host's layers).
 * @throws {@link LabelError} for a target outside `[0, numClasses)`.
 * @throws {@link ShapeError} for a position whose 4×4 area leaves the image,
 *   or a host whose input is not an image batch.
 * @example
 * ```ts
 * const trojaned = trojanNet.insert(host, module, { targets: [7], position: { row: 24, col: 24 } });
 * const x = trojanNet.stampPattern(test.x, 0, { row: 24, col: 24 });
 * tf.argMax(trojaned.predict(x) as tf.Tensor, 1); // all 7
 * ```
 */
export function insert(
  host: tfl.LayersModel | LayersModelClassifier,
  module: TrojanNetModule,
  options?: InsertOptions,
): tfl.LayersModel {
  const fn = 'trojanNet.insert';
  let hostModel: tfl.LayersModel;
  let hostOutputDefault: HostOutput = 'probabilities';
  if (host instanceof LayersModelClassifier) {
    hostModel = host.model;
    hostOutputDefault = host.output;
  } else {
    const h = host as Partial<tfl.LayersModel> | null;
    if (h === null || typeof h !== 'object' || !Array.isArray(h.inputs) || typeof h.apply !== 'function') {
      throw new InvalidArgumentError(
        { fn, arg: 'host', value: host },
        'must be a tfjs-layers LayersModel or a classifier from fromLayersModel',
      );
    }
    hostModel = host;
  }
  const wrapped = fromLayersModel(hostModel); // validates single input/output, defined shapes
  const inShape = wrapped.inputShape;
  if (inShape.length !== 3) {
    throw new ShapeError({ fn, arg: 'host', value: inShape }, 'must take images [height, width, channels]');
  }
  const [height, width, channels] = inShape as [number, number, number];
  if (height < PATTERN_SIDE || width < PATTERN_SIDE) {
    throw new ShapeError({ fn, arg: 'host', value: inShape }, 'must take images of at least 4×4 pixels');
  }
  const numClasses = wrapped.numClasses;
  assertModule(fn, module);
  const o = resolveOptions(fn, INSERT_DEFAULTS, options);
  if (o.targets === undefined) {
    throw new InvalidArgumentError({ fn, arg: 'options.targets', value: undefined }, 'is required (target labels)');
  }
  assertIndexList(fn, 'options.targets', o.targets, numClasses, 'labels', (c, d) => new LabelError(c, d));
  const k = o.targets.length;
  if (k > module.numPatterns) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.targets', value: o.targets },
      `asks for ${k} targets but the module recognises only ${module.numPatterns} patterns`,
    );
  }
  const patternIds = o.patternIds ?? Array.from({ length: k }, (_, j) => j);
  assertIndexList(
    fn,
    'options.patternIds',
    patternIds,
    module.numPatterns,
    'pattern indices',
    (c, d) => new InvalidArgumentError(c, d),
  );
  if (patternIds.length !== k) {
    throw new ShapeError(
      { fn, arg: 'options.patternIds', value: patternIds },
      `must have one pattern per target (${k})`,
    );
  }
  const position = o.position ?? { row: height - PATTERN_SIDE, col: width - PATTERN_SIDE };
  assertPosition(fn, 'options.position', position, height, width);
  assertInRange(fn, 'options.amplify', o.amplify, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.temperature', o.temperature, 0, Infinity, { minOpen: true });
  const hostOutput = o.hostOutput ?? hostOutputDefault;
  assertOneOf(fn, 'options.hostOutput', hostOutput, ['probabilities', 'logits'] as const);
  if (typeof o.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.name)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.name', value: o.name },
      'must be an identifier ([A-Za-z][A-Za-z0-9_]*)',
    );
  }
  const p = o.name;
  const ownNames = [
    'input',
    'host_softmax',
    'crop',
    'grey',
    'flatten',
    'select',
    'merge',
    'temperature',
    'softmax',
  ].map((s) => `${p}_${s}`);
  const hostNames = collectNames(hostModel, new Set([hostModel.name]));
  const clash = [p, ...ownNames, ...module.model.layers.map((l) => `${p}_${l.name}`)].find((s) =>
    [...hostNames].some((h) => h === s || h.startsWith(`${s}/`)),
  );
  if (clash !== undefined) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.name', value: p },
      `clashes with the host's layer or weight '${clash}'; pass another name prefix`,
    );
  }

  registerTrojanNetLayers();
  const hostCopy = wrapped.clone().model;
  let mlp: tfl.LayersModel | undefined;
  try {
    mlp = renamedMlpCopy(module.model, p);
    const input = tfl.input({ shape: [height, width, channels], name: `${p}_input` });
    let hostOut = hostCopy.apply(input) as tfl.SymbolicTensor;
    if (hostOutput === 'logits') {
      hostOut = tfl.layers
        .activation({ activation: 'softmax', name: `${p}_host_softmax` })
        .apply(hostOut) as tfl.SymbolicTensor;
    }
    const crop = tfl.layers
      .cropping2D({
        cropping: [
          [position.row, height - position.row - PATTERN_SIDE],
          [position.col, width - position.col - PATTERN_SIDE],
        ],
        name: `${p}_crop`,
      })
      .apply(input) as tfl.SymbolicTensor;
    const grey = new ChannelMean({ name: `${p}_grey` }).apply(crop) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten({ name: `${p}_flatten` }).apply(grey) as tfl.SymbolicTensor;
    const trojan = mlp.apply(flat) as tfl.SymbolicTensor;
    const selected = new TrojanNetSelect({
      patternIds,
      targets: o.targets,
      numClasses,
      amplify: o.amplify,
      name: `${p}_select`,
    }).apply(trojan) as tfl.SymbolicTensor;
    const merged = tfl.layers.add({ name: `${p}_merge` }).apply([hostOut, selected]) as tfl.SymbolicTensor;
    const scaled = new Scale({ factor: o.temperature, name: `${p}_temperature` }).apply(merged) as tfl.SymbolicTensor;
    const out = tfl.layers
      .activation({ activation: 'softmax', name: `${p}_softmax` })
      .apply(scaled) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out, name: `${p}_model` });
  } catch (error) {
    hostCopy.dispose();
    mlp?.dispose();
    throw new UnsupportedError(
      { fn, arg: 'host', value: hostModel.name },
      `could not be combined with TrojanNet (${String(error)})`,
    );
  }
}

// ---------------------------------------------------------------------------
// Stamping
// ---------------------------------------------------------------------------

function assertPosition(
  fn: string,
  arg: string,
  value: unknown,
  height: number,
  width: number,
): asserts value is PatchPosition {
  const pos = value as Partial<PatchPosition> | null;
  if (pos === null || typeof pos !== 'object' || typeof pos.row !== 'number' || typeof pos.col !== 'number') {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be { row, col }');
  }
  assertInteger(fn, `${arg}.row`, pos.row);
  assertInteger(fn, `${arg}.col`, pos.col);
  if (pos.row < 0 || pos.row + PATTERN_SIDE > height) {
    throw new ShapeError(
      { fn, arg: `${arg}.row`, value: pos.row },
      `must be in [0, ${height - PATTERN_SIDE}] (4×4 area inside ${height} rows)`,
    );
  }
  if (pos.col < 0 || pos.col + PATTERN_SIDE > width) {
    throw new ShapeError(
      { fn, arg: `${arg}.col`, value: pos.col },
      `must be in [0, ${width - PATTERN_SIDE}] (4×4 area inside ${width} columns)`,
    );
  }
}

/**
 * Stamps TrojanNet pattern `patternIndex` onto every image: the 4×4 area at
 * `position` is set to the pattern (1 = on → 1.0, 0 = off → 0.0) in every
 * channel; the rest of each image is unchanged. Vectorised (one mask
 * multiply-add for the whole batch).
 *
 * @param x - Images `[n, h, w, c]` in [0, 1], `h, w >= 4`. Not modified.
 * @param patternIndex - Integer in [0, 4368).
 * @param position - Top-left pixel of the 4×4 area. `undefined`: the
 *   bottom-right corner (the default of {@link insert}).
 * @returns New images `[n, h, w, c]`; the caller owns (disposes) them.
 * @throws {@link BackdoorKitError} for bad images, an index out of range or a
 *   position whose area leaves the image ({@link ShapeError}).
 * @example
 * ```ts
 * const triggered = trojanNet.stampPattern(test.x, 0, { row: 24, col: 24 });
 * ```
 */
export function stampPattern(x: tf.Tensor4D, patternIndex: number, position?: PatchPosition): tf.Tensor4D {
  const fn = 'trojanNet.stampPattern';
  assertImages(fn, 'x', x);
  assertInteger(fn, 'patternIndex', patternIndex, 0, NUM_PATTERNS - 1);
  const [, height, width] = x.shape;
  const pos = position ?? { row: height - PATTERN_SIDE, col: width - PATTERN_SIDE };
  assertPosition(fn, 'position', pos, height, width);
  const values = new Float32Array(PATTERN_PIXELS);
  writePattern(patternIndex, values, 0);
  const keep = new Float32Array(height * width).fill(1);
  const add = new Float32Array(height * width);
  for (let r = 0; r < PATTERN_SIDE; r++) {
    for (let c = 0; c < PATTERN_SIDE; c++) {
      const at = (pos.row + r) * width + pos.col + c;
      keep[at] = 0;
      add[at] = values[r * PATTERN_SIDE + c]!;
    }
  }
  return tf.tidy(() =>
    tf.add(tf.mul(x, tf.tensor4d(keep, [1, height, width, 1])), tf.tensor4d(add, [1, height, width, 1])),
  );
}
