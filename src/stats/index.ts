/**
 * Numeric kernels shared by the defences, on plain arrays (no tensors):
 * FastICA, PCA, seeded k-means (ml-kmeans), silhouette coefficients, and
 * median / MAD. Exported as the `stats` namespace.
 *
 * @packageDocumentation
 */
export type { MatrixInput, RowMatrix } from './matrix.js';
export { pca, PCA_DEFAULTS, type PcaOptions, type PcaResult } from './pca.js';
export { fastIca, FAST_ICA_DEFAULTS, type FastIcaOptions, type FastIcaResult } from './fast-ica.js';
export { kmeans, KMEANS_DEFAULTS, type KMeansOptions, type KMeansResult } from './kmeans.js';
export { silhouetteSamples, silhouetteScore, SILHOUETTE_DEFAULTS, type SilhouetteOptions } from './silhouette.js';
export { median, mad, MAD_NORMAL_SCALE } from './robust.js';
export { entropyBits } from './entropy.js';
export {
  normalFit,
  normalQuantile,
  quantile,
  thresholdAtFrr,
  THRESHOLD_DEFAULTS,
  type ThresholdOptions,
  type ThresholdMethod,
  type Polarity,
} from './thresholds.js';
export {
  outlierDetection,
  MAD_CONSISTENCY,
  OUTLIER_DETECTION_DEFAULTS,
  type OutlierDetectionOptions,
  type OutlierDetectionReport,
} from './outliers.js';
