/**
 * Activation Clustering (Chen et al., SafeAI 2019): find poisoned training
 * samples by clustering the last hidden layer's activations of a model
 * trained on them, class by class, and repair the model by removing or
 * relabelling what was found.
 *
 * Steps of {@link detect} (Chen et al., Algorithm 1):
 * 1. activations of the last hidden layer (or `layer`) for every training
 *    sample, batch by batch;
 * 2. segmentation by class (given label by default, or the model's
 *    prediction as in Algorithm 1);
 * 3. per class: reduction to `dims` independent components (FastICA), then
 *    2-means with `nInit` seeded restarts;
 * 4. per class: cluster sizes, silhouette score and the separation of the two
 *    clusters along the axis joining their centres;
 * 5. a cluster analysis decides which clusters are poison: exclusionary
 *    reclassification (the paper's recommendation, default), relative size,
 *    silhouette, distance, or smaller.
 *
 * {@link repair} implements both of the paper's repairs: remove the flagged
 * samples and retrain from scratch, or relabel them to their suspected source
 * class and continue training the existing model until it converges.
 *
 * Design choices, defaults and measured numbers: docs/defences/activation-clustering.md.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { argmaxRows, DEFAULT_BATCH_SIZE, predictProbabilities } from '../core/batching.js';
import {
  findLayer,
  lastHiddenLayer,
  requireCapabilities,
  type Classifier,
  type LayeredClassifier,
  type LayerInfo,
  type TrainableClassifier,
} from '../core/classifier.js';
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../core/progress.js';
import { makeRng } from '../core/rng.js';
import type { LabeledData, LongRunningOptions, ProgressCallback } from '../core/types.js';
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
import { assertLabeledData } from '../core/validate.js';
import { fastIcaOn } from '../stats/fast-ica.js';
import { kmeansOn } from '../stats/kmeans.js';
import { centred, columnMeans, selectRows, type RowMatrix } from '../stats/matrix.js';
import { principalAxes, project } from '../stats/pca.js';
import { meanSilhouette } from '../stats/silhouette.js';
import {
  assertDataReport,
  fitUntilConverged,
  layerActivations,
  retrainAndProbe,
  retrainOnKept,
  splitFlagged,
  type DataRepairResult,
} from './data-defence-common.js';

/** The cluster analyses of Chen et al. (and ART's `smaller` and `distance`). */
export type ClusterAnalysis = 'exclusionary-reclassification' | 'relative-size' | 'silhouette' | 'distance' | 'smaller';

/** Dimensionality reduction before clustering. */
export type ActivationReduction = 'ica' | 'pca' | 'none';

/** How samples are grouped before clustering. */
export type Segmentation = 'label' | 'prediction';

