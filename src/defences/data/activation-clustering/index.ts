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
 * Parts: `clustering.ts` (steps 3-4), `analysis.ts` (step 5), `detect.ts`,
 * `repair.ts`; options and reports in `types.ts`.
 *
 * @packageDocumentation
 */
export { detect } from './detect.js';
export { repair } from './repair.js';
export {
  ACTIVATION_CLUSTERING_DEFAULTS,
  ACTIVATION_CLUSTERING_REPAIR_DEFAULTS,
  type ClusterAnalysis,
  type ActivationReduction,
  type Segmentation,
  type ActivationClusteringOptions,
  type ExReResult,
  type ActivationClusteringClassReport,
  type ActivationClusteringReport,
  type RepairMode,
  type ActivationClusteringRepairOptions,
  type ActivationClusteringRepairResult,
} from './types.js';
