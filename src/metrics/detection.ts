/**
 * Detection metrics of a `suspicious` flag (or score) against ground truth:
 * confusion counts, TPR, FPR, precision, recall, F1, accuracy, and the exact
 * AUROC and ROC curve of a score. Positive = 1 = poisoned / triggered;
 * higher scores mean "more suspicious".
 *
 * @packageDocumentation
 */
import { InvalidArgumentError } from '../core/errors.js';
import { checkIntegers, checkSameLength, checkScores } from './arrays.js';

/** Result of {@link detection}. Plain numbers; JSON-serialisable. */
export interface DetectionReport {
  /** Flagged and truly positive. */
  readonly tp: number;
  /** Flagged but truly negative. */
  readonly fp: number;
  /** Not flagged and truly negative. */
  readonly tn: number;
  /** Not flagged but truly positive. */
  readonly fn: number;
  /** True-positive rate `tp / (tp + fn)`; 0 when there are no positives. */
  readonly tpr: number;
  /** False-positive rate `fp / (fp + tn)`; 0 when there are no negatives. */
  readonly fpr: number;
  /** `tp / (tp + fp)`; 0 when nothing is flagged. */
  readonly precision: number;
  /** Same as `tpr`. */
  readonly recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  readonly f1: number;
  /** `(tp + tn) / n`. */
  readonly accuracy: number;
  /**
   * Exact AUROC of `scores` (only when scores are given); `null` when the
   * ground truth holds a single class (AUROC is then undefined).
   */
  readonly auroc?: number | null;
}

/**
 * Scores a binary `suspicious` flag against the ground truth.
 *
 * 0/0 cases are defined, never NaN: precision is 0 when nothing is flagged,
 * TPR/recall is 0 when there are no positives, FPR is 0 when there are no
 * negatives, F1 is 0 when precision + recall is 0. With `scores`, the result
 * also has `auroc` ({@link auroc}), or `null` when `truth` is all 0s or all
 * 1s.
 *
 * @param flags - 1 = flagged as suspicious, 0 = not (Uint8Array or array).
 * @param truth - 1 = truly poisoned / triggered, 0 = clean; same length.
 * @param scores - Optional suspicion scores (higher = more suspicious), same
 *   length, no NaN.
 * @returns Counts and rates as plain numbers.
 * @throws InvalidArgumentError for a value other than 0/1 or a non-array;
 *   EmptyDataError for empty arrays; ShapeError for a length mismatch;
 *   NonFiniteError for a NaN score.
 * @example
 * ```ts
 * metrics.detection(Uint8Array.of(1, 1, 0, 0), Uint8Array.of(1, 0, 1, 0));
 * // { tp: 1, fp: 1, tn: 1, fn: 1, tpr: 0.5, fpr: 0.5, precision: 0.5, recall: 0.5, f1: 0.5, accuracy: 0.5 }
 * ```
 */
export function detection(
  flags: ArrayLike<number>,
  truth: ArrayLike<number>,
  scores?: ArrayLike<number>,
): DetectionReport {
  const fn = 'metrics.detection';
  checkIntegers(fn, 'flags', flags, { binary: true });
  checkIntegers(fn, 'truth', truth, { binary: true });
  checkSameLength(fn, 'flags', flags, 'truth', truth);
  if (scores !== undefined) checkScores(fn, 'scores', scores, truth.length, 'truth');
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn_ = 0;
  for (let i = 0; i < truth.length; i++) {
    if (flags[i] === 1) {
      if (truth[i] === 1) tp++;
      else fp++;
    } else if (truth[i] === 1) fn_++;
    else tn++;
  }
  const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  const tpr = ratio(tp, tp + fn_);
  const precision = ratio(tp, tp + fp);
  const report: DetectionReport = {
    tp,
    fp,
    tn,
    fn: fn_,
    tpr,
    fpr: ratio(fp, fp + tn),
    precision,
    recall: tpr,
    f1: ratio(2 * precision * tpr, precision + tpr),
    accuracy: (tp + tn) / truth.length,
  };
  if (scores === undefined) return report;
  const positives = tp + fn_;
  return { ...report, auroc: positives === 0 || positives === truth.length ? null : aurocUnchecked(scores, truth) };
}

