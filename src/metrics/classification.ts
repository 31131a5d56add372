/**
 * Clean accuracy, attack success rate (ASR), robust accuracy and the
 * confusion matrix: one definition each, used by every module and benchmark.
 * Each comes in two forms: on a classifier and data (batched prediction),
 * and on predicted labels (`...FromLabels`), so results can be computed by
 * hand.
 *
 * @packageDocumentation
 */
import { assertClassifier, type Classifier } from '../core/classifier.js';
import { EmptyDataError } from '../core/errors.js';
import type { AnyLabeledData } from '../core/types.js';
import { assertInteger, assertPositiveInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertLabeledData } from '../core/validate.js';
import { checkIntegers, checkSameLength, expandTarget } from './arrays.js';
import { predictLabelsUnchecked, resolvePredictOptions, type PredictOptions } from './predict.js';

/**
 * Share of samples whose predicted label equals the true label.
 *
 * @param pred - Predicted labels (Int32Array or array of integers >= 0).
 * @param truth - True labels, same length.
 * @returns Accuracy in [0, 1].
 * @throws InvalidArgumentError, EmptyDataError, LabelError for bad labels;
 *   ShapeError if the lengths differ.
 * @example
 * ```ts
 * metrics.accuracyFromLabels(Int32Array.of(0, 1, 2, 2), Int32Array.of(0, 1, 1, 2));   // 0.75
 * ```
 */
export function accuracyFromLabels(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  const fn = 'metrics.accuracyFromLabels';
  checkIntegers(fn, 'pred', pred);
  checkIntegers(fn, 'truth', truth);
  checkSameLength(fn, 'pred', pred, 'truth', truth);
  return accuracyUnchecked(pred, truth);
}

/** {@link accuracyFromLabels} on labels already checked (internal: the defences' own measurements). */
export function accuracyUnchecked(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) hit++;
  return hit / truth.length;
}

/**
 * The accuracy of `classifier` on data already checked, for a defence's own
 * measurements (internal; the public {@link accuracy} checks its inputs).
 */
export async function accuracyOfChecked(
  fn: string,
  classifier: Classifier,
  data: AnyLabeledData,
  batchSize: number,
): Promise<number> {
  return accuracyUnchecked(await predictLabelsUnchecked(fn, classifier, data.x, batchSize), data.y);
}

/**
 * The attack success rate toward one `target` of labels already checked: the
 * one definition of {@link attackSuccessRateFromLabels} (samples whose true
 * label is the target are left out), but `NaN` instead of an error when no
 * sample is left, for a defence that measures many labels at once (internal).
 */
export function attackSuccessOrNaN(pred: ArrayLike<number>, truth: ArrayLike<number>, target: number): number {
  let eligible = 0;
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] === target) continue;
    eligible++;
    if (pred[i] === target) hit++;
  }
  return eligible === 0 ? NaN : hit / eligible;
}

/**
 * Attack success rate from predicted labels: among the samples whose true
 * label is **not** already their target, the share predicted as the target.
 *
 * @param pred - Predicted labels of the triggered inputs.
 * @param truth - True (clean) labels of the same inputs.
 * @param target - The attacker's target class, or one target per sample
 *   (all-to-all attacks).
 * @returns ASR in [0, 1].
 * @throws EmptyDataError if every sample's true label is its target (ASR is
 *   then undefined); InvalidArgumentError / LabelError / ShapeError for bad
 *   arrays or target.
 * @example
 * ```ts
 * // sample 2 (true label 0 = target) is excluded: 2 of the 3 others hit the target
 * metrics.attackSuccessRateFromLabels(Int32Array.of(0, 0, 0, 3), Int32Array.of(1, 2, 0, 3), 0);   // 0.666...
 * ```
 */
export function attackSuccessRateFromLabels(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  target: number | ArrayLike<number>,
): number {
  const fn = 'metrics.attackSuccessRateFromLabels';
  checkIntegers(fn, 'pred', pred);
  checkIntegers(fn, 'truth', truth);
  checkSameLength(fn, 'pred', pred, 'truth', truth);
  const targets = expandTarget(fn, 'target', target, truth.length);
  return asrUnchecked(fn, 'truth', pred, truth, targets);
}

/** Throws an EmptyDataError (before any prediction) if every true label equals its target. */
function assertSomeEligible(
  fn: string,
  truthArg: string,
  truth: ArrayLike<number>,
  targets: Int32Array,
  what: string,
): void {
  for (let i = 0; i < truth.length; i++) if (truth[i] !== targets[i]) return;
  throw new EmptyDataError(
    { fn, arg: truthArg },
    `has no sample whose true label differs from its target, so ${what} is undefined`,
  );
}