/** Options of {@link detect}. */
export interface ActivationClusteringOptions extends LongRunningOptions {
  /** Layer whose activations are clustered. @default undefined (the last hidden layer, as the paper) */
  readonly layer?: string | undefined;
  /**
   * Group samples by their given label (`'label'`, ART's choice) or by the
   * model's prediction (`'prediction'`, Chen et al.'s Algorithm 1). A poison
   * sample the model did not learn is predicted as its source class and is
   * then hidden among that class's clean samples; by label it stays in the
   * class it poisons. @default 'label'
   */
  readonly segmentBy?: Segmentation;
  /** `'ica'` (FastICA, the paper), `'pca'` (principal components) or `'none'`. @default 'ica' */
  readonly reduction?: ActivationReduction;
  /** Components kept by the reduction; must be below the layer's width. @default 10 (the paper) */
  readonly dims?: number;
  /** k-means restarts per class (seeded k-means++); the lowest inertia wins. @default 50 */
  readonly nInit?: number;
  /** Lloyd iterations per restart. @default 300 */
  readonly kmeansMaxIterations?: number;
  /** FastICA iterations. @default 200 (scikit-learn; ART uses 1000, which changes nothing here: see the docs) */
  readonly icaMaxIterations?: number;
  /** FastICA tolerance. @default 0.005 (ART) */
  readonly icaTolerance?: number;
  /** Which cluster analysis flags clusters. @default 'exclusionary-reclassification' (the paper's recommendation) */
  readonly analysis?: ClusterAnalysis;
  /**
   * `'relative-size'`: a cluster with at most this share of its class is
   * poison (the paper's p%). Exclusionary reclassification: a smaller cluster
   * with at least this share makes the class ambiguous, and both of its
   * clusters are tested. @default 0.35 (ART's size threshold)
   */
  readonly sizeThreshold?: number;
  /** `'silhouette'`: the smaller cluster of a class whose silhouette is at least this is poison. @default 0.15 (the paper: 0.10–0.15) */
  readonly silhouetteThreshold?: number;
  /**
   * Exclusionary reclassification tests only classes whose two clusters are
   * separated by at least this many within-cluster standard deviations along
   * the line joining their centres (0 tests every class, as the paper).
   * @default 6
   */
  readonly separationThreshold?: number;
  /** ExRe threshold T: a tested cluster with score `l / p` below it is poison. @default 1 (the paper) */
  readonly exReThreshold?: number;
  /** Epochs of the model retrained for exclusionary reclassification. @default 8 */
  readonly retrainEpochs?: number;
  /** Batch size of that retraining. @default 128 */
  readonly retrainBatchSize?: number;
  /** Learning rate (Adam) of that retraining. @default 0.001 */
  readonly retrainLearningRate?: number;
  /** Classes larger than this get a silhouette estimated on this many sampled rows. @default 2000 */
  readonly silhouetteSampleSize?: number;
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
  /** Seed of ICA, k-means and retraining. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link detect}; each value's source is in docs/defences/activation-clustering.md. */
export const ACTIVATION_CLUSTERING_DEFAULTS = Object.freeze({
  layer: undefined as string | undefined,
  segmentBy: 'label' as Segmentation,
  reduction: 'ica' as ActivationReduction,
  dims: 10,
  nInit: 50,
  kmeansMaxIterations: 300,
  icaMaxIterations: 200,
  icaTolerance: 0.005,
  analysis: 'exclusionary-reclassification' as ClusterAnalysis,
  sizeThreshold: 0.35,
  silhouetteThreshold: 0.15,
  separationThreshold: 6,
  exReThreshold: 1,
  retrainEpochs: 8,
  retrainBatchSize: 128,
  retrainLearningRate: 0.001,
  silhouetteSampleSize: 2000,
  batchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Exclusionary reclassification of one tested cluster. */
export interface ExReResult {
  /** Cluster index (0 = the smaller cluster of the class). */
  readonly cluster: number;
  /** Members classified as the class by the model retrained without them (`l`). */
  readonly labelCount: number;
  /** Members classified as the most frequent other class (`p`). */
  readonly sourceCount: number;
  /** That other class (the suspected source); -1 if no member went elsewhere. */
  readonly source: number;
  /** ExRe score `l / max(p, 1)`; below `exReThreshold` means poison. */
  readonly score: number;
  /** Mean top-class probability of the retrained model on the members. */
  readonly confidence: number;
}

/** Per-class part of an {@link ActivationClusteringReport}. */
export interface ActivationClusteringClassReport {
  /** The class (segment). */
  readonly label: number;
  /** Samples in the segment. */
  readonly size: number;
  /** False when the class was too small (< 2 samples) or had no variance to cluster. */
  readonly clustered: boolean;
  /** Components the reduction actually kept (at most `dims`; fewer when the class has lower rank). */
  readonly dims: number;
  /** Sizes of cluster 0 (the smaller) and cluster 1. */
  readonly clusterSizes: number[];
  /** Silhouette score of the 2-means split in the reduced space (NaN if not clustered). */
  readonly silhouette: number;
  /**
   * Distance between the two cluster centres in units of the pooled
   * within-cluster standard deviation along the line joining them (NaN if not
   * clustered; capped at 1e6).
   */
  readonly separation: number;
  /** Clusters judged poison (subset of [0, 1]). */
  readonly suspiciousClusters: number[];
  /** Exclusionary reclassification of the tested clusters (empty for other analyses or untested classes). */
  readonly exRe: ExReResult[];
  /** Most frequent suspected source of the flagged samples; -1 if none or unknown. */
  readonly suspectedSource: number;
}

/** Result of {@link detect} (plain data, JSON-serialisable apart from NaN/typed arrays). */
export interface ActivationClusteringReport {
  /** 1 for each sample judged poison. */
  readonly suspicious: Uint8Array;
  /** Cluster of each sample within its class: 0 (smaller), 1 (larger), -1 (class not clustered). */
  readonly clusters: Int8Array;
  /** Class each sample was segmented into (its label, or the model's prediction). */
  readonly segments: Int32Array;
  /**
   * Suspected source class of each flagged sample (the class the model
   * retrained without it predicts, other than its own); -1 for unflagged
   * samples and when the analysis does not estimate sources.
   */
  readonly suspectedSources: Int32Array;
  /** Per-class details, one entry per class `0 … numClasses − 1`. */
  readonly perClass: ActivationClusteringClassReport[];
  /** The analysis that decided. */
  readonly analysis: ClusterAnalysis;
  /** The clustered layer. */
  readonly layer: string;
  /** How samples were segmented. */
  readonly segmentBy: Segmentation;
  /** The reduction used. */
  readonly reduction: ActivationReduction;
  /** Models retrained (exclusionary reclassification: 0, 1 or 2). */
  readonly retrainings: number;
  /** Wall time of each stage in seconds (activations = forward passes; reduction + clustering + statistics; analysis). */
  readonly seconds: { readonly activations: number; readonly clustering: number; readonly analysis: number };
}

const MAX_SEPARATION = 1e6;

interface ClassClustering {
  readonly indices: Int32Array;
  /** Cluster (0 smaller, 1 larger) per member, or undefined if not clustered. */
  readonly labels: Int32Array | undefined;
  readonly dims: number;
  readonly sizes: number[];
  readonly silhouette: number;
  readonly separation: number;
}

/** Reduces and 2-means-clusters the activations of one class. */
function clusterClass(
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
function medianRow(acts: RowMatrix, rows: ArrayLike<number>): Float64Array {
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

function euclid(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Members of cluster `k` of a clustered class. */
function membersOf(cl: ClassClustering, k: number): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < cl.indices.length; i++) if (cl.labels![i] === k) out.push(cl.indices[i]!);
  return Int32Array.from(out);
}

/** Options validated once, shared by detect's stages. */
type ResolvedOptions = typeof ACTIVATION_CLUSTERING_DEFAULTS;

function validateOptions(fn: string, o: ResolvedOptions, width: number): void {
  assertOneOf(fn, 'options.segmentBy', o.segmentBy, ['label', 'prediction'] as const);
  assertOneOf(fn, 'options.reduction', o.reduction, ['ica', 'pca', 'none'] as const);
  assertOneOf(fn, 'options.analysis', o.analysis, [
    'exclusionary-reclassification',
    'relative-size',
    'silhouette',
    'distance',
    'smaller',
  ] as const);
  assertPositiveInteger(fn, 'options.dims', o.dims);
  if (o.reduction !== 'none' && o.dims >= width) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.dims', value: o.dims },
      `must be below the width of the clustered layer (${width} activations per sample)`,
    );
  }
  assertPositiveInteger(fn, 'options.nInit', o.nInit);
  assertPositiveInteger(fn, 'options.kmeansMaxIterations', o.kmeansMaxIterations);
  assertPositiveInteger(fn, 'options.icaMaxIterations', o.icaMaxIterations);
  assertInRange(fn, 'options.icaTolerance', o.icaTolerance, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.sizeThreshold', o.sizeThreshold, 0, 0.5);
  assertInRange(fn, 'options.silhouetteThreshold', o.silhouetteThreshold, -1, 1);
  assertInRange(fn, 'options.separationThreshold', o.separationThreshold, 0, Infinity);
  assertInRange(fn, 'options.exReThreshold', o.exReThreshold, 0, Infinity, { minOpen: true });
  assertPositiveInteger(fn, 'options.retrainEpochs', o.retrainEpochs);
  assertPositiveInteger(fn, 'options.retrainBatchSize', o.retrainBatchSize);
  assertInRange(fn, 'options.retrainLearningRate', o.retrainLearningRate, 0, Infinity, { minOpen: true });
  assertInteger(fn, 'options.silhouetteSampleSize', o.silhouetteSampleSize, 2);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
}

/** ExRe statistics of one cluster from the retrained model's probabilities. */
function exReOf(
  cluster: number,
  label: number,
  rows: ArrayLike<number>,
  probs: Float32Array,
  numClasses: number,
): { result: ExReResult; sources: Int32Array } {
  const counts = new Int32Array(numClasses);
  const sources = new Int32Array(rows.length);
  let confidence = 0;
  for (let r = 0; r < rows.length; r++) {
    const o = rows[r]! * numClasses;
    let best = 0;
    let other = label === 0 ? 1 : 0;
    for (let j = 0; j < numClasses; j++) {
      const p = probs[o + j]!;
      if (p > probs[o + best]!) best = j;
      if (j !== label && p > probs[o + other]!) other = j;
    }
    counts[best]!++;
    sources[r] = other;
    confidence += probs[o + best]!;
  }
  const l = counts[label]!;
  let p = 0;
  let source = -1;
  for (let j = 0; j < numClasses; j++) {
    if (j !== label && counts[j]! > p) {
      p = counts[j]!;
      source = j;
    }
  }
  return {
    result: {
      cluster,
      labelCount: l,
      sourceCount: p,
      source,
      score: l / Math.max(p, 1),
      confidence: rows.length > 0 ? confidence / rows.length : 0,
    },
    sources,
  };
}

/**
 * Activation Clustering (Chen et al. 2019): flags poisoned training samples.
 *
 * Clusters the activations of the last hidden layer class by class (FastICA
 * to `dims` components, 2-means) and decides which clusters are poison with
 * the chosen analysis:
 * - `'exclusionary-reclassification'` (default, the paper's recommendation):
 *   a model of the same architecture is retrained without the tested
 *   clusters and classifies them; a cluster whose members go mostly to
 *   another class (score `l / p` below `exReThreshold`) is poison, and that
 *   class is its suspected source. Tested are the classes whose clusters are
 *   well separated (`separationThreshold`); in a class split into two
 *   comparable halves (smaller cluster ≥ `sizeThreshold`) both clusters are
 *   tested (a second retraining), and if both fail the one the retrained
 *   model classifies more confidently is poison (poison is made of ordinary
 *   samples of its source classes; a clean cluster removed whole leaves its
 *   class without examples). Needs the `'train'` capability.
 * - `'relative-size'`: a cluster holding at most `sizeThreshold` of its class.
 * - `'silhouette'`: the smaller cluster of each class whose silhouette score
 *   is at least `silhouetteThreshold`.
 * - `'distance'` (ART): a cluster whose median activation is closer to
 *   another class's median than to its own class's (while the other cluster
 *   is not), measured in the layer's activation space.
 * - `'smaller'` (ART): the smaller cluster of every class.
 *
 * @param classifier - A classifier with the `'layers'` capability (and
 *   `'train'` for exclusionary reclassification), trained on `data`. Not
 *   modified.
 * @param data - The (possibly poisoned) training data. Not modified.
 * @param options - {@link ActivationClusteringOptions}.
 * @returns Per-sample flags, clusters and suspected sources, and per-class
 *   statistics (plain data).
 * @throws {@link BackdoorKitError} for a missing capability, an unknown
 *   layer or analysis, bad data, `dims` not below the layer's width, or other
 *   bad options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const report = await activationClustering.detect(clf, poisonedTrain, { seed: 1 });
 * report.suspicious;             // Uint8Array, 1 = poison
 * report.perClass[0].exRe;       // [{ cluster: 0, score: 0.1, source: 3, ... }]
 * ```
 */
export async function detect(
  classifier: Classifier,
  data: LabeledData,
  options: ActivationClusteringOptions = {},
): Promise<ActivationClusteringReport> {
  const fn = 'activationClustering.detect';
  const o = resolveOptions(fn, ACTIVATION_CLUSTERING_DEFAULTS, options);
  assertOneOf(fn, 'options.analysis', o.analysis, [
    'exclusionary-reclassification',
    'relative-size',
    'silhouette',
    'distance',
    'smaller',
  ] as const);
  const needsTraining = o.analysis === 'exclusionary-reclassification';
  requireCapabilities(fn, 'classifier', classifier, needsTraining ? ['layers', 'train'] : ['layers']);
  const clf = classifier as LayeredClassifier;
  const info: LayerInfo =
    o.layer === undefined ? lastHiddenLayer(fn, clf) : findLayer(fn, 'options.layer', clf, o.layer);
  const width = info.outputShape.reduce((a, b) => a * b, 1);
  validateOptions(fn, o, width);
  const K = clf.numClasses;
  assertLabeledData(fn, 'data', data, { inputShape: clf.inputShape, numClasses: K });
  throwIfAborted(o.signal, fn);
  const n = data.y.length;
  const rng = makeRng(o.seed, fn);

  // 1. activations
  let t0 = performance.now();
  const acts = await layerActivations(
    fn,
    clf,
    data.x,
    info.name,
    o.batchSize,
    o.onProgress,
    o.signal,
    'activation-clustering:activations',
  );
  if (acts.cols !== width) {
    throw new ShapeError(
      { fn, arg: 'options.layer', value: info.name },
      `gave ${acts.cols} activations, expected ${width}`,
    );
  }
  const segments =
    o.segmentBy === 'label'
      ? Int32Array.from(data.y)
      : argmaxRows(await predictProbabilities(clf, data.x, o.batchSize), K);
  const secondsActivations = (performance.now() - t0) / 1000;

  // 2–4. per-class reduction, clustering and statistics
  t0 = performance.now();
  const members: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < n; i++) members[segments[i]!]!.push(i);
  const classes: ClassClustering[] = [];
  for (let c = 0; c < K; c++) {
    throwIfAborted(o.signal, fn);
    classes.push(clusterClass(fn, acts, Int32Array.from(members[c]!), o, rng.derive(`class ${c}`).nextSeed()));
    report(o.onProgress, { stage: 'activation-clustering:cluster', done: c + 1, total: K });
    if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
  }
  const clusters = new Int8Array(n).fill(-1);
  for (const cl of classes) if (cl.labels !== undefined) cl.indices.forEach((i, r) => (clusters[i] = cl.labels![r]!));
  const secondsClustering = (performance.now() - t0) / 1000;

  // 5. analysis
  t0 = performance.now();
  const suspiciousClusters: number[][] = Array.from({ length: K }, () => []);
  const exRe: ExReResult[][] = Array.from({ length: K }, () => []);
  const suspectedSources = new Int32Array(n).fill(-1);
  const classSource = new Int32Array(K).fill(-1);
  const twoClusters = (cl: ClassClustering): boolean => cl.labels !== undefined && cl.sizes[0]! > 0;
  let retrainings = 0;

  if (o.analysis === 'smaller') {
    classes.forEach((cl, c) => {
      if (twoClusters(cl)) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'relative-size') {
    classes.forEach((cl, c) => {
      if (!twoClusters(cl)) return;
      const share = cl.sizes[0]! / (cl.sizes[0]! + cl.sizes[1]!);
      if (share <= o.sizeThreshold) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'silhouette') {
    classes.forEach((cl, c) => {
      if (twoClusters(cl) && cl.silhouette >= o.silhouetteThreshold) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'distance') {
    const classMedian = classes.map((cl) => (cl.indices.length > 0 ? medianRow(acts, cl.indices) : undefined));
    classes.forEach((cl, c) => {
      if (!twoClusters(cl)) return;
      const own = classMedian[c]!;
      const med = [medianRow(acts, membersOf(cl, 0)), medianRow(acts, membersOf(cl, 1))];
      const dOwn = med.map((m) => euclid(m, own));
      let nearest = -1;
      let nearestDist = Infinity;
      const poison = [false, false];
      for (let j = 0; j < K; j++) {
        const other = classMedian[j];
        if (j === c || other === undefined) continue;
        const d = med.map((m) => euclid(m, other));
        for (const k of [0, 1]) {
          if (d[k]! < dOwn[k]! && d[1 - k]! > dOwn[1 - k]!) {
            poison[k] = true;
            if (d[k]! < nearestDist) {
              nearestDist = d[k]!;
              nearest = j;
            }
          }
        }
      }
      for (const k of [0, 1]) if (poison[k]) suspiciousClusters[c]!.push(k);
      if (nearest >= 0) classSource[c] = nearest;
    });
  } else {
    const trainable = classifier as TrainableClassifier & LayeredClassifier;
    // classes worth testing, and which of their clusters
    const tested: number[][] = classes.map((cl) => {
      if (!twoClusters(cl) || cl.separation < o.separationThreshold) return [];
      const share = cl.sizes[0]! / (cl.sizes[0]! + cl.sizes[1]!);
      return share >= o.sizeThreshold ? [0, 1] : [0];
    });
    // world 1 excludes cluster 0 of every tested class; world 2 excludes cluster 1 of the
    // ambiguous classes (and cluster 0 of the others, so that no known suspect trains it)
    const worlds: Array<{ exclude: Array<[number, number]>; probe: Array<[number, number]> }> = [];
    const w1: Array<[number, number]> = [];
    tested.forEach((ks, c) => ks.length > 0 && w1.push([c, 0]));
    if (w1.length > 0) worlds.push({ exclude: w1, probe: w1 });
    const ambiguous = tested.flatMap((ks, c) => (ks.length === 2 ? [c] : []));
    if (ambiguous.length > 0) {
      const exclude: Array<[number, number]> = tested.flatMap((ks, c): Array<[number, number]> => {
        if (ks.length === 0) return [];
        return ks.length === 2 ? [[c, 1]] : [[c, 0]];
      });
      worlds.push({ exclude, probe: ambiguous.map((c): [number, number] => [c, 1]) });
    }
    const sourcesOf = new Map<string, Int32Array>();
    for (let w = 0; w < worlds.length; w++) {
      throwIfAborted(o.signal, fn);
      const world = worlds[w]!;
      const excluded = new Uint8Array(n);
      for (const [c, k] of world.exclude) for (const i of membersOf(classes[c]!, k)) excluded[i] = 1;
      const probeLists = world.probe.map(([c, k]) => membersOf(classes[c]!, k));
      const probe = Int32Array.from(probeLists.flatMap((l) => Array.from(l)));
      const probs = await retrainAndProbe(
        fn,
        trainable,
        data,
        excluded,
        probe,
        {
          epochs: o.retrainEpochs,
          batchSize: o.retrainBatchSize,
          learningRate: o.retrainLearningRate,
          evalBatchSize: o.batchSize,
          onProgress: o.onProgress,
          signal: o.signal,
        },
        rng.derive(`retrain ${w}`).nextSeed(),
        `activation-clustering:retrain ${w + 1}/${worlds.length}`,
      );
      retrainings++;
      let offset = 0;
      world.probe.forEach(([c, k], p) => {
        const rows = Int32Array.from({ length: probeLists[p]!.length }, (_, r) => offset + r);
        offset += rows.length;
        const { result, sources } = exReOf(k, c, rows, probs, K);
        exRe[c]!.push(result);
        sourcesOf.set(`${c}:${k}`, sources);
      });
    }
    exRe.forEach((results, c) => {
      results.sort((a, b) => a.cluster - b.cluster);
      const failing = results.filter((r) => r.score < o.exReThreshold);
      if (failing.length === 0) return;
      const pick = failing.reduce((a, b) => (b.confidence > a.confidence ? b : a));
      suspiciousClusters[c]!.push(pick.cluster);
      const idx = membersOf(classes[c]!, pick.cluster);
      const src = sourcesOf.get(`${c}:${pick.cluster}`)!;
      idx.forEach((i, r) => (suspectedSources[i] = src[r]!));
    });
  }

  const suspicious = new Uint8Array(n);
  const perClass: ActivationClusteringClassReport[] = classes.map((cl, c) => {
    const flagged = suspiciousClusters[c]!;
    for (const k of flagged) for (const i of membersOf(cl, k)) suspicious[i] = 1;
    let source = classSource[c]!;
    if (o.analysis === 'exclusionary-reclassification' && flagged.length > 0) {
      const counts = new Int32Array(K);
      for (const k of flagged)
        for (const i of membersOf(cl, k)) if (suspectedSources[i]! >= 0) counts[suspectedSources[i]!]!++;
      let best = 0;
      for (let j = 0; j < K; j++) {
        if (counts[j]! > best) {
          best = counts[j]!;
          source = j;
        }
      }
    }
    return {
      label: c,
      size: cl.indices.length,
      clustered: cl.labels !== undefined,
      dims: cl.dims,
      clusterSizes: cl.sizes,
      silhouette: cl.silhouette,
      separation: cl.separation,
      suspiciousClusters: flagged.slice().sort(),
      exRe: exRe[c]!,
      suspectedSource: flagged.length > 0 ? source : -1,
    };
  });
  const secondsAnalysis = (performance.now() - t0) / 1000;
  return {
    suspicious,
    clusters,
    segments,
    suspectedSources,
    perClass,
    analysis: o.analysis,
    layer: info.name,
    segmentBy: o.segmentBy,
    reduction: o.reduction,
    retrainings,
    seconds: { activations: secondsActivations, clustering: secondsClustering, analysis: secondsAnalysis },
  };
}

// ---------------------------------------------------------------------------
// repair

/** The paper's two repairs. */
export type RepairMode = 'relabel' | 'retrain';

/** Options of {@link repair}. */
export interface ActivationClusteringRepairOptions extends LongRunningOptions {
  /**
   * `'relabel'`: give each flagged sample its suspected source class and
   * continue training the given model until it converges (the paper's faster
   * repair); `'retrain'`: drop the flagged samples and train a freshly
   * initialised model of the same architecture until it converges.
   * @default 'relabel'
   */
  readonly mode?: RepairMode;
  /** Most epochs to train. @default 30 */
  readonly maxEpochs?: number;
  /** Training stops once an epoch lowers the mean training loss by less than this share of the previous epoch's loss. @default 0.05 */
  readonly tolerance?: number;
  /** Samples per gradient step. @default 128 */
  readonly batchSize?: number;
  /** Adam step size. @default 0.001 */
  readonly learningRate?: number;
  /**
   * `'relabel'` when the report has no suspected sources (analyses other than
   * exclusionary reclassification): epochs of the model trained on the
   * unflagged samples to estimate them. @default 8
   */
  readonly sourceEpochs?: number;
  /** Samples per forward pass. @default 256 */
  readonly evalBatchSize?: number;
  /** Seed of initialisation and shuffling. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link repair}; sources in docs/defences/activation-clustering.md. */
export const ACTIVATION_CLUSTERING_REPAIR_DEFAULTS = Object.freeze({
  mode: 'relabel' as RepairMode,
  maxEpochs: 30,
  tolerance: 0.05,
  batchSize: 128,
  learningRate: 0.001,
  sourceEpochs: 8,
  evalBatchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/**
 * Result of {@link repair}: the repaired classifier (a new one; the given
 * classifier is unchanged) and the cleaned training data (flagged samples
 * removed for `'retrain'`, relabelled for `'relabel'`). The caller owns
 * (disposes) `classifier` and `data.x`.
 */
export interface ActivationClusteringRepair<C extends Classifier> extends DataRepairResult<C> {
  /** The repair that ran. */
  readonly mode: RepairMode;
  /** Samples relabelled. */
  readonly relabelled: number;
}

/**
 * Repairs a model with an Activation Clustering report (Chen et al., "Backdoor
 * Repair"): either relabel the flagged samples to their suspected source
 * class and continue training the existing model until it converges
 * (`'relabel'`, default), or remove them and retrain a freshly initialised
 * model from scratch until it converges (`'retrain'`). Convergence: an epoch
 * that lowers the mean training loss by less than `tolerance` of the previous
 * epoch's.
 *
 * @param classifier - The model `detect` examined; needs the `'train'`
 *   capability. Not modified (a clone is trained).
 * @param data - The training data `detect` examined. Not modified.
 * @param report - The {@link ActivationClusteringReport} (or any report with
 *   `suspicious`, and optionally `suspectedSources`, for `data`).
 * @param options - {@link ActivationClusteringRepairOptions}.
 * @returns The repaired classifier, the cleaned data (the caller disposes
 *   both) and training diagnostics.
 * @throws {@link BackdoorKitError} for a missing capability, a report that
 *   does not match `data`, bad options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const found = await activationClustering.detect(clf, train);
 * const { classifier: repaired, data: cleaned, epochs } = await activationClustering.repair(clf, train, found);
 * // … use repaired; then repaired.dispose(); cleaned.x.dispose();
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  data: LabeledData,
  report: ActivationClusteringReport | { suspicious: Uint8Array; suspectedSources?: Int32Array },
  options: ActivationClusteringRepairOptions = {},
): Promise<ActivationClusteringRepair<C>> {
  const fn = 'activationClustering.repair';
  const o = resolveOptions(fn, ACTIVATION_CLUSTERING_REPAIR_DEFAULTS, options);
  requireCapabilities(fn, 'classifier', classifier, ['train']);
  const trainable = classifier as unknown as TrainableClassifier;
  assertOneOf(fn, 'options.mode', o.mode, ['relabel', 'retrain'] as const);
  assertPositiveInteger(fn, 'options.maxEpochs', o.maxEpochs);
  assertInRange(fn, 'options.tolerance', o.tolerance, 0, 1);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertPositiveInteger(fn, 'options.sourceEpochs', o.sourceEpochs);
  assertPositiveInteger(fn, 'options.evalBatchSize', o.evalBatchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertOptionalFunction(fn, 'options.onProgress', o.onProgress);
  assertOptionalSignal(fn, o.signal);
  assertLabeledData(fn, 'data', data, { inputShape: classifier.inputShape, numClasses: classifier.numClasses });
  const n = data.y.length;
  assertDataReport(fn, report, n);
  throwIfAborted(o.signal, fn);
  const { flagged, kept } = splitFlagged(fn, report.suspicious);
  const rng = makeRng(o.seed, fn);
  const fitOptions = { ...o, seed: rng.derive('fit').nextSeed() };
  if (o.mode === 'retrain') {
    const initSeed = rng.derive('init').nextSeed();
    const { model, ...r } = await retrainOnKept(
      fn,
      trainable,
      data,
      kept,
      initSeed,
      fitOptions,
      'activation-clustering:repair',
    );
    return { classifier: model as unknown as C, mode: o.mode, removed: flagged.length, relabelled: 0, ...r };
  }
  // relabel: sources from the report, or from a model trained on the unflagged samples
  const labels = Int32Array.from(data.y);
  let sources = report.suspectedSources;
  const missing = flagged.some((i) => sources === undefined || sources[i]! < 0 || sources[i] === data.y[i]);
  if (missing && flagged.length > 0) {
    const excluded = new Uint8Array(n);
    for (const i of flagged) excluded[i] = 1;
    const probs = await retrainAndProbe(
      fn,
      trainable,
      data,
      excluded,
      Int32Array.from(flagged),
      {
        epochs: o.sourceEpochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        evalBatchSize: o.evalBatchSize,
        onProgress: o.onProgress,
        signal: o.signal,
      },
      rng.derive('sources').nextSeed(),
      'activation-clustering:repair-sources',
    );
    const K = classifier.numClasses;
    const estimated = new Int32Array(n).fill(-1);
    flagged.forEach((i, r) => {
      const own = data.y[i]!;
      let best = own === 0 ? 1 : 0;
      for (let j = 0; j < K; j++) if (j !== own && probs[r * K + j]! > probs[r * K + best]!) best = j;
      estimated[i] = sources !== undefined && sources[i]! >= 0 && sources[i] !== own ? sources[i]! : best;
    });
    sources = estimated;
  }
  for (const i of flagged) labels[i] = sources![i]!;
  const cleaned: LabeledData = { x: tf.clone(data.x), y: labels };
  const model = trainable.clone();
  try {
    const r = await fitUntilConverged(fn, model, cleaned, fitOptions, 'activation-clustering:repair');
    return {
      classifier: model as unknown as C,
      data: cleaned,
      mode: o.mode,
      removed: 0,
      relabelled: flagged.length,
      ...r,
    };
  } catch (e) {
    model.dispose();
    cleaned.x.dispose();
    throw e;
  }
}
