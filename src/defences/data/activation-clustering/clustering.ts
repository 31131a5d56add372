/**
 * Activation Clustering, steps 3-4: per class, reduction (FastICA or PCA),
 * seeded 2-means, and the measures the analyses read (sizes, silhouette,
 * separation of the two clusters).
 *
 * @packageDocumentation
 */
import { fastIcaOn } from '../../../stats/fast-ica.js';
import { kmeansOn } from '../../../stats/kmeans.js';
import { centred, columnMeans, selectRows, type RowMatrix } from '../../../stats/matrix.js';
import { principalAxes, project } from '../../../stats/pca.js';
import { meanSilhouette } from '../../../stats/silhouette.js';
import type { ACTIVATION_CLUSTERING_DEFAULTS } from './types.js';

const MAX_SEPARATION = 1e6;

export interface ClassClustering {
  readonly indices: Int32Array;
  /** Cluster (0 smaller, 1 larger) per member, or undefined if not clustered. */
  readonly labels: Int32Array | undefined;
  readonly dims: number;
  readonly sizes: number[];
  readonly silhouette: number;
  readonly separation: number;
}

/** Reduces and 2-means-clusters the activations of one class. */
export function clusterClass(
  fn: string,
  acts: RowMatrix,
  indices: Int32Array,
  o: typeof ACTIVATION_CLUSTERING_DEFAULTS,
  seed: number,
): ClassClustering {
  const n = indices.length;
  const none: ClassClustering = {
    indices,
    labels: undefined,
    dims: 0,
    sizes: [n, 0],
    silhouette: NaN,
    separation: NaN,
  };
  if (n < 2) return none;
  const m = selectRows(acts, indices);
  let reduced: RowMatrix;
  let dims: number;
  if (o.reduction === 'none') {
    reduced = m;
    dims = m.cols;
    let variance = 0;
    const mean = columnMeans(m);
    for (let i = 0; i < m.values.length; i++) variance += (m.values[i]! - mean[i % m.cols]!) ** 2;
    if (!(variance > 0)) return none;
  } else {
    const mean = columnMeans(m);
    const xc = centred(m, mean);
    const want = Math.min(o.dims, n - 1);
    // rank of this class's activations caps the components (dead units, few samples)
    const basis = principalAxes(xc, want, n);
    dims = Math.min(want, basis.rank);
    if (dims < 1) return none;
    if (o.reduction === 'pca') {
      reduced = { values: project(xc, basis.axes, dims), rows: n, cols: dims };
    } else {
      reduced = fastIcaOn(fn, m, dims, {
        algorithm: 'parallel',
        alpha: 1,
        maxIterations: o.icaMaxIterations,
        tolerance: o.icaTolerance,
        seed,
      }).sources;
    }
  }
  const km = kmeansOn(reduced, 2, {
    nInit: o.nInit,
    maxIterations: o.kmeansMaxIterations,
    tolerance: 1e-4,
    seed,
  });
  // cluster 0 = the smaller one (ties: keep k-means' first-appearance order)
  const swap = km.sizes[1]! < km.sizes[0]!;
  const labels = swap ? km.labels.map((l) => 1 - l) : km.labels;
  const sizes = swap ? [km.sizes[1]!, km.sizes[0]!] : [km.sizes[0]!, km.sizes[1]!];
  if (sizes[0] === 0) {
    return { indices, labels, dims, sizes, silhouette: NaN, separation: 0 };
  }
  const silhouette = meanSilhouette(
    reduced,
    labels,
    2,
    n > o.silhouetteSampleSize ? o.silhouetteSampleSize : undefined,
    seed,
  );
  return { indices, labels, dims, sizes, silhouette, separation: separationOf(reduced, labels) };
}

/**
 * Distance between the two cluster means along the line joining them, over
 * the pooled within-cluster standard deviation of the projections.
 */
function separationOf(m: RowMatrix, labels: Int32Array): number {
  const { values, rows, cols } = m;
  const c = [new Float64Array(cols), new Float64Array(cols)];
  const count = [0, 0];
  for (let i = 0; i < rows; i++) {
    const l = labels[i]!;
    count[l]!++;
    for (let j = 0; j < cols; j++) c[l]![j]! += values[i * cols + j]!;
  }
  const axis = new Float64Array(cols);
  let norm = 0;
  for (let j = 0; j < cols; j++) {
    c[0]![j]! /= count[0]!;
    c[1]![j]! /= count[1]!;
    axis[j] = c[1]![j]! - c[0]![j]!;
    norm += axis[j]! ** 2;
  }
  norm = Math.sqrt(norm);
  if (norm === 0) return 0;
  const mean = [0, 0];
  const sq = [0, 0];
  for (let i = 0; i < rows; i++) {
    let t = 0;
    for (let j = 0; j < cols; j++) t += values[i * cols + j]! * axis[j]!;
    t /= norm;
    const l = labels[i]!;
    mean[l]! += t;
    sq[l]! += t * t;
  }
  let within = 0;
  for (const l of [0, 1]) {
    const mu = mean[l]! / count[l]!;
    within += sq[l]! - count[l]! * mu * mu;
    mean[l] = mu;
  }
  const sd = Math.sqrt(Math.max(0, within) / rows);
  const gap = Math.abs(mean[1]! - mean[0]!);
  return sd > 0 ? Math.min(MAX_SEPARATION, gap / sd) : MAX_SEPARATION;
}

/** Per-dimension median of the given rows of `acts`. */
export function medianRow(acts: RowMatrix, rows: ArrayLike<number>): Float64Array {
  const { values, cols } = acts;
  const out = new Float64Array(cols);
  const col = new Float64Array(rows.length);
  for (let j = 0; j < cols; j++) {
    for (let r = 0; r < rows.length; r++) col[r] = values[rows[r]! * cols + j]!;
    col.sort();
    const h = col.length >> 1;
    out[j] = col.length % 2 === 1 ? col[h]! : (col[h - 1]! + col[h]!) / 2;
  }
  return out;
}

export function euclid(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Members of cluster `k` of a clustered class. */
export function membersOf(cl: ClassClustering, k: number): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < cl.indices.length; i++) if (cl.labels![i] === k) out.push(cl.indices[i]!);
  return Int32Array.from(out);
}