function asrUnchecked(
  fn: string,
  truthArg: string,
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  targets: Int32Array,
): number {
  assertSomeEligible(fn, truthArg, truth, targets, 'the attack success rate');
  let eligible = 0;
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] === targets[i]) continue;
    eligible++;
    if (pred[i] === targets[i]) hit++;
  }
  return hit / eligible;
}

/**
 * Robust accuracy from predicted labels: the share of triggered inputs still
 * classified as their true label. If `target` is given, samples whose true
 * label already is their target are excluded (as for the ASR), so that
 * `robust + ASR <= 1` on the same samples.
 *
 * @param pred - Predicted labels of the triggered inputs.
 * @param truth - True labels.
 * @param target - Optional target class (or one per sample) for the exclusion.
 * @returns Robust accuracy in [0, 1].
 * @throws EmptyDataError if the exclusion leaves no sample; the array errors
 *   of {@link accuracyFromLabels}.
 * @example
 * ```ts
 * metrics.robustAccuracyFromLabels(Int32Array.of(1, 0, 0, 3), Int32Array.of(1, 2, 0, 3), 0);   // 0.666... (sample 2 excluded)
 * ```
 */
export function robustAccuracyFromLabels(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  target?: number | ArrayLike<number>,
): number {
  const fn = 'metrics.robustAccuracyFromLabels';
  checkIntegers(fn, 'pred', pred);
  checkIntegers(fn, 'truth', truth);
  checkSameLength(fn, 'pred', pred, 'truth', truth);
  const targets = target === undefined ? undefined : expandTarget(fn, 'target', target, truth.length);
  return robustUnchecked(fn, 'truth', pred, truth, targets);
}

function robustUnchecked(
  fn: string,
  truthArg: string,
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  targets: Int32Array | undefined,
): number {
  if (targets === undefined) return accuracyUnchecked(pred, truth);
  assertSomeEligible(fn, truthArg, truth, targets, 'robust accuracy');
  let eligible = 0;
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] === targets[i]) continue;
    eligible++;
    if (pred[i] === truth[i]) hit++;
  }
  return hit / eligible;
}

/**
 * Clean accuracy of `classifier` on `data`.
 *
 * @param classifier - Any {@link Classifier}.
 * @param data - Clean labelled data (`x` matching `classifier.inputShape`,
 *   labels in `[0, numClasses)`); not modified.
 * @param options - See {@link PredictOptions}.
 * @returns Accuracy in [0, 1].
 * @throws InvalidArgumentError, ShapeError, EmptyDataError, NonFiniteError,
 *   LabelError for a bad classifier, data or option.
 * @example
 * ```ts
 * await metrics.accuracy(clf, testSet);   // 0.9812
 * ```
 */
export async function accuracy(
  classifier: Classifier,
  data: AnyLabeledData,
  options?: PredictOptions,
): Promise<number> {
  const fn = 'metrics.accuracy';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolvePredictOptions(fn, options);
  assertLabeledData(fn, 'data', data, { inputShape: classifier.inputShape, numClasses: classifier.numClasses });
  const pred = await predictLabelsUnchecked(fn, classifier, data.x, o.batchSize);
  return accuracyUnchecked(pred, data.y);
}

/**
 * Attack success rate: the share of triggered inputs classified as the
 * attacker's target, **excluding inputs whose true label already is the
 * target** (DESIGN "Metrics").
 *
 * @param classifier - Any {@link Classifier}.
 * @param triggered - Triggered inputs with their TRUE (clean) labels.
 * @param target - Target class (all-to-one) or an Int32Array with one target
 *   per sample (all-to-all), each in `[0, numClasses)`.
 * @param options - See {@link PredictOptions}.
 * @returns ASR in [0, 1].
 * @throws EmptyDataError if every input's true label is its target; the
 *   errors of {@link accuracy}; LabelError for a target outside
 *   `[0, numClasses)`; ShapeError for per-sample targets of the wrong length.
 * @example
 * ```ts
 * const triggeredTest = poisoning.triggeredTestSet(test, { trigger, target: 0 });
 * await metrics.attackSuccessRate(clf, triggeredTest, 0);   // 0.997
 * ```
 */
