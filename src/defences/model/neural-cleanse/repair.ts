/**
 * Neural Cleanse repair: unlearning or neuron pruning against the reversed
 * triggers, and the paper's input filter derived from those neurons.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { gatherData } from '../../../core/batching.js';
import {
  assertFiniteNumber,
  assertFraction,
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../../core/checks.js';
import {
  assertClassifier,
  findLayer,
  lastHiddenLayer,
  requireCapabilities,
  type Classifier,
  type LayeredClassifier,
  type LayerInfo,
  type MaskableClassifier,
  type TrainableClassifier,
} from '../../../core/classifier.js';
import {
  InvalidArgumentError,
  LayerNotFoundError,
  NonFiniteError,
  ShapeError,
  UnsupportedError,
} from '../../../core/errors.js';
import { activationsData } from '../../../core/layers-model.js';
import { resolveOptions } from '../../../core/options.js';
import { columnMeansOf } from '../../../stats/matrix.js';
import { report as reportProgress, throwIfAborted, yieldToEventLoop } from '../../../core/progress.js';
import { makeRng } from '../../../core/rng.js';
import type { LabeledData, ProgressEvent } from '../../../core/types.js';
import { applyReversed, assertCleanImages, assertImageClassifier } from './reverse.js';
import {
  type InputFilter,
  NEURAL_CLEANSE_REPAIR_DEFAULTS,
  type NeuralCleanseLabel,
  type NeuralCleanseRepairOptions,
  type NeuralCleanseRepairResult,
  type NeuralCleanseReport,
  type PruningStep,
  type UnlearningCandidate,
} from './types.js';
import { chooseSchedule, evaluateRepair, resolveSchedules, unlearn } from './unlearning.js';

function checkReport(
  fn: string,
  value: unknown,
  targets: readonly number[],
  shape: readonly [number, number, number],
): Map<number, NeuralCleanseLabel> {
  const r = value as Partial<NeuralCleanseReport> | null;
  if (r === null || typeof r !== 'object' || !Array.isArray(r.perClass) || !Array.isArray(r.targets)) {
    throw new InvalidArgumentError({ fn, arg: 'report', value }, 'must be a report returned by neuralCleanse.detect');
  }
  const [H, W, C] = shape;
  const out = new Map<number, NeuralCleanseLabel>();
  for (const t of targets) {
    const i = r.perClass.findIndex((e) => e?.label === t);
    const e = r.perClass[i];
    if (e === undefined) {
      throw new InvalidArgumentError(
        { fn, arg: 'report.perClass', value: t },
        'has no reversed trigger for this target',
      );
    }
    const check = (arg: 'mask' | 'pattern', v: unknown, len: number) => {
      if (!Array.isArray(v) && !(v instanceof Float32Array)) {
        throw new InvalidArgumentError({ fn, arg: `report.perClass[${i}].${arg}`, value: v }, 'must be an array');
      }
      const a = v as ArrayLike<number>;
      if (a.length !== len) {
        throw new ShapeError({ fn, arg: `report.perClass[${i}].${arg}`, value: v }, `must hold ${len} values`);
      }
      for (let j = 0; j < a.length; j++) {
        const x = a[j];
        if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
          throw new NonFiniteError(
            { fn, arg: `report.perClass[${i}].${arg}[${j}]`, value: x },
            'must be a finite number in [0, 1]',
          );
        }
      }
    };
    check('mask', e.mask, H * W);
    check('pattern', e.pattern, H * W * C);
    out.set(t, e);
  }
  return out;
}

/**
 * The layer the pruning/filter works on: the given one, or the second to last
 * layer (the input of the final dense layer), as in the paper and ART.
 */
function resolveLayer(fn: string, classifier: LayeredClassifier, layer: string | undefined): LayerInfo {
  if (layer !== undefined) return findLayer(fn, 'options.layer', classifier, layer);
  try {
    return lastHiddenLayer(fn, classifier);
  } catch {
    throw new LayerNotFoundError(
      { fn, arg: 'classifier' },
      'has no hidden layer before its final dense layer; pass options.layer to name the layer to prune/filter',
    );
  }
}

