/**
 * After training: the noise-bias calibration, the margin refinement of the
 * output layer and the BatchNorm recalibration.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { throwIfAborted } from '../../core/progress.js';
import type { Rng } from '../../core/rng.js';
import { PATTERN_PIXELS } from './patterns.js';
import { hidden, HIDDEN_UNITS } from './mlp.js';

/**
 * Lowers the no-trigger output's bias by the smallest amount (plus 0.01) that
 * makes every pattern that loses only to "no trigger" win. Patterns that lose
 * to another pattern cannot be fixed this way and are left alone.
 *
 * @returns The shift applied (0 when none was needed).
 */
export async function calibrateNoiseBias(model: tfl.LayersModel, patternRows: Float32Array): Promise<number> {
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
export async function refineOutput(
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
export function recalibrateBatchNorm(model: tfl.LayersModel, x: tf.Tensor2D): void {
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
