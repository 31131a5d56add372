/**
 * k-means with several seeded restarts: each restart draws k-means++ centres
 * from a seeded {@link Rng} and hands them to ml-kmeans for Lloyd's
 * iterations; the restart with the lowest inertia wins.
 *
 * @packageDocumentation
 */
import { kmeans as mlKmeans } from 'ml-kmeans';

import { makeRng, type Rng } from '../core/rng.js';
import { assertFiniteNumber, assertInRange, assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { squaredDistance, toRowMatrix, type MatrixInput, type RowMatrix } from './matrix.js';

/** Options of {@link kmeans}. */
export interface KMeansOptions {
  /** Restarts from different seeded k-means++ centres; the lowest inertia is kept. @default 10 */
  readonly nInit?: number;
  /** Lloyd iterations per restart. @default 300 */
  readonly maxIterations?: number;
  /**
   * A restart stops when no centre moves (squared distance) by more than this
   * times the mean per-column variance of the data (scikit-learn's rule).
   * @default 1e-4
   */
  readonly tolerance?: number;
  /** Seed of the k-means++ draws. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link kmeans} (restarts and iterations as scikit-learn's `KMeans`). */
export const KMEANS_DEFAULTS: Readonly<Required<KMeansOptions>> = Object.freeze({
  nInit: 10,
  maxIterations: 300,
  tolerance: 1e-4,
  seed: 0,
});

/** Result of {@link kmeans}. */
export interface KMeansResult {
  /**
   * Cluster of each row, in `[0, k)`. Clusters are numbered in order of first
   * appearance (row 0 is in cluster 0), so equal partitions get equal labels.
   */
  readonly labels: Int32Array;
  /** Cluster centres, `k × cols`, in label order. */
  readonly centroids: RowMatrix;
  /** Rows per cluster. */
  readonly sizes: Int32Array;
  /** Sum of squared distances of the rows to their centres. */
  readonly inertia: number;
  /** Lloyd iterations of the winning restart. */
  readonly iterations: number;
}

/**
 * k-means++ seeding (Arthur & Vassilvitskii 2007, with scikit-learn's
 * `2 + ⌊ln k⌋` local trials per centre) from a seeded generator.
 *
 * @internal
 */
export function kmeansPlusPlus(m: RowMatrix, k: number, rng: Rng): number[][] {
  const { values, rows, cols } = m;
  const trials = 2 + Math.floor(Math.log(k));
  const first = rng.int(rows);
  const centres: number[] = [first];
  const closest = new Float64Array(rows);
  let pot = 0;
  for (let i = 0; i < rows; i++) {
    closest[i] = squaredDistance(values, i, values, first, cols);
    pot += closest[i]!;
  }
  const candidateDist = new Float64Array(rows);
  const bestDist = new Float64Array(rows);
  for (let c = 1; c < k; c++) {
    let bestPot = Infinity;
    let bestIndex = -1;
    for (let t = 0; t < trials; t++) {
      // draw proportional to the current squared distance (uniform when all are zero)
      let idx: number;
      if (pot > 0) {
        let r = rng.next() * pot;
        idx = rows - 1;
        for (let i = 0; i < rows; i++) {
          r -= closest[i]!;
          if (r < 0) {
            idx = i;
            break;
          }
        }
      } else {
        idx = rng.int(rows);
      }
      let p = 0;
      for (let i = 0; i < rows; i++) {
        const d = Math.min(closest[i]!, squaredDistance(values, i, values, idx, cols));
        candidateDist[i] = d;
        p += d;
      }
      if (p < bestPot) {
        bestPot = p;
        bestIndex = idx;
        bestDist.set(candidateDist);
      }
    }
    centres.push(bestIndex);
    closest.set(bestDist);
    pot = bestPot;
  }
  return centres.map((i) => Array.from(values.subarray(i * cols, (i + 1) * cols)));
}

/**
 * Runs seeded k-means on an already validated matrix.
 *
 * @internal
 */
export function kmeansOn(m: RowMatrix, k: number, o: Required<KMeansOptions>): KMeansResult {
  const { values, rows, cols } = m;
  const rng = makeRng(o.seed, 'stats.kmeans');
  const data: number[][] = [];
  for (let i = 0; i < rows; i++) data.push(Array.from(values.subarray(i * cols, (i + 1) * cols)));
  const tolerance = o.tolerance * meanColumnVariance(m);
  let best: { labels: Int32Array; inertia: number; iterations: number } | undefined;
  for (let r = 0; r < o.nInit; r++) {
    const init = kmeansPlusPlus(m, k, rng);
    const res = mlKmeans(data, k, { initialization: init, maxIterations: o.maxIterations, tolerance });
    const labels = Int32Array.from(res.clusters);
    const inertia = inertiaOf(m, labels, k);
    if (best === undefined || inertia < best.inertia) best = { labels, inertia, iterations: res.iterations };
  }
  return canonical(m, best!.labels, k, best!.inertia, best!.iterations);
}

function meanColumnVariance(m: RowMatrix): number {
  const { values, rows, cols } = m;
  let total = 0;
  for (let j = 0; j < cols; j++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < rows; i++) {
      const v = values[i * cols + j]!;
      s += v;
      s2 += v * v;
    }
    total += Math.max(0, s2 / rows - (s / rows) ** 2);
  }
  return total / cols;
}

/** Sum of squared distances of rows to the mean of their cluster. */
function inertiaOf(m: RowMatrix, labels: Int32Array, k: number): number {
  const { centroids } = centresOf(m, labels, k);
  let s = 0;
  for (let i = 0; i < m.rows; i++) s += squaredDistance(m.values, i, centroids, labels[i]!, m.cols);
  return s;
}

function centresOf(m: RowMatrix, labels: Int32Array, k: number): { centroids: Float64Array; sizes: Int32Array } {
  const { values, rows, cols } = m;
  const centroids = new Float64Array(k * cols);
  const sizes = new Int32Array(k);
  for (let i = 0; i < rows; i++) {
    const c = labels[i]!;
    sizes[c]!++;
    const o = i * cols;
    for (let j = 0; j < cols; j++) centroids[c * cols + j]! += values[o + j]!;
  }
  for (let c = 0; c < k; c++) if (sizes[c]! > 0) for (let j = 0; j < cols; j++) centroids[c * cols + j]! /= sizes[c]!;
  return { centroids, sizes };
}

/** Relabels clusters in order of first appearance and recomputes the centres. */
function canonical(m: RowMatrix, raw: Int32Array, k: number, inertia: number, iterations: number): KMeansResult {
  const map = new Int32Array(k).fill(-1);
  let next = 0;
  const labels = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (map[c] === -1) map[c] = next++;
    labels[i] = map[c]!;
  }
  const { centroids, sizes } = centresOf(m, labels, k);
  return { labels, centroids: { values: centroids, rows: k, cols: m.cols }, sizes, inertia, iterations };
}