/**
 * Exact area under the ROC curve, in the Mann–Whitney form: the probability
 * that a random positive scores higher than a random negative, ties counting
 * 1/2. Computed from mid-ranks in O(n log n); equal to the trapezoidal area
 * under {@link rocCurve}.
 *
 * @param scores - Suspicion scores (higher = more suspicious), no NaN
 *   (±Infinity allowed).
 * @param truth - 1 = positive, 0 = negative; same length; both classes present.
 * @returns AUROC in [0, 1] (0.5 = chance).
 * @throws InvalidArgumentError if `truth` is not binary or holds one class
 *   only; ShapeError, EmptyDataError, NonFiniteError for bad arrays.
 * @example
 * ```ts
 * metrics.auroc(Float32Array.of(0.9, 0.5, 0.5, 0.1), Uint8Array.of(1, 1, 0, 0));   // 0.875
 * ```
 */
export function auroc(scores: ArrayLike<number>, truth: ArrayLike<number>): number {
  const fn = 'metrics.auroc';
  checkIntegers(fn, 'truth', truth, { binary: true });
  checkScores(fn, 'scores', scores, truth.length, 'truth');
  assertBothClasses(fn, truth);
  return aurocUnchecked(scores, truth);
}

function assertBothClasses(fn: string, truth: ArrayLike<number>): void {
  let positives = 0;
  for (let i = 0; i < truth.length; i++) positives += truth[i]!;
  if (positives === 0 || positives === truth.length) {
    throw new InvalidArgumentError(
      { fn, arg: 'truth', value: truth },
      `must contain both positives (1) and negatives (0) (got ${positives} of ${truth.length} positive)`,
    );
  }
}

/** Indices of `scores` in ascending score order (stable). */
function ascendingOrder(scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => (scores[a]! < scores[b]! ? -1 : scores[a]! > scores[b]! ? 1 : a - b));
  return order;
}

function aurocUnchecked(scores: ArrayLike<number>, truth: ArrayLike<number>): number {
  const order = ascendingOrder(scores);
  const n = order.length;
  let rankSum = 0;
  let positives = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end]!] === scores[order[start]!]) end++;
    const midRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (truth[order[k]!] === 1) {
        rankSum += midRank;
        positives++;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** One point of a ROC curve. */
export interface RocPoint {
  /** False-positive rate when flagging every score `>= threshold`. */
  readonly fpr: number;
  /** True-positive rate when flagging every score `>= threshold`. */
  readonly tpr: number;
  /** The threshold; `Infinity` for the first point (nothing flagged; `JSON.stringify` writes it as `null`). */
  readonly threshold: number;
}

/**
 * The ROC curve of a score: one point per distinct score, in decreasing
 * threshold order, from (0, 0) (threshold `Infinity`, nothing flagged) to
 * (1, 1) (threshold = the lowest score, everything flagged). A sample is
 * flagged at threshold `t` when its score is `>= t`; tied scores move the
 * curve diagonally, which is why its trapezoidal area equals {@link auroc}.
 *
 * @param scores - Suspicion scores, no NaN.
 * @param truth - 1 = positive, 0 = negative; both classes present.
 * @returns The points, as plain objects.
 * @throws The errors of {@link auroc}.
 * @example
 * ```ts
 * metrics.rocCurve(Float32Array.of(0.9, 0.5, 0.5, 0.1), Uint8Array.of(1, 1, 0, 0));
 * // [{ fpr: 0, tpr: 0, threshold: Infinity }, { fpr: 0, tpr: 0.5, threshold: 0.9 },
 * //  { fpr: 0.5, tpr: 1, threshold: 0.5 }, { fpr: 1, tpr: 1, threshold: 0.1 }]
 * ```
 */
export function rocCurve(scores: ArrayLike<number>, truth: ArrayLike<number>): RocPoint[] {
  const fn = 'metrics.rocCurve';
  checkIntegers(fn, 'truth', truth, { binary: true });
  checkScores(fn, 'scores', scores, truth.length, 'truth');
  assertBothClasses(fn, truth);
  const order = ascendingOrder(scores).reverse();
  let positives = 0;
  for (let i = 0; i < truth.length; i++) positives += truth[i]!;
  const negatives = truth.length - positives;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length;) {
    const threshold = scores[order[k]!]!;
    while (k < order.length && scores[order[k]!] === threshold) {
      if (truth[order[k]!] === 1) tp++;
      else fp++;
      k++;
    }
    points.push({ fpr: fp / negatives, tpr: tp / positives, threshold });
  }
  return points;
}
