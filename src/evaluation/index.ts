/**
 * Evaluation of a defence, following Milakovic & Mayer's workflow: measure a
 * classifier before and after a defence on a clean test set and a triggered
 * test set (clean accuracy, attack success rate, robust accuracy and their
 * deltas), add detection metrics where ground truth exists and the time the
 * defence took, and render rows of such results as one markdown table.
 *
 * Browser-safe: no Node module is imported.
 *
 * @packageDocumentation
 */
import { assertClassifier, type Classifier } from '../core/classifier.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { AnyLabeledData } from '../core/types.js';
import { assertFiniteNumber, assertOptionsObject, assertPositiveInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertLabeledData } from '../core/validate.js';
import { checkIntegers, checkSameLength, expandTarget } from '../metrics/arrays.js';
import {
  accuracyFromLabels,
  attackSuccessRateFromLabels,
  robustAccuracyFromLabels,
} from '../metrics/classification.js';
import { detection as detectionMetrics, type DetectionReport } from '../metrics/detection.js';
import { predictLabels } from '../metrics/predict.js';

/** Clean accuracy, ASR and robust accuracy of one classifier (fractions in [0, 1]). */
export interface ModelScores {
  /** Accuracy on the clean test set. */
  readonly cleanAccuracy: number;
  /** Share of triggered inputs (true label ≠ target) classified as the target. */
  readonly asr: number;
  /** Share of triggered inputs (true label ≠ target) classified as their true label. */
  readonly robustAccuracy: number;
}

/** A model-level verdict (Neural Cleanse style) to show beside the scores. */
export interface Verdict {
  /** Whether a backdoor was found. */
  readonly backdoored: boolean;
  /** The flagged target labels. */
  readonly targets: readonly number[];
}

/** Ground truth for detection metrics: flags (1 = flagged) against truth (1 = poisoned/triggered). */
export interface DetectionInput {
  /** What the defence flagged, one 0/1 per item. */
  readonly flags: ArrayLike<number>;
  /** Ground truth, one 0/1 per item. */
  readonly truth: ArrayLike<number>;
  /** Optional suspicion scores (higher = more suspicious) for AUROC. */
  readonly scores?: ArrayLike<number> | undefined;
}

/** The data and classifiers {@link evaluate} measures. */
export interface EvaluationInput {
  /** Clean test data. Not modified. */
  readonly clean: AnyLabeledData;
  /** Triggered test data with the true labels. Not modified. */
  readonly triggered: AnyLabeledData;
  /** The attack's target: one class, or one per triggered sample. */
  readonly target: number | ArrayLike<number>;
  /** The classifier before the defence (the backdoored model). */
  readonly before: Classifier;
  /** The classifier after the defence; omit for a detection-only defence. */
  readonly after?: Classifier | undefined;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Row name (the defence). @default 'defence' */
  readonly name?: string;
  /** Flags and ground truth for TPR/FPR/precision/recall/F1 (and AUROC with scores). @default undefined */
  readonly detection?: DetectionInput | undefined;
  /** A model-level verdict to report. @default undefined */
  readonly verdict?: Verdict | undefined;
  /** Seconds the defence took. @default undefined */
  readonly seconds?: number | undefined;
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link evaluate}. */
export const EVALUATE_DEFAULTS = Object.freeze({
  name: 'defence',
  detection: undefined as DetectionInput | undefined,
  verdict: undefined as Verdict | undefined,
  seconds: undefined as number | undefined,
  batchSize: 256,
});

/** Result of {@link evaluate} / {@link evaluateFromLabels}: plain data, JSON-serialisable. */
export interface Evaluation {
  /** Row name. */
  readonly name: string;
  /** Scores of the classifier before the defence. */
  readonly before: ModelScores;
  /** Scores after the defence (`null` for a detection-only defence). */
  readonly after: ModelScores | null;
  /** `after − before` for each score (`null` without `after`). */
  readonly delta: ModelScores | null;
  /** Detection metrics (`null` without ground truth). */
  readonly detection: DetectionReport | null;
  /** The model-level verdict (`null` if none was given). */
  readonly verdict: Verdict | null;
  /** Seconds the defence took (`null` if not given). */
  readonly seconds: number | null;
}

