/**
 * Metrics, exported as the `metrics` namespace: one definition each of clean
 * accuracy, attack success rate (excluding inputs whose true label already is
 * the target), robust accuracy, the confusion matrix, and detection metrics
 * (TPR, FPR, precision, recall, F1, exact AUROC, ROC curve). Results are plain
 * numbers and objects.
 *
 * @packageDocumentation
 */
export { predictLabels, PREDICT_DEFAULTS, type PredictOptions } from './predict.js';
export {
  accuracy,
  accuracyFromLabels,
  attackSuccessRate,
  attackSuccessRateFromLabels,
  robustAccuracy,
  robustAccuracyFromLabels,
  ROBUST_ACCURACY_DEFAULTS,
  type RobustAccuracyOptions,
  confusionMatrix,
  type ConfusionMatrixReport,
} from './classification.js';
export { detection, auroc, rocCurve, type DetectionReport, type RocPoint } from './detection.js';
