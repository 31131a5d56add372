/**
 * Helpers shared by the training-data defences (Activation Clustering,
 * Spectral Signatures): batched activations as plain data with progress and
 * cancellation, row subsets of a AnyLabeledData, report checks, and a training
 * loop that stops at convergence. Internal: not exported from the package.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { collectBatches, gatherData, predictProbabilities } from '../../core/batching.js';
import type { FitHistory, LayeredClassifier, TrainableClassifier } from '../../core/classifier.js';
import { AbortError, InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { report, throwIfAborted } from '../../core/progress.js';
import type { AnyLabeledData, ProgressCallback } from '../../core/types.js';
import type { RowMatrix } from '../../stats/matrix.js';

/**
 * Activations of `layer` for every row of `x` as a float64 row-major matrix,
 * computed batch by batch (the device holds one batch of activations at a
 * time; the input is sliced, never copied whole).
 */
export async function layerActivations(
  fn: string,
  classifier: LayeredClassifier,
  x: tf.Tensor,
  layer: string,
  batchSize: number,
  onProgress: ProgressCallback | undefined,
  signal: AbortSignal | undefined,
  stage: string,
): Promise<RowMatrix> {
  const n = x.shape[0]!;
  const total = Math.ceil(n / batchSize);
  let done = 0;
  const { values, rows, cols } = await collectBatches(x, batchSize, (b) => {
    throwIfAborted(signal, fn);
    const a = classifier.activations(b, layer, { batchSize: b.shape[0]! });
    report(onProgress, { stage, done: ++done, total });
    return a;
  });
  return { values: Float64Array.from(values), rows, cols };
}

/** Checks that `report` is a data-defence report (`suspicious`, optional `suspectedSources`) for `n` samples. */
export function assertDataReport(
  fn: string,
  value: unknown,
  n: number,
): asserts value is { suspicious: Uint8Array; suspectedSources?: Int32Array } {
  const r = value as { suspicious?: unknown; suspectedSources?: unknown } | null;
  if (r === null || typeof r !== 'object' || !(r.suspicious instanceof Uint8Array)) {
    throw new InvalidArgumentError(
      { fn, arg: 'report', value },
      'must be a report from detect() with suspicious: Uint8Array',
    );
  }
  if (r.suspicious.length !== n) {
    throw new ShapeError(
      { fn, arg: 'report.suspicious', value: r.suspicious },
      `must have one flag per sample of data (${n})`,
    );
  }
  for (let i = 0; i < n; i++) {
    const v = r.suspicious[i]!;
    if (v > 1) throw new InvalidArgumentError({ fn, arg: `report.suspicious[${i}]`, value: v }, 'must be 0 or 1');
  }
  if (r.suspectedSources !== undefined) {
    if (!(r.suspectedSources instanceof Int32Array) || r.suspectedSources.length !== n) {
      throw new ShapeError(
        { fn, arg: 'report.suspectedSources', value: r.suspectedSources },
        `must be an Int32Array of length ${n}`,
      );
    }
  }
}

/**
 * Splits sample indices by a checked report's flags; throws when every sample
 * is flagged (a repair would have nothing left to train on).
 */
export function splitFlagged(fn: string, suspicious: Uint8Array): { flagged: number[]; kept: number[] } {
  const flagged: number[] = [];
  const kept: number[] = [];
  for (let i = 0; i < suspicious.length; i++) (suspicious[i] === 1 ? flagged : kept).push(i);
  if (kept.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'report.suspicious', value: suspicious },
      'flags every sample; nothing is left to train on',
    );
  }
  return { flagged, kept };
}

/** What a data defence's repair returns. The caller owns (disposes) `classifier` and `data.x`. */
export interface DataRepairResult<C> {
  /** The repaired classifier (retrained or fine-tuned; never the caller's). */
  readonly classifier: C;
  /** The training data the repair used: flagged samples removed (or relabelled). */
  readonly data: AnyLabeledData;
  /** Samples removed. */
  readonly removed: number;
  /** Epochs trained. */
  readonly epochs: number;
  /** Whether training stopped by the tolerance rule (false: it ran `maxEpochs`). */
  readonly converged: boolean;
  /** Training loss and accuracy per epoch. */
  readonly history: FitHistory;
}