/** Predicted labels for {@link evaluateFromLabels}. */
export interface LabelsInput {
  /** True labels of the clean test set. */
  readonly cleanTruth: ArrayLike<number>;
  /** True labels of the triggered test set. */
  readonly triggeredTruth: ArrayLike<number>;
  /** The attack's target: one class or one per triggered sample. */
  readonly target: number | ArrayLike<number>;
  /** Predictions before the defence on the clean and the triggered set. */
  readonly before: { readonly clean: ArrayLike<number>; readonly triggered: ArrayLike<number> };
  /** Predictions after the defence (omit for detection-only). */
  readonly after?: { readonly clean: ArrayLike<number>; readonly triggered: ArrayLike<number> } | undefined;
}

/** Defaults of {@link evaluateFromLabels} (those of {@link evaluate} less `batchSize`). */
export const EVALUATE_FROM_LABELS_DEFAULTS = Object.freeze({
  name: 'defence',
  detection: undefined as DetectionInput | undefined,
  verdict: undefined as Verdict | undefined,
  seconds: undefined as number | undefined,
});

function checkCommon(fn: string, o: { name: unknown; seconds: unknown; verdict: unknown }): void {
  if (typeof o.name !== 'string' || o.name.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'options.name', value: o.name }, 'must be a non-empty string');
  }
  if (o.seconds !== undefined) {
    assertFiniteNumber(fn, 'options.seconds', o.seconds);
    if (o.seconds < 0) {
      throw new InvalidArgumentError({ fn, arg: 'options.seconds', value: o.seconds }, 'must be at least 0');
    }
  }
  if (o.verdict !== undefined) {
    const v = o.verdict as Partial<Verdict> | null;
    if (v === null || typeof v !== 'object' || typeof v.backdoored !== 'boolean' || !Array.isArray(v.targets)) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.verdict', value: o.verdict },
        'must be { backdoored: boolean, targets: number[] }',
      );
    }
  }
}

function scores(
  fn: string,
  which: string,
  pred: { readonly clean: ArrayLike<number>; readonly triggered: ArrayLike<number> },
  cleanTruth: ArrayLike<number>,
  triggeredTruth: ArrayLike<number>,
  targets: Int32Array,
): ModelScores {
  checkIntegers(fn, `${which}.clean`, pred.clean);
  checkIntegers(fn, `${which}.triggered`, pred.triggered);
  checkSameLength(fn, 'labels.cleanTruth', cleanTruth, `${which}.clean`, pred.clean);
  checkSameLength(fn, 'labels.triggeredTruth', triggeredTruth, `${which}.triggered`, pred.triggered);
  return {
    cleanAccuracy: accuracyFromLabels(pred.clean, cleanTruth),
    asr: attackSuccessRateFromLabels(pred.triggered, triggeredTruth, targets),
    robustAccuracy: robustAccuracyFromLabels(pred.triggered, triggeredTruth, targets),
  };
}

/**
 * Computes an {@link Evaluation} from predicted labels (no model involved):
 * clean accuracy, ASR and robust accuracy before and after, `after − before`,
 * and detection metrics when `options.detection` is given. ASR and robust
 * accuracy leave out triggered inputs whose true label already is the target.
 *
 * @param labels - True and predicted labels ({@link LabelsInput}). Not modified.
 * @param options - Name, detection ground truth, verdict, seconds.
 * @returns An {@link Evaluation} (plain data).
 * @throws {@link InvalidArgumentError} for non-integer labels, mismatched
 *   lengths, an unknown option or a negative `seconds`;
 *   {@link EmptyDataError} when every triggered input is of the target class.
 * @example
 * ```ts
 * const e = evaluateFromLabels({
 *   cleanTruth: [0, 1], triggeredTruth: [1, 2], target: 0,
 *   before: { clean: [0, 1], triggered: [0, 0] },
 *   after: { clean: [0, 0], triggered: [1, 0] },
 * });
 * e.delta; // { cleanAccuracy: -0.5, asr: -0.5, robustAccuracy: 0.5 }
 * ```
 */
