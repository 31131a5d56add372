/**
 * Neural Cleanse detect: reverse-engineer a trigger per label, flag labels
 * whose trigger is abnormally small.
 *
 * @packageDocumentation
 */
import { MAD_CONSISTENCY, outlierDetectionUnchecked } from '../../../stats/outliers.js';
import {
  assertFiniteNumber,
  assertInRange,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../../core/checks.js';
import { assertClassifier, type Classifier } from '../../../core/classifier.js';
import { InvalidArgumentError } from '../../../core/errors.js';
import { resolveOptions } from '../../../core/options.js';
import { throwIfAborted } from '../../../core/progress.js';
import type { LabeledData } from '../../../core/types.js';
import { attackSuccessOrNaN } from '../../../metrics/classification.js';
import { checkScheduleOptions } from './cost-schedule.js';
import {
  type ReversedTrigger,
  assertCleanImages,
  assertImageClassifier,
  checkLabels,
  predictStamped,
  reverseEngineer,
} from './reverse.js';
import {
  NEURAL_CLEANSE_DEFAULTS,
  type NeuralCleanseLabel,
  type NeuralCleanseOptions,
  type NeuralCleanseReport,
} from './types.js';

/**
 * Neural Cleanse detection: reverse-engineers the smallest trigger for every
 * label (a mask shared across channels and a pattern, both parametrised
 * through `tanh/2 + 0.5`; `x' = (1 − m)·x + m·p`; loss = cross-entropy to the
 * label + cost·|m|₁; Adam lr 0.1, β 0.5/0.9; the reference code's cost
 * schedule and early stop, see {@link CostSchedule}), then flags labels whose
 * mask norm is an outlier below the median by the MAD test
 * ({@link outlierDetection}). All labels are optimised at once (one forward
 * pass over labels × batch images) unless `mode: 'sequential'`.
 *
 * Only `classifier.predict` is used (it must be differentiable: built from
 * tf ops, as every {@link Classifier} is); the classifier is not modified.
 *
 * @param classifier - Any image classifier (inputs `[H, W, C]`, ≥ 3 classes).
 * @param cleanData - Clean inputs the defender trusts (labels are only used
 *   to measure the reversed triggers' attack success); at least `trainBatchSize`
 *   samples. Not modified.
 * @param options - See {@link NeuralCleanseOptions}.
 * @returns {@link NeuralCleanseReport}: backdoored, targets, anomaly index,
 *   and per label the norm, index, attack success and reversed mask/pattern.
 * @throws {@link InvalidArgumentError} for a bad option (e.g. `threshold`
 *   ≤ 0, `attackSuccessThreshold` outside (0, 1]) or too little clean data;
 *   {@link UnsupportedError} for a non-image classifier; the data errors of
 *   {@link validateLabeledData}; {@link AbortError} when aborted.
 * @example
 * ```ts
 * const r = await neuralCleanse.detect(clf, clean, { seed: 1 });
 * r.backdoored;              // true
 * r.targets;                 // [0]
 * r.anomalyIndex;            // 3.8
 * r.perClass[0].norm;        // 14.2 (vs a median of ~80)
 * ```
 */
export async function detect(
  classifier: Classifier,
  cleanData: LabeledData,
  options?: NeuralCleanseOptions,
): Promise<NeuralCleanseReport> {
  const fn = 'neuralCleanse.detect';
  const t0 = performance.now();
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, NEURAL_CLEANSE_DEFAULTS, options);
  checkScheduleOptions(fn, 'options', o);
  assertPositiveInteger(fn, 'options.steps', o.steps);
  assertPositiveInteger(fn, 'options.samplesPerStep', o.samplesPerStep);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, 'options.beta1', o.beta1, 0, 1, { maxOpen: true });
  assertInRange(fn, 'options.beta2', o.beta2, 0, 1, { maxOpen: true });
  assertInRange(fn, 'options.threshold', o.threshold, 0, Infinity, { minOpen: true, maxOpen: true });
  assertOneOf(fn, 'options.mode', o.mode, ['batched', 'sequential'] as const);
  assertOneOf(fn, 'options.scale', o.scale, ['linear', 'log'] as const);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
  const [H, W, C] = assertImageClassifier(fn, classifier);
  const labels = checkLabels(fn, o.labels, classifier.numClasses);
  assertCleanImages(fn, classifier, cleanData);
  if (cleanData.y.length < o.trainBatchSize) {
    throw new InvalidArgumentError(
      { fn, arg: 'cleanData', value: `${cleanData.y.length} samples` },
      `must hold at least options.trainBatchSize (${o.trainBatchSize}) samples`,
    );
  }
  throwIfAborted(o.signal, fn);

  const tReverse = performance.now();
  let reversed: ReversedTrigger[];
  if (o.mode === 'batched') {
    reversed = await reverseEngineer(fn, classifier, cleanData.x, labels, o, 'neural-cleanse:reverse');
  } else {
    reversed = [];
    for (const label of labels) {
      const [r] = await reverseEngineer(
        fn,
        classifier,
        cleanData.x,
        [label],
        o,
        `neural-cleanse:reverse label ${label}`,
      );
      reversed.push(r!);
    }
  }

  const reverseSeconds = (performance.now() - tReverse) / 1000;
  const norms = reversed.map((r) => r.mask.reduce((s, v) => s + Math.abs(v), 0));
  const mad = outlierDetectionUnchecked(norms, o.threshold, MAD_CONSISTENCY, o.scale);
  const flagged = new Set(mad.flagged);
  const perClass: NeuralCleanseLabel[] = [];
  for (let i = 0; i < reversed.length; i++) {
    throwIfAborted(o.signal, fn);
    const r = reversed[i]!;
    const pred = await predictStamped(classifier, cleanData.x, r.mask, r.pattern, o.batchSize);
    perClass.push({
      label: r.label,
      norm: norms[i]!,
      anomalyIndex: mad.indices[i]!,
      flagged: flagged.has(i),
      attackSuccess: attackSuccessOrNaN(pred, cleanData.y, r.label),
      converged: r.converged,
      steps: r.steps,
      cost: r.cost,
      mask: Array.from(r.mask),
      pattern: Array.from(r.pattern),
    });
  }
  const targets = mad.flagged.map((i) => reversed[i]!.label);
  return {
    backdoored: targets.length > 0,
    targets,
    anomalyIndex: mad.anomalyIndex,
    threshold: o.threshold,
    scale: o.scale,
    median: mad.median,
    mad: mad.mad,
    maskShape: [H, W],
    patternShape: [H, W, C],
    perClass,
    timing: { totalSeconds: (performance.now() - t0) / 1000, stages: { reverse: reverseSeconds } },
  };
}

// ---------------------------------------------------------------------------