/** Mean activation of each unit (last axis) of `layer`, per sample: `[n, units]` row-major. */
export async function unitActivations(
  fn: string,
  classifier: LayeredClassifier,
  x: tf.Tensor,
  layer: LayerInfo,
  batchSize: number,
): Promise<Float32Array> {
  const { values, rows, cols } = await activationsData(classifier, x, layer.name, batchSize);
  const units = layer.units;
  if (units <= 0 || cols % units !== 0) {
    throw new UnsupportedError(
      { fn, arg: 'options.layer', value: layer.name },
      `has ${cols} values per sample, not a multiple of its ${units} units`,
    );
  }
  const positions = cols / units;
  const out = new Float32Array(rows * units);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let p = 0; p < positions; p++) {
      for (let u = 0; u < units; u++) out[r * units + u]! += values[base + p * units + u]!;
    }
    for (let u = 0; u < units; u++) out[r * units + u]! /= positions;
  }
  return out;
}

export function filterScores(unitActs: Float32Array, units: number, neurons: readonly number[]): Float32Array {
  const rows = unitActs.length / units;
  const s = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (const u of neurons) sum += unitActs[r * units + u]!;
    s[r] = sum / neurons.length;
  }
  return s;
}

/**
 * Neural Cleanse mitigation. `'unlearning'` fine-tunes a copy of the
 * classifier on the clean data of which `stampFraction` (the paper's 20%)
 * carries a reversed trigger (round-robin over the targets) with the true
 * labels kept. `'pruning'` ranks the units of `layer` by how much more the
 * reversed triggers activate them than clean inputs do and prunes them (unit
 * masks, the original untouched) one by one until the reversed triggers'
 * attack success is at most `stopAttackSuccess` or `maxPruneFraction` of the
 * units are gone. With `filter`, the paper's input filter is derived from
 * the same ranking (top `filterFraction` units, threshold at `filterFrr` on
 * the clean data); apply it with {@link filter}.
 *
 * @param classifier - Unlearning needs the 'train' capability, pruning
 *   'layers' + 'mask', the filter 'layers'. Not modified.
 * @param cleanData - Clean data the defender trusts (the same as for detect, or more).
 * @param report - The report of {@link detect} (its reversed triggers are used).
 * @param options - See {@link NeuralCleanseRepairOptions}.
 * @returns The repaired classifier (caller disposes it) and diagnostics.
 *   With no target (nothing flagged and no `options.targets`), the
 *   classifier returned is an unchanged copy.
 * @throws {@link CapabilityError} for a missing capability;
 *   {@link LayerNotFoundError} for an unknown `options.layer` or, when it
 *   is not given, a model without a hidden layer before its last dense layer; {@link InvalidArgumentError}
 *   for a bad report or option; {@link AbortError} when aborted.
 * @example
 * ```ts
 * const r = await neuralCleanse.detect(clf, clean);
 * const { classifier: fixed, attackSuccessAfter } = await neuralCleanse.repair(clf, clean, r);
 * attackSuccessAfter; // 0.01
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  cleanData: LabeledData,
  report: NeuralCleanseReport,
  options?: NeuralCleanseRepairOptions,
): Promise<NeuralCleanseRepairResult<C>> {
  const fn = 'neuralCleanse.repair';
  assertClassifier(fn, 'classifier', classifier);
  const o = resolveOptions(fn, NEURAL_CLEANSE_REPAIR_DEFAULTS, options);
  assertOneOf(fn, 'options.method', o.method, ['unlearning', 'pruning'] as const);
  const schedules = resolveSchedules(fn, o);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertInRange(fn, 'options.validationFraction', o.validationFraction, 0, 1, { minOpen: true, maxOpen: true });
  assertFraction(fn, 'options.maxValidationDrop', o.maxValidationDrop);
  assertFraction(fn, 'options.stopAttackSuccess', o.stopAttackSuccess);
  assertFraction(fn, 'options.maxPruneFraction', o.maxPruneFraction);
  if (typeof o.filter !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.filter', value: o.filter }, 'must be a boolean');
  }
  assertInRange(fn, 'options.filterFraction', o.filterFraction, 0, 1, { minOpen: true });
  assertInRange(fn, 'options.filterFrr', o.filterFrr, 0, 1, { maxOpen: true });
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
  const needs: Array<'layers' | 'mask' | 'train'> = o.method === 'unlearning' ? ['train'] : ['layers', 'mask'];
  if (o.filter) needs.push('layers');
  requireCapabilities(fn, 'classifier', classifier, needs);
  const shape = assertImageClassifier(fn, classifier);
  const layer =
    o.method === 'pruning' || o.filter
      ? resolveLayer(fn, classifier as unknown as LayeredClassifier, o.layer)
      : undefined;
  assertCleanImages(fn, classifier, cleanData);
  const targetsGiven = o.targets ?? (report as Partial<NeuralCleanseReport> | null)?.targets;
  if (!Array.isArray(targetsGiven)) {
    throw new InvalidArgumentError(
      { fn, arg: 'report', value: report },
      'must be a report returned by neuralCleanse.detect',
    );
  }
  const targets: number[] = [];
  (targetsGiven as unknown[]).forEach((t, i) => {
    assertInteger(
      fn,
      o.targets !== undefined ? `options.targets[${i}]` : `report.targets[${i}]`,
      t,
      0,
      classifier.numClasses - 1,
    );
    if (!targets.includes(t)) targets.push(t);
  });
  const triggers = checkReport(fn, report, targets, shape);
  throwIfAborted(o.signal, fn);

  const n = cleanData.y.length;
  let split: { fit: Int32Array; validation: Int32Array } | undefined;
  if (o.method === 'unlearning' && schedules.length > 1 && targets.length > 0) {
    const nv = Math.round(o.validationFraction * n);
    if (nv < 1 || nv >= n) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.validationFraction', value: o.validationFraction },
        `leaves ${nv} of the ${n} clean samples for validation; both parts must be non-empty`,
      );
    }
    const validation = Int32Array.from(makeRng(o.seed, `${fn} validation`).sample(n, nv)).sort();
    const held = new Uint8Array(n);
    for (const i of validation) held[i] = 1;
    split = { fit: Int32Array.from({ length: n }, (_, i) => i).filter((i) => held[i] === 0), validation };
  }
  const evalOn = (clf: Classifier, data: LabeledData) => evaluateRepair(clf, data, targets, triggers, o.batchSize);
  const evalAll = (clf: Classifier) => evalOn(clf, cleanData);
  const before = await evalAll(classifier);

  // ranking of the layer's units by activation increase under the reversed triggers
  let ranking: number[] | undefined;
  let filterSpec: InputFilter | undefined;
  if (layer !== undefined && targets.length > 0) {
    const lc = classifier as unknown as LayeredClassifier;
    const clean = await unitActivations(fn, lc, cleanData.x, layer, o.batchSize);
    const units = layer.units;
    const cleanMean = columnMeansOf(clean, n, units);
    const stampedMean = new Float64Array(units);
    for (const t of targets) {
      const e = triggers.get(t)!;
      const xs = applyReversed(cleanData.x, e.mask, e.pattern);
      try {
        const acts = await unitActivations(fn, lc, xs, layer, o.batchSize);
        const m = columnMeansOf(acts, n, units);
        for (let u = 0; u < units; u++) stampedMean[u]! += m[u]! / targets.length;
      } finally {
        xs.dispose();
      }
    }
    const diff = Array.from(stampedMean, (v, u) => v - cleanMean[u]!);
    ranking = diff.map((_, u) => u).sort((a, b) => diff[b]! - diff[a]! || a - b);
    if (o.filter) {
      const k = Math.max(1, Math.ceil(units * o.filterFraction));
      const neurons = ranking.slice(0, k);
      const scores = Array.from(filterScores(clean, units, neurons)).sort((a, b) => a - b);
      const at = Math.min(n - 1, Math.max(0, Math.ceil((1 - o.filterFrr) * n) - 1));
      filterSpec = { layer: layer.name, neurons, threshold: scores[at]!, frr: o.filterFrr };
    }
  }
  throwIfAborted(o.signal, fn);

  if (o.method === 'unlearning') {
    const trainable = classifier as unknown as TrainableClassifier;
    const progressFor = (label: string) =>
      o.onProgress === undefined
        ? undefined
        : (e: ProgressEvent) =>
            reportProgress(o.onProgress, { ...e, stage: `neural-cleanse:unlearning${label} ${e.stage}` });
    let chosen = 0;
    let selection: NonNullable<NeuralCleanseRepairResult['unlearning']>['selection'];
    if (split !== undefined) {
      const fitData = gatherData(cleanData, split.fit);
      const valData = gatherData(cleanData, split.validation);
      try {
        const base = await evalOn(classifier, valData);
        const candidates: UnlearningCandidate[] = [];
        for (const [i, schedule] of schedules.entries()) {
          const copy = trainable.clone();
          try {
            await unlearn(copy, fitData, targets, triggers, schedule, o, progressFor(` candidate ${i}`));
            const v = await evalOn(copy, valData);
            candidates.push({
              schedule,
              validationAccuracy: v.accuracy,
              validationAttackSuccess: v.attackSuccess,
              eligible: v.accuracy >= base.accuracy - o.maxValidationDrop - 1e-12,
            });
          } finally {
            copy.dispose();
          }
        }
        chosen = chooseSchedule(candidates);
        selection = {
          validationSamples: split.validation.length,
          validationAccuracyBefore: base.accuracy,
          validationAttackSuccessBefore: base.attackSuccess,
          candidates,
          chosen,
        };
      } finally {
        tf.dispose([fitData.x, valData.x]);
      }
    }
    const schedule = schedules[chosen]!;
    const copy = trainable.clone();
    try {
      const fitted =
        targets.length > 0
          ? await unlearn(copy, cleanData, targets, triggers, schedule, o, progressFor(''))
          : { stamped: 0, loss: [], accuracy: [] };
      const after = await evalAll(copy);
      return {
        classifier: copy as unknown as C,
        method: 'unlearning',
        targets,
        attackSuccessBefore: before.attackSuccess,
        attackSuccessAfter: after.attackSuccess,
        cleanAccuracyBefore: before.accuracy,
        cleanAccuracyAfter: after.accuracy,
        unlearning: {
          samples: n,
          ...fitted,
          schedule,
          ...(selection !== undefined ? { selection } : {}),
        },
        ...(filterSpec !== undefined ? { filter: filterSpec } : {}),
      };
    } catch (e) {
      copy.dispose();
      throw e;
    }
  }

  // pruning
  const maskable = classifier as unknown as MaskableClassifier;
  const info = layer!;
  const units = info.units;
  const keep = new Array<number>(units).fill(1);
  const order = ranking ?? [];
  const limit = o.maxPruneFraction * units;
  const steps: PruningStep[] = [];
  const pruned: number[] = [];
  let current = maskable.withUnitMask(info.name, keep);
  try {
    let asr = before.attackSuccess;
    while (asr > o.stopAttackSuccess && pruned.length < limit && pruned.length < order.length) {
      throwIfAborted(o.signal, fn);
      const u = order[pruned.length]!;
      keep[u] = 0;
      pruned.push(u);
      const next = maskable.withUnitMask(info.name, keep);
      current.dispose();
      current = next;
      const e = await evalAll(current);
      asr = e.attackSuccess;
      steps.push({ pruned: pruned.length, attackSuccess: asr });
      reportProgress(o.onProgress, {
        stage: 'neural-cleanse:pruning',
        done: pruned.length,
        total: Math.ceil(limit),
        metrics: { attackSuccess: asr },
      });
      if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
    }
    const after = await evalAll(current);
    return {
      classifier: current as unknown as C,
      method: 'pruning',
      targets,
      attackSuccessBefore: before.attackSuccess,
      attackSuccessAfter: after.attackSuccess,
      cleanAccuracyBefore: before.accuracy,
      cleanAccuracyAfter: after.accuracy,
      pruning: {
        layer: info.name,
        ranking: order,
        pruned,
        keep: [...keep],
        steps,
        stoppedBecause: after.attackSuccess <= o.stopAttackSuccess ? 'attack-success' : 'max-prune-fraction',
      },
      ...(filterSpec !== undefined ? { filter: filterSpec } : {}),
    };
  } catch (e) {
    current.dispose();
    throw e;
  }
}
