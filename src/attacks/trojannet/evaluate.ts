/**
 * TrojanNet evaluation: pattern recognition accuracy and silence on clean
 * patches; random clean patches for it.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { assertFiniteNumber, assertPositiveInteger } from '../../core/checks.js';
import { ShapeError } from '../../core/errors.js';
import { resolveOptions } from '../../core/options.js';
import { makeRng } from '../../core/rng.js';
import { assertImages } from '../../core/validate.js';
import { PATTERN_PIXELS, PATTERN_SIDE, writePattern } from './patterns.js';
import { argmaxRows } from './mlp.js';
import { assertModule, assertPatches } from './train.js';
import type { TrojanNetModule } from './types.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Clean 4×4 patches (16 values each, row-major, channel-averaged, in [0, 1]),
   * e.g. from {@link randomPatches} on clean test images. Required.
   */
  readonly cleanPatches: Float32Array;
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
export async function evaluate(module: TrojanNetModule, options: EvaluateOptions): Promise<TrojanNetEvaluation> {
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
