/**
 * Options, defaults and report types of Activation Clustering's detect and
 * repair.
 *
 * @packageDocumentation
 */
import { DEFAULT_BATCH_SIZE } from '../../../core/batching.js';
import type { Classifier } from '../../../core/classifier.js';
import type { LongRunningOptions, ProgressCallback, Timing } from '../../../core/types.js';
import type { DataRepairResult } from '../shared.js';

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
  /**
   * Components kept by the reduction; must be below the layer's width. Left
   * at its default, a layer of at most 10 units is clustered without
   * reduction (sklearn's FastICA, which ART uses, would keep all components).
   * @default 10 (the paper)
   */
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
  readonly trainBatchSize?: number;
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
  trainBatchSize: 128,
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
  /**
   * Wall time (not deterministic): stages `activations` (forward passes),
   * `clustering` (reduction + clustering + statistics) and `analysis`.
   */
  readonly timing: Timing & {
    readonly stages: { readonly activations: number; readonly clustering: number; readonly analysis: number };
  };
}

/** Options validated once, shared by detect's stages. */
export type ResolvedOptions = typeof ACTIVATION_CLUSTERING_DEFAULTS;
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
  readonly trainBatchSize?: number;
  /** Adam step size. @default 0.001 */
  readonly learningRate?: number;
  /**
   * `'relabel'` when the report has no suspected sources (analyses other than
   * exclusionary reclassification): epochs of the model trained on the
   * unflagged samples to estimate them. @default 8
   */
  readonly sourceEpochs?: number;
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
  /** Seed of initialisation and shuffling. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link repair}; sources in docs/defences/activation-clustering.md. */
export const ACTIVATION_CLUSTERING_REPAIR_DEFAULTS = Object.freeze({
  mode: 'relabel' as RepairMode,
  maxEpochs: 30,
  tolerance: 0.05,
  trainBatchSize: 128,
  learningRate: 0.001,
  sourceEpochs: 8,
  batchSize: DEFAULT_BATCH_SIZE,
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
export interface ActivationClusteringRepairResult<C extends Classifier> extends DataRepairResult<C> {
  /** The repair that ran. */
  readonly mode: RepairMode;
  /** Samples relabelled. */
  readonly relabelled: number;
}