export async function attackSuccessRate(
  classifier: Classifier,
  triggered: AnyLabeledData,
  target: number | ArrayLike<number>,
  options?: PredictOptions,
): Promise<number> {
  const fn = 'metrics.attackSuccessRate';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolvePredictOptions(fn, options);
  assertLabeledData(fn, 'triggered', triggered, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  const targets = expandTarget(fn, 'target', target, triggered.y.length, classifier.numClasses);
  assertSomeEligible(fn, 'triggered.y', triggered.y, targets, 'the attack success rate');
  const pred = await predictLabelsUnchecked(fn, classifier, triggered.x, o.batchSize);
  return asrUnchecked(fn, 'triggered.y', pred, triggered.y, targets);
}

/** Options of {@link robustAccuracy}. */
export interface RobustAccuracyOptions extends PredictOptions {
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
  /**
   * Attack target (one class, or one per sample). When given, inputs whose
   * true label already is their target are excluded, as for the ASR.
   * @default undefined (no exclusion)
   */
  readonly target?: number | ArrayLike<number> | undefined;
}

/** Defaults of {@link robustAccuracy}. */
export const ROBUST_ACCURACY_DEFAULTS: Readonly<{
  batchSize: number;
  target: number | ArrayLike<number> | undefined;
}> = Object.freeze({
  batchSize: 256,
  target: undefined,
});

/**
 * Robust accuracy: the share of triggered inputs still classified as their
 * true label. With `options.target`, inputs whose true label already is the
 * target are excluded (the ASR's rule), so ASR + robust accuracy <= 1 on the
 * same inputs.
 *
 * @param classifier - Any {@link Classifier}.
 * @param triggered - Triggered inputs with their TRUE labels.
 * @param options - See {@link RobustAccuracyOptions}.
 * @returns Robust accuracy in [0, 1].
 * @throws The errors of {@link attackSuccessRate}.
 * @example
 * ```ts
 * await metrics.robustAccuracy(repaired, triggeredTest, { target: 0 });   // 0.95
 * ```
 */
export async function robustAccuracy(
  classifier: Classifier,
  triggered: AnyLabeledData,
  options?: RobustAccuracyOptions,
): Promise<number> {
  const fn = 'metrics.robustAccuracy';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, ROBUST_ACCURACY_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertLabeledData(fn, 'triggered', triggered, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  const targets =
    o.target === undefined
      ? undefined
      : expandTarget(fn, 'options.target', o.target, triggered.y.length, classifier.numClasses);
  if (targets !== undefined) assertSomeEligible(fn, 'triggered.y', triggered.y, targets, 'robust accuracy');
  const pred = await predictLabelsUnchecked(fn, classifier, triggered.x, o.batchSize);
  return robustUnchecked(fn, 'triggered.y', pred, triggered.y, targets);
}

/** Result of {@link confusionMatrix}. */
export interface ConfusionMatrixReport {
  /** `matrix[t][p]`: number of samples of true class `t` predicted as `p`. */
  readonly matrix: number[][];
  /** Samples per true class (row sums). */
  readonly support: number[];
  /** Per true class, the share predicted correctly (`matrix[c][c] / support[c]`; 0 when `support[c]` is 0). */
  readonly perClassAccuracy: number[];
  /** Overall accuracy (trace / n). */
  readonly accuracy: number;
}

/**
 * Confusion matrix of predicted against true labels, with per-class accuracy
 * (recall). Rows are true classes, columns predicted classes.
 *
 * @param pred - Predicted labels in `[0, numClasses)`.
 * @param truth - True labels in `[0, numClasses)`, same length.
 * @param numClasses - Number of classes (integer >= 1).
 * @returns Plain arrays and numbers (JSON-serialisable).
 * @throws InvalidArgumentError, EmptyDataError, LabelError, ShapeError.
 * @example
 * ```ts
 * metrics.confusionMatrix(Int32Array.of(0, 1, 1), Int32Array.of(0, 1, 0), 2);
 * // { matrix: [[1, 1], [0, 1]], support: [2, 1], perClassAccuracy: [0.5, 1], accuracy: 0.666... }
 * ```
 */
export function confusionMatrix(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  numClasses: number,
): ConfusionMatrixReport {
  const fn = 'metrics.confusionMatrix';
  assertInteger(fn, 'numClasses', numClasses, 1);
  checkIntegers(fn, 'pred', pred, { numClasses });
  checkIntegers(fn, 'truth', truth, { numClasses });
  checkSameLength(fn, 'pred', pred, 'truth', truth);
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) matrix[truth[i]!]![pred[i]!]!++;
  const support = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const perClassAccuracy = matrix.map((row, c) => (support[c] === 0 ? 0 : row[c]! / support[c]!));
  let trace = 0;
  for (let c = 0; c < numClasses; c++) trace += matrix[c]![c]!;
  return { matrix, support, perClassAccuracy, accuracy: trace / truth.length };
}