/** Training settings of {@link fitUntilConverged}. */
export interface ConvergenceSettings {
  readonly maxEpochs: number;
  readonly tolerance: number;
  readonly trainBatchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly onProgress: ProgressCallback | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * Trains `model` in place on `data` for at most `maxEpochs` epochs (one
 * `fit` call, so the optimiser state carries over), stopping after the first
 * epoch whose mean training loss improves on the previous epoch's by less than
 * `tolerance` of it. Progress is reported as `stage` (steps) and
 * `${stage}:epoch` (with loss and accuracy).
 *
 * @throws {@link AbortError} naming `fn` when the caller's signal aborts.
 */
export async function fitUntilConverged(
  fn: string,
  model: TrainableClassifier,
  data: AnyLabeledData,
  o: ConvergenceSettings,
  stage: string,
): Promise<{ epochs: number; converged: boolean; history: FitHistory }> {
  throwIfAborted(o.signal, fn);
  const stop = new AbortController();
  const forward = (): void => stop.abort();
  o.signal?.addEventListener('abort', forward);
  const history: FitHistory = { loss: [], accuracy: [], seconds: [] };
  let converged = false;
  let t0 = performance.now();
  try {
    await model.fit(data, {
      epochs: o.maxEpochs,
      batchSize: o.trainBatchSize,
      learningRate: o.learningRate,
      seed: o.seed,
      signal: stop.signal,
      onProgress: (e) => {
        if (e.stage === 'fit') report(o.onProgress, { ...e, stage });
        if (e.stage !== 'fit:epoch' || e.metrics === undefined) return;
        const loss = e.metrics.loss!;
        history.loss.push(loss);
        history.accuracy.push(e.metrics.accuracy!);
        history.seconds.push((performance.now() - t0) / 1000);
        t0 = performance.now();
        report(o.onProgress, { stage: `${stage}:epoch`, done: e.done, total: e.total, metrics: e.metrics });
        const prev = history.loss[history.loss.length - 2];
        if (prev !== undefined && prev - loss < o.tolerance * prev) {
          converged = true;
          if (e.done < e.total) stop.abort();
        }
      },
    });
  } catch (e) {
    const ours = e instanceof AbortError && converged && o.signal?.aborted !== true;
    if (!ours) {
      if (e instanceof AbortError) throw new AbortError({ fn, arg: 'options.signal' }, 'was aborted');
      throw e;
    }
  } finally {
    o.signal?.removeEventListener('abort', forward);
  }
  return { epochs: history.loss.length, converged, history };
}

/**
 * The remove-and-retrain repair of the data defences: a freshly initialised
 * copy of `classifier` (weights from `initSeed`) trained on the rows `kept`
 * of `data` until convergence ({@link fitUntilConverged}). Returns the model
 * and the kept data (the caller owns both); on failure both are disposed.
 */
export async function retrainOnKept(
  fn: string,
  classifier: TrainableClassifier,
  data: AnyLabeledData,
  kept: readonly number[],
  initSeed: number,
  o: ConvergenceSettings,
  stage: string,
): Promise<{
  model: TrainableClassifier;
  data: AnyLabeledData;
  epochs: number;
  converged: boolean;
  history: FitHistory;
}> {
  const cleaned = gatherData(data, Int32Array.from(kept));
  const model = classifier.reinitialized(initSeed);
  try {
    return { model, data: cleaned, ...(await fitUntilConverged(fn, model, cleaned, o, stage)) };
  } catch (e) {
    model.dispose();
    cleaned.x.dispose();
    throw e;
  }
}

/** Settings of {@link retrainAndProbe}. */
export interface RetrainSettings {
  readonly epochs: number;
  readonly trainBatchSize: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly onProgress: ProgressCallback | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * Trains a freshly initialised copy of `classifier` (seeded) on every sample
 * of `data` not `excluded`, then returns its class probabilities for the
 * `probe` samples (row-major `[probe.length, numClasses]`). Everything it
 * creates is disposed before it returns.
 *
 * @throws {@link AbortError} naming `fn` when the caller's signal aborts.
 */
export async function retrainAndProbe(
  fn: string,
  classifier: TrainableClassifier,
  data: AnyLabeledData,
  excluded: Uint8Array,
  probe: Int32Array,
  o: RetrainSettings,
  seed: number,
  stage: string,
): Promise<Float32Array> {
  const keep: number[] = [];
  for (let i = 0; i < excluded.length; i++) if (excluded[i] === 0) keep.push(i);
  if (keep.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'data', value: excluded.length },
      'has no sample left to retrain on once the tested samples are excluded',
    );
  }
  throwIfAborted(o.signal, fn);
  const model = classifier.reinitialized(seed);
  let train: AnyLabeledData | undefined;
  let probeData: AnyLabeledData | undefined;
  try {
    train = gatherData(data, Int32Array.from(keep));
    await model.fit(train, {
      epochs: o.epochs,
      batchSize: o.trainBatchSize,
      learningRate: o.learningRate,
      seed,
      signal: o.signal,
      onProgress:
        o.onProgress === undefined
          ? undefined
          : (e) => {
              if (e.stage === 'fit') report(o.onProgress, { ...e, stage });
            },
    });
    train.x.dispose();
    if (probe.length === 0) return new Float32Array(0);
    probeData = gatherData(data, probe);
    return await predictProbabilities(model, probeData.x, o.batchSize);
  } catch (e) {
    if (e instanceof AbortError) throw new AbortError({ fn, arg: 'options.signal' }, 'was aborted');
    throw e;
  } finally {
    if (train !== undefined && !train.x.isDisposed) train.x.dispose();
    probeData?.x.dispose();
    model.dispose();
  }
}