export function evaluateFromLabels(labels: LabelsInput, options?: Omit<EvaluateOptions, 'batchSize'>): Evaluation {
  const fn = 'evaluateFromLabels';
  assertOptionsObject(fn, labels, 'labels');
  const o = resolveOptions(fn, EVALUATE_FROM_LABELS_DEFAULTS, options);
  checkCommon(fn, o);
  checkIntegers(fn, 'labels.cleanTruth', labels.cleanTruth);
  checkIntegers(fn, 'labels.triggeredTruth', labels.triggeredTruth);
  const targets = expandTarget(fn, 'labels.target', labels.target, labels.triggeredTruth.length);
  const before = scores(fn, 'labels.before', labels.before, labels.cleanTruth, labels.triggeredTruth, targets);
  const after =
    labels.after === undefined
      ? null
      : scores(fn, 'labels.after', labels.after, labels.cleanTruth, labels.triggeredTruth, targets);
  const delta =
    after === null
      ? null
      : {
          cleanAccuracy: after.cleanAccuracy - before.cleanAccuracy,
          asr: after.asr - before.asr,
          robustAccuracy: after.robustAccuracy - before.robustAccuracy,
        };
  const det =
    o.detection === undefined ? null : detectionMetrics(o.detection.flags, o.detection.truth, o.detection.scores);
  return {
    name: o.name,
    before,
    after,
    delta,
    detection: det,
    verdict: o.verdict === undefined ? null : { backdoored: o.verdict.backdoored, targets: [...o.verdict.targets] },
    seconds: o.seconds ?? null,
  };
}

/**
 * Evaluates a defence (Milakovic & Mayer's steps iii–iv): predicts the clean
 * and the triggered test set with the classifier before and (if given) after
 * the defence, and returns clean accuracy, ASR, robust accuracy, their
 * deltas, detection metrics (when ground truth is given) and the time.
 *
 * @param input - Test data, target and classifiers ({@link EvaluationInput}).
 *   Nothing is modified or disposed.
 * @param options - {@link EvaluateOptions}.
 * @returns An {@link Evaluation} (plain data); render rows with {@link evaluationTable}.
 * @throws {@link InvalidArgumentError} for a bad option or target;
 *   {@link ShapeError} / {@link LabelError} when the data do not fit a
 *   classifier; {@link EmptyDataError} when every triggered input is of the target class.
 * @example
 * ```ts
 * const t0 = performance.now();
 * const { classifier: repaired } = await finePruning.repair(backdoored, clean1000);
 * const e = await evaluate(
 *   { clean: test, triggered, target: 0, before: backdoored, after: repaired },
 *   { name: 'Fine-Pruning', seconds: (performance.now() - t0) / 1000 },
 * );
 * console.log(evaluationTable([e]));
 * ```
 */
export async function evaluate(input: EvaluationInput, options?: EvaluateOptions): Promise<Evaluation> {
  const fn = 'evaluate';
  assertOptionsObject(fn, input, 'input');
  const o = resolveOptions(fn, EVALUATE_DEFAULTS, options);
  checkCommon(fn, o);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertClassifier(fn, 'input.before', input.before);
  if (input.after !== undefined) assertClassifier(fn, 'input.after', input.after);
  const shape = { inputShape: input.before.inputShape, numClasses: input.before.numClasses };
  assertLabeledData(fn, 'input.clean', input.clean, shape);
  assertLabeledData(fn, 'input.triggered', input.triggered, shape);
  expandTarget(fn, 'input.target', input.target, input.triggered.y.length, input.before.numClasses);
  if (o.detection !== undefined) detectionMetrics(o.detection.flags, o.detection.truth, o.detection.scores);
  const predict = async (c: Classifier) => ({
    clean: await predictLabels(c, input.clean.x, { batchSize: o.batchSize }),
    triggered: await predictLabels(c, input.triggered.x, { batchSize: o.batchSize }),
  });
  const before = await predict(input.before);
  const after = input.after === undefined ? undefined : await predict(input.after);
  const { batchSize: _ignored, ...rest } = o;
  void _ignored;
  return evaluateFromLabels(
    { cleanTruth: input.clean.y, triggeredTruth: input.triggered.y, target: input.target, before, after },
    rest,
  );
}

