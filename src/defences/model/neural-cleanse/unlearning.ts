/**
 * Neural Cleanse unlearning: fine-tuning on clean data of which a share
 * carries the reversed trigger, and the choice of its schedule on the
 * defender's clean data.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { argmaxRows, collectBatches } from '../../../core/batching.js';
import { assertFraction, assertInRange, assertOneOf, assertPositiveInteger } from '../../../core/checks.js';
import type { Classifier, TrainableClassifier } from '../../../core/classifier.js';
import { InvalidArgumentError } from '../../../core/errors.js';
import { resolveOptions } from '../../../core/options.js';
import { makeRng } from '../../../core/rng.js';
import type { LabeledData, ProgressCallback } from '../../../core/types.js';
import { accuracyUnchecked, attackSuccessOrNaN } from '../../../metrics/classification.js';
import { applyReversed, predictStamped } from './reverse.js';
import {
  type NeuralCleanseLabel,
  type ResolvedRepair,
  UNLEARNING_SCHEDULES,
  type UnlearningCandidate,
  type UnlearningSchedule,
} from './types.js';

/** The unlearning schedules of a repair: the `schedules` option resolved, or the one given by the top-level options. */
export function resolveSchedules(fn: string, o: ResolvedRepair): Required<UnlearningSchedule>[] {
  const top = checkSchedule(fn, 'options', {
    optimizer: o.optimizer,
    learningRate: o.learningRate,
    epochs: o.epochs,
    stampFraction: o.stampFraction,
  });
  if (o.schedules === undefined) return [top];
  if (o.schedules === 'auto') return UNLEARNING_SCHEDULES.map((s) => ({ ...s }));
  if (!Array.isArray(o.schedules) || o.schedules.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.schedules', value: o.schedules },
      "must be 'auto' or a non-empty array of schedules",
    );
  }
  return (o.schedules as readonly unknown[]).map((entry, i) => {
    const arg = `options.schedules[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new InvalidArgumentError({ fn, arg, value: entry }, 'must be an object');
    }
    return checkSchedule(fn, arg, resolveOptions(fn, top, entry, arg));
  });
}

/** Validates one schedule (the top-level options, `prefix` 'options', or an entry of `schedules`). */
function checkSchedule(fn: string, prefix: string, s: Required<UnlearningSchedule>): Required<UnlearningSchedule> {
  assertOneOf(fn, `${prefix}.optimizer`, s.optimizer, ['adam', 'sgd', 'momentum'] as const);
  assertInRange(fn, `${prefix}.learningRate`, s.learningRate, 0, Infinity, { minOpen: true, maxOpen: true });
  assertPositiveInteger(fn, `${prefix}.epochs`, s.epochs);
  assertFraction(fn, `${prefix}.stampFraction`, s.stampFraction);
  return s;
}

/**
 * The selection rule of the unlearning schedules (beyond the paper): among
 * the eligible candidates the lowest validation attack success wins (ties:
 * higher validation accuracy, then the earlier candidate); with none
 * eligible, the most accurate one (ties: lower attack success, then the
 * earlier one). {@link repair} applies it when `schedules` is given.
 *
 * @param candidates - Scored schedules, as in `unlearning.selection.candidates` of a repair.
 * @returns The index of the chosen candidate; -1 for an empty list.
 * @example
 * ```ts
 * const s = { optimizer: 'adam', learningRate: 1e-3, epochs: 1, stampFraction: 0.2 } as const;
 * neuralCleanse.chooseSchedule([
 *   { schedule: s, validationAccuracy: 0.97, validationAttackSuccess: 0.10, eligible: true },
 *   { schedule: s, validationAccuracy: 0.96, validationAttackSuccess: 0.02, eligible: true },
 *   { schedule: s, validationAccuracy: 0.90, validationAttackSuccess: 0.00, eligible: false },
 * ]); // 1
 * ```
 */
export function chooseSchedule(candidates: readonly UnlearningCandidate[]): number {
  let best = -1;
  const eligible = candidates.some((c) => c.eligible);
  candidates.forEach((c, i) => {
    if (eligible && !c.eligible) return;
    if (best < 0) {
      best = i;
      return;
    }
    const b = candidates[best]!;
    const better = eligible
      ? c.validationAttackSuccess < b.validationAttackSuccess ||
        (c.validationAttackSuccess === b.validationAttackSuccess && c.validationAccuracy > b.validationAccuracy)
      : c.validationAccuracy > b.validationAccuracy ||
        (c.validationAccuracy === b.validationAccuracy && c.validationAttackSuccess < b.validationAttackSuccess);
    if (better) best = i;
  });
  return best;
}

/** Accuracy on `data` and the reversed triggers' attack success (max over targets). */
export async function evaluateRepair(
  clf: Classifier,
  data: LabeledData,
  targets: readonly number[],
  triggers: ReadonlyMap<number, NeuralCleanseLabel>,
  batchSize: number,
): Promise<{ accuracy: number; attackSuccess: number }> {
  const { values, cols } = await collectBatches(data.x, batchSize, (b) => clf.predict(b));
  const pred = argmaxRows(values, cols);
  let attackSuccess = 0;
  for (const t of targets) {
    const e = triggers.get(t)!;
    const p = await predictStamped(clf, data.x, e.mask, e.pattern, batchSize);
    // a target no sample of another label could reach (NaN) adds nothing to the maximum
    const s = attackSuccessOrNaN(p, data.y, t);
    if (s > attackSuccess) attackSuccess = s;
  }
  return { accuracy: accuracyUnchecked(pred, data.y), attackSuccess };
}

/**
 * Unlearning proper: fine-tunes `copy` in place on `data`, of which
 * `stampFraction` (chosen with the repair's seed) carries a reversed trigger,
 * round-robin over the targets, labels kept.
 */
export async function unlearn(
  copy: TrainableClassifier,
  data: LabeledData,
  targets: readonly number[],
  triggers: ReadonlyMap<number, NeuralCleanseLabel>,
  schedule: Required<UnlearningSchedule>,
  o: ResolvedRepair,
  onProgress: ProgressCallback | undefined,
): Promise<{ stamped: number; loss: number[]; accuracy: number[] }> {
  const fn = 'neuralCleanse.repair';
  const n = data.y.length;
  const rng = makeRng(o.seed, fn);
  const stamped = Math.round(schedule.stampFraction * n);
  const chosen = rng.sample(n, stamped);
  const isStamped = new Uint8Array(n);
  for (const i of chosen) isStamped[i] = 1;
  const rest = Int32Array.from({ length: n }, (_, i) => i).filter((i) => isStamped[i] === 0);
  const groups = targets.map((_, g) => chosen.filter((_, j) => j % targets.length === g));
  const parts: tf.Tensor4D[] = [];
  try {
    parts.push(tf.tidy(() => tf.gather(data.x, tf.tensor1d(rest, 'int32'))));
    groups.forEach((idx, g) => {
      if (idx.length === 0) return;
      const e = triggers.get(targets[g]!)!;
      parts.push(
        tf.tidy(() => {
          const xs = tf.gather(data.x, tf.tensor1d(idx, 'int32'));
          return applyReversed(xs, e.mask, e.pattern);
        }),
      );
    });
    const order = [rest, ...groups.filter((g) => g.length > 0)];
    const yAll = new Int32Array(n);
    let k = 0;
    for (const idx of order) for (const i of idx) yAll[k++] = data.y[i]!;
    const xAll = tf.concat(parts, 0);
    try {
      const history = await copy.fit(
        { x: xAll, y: yAll },
        {
          epochs: schedule.epochs,
          batchSize: o.trainBatchSize,
          optimizer: schedule.optimizer,
          learningRate: schedule.learningRate,
          seed: o.seed,
          signal: o.signal,
          onProgress,
        },
      );
      return { stamped, loss: history.loss, accuracy: history.accuracy };
    } finally {
      xAll.dispose();
    }
  } finally {
    tf.dispose(parts);
  }
}
