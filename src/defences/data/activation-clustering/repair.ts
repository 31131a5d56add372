/**
 * Activation Clustering repair: the paper's two repairs, remove the flagged
 * samples and retrain, or relabel them and fine-tune.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  assertFiniteNumber,
  assertInRange,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../../core/checks.js';
import { requireCapabilities, type Classifier, type TrainableClassifier } from '../../../core/classifier.js';
import { resolveOptions } from '../../../core/options.js';
import { throwIfAborted } from '../../../core/progress.js';
import { makeRng } from '../../../core/rng.js';
import type { AnyLabeledData } from '../../../core/types.js';
import { assertLabeledData } from '../../../core/validate.js';
import { assertDataReport, fitUntilConverged, retrainAndProbe, retrainOnKept, splitFlagged } from '../shared.js';
import {
  ACTIVATION_CLUSTERING_REPAIR_DEFAULTS,
  type ActivationClusteringRepairResult,
  type ActivationClusteringRepairOptions,
  type ActivationClusteringReport,
} from './types.js';

/**
 * Repairs a model with an Activation Clustering report (Chen et al., "Backdoor
 * Repair"): either relabel the flagged samples to their suspected source
 * class and continue training the existing model until it converges
 * (`'relabel'`, default), or remove them and retrain a freshly initialised
 * model from scratch until it converges (`'retrain'`). Convergence: an epoch
 * that lowers the mean training loss by less than `tolerance` of the previous
 * epoch's.
 *
 * @param classifier - The model `detect` examined; needs the `'train'`
 *   capability. Not modified (a clone is trained).
 * @param data - The training data `detect` examined. Not modified.
 * @param report - The {@link ActivationClusteringReport} (or any report with
 *   `suspicious`, and optionally `suspectedSources`, for `data`).
 * @param options - {@link ActivationClusteringRepairOptions}.
 * @returns The repaired classifier, the cleaned data (the caller disposes
 *   both) and training diagnostics.
 * @throws {@link BackdoorKitError} for a missing capability, a report that
 *   does not match `data`, bad options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const found = await activationClustering.detect(clf, train);
 * const { classifier: repaired, data: cleaned, epochs } = await activationClustering.repair(clf, train, found);
 * // … use repaired; then repaired.dispose(); cleaned.x.dispose();
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  data: AnyLabeledData,
  report: ActivationClusteringReport | { suspicious: Uint8Array; suspectedSources?: Int32Array },
  options: ActivationClusteringRepairOptions = {},
): Promise<ActivationClusteringRepairResult<C>> {
  const fn = 'activationClustering.repair';
  const o = resolveOptions(fn, ACTIVATION_CLUSTERING_REPAIR_DEFAULTS, options);
  requireCapabilities(fn, 'classifier', classifier, ['train']);
  const trainable = classifier as unknown as TrainableClassifier;
  assertOneOf(fn, 'options.mode', o.mode, ['relabel', 'retrain'] as const);
  assertPositiveInteger(fn, 'options.maxEpochs', o.maxEpochs);
  assertInRange(fn, 'options.tolerance', o.tolerance, 0, 1);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertPositiveInteger(fn, 'options.sourceEpochs', o.sourceEpochs);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
  assertLabeledData(fn, 'data', data, { inputShape: classifier.inputShape, numClasses: classifier.numClasses });
  const n = data.y.length;
  assertDataReport(fn, report, n);
  throwIfAborted(o.signal, fn);
  const { flagged, kept } = splitFlagged(fn, report.suspicious);
  const rng = makeRng(o.seed, fn);
  const fitOptions = { ...o, seed: rng.derive('fit').nextSeed() };
  if (o.mode === 'retrain') {
    const initSeed = rng.derive('init').nextSeed();
    const { model, ...r } = await retrainOnKept(
      fn,
      trainable,
      data,
      kept,
      initSeed,
      fitOptions,
      'activation-clustering:repair',
    );
    return { classifier: model as unknown as C, mode: o.mode, removed: flagged.length, relabelled: 0, ...r };
  }
  // relabel: sources from the report, or from a model trained on the unflagged samples
  const labels = Int32Array.from(data.y);
  let sources = report.suspectedSources;
  const missing = flagged.some((i) => sources === undefined || sources[i]! < 0 || sources[i] === data.y[i]);
  if (missing && flagged.length > 0) {
    const excluded = new Uint8Array(n);
    for (const i of flagged) excluded[i] = 1;
    const probs = await retrainAndProbe(
      fn,
      trainable,
      data,
      excluded,
      Int32Array.from(flagged),
      {
        epochs: o.sourceEpochs,
        trainBatchSize: o.trainBatchSize,
        learningRate: o.learningRate,
        batchSize: o.batchSize,
        onProgress: o.onProgress,
        signal: o.signal,
      },
      rng.derive('sources').nextSeed(),
      'activation-clustering:repair-sources',
    );
    const K = classifier.numClasses;
    const estimated = new Int32Array(n).fill(-1);
    flagged.forEach((i, r) => {
      const own = data.y[i]!;
      let best = own === 0 ? 1 : 0;
      for (let j = 0; j < K; j++) if (j !== own && probs[r * K + j]! > probs[r * K + best]!) best = j;
      estimated[i] = sources !== undefined && sources[i]! >= 0 && sources[i] !== own ? sources[i]! : best;
    });
    sources = estimated;
  }
  for (const i of flagged) labels[i] = sources![i]!;
  const cleaned: AnyLabeledData = { x: tf.clone(data.x), y: labels };
  const model = trainable.clone();
  try {
    const r = await fitUntilConverged(fn, model, cleaned, fitOptions, 'activation-clustering:repair');
    return {
      classifier: model as unknown as C,
      data: cleaned,
      mode: o.mode,
      removed: 0,
      relabelled: flagged.length,
      ...r,
    };
  } catch (e) {
    model.dispose();
    cleaned.x.dispose();
    throw e;
  }
}