/** Options of {@link evaluationTable}. */
export interface EvaluationTableOptions {
  /** Decimals of the percentages. @default 1 */
  readonly digits?: number;
  /** Show the robust-accuracy columns. @default true */
  readonly robust?: boolean;
}

/** Defaults of {@link evaluationTable}. */
export const EVALUATION_TABLE_DEFAULTS = Object.freeze({ digits: 1, robust: true });

/**
 * Renders evaluations as one markdown table: defence, clean accuracy, ASR,
 * robust accuracy (after the defence, or before it for a detection-only
 * row), their changes in points, detection (TPR / FPR / F1 or the verdict)
 * and seconds. Percentages are `100 × value` with `digits` decimals; a
 * missing value is `–`.
 *
 * @param rows - Evaluations, one per row.
 * @param options - {@link EvaluationTableOptions}.
 * @returns The markdown table (lines joined by `\n`, no trailing newline).
 * @throws {@link InvalidArgumentError} when `rows` is not an array or `digits` is not an integer in [0, 6].
 * @example
 * ```ts
 * evaluationTable([e1, e2]);
 * // | defence | clean acc | ASR | robust acc | Δ clean | Δ ASR | Δ robust | detection | seconds |
 * // | --- | ... |
 * // | Fine-Pruning | 95.1% | 2.2% | 93.0% | -1.4 | -96.5 | +85.0 | – | 21.3 |
 * ```
 */
export function evaluationTable(rows: readonly Evaluation[], options?: EvaluationTableOptions): string {
  const fn = 'evaluationTable';
  if (!Array.isArray(rows)) throw new InvalidArgumentError({ fn, arg: 'rows', value: rows }, 'must be an array');
  const o = resolveOptions(fn, EVALUATION_TABLE_DEFAULTS, options);
  if (!Number.isInteger(o.digits) || o.digits < 0 || o.digits > 6) {
    throw new InvalidArgumentError({ fn, arg: 'options.digits', value: o.digits }, 'must be an integer in [0, 6]');
  }
  const pct = (v: number) => `${(100 * v).toFixed(o.digits)}%`;
  const pts = (v: number) => `${v > 0 ? '+' : ''}${(100 * v).toFixed(o.digits)}`;
  const header = ['defence', 'clean acc', 'ASR'];
  if (o.robust) header.push('robust acc');
  header.push('Δ clean', 'Δ ASR');
  if (o.robust) header.push('Δ robust');
  header.push('detection', 'seconds');
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const s = r.after ?? r.before;
    const cells = [r.name, pct(s.cleanAccuracy), pct(s.asr)];
    if (o.robust) cells.push(pct(s.robustAccuracy));
    cells.push(r.delta ? pts(r.delta.cleanAccuracy) : '–', r.delta ? pts(r.delta.asr) : '–');
    if (o.robust) cells.push(r.delta ? pts(r.delta.robustAccuracy) : '–');
    cells.push(detectionCell(r, pct), r.seconds === null ? '–' : r.seconds.toFixed(1));
    lines.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

function detectionCell(r: Evaluation, pct: (v: number) => string): string {
  const parts: string[] = [];
  if (r.verdict !== null) {
    parts.push(r.verdict.backdoored ? `backdoor → ${r.verdict.targets.join(', ')}` : 'no backdoor');
  }
  if (r.detection !== null) {
    const d = r.detection;
    parts.push(`TPR ${pct(d.tpr)} / FPR ${pct(d.fpr)} / F1 ${d.f1.toFixed(2)}`);
  }
  return parts.length === 0 ? '–' : parts.join('; ');
}