/**
 * k-means clustering (Lloyd's algorithm by ml-kmeans) with `nInit` restarts
 * from seeded k-means++ centres, keeping the restart with the lowest inertia.
 * Same seed, same result.
 *
 * @param x - Data, one sample per row.
 * @param k - Number of clusters, in `[1, rows]`.
 * @param options - {@link KMeansOptions}.
 * @returns Labels (numbered by first appearance), centres, sizes, inertia.
 * @throws {@link BackdoorKitError} for a bad matrix, `k` out of range or bad options.
 *
 * @example
 * ```ts
 * const { labels, sizes } = stats.kmeans([[0, 0], [0, 1], [10, 10], [10, 11]], 2, { seed: 1 });
 * // labels: Int32Array [0, 0, 1, 1], sizes: Int32Array [2, 2]
 * ```
 */
export function kmeans(x: MatrixInput, k: number, options: KMeansOptions = {}): KMeansResult {
  const fn = 'stats.kmeans';
  const o = resolveOptions(fn, KMEANS_DEFAULTS, options);
  const m = toRowMatrix(fn, 'x', x);
  assertInteger(fn, 'k', k, 1, m.rows);
  checkKmeansOptions(fn, o);
  return kmeansOn(m, k, o);
}

/** @internal */
export function checkKmeansOptions(fn: string, o: Required<KMeansOptions>, prefix = 'options.'): void {
  assertInteger(fn, `${prefix}nInit`, o.nInit, 1);
  assertInteger(fn, `${prefix}maxIterations`, o.maxIterations, 1);
  assertInRange(fn, `${prefix}tolerance`, o.tolerance, 0, Infinity);
  assertFiniteNumber(fn, `${prefix}seed`, o.seed);
}
