/**
 * Fine-Pruning (Liu, Dolan-Gavitt & Garg, RAID 2018): repair a backdoored
 * model with a small set of clean data, by pruning the channels of a late
 * convolutional layer that clean inputs leave dormant (in increasing order of
 * their mean activation, until the clean accuracy drops by more than a set
 * amount) and then fine-tuning the pruned model on the clean data with the
 * pruning mask kept in force. The two halves are also available alone
 * (`mode: 'pruning'`, `mode: 'fine-tuning'`), the three defences the paper's
 * Table 1 compares.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { DEFAULT_BATCH_SIZE, collectBatches } from '../../core/batching.js';
import {
  canUpdateMask,
  convLayers,
  findLayer,
  requireCapabilities,
  type FitHistory,
  type FullClassifier,
  type LayerInfo,
  type MaskableClassifier,
  type TrainableClassifier,
} from '../../core/classifier.js';
import { AbortError, InvalidArgumentError, LayerNotFoundError } from '../../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import type { AnyLabeledData, LongRunningOptions, ProgressCallback } from '../../core/types.js';
import {
  assertFiniteNumber,
  assertFraction,
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../core/checks.js';
import { resolveOptions } from '../../core/options.js';
import { assertLabeledData } from '../../core/validate.js';
import { accuracyOfChecked } from '../../metrics/classification.js';

/** Which defence {@link repair} runs. */
export type FinePruningMode = 'fine-pruning' | 'pruning' | 'fine-tuning';

/** Options of {@link repair}. */
export interface FinePruningOptions extends LongRunningOptions {
  /**
   * `'fine-pruning'` prunes then fine-tunes (Liu et al.'s defence);
   * `'pruning'` only prunes; `'fine-tuning'` only fine-tunes (no pruning).
   * @default 'fine-pruning'
   */
  readonly mode?: FinePruningMode;
  /**
   * Name of the layer whose units (conv channels / dense units) are pruned.
   * Must be a conv or dense layer. `undefined` picks the last conv layer, as
   * Liu et al. do ("the last convolutional layer"), looking inside
   * sub-models; a network without convolutions (an MLP) gets its last hidden
   * dense layer.
   * @default undefined (the last conv layer; else the last hidden dense layer)
   */
  readonly layer?: string;
  /**
   * Pruning stops before the accuracy on `cleanData` falls more than this
   * much (a fraction: 0.04 = 4 points) below the unpruned model's accuracy
   * on the same data. Liu et al. use 4%; Milakovic & Mayer also try 2% and
   * 6%.
   * @default 0.04
   */
  readonly maxAccuracyDrop?: number;
  /**
   * Never prune more than this share of the layer's units (at least one unit
   * is always kept). 1 leaves the accuracy rule alone in charge.
   * @default 1
   */
  readonly maxPrunedFraction?: number;
  /**
   * Fine-tuning passes over `cleanData` (0: no fine-tuning; ignored in mode
   * `'pruning'`).
   * @default 10
   */
  readonly epochs?: number;
  /**
   * Fine-tuning step size. 0.01 is BackdoorBench's fine-tuning and
   * Fine-Pruning step; on the benchmark CNN a step of 0.001 (the training
   * step) leaves the backdoor in place (docs/defences/fine-pruning.md).
   * @default 0.01
   */
  readonly learningRate?: number;
  /** Fine-tuning optimiser. @default 'adam' */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Fine-tuning samples per step. @default 32 */
  readonly trainBatchSize?: number;
  /** Samples per forward pass when measuring activations and accuracy. @default 256 */
  readonly batchSize?: number;
  /** Seed of the fine-tuning shuffle (and dropout). @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link repair}; each value's source is given in docs/defences/fine-pruning.md. */
export const FINE_PRUNING_DEFAULTS = Object.freeze({
  mode: 'fine-pruning' as FinePruningMode,
  layer: undefined as string | undefined,
  maxAccuracyDrop: 0.04,
  maxPrunedFraction: 1,
  epochs: 10,
  learningRate: 0.01,
  optimizer: 'adam' as 'adam' | 'sgd' | 'momentum',
  trainBatchSize: 32,
  batchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Smallest clean set {@link repair} accepts. */
export const FINE_PRUNING_MIN_CLEAN_SAMPLES = 10;

/** Diagnostics of {@link repair} (plain data, JSON-serialisable). */
export interface FinePruningReport {
  /** The mode that ran. */
  readonly mode: FinePruningMode;
  /** The pruned layer (`null` in `'fine-tuning'` mode). */
  readonly layer: string | null;
  /** Number of units of that layer (0 in `'fine-tuning'` mode). */
  readonly units: number;
  /** Mean activation of each unit on `cleanData`, over samples and positions (empty in `'fine-tuning'` mode). */
  readonly meanActivation: Float32Array;
  /** Unit ids in pruning order: increasing mean activation (empty in `'fine-tuning'` mode). */
  readonly order: Int32Array;
  /** The pruned unit ids, in the order they were pruned (a prefix of `order`). */
  readonly pruned: Int32Array;
  /**
   * Accuracy on `cleanData` with the first `k` units of `order` pruned,
   * `accuracyCurve[k]`, for `k = 0` up to the step that broke the
   * `maxAccuracyDrop` rule (inclusive) or the cap. `[baseline]` in
   * `'fine-tuning'` mode.
   */
  readonly accuracyCurve: number[];
  /** Accuracy on `cleanData` before any change. */
  readonly accuracyBefore: number;
  /** Accuracy on `cleanData` after pruning (equal to `accuracyBefore` in `'fine-tuning'` mode). */
  readonly accuracyAfterPruning: number;
  /** Accuracy on `cleanData` of the returned classifier (after fine-tuning, if any). */
  readonly accuracyAfter: number;
  /** Why pruning stopped. */
  readonly stoppedBy: 'accuracy-drop' | 'max-pruned' | 'none';
  /** Fine-tuning history (loss, accuracy, seconds per epoch); empty arrays when not fine-tuned. */
  readonly fineTuning: FitHistory;
}

/** What {@link repair} returns: a new classifier and the diagnostics. */
export interface FinePruningRepairResult extends FinePruningReport {
  /**
   * The repaired classifier: a new, independent copy (pruned units masked by
   * a `UnitMask` layer that stays in force under further training). The
   * caller owns it and disposes it; the input classifier is unchanged.
   */
  readonly classifier: FullClassifier;
}

const FN = 'finePruning.repair';

function resolveFinePruningOptions(options: unknown): typeof FINE_PRUNING_DEFAULTS {
  const o = resolveOptions(FN, FINE_PRUNING_DEFAULTS, options);
  assertOneOf(FN, 'options.mode', o.mode, ['fine-pruning', 'pruning', 'fine-tuning'] as const);
  if (o.layer !== undefined && typeof o.layer !== 'string') {
    throw new InvalidArgumentError({ fn: FN, arg: 'options.layer', value: o.layer }, 'must be a layer name');
  }
  assertFraction(FN, 'options.maxAccuracyDrop', o.maxAccuracyDrop);
  assertFraction(FN, 'options.maxPrunedFraction', o.maxPrunedFraction);
  assertInteger(FN, 'options.epochs', o.epochs, 0);
  assertInRange(FN, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
  assertOneOf(FN, 'options.optimizer', o.optimizer, ['adam', 'sgd', 'momentum'] as const);
  assertPositiveInteger(FN, 'options.trainBatchSize', o.trainBatchSize);
  assertPositiveInteger(FN, 'options.batchSize', o.batchSize);
  assertFiniteNumber(FN, 'options.seed', o.seed);
  assertLongRunning(FN, o);
  return o;
}

/** Picks (and checks) the layer to prune. */
function resolveLayer(classifier: MaskableClassifier, layer: string | undefined): LayerInfo {
  if (layer === undefined) {
    const convs = convLayers(classifier).filter((l) => l.kind === 'conv');
    const last = convs[convs.length - 1];
    if (last !== undefined) return last;
    // a network without convolutions (an MLP): the last hidden dense layer plays the role
    const dense = classifier.layers.filter((l) => l.kind === 'dense');
    const hidden = dense[dense.length - 2];
    if (hidden === undefined || hidden.units < 2) {
      throw new LayerNotFoundError(
        { fn: FN, arg: 'classifier' },
        `has no conv layer and no hidden dense layer to prune; name a conv or dense layer with options.layer (layers: ${classifier.layers
          .map((l) => l.name)
          .join(', ')})`,
      );
    }
    return hidden;
  }
  const info = findLayer(FN, 'options.layer', classifier, layer);
  if (info.kind !== 'conv' && info.kind !== 'dense') {
    throw new InvalidArgumentError(
      { fn: FN, arg: 'options.layer', value: layer },
      `must name a conv or dense layer (it is a ${info.className})`,
    );
  }
  if (info.units < 2) {
    throw new InvalidArgumentError(
      { fn: FN, arg: 'options.layer', value: layer },
      `has ${info.units} unit; pruning needs at least 2`,
    );
  }
  return info;
}

/**
 * Mean activation of each unit (last axis) of `layer` over the samples of `x`
 * and, for conv layers, over all spatial positions. Batched on the device.
 *
 * @param classifier - A classifier with the `layers` capability.
 * @param x - Inputs `[n, ...inputShape]` (validated by the caller).
 * @param layer - The layer.
 * @param batchSize - Samples per forward pass.
 * @returns One mean per unit.
 */
async function meanActivations(
  classifier: MaskableClassifier,
  x: tf.Tensor,
  layer: LayerInfo,
  batchSize: number,
): Promise<Float32Array> {
  const units = layer.units;
  const sums = await collectBatches(x, batchSize, (b) =>
    tf.sum(tf.reshape(classifier.activations(b, layer.name, { batchSize: b.shape[0]! }), [-1, units]), 0, true),
  );
  const n = x.shape[0]!;
  const positions = layer.outputShape.slice(0, -1).reduce((a, d) => a * d, 1);
  const mean = new Float32Array(units);
  for (let r = 0; r < sums.rows; r++) for (let u = 0; u < units; u++) mean[u]! += sums.values[r * units + u]!;
  for (let u = 0; u < units; u++) mean[u] = mean[u]! / (n * positions);
  return mean;
}

/** Indices sorted by increasing value (ties by index: deterministic). */
function ascendingOrder(values: Float32Array): Int32Array {
  return Int32Array.from(Array.from(values.keys()).sort((a, b) => values[a]! - values[b]! || a - b));
}

/**
 * A pruner for one layer: `set(keep)` makes the masked copy reflect `keep`.
 * A classifier that can rewrite its masks in place
 * (`MaskUpdatableClassifier`, as a `LayersModelClassifier` can) gets one
 * masked copy whose mask is rewritten per call (fast); other maskable
 * classifiers get a fresh `withUnitMask` copy per call.
 */
class LayerPruner {
  private current: FullClassifier | undefined;
  private readonly base: Float32Array | undefined;

  constructor(
    private readonly classifier: FullClassifier,
    private readonly layer: LayerInfo,
  ) {
    if (canUpdateMask(classifier)) {
      const masked = classifier.withUnitMask(layer.name, new Float32Array(layer.units).fill(1));
      if (canUpdateMask(masked)) {
        this.current = masked;
        // an existing mask on the layer is kept: new factors multiply it
        this.base = masked.unitMask(layer.name);
      } else {
        masked.dispose();
      }
    }
  }

  /** The masked classifier for `keep` (owned by the pruner until {@link take}). */
  set(keep: Float32Array): FullClassifier {
    const current = this.current;
    if (this.base !== undefined && current !== undefined && canUpdateMask(current)) {
      const base = this.base;
      current.setUnitMask(
        this.layer.name,
        keep.map((v, i) => v * base[i]!),
      );
      return current;
    }
    const next = this.classifier.withUnitMask(this.layer.name, keep);
    this.current?.dispose();
    this.current = next;
    return next;
  }

  /** Hands the current masked classifier to the caller. */
  take(): FullClassifier {
    const c = this.current!;
    this.current = undefined;
    return c;
  }

  dispose(): void {
    this.current?.dispose();
    this.current = undefined;
  }
}

/**
 * Repairs a backdoored classifier with Fine-Pruning (Liu et al. 2018), or
 * with either of its halves alone.
 *
 * Steps (`mode: 'fine-pruning'`):
 * 1. measure the mean activation of each unit of `layer` on `cleanData`
 *    (over samples and spatial positions);
 * 2. prune units one at a time in increasing order of that mean (a
 *    `UnitMask` multiplies them by 0) and measure the accuracy on `cleanData`
 *    after each; stop before the accuracy falls more than
 *    `maxAccuracyDrop` below the unpruned accuracy (the unit whose pruning
 *    broke the rule is kept);
 * 3. fine-tune the pruned copy on `cleanData` (`epochs`, `learningRate`,
 *    `optimizer`, `trainBatchSize`) with the mask in force, so pruned units stay
 *    pruned.
 *
 * `'pruning'` stops after step 2; `'fine-tuning'` skips steps 1–2 and
 * fine-tunes a plain copy.
 *
 * @param classifier - The suspect classifier, with the `layers`, `mask` and
 *   `train` capabilities (e.g. from `fromLayersModel`). Never modified.
 * @param cleanData - Clean labelled data the defender trusts (at least
 *   {@link FINE_PRUNING_MIN_CLEAN_SAMPLES} samples). Never modified.
 * @param options - See {@link FinePruningOptions}.
 * @returns The repaired classifier (new; the caller owns it) and the
 *   diagnostics of {@link FinePruningReport}.
 * @throws {@link CapabilityError} if `classifier` lacks a capability;
 *   {@link LayerNotFoundError} if `options.layer` names no layer, or none was
 *   given and the model has no conv layer; {@link InvalidArgumentError} for a
 *   layer that is not conv/dense, an option out of range, or fewer than
 *   {@link FINE_PRUNING_MIN_CLEAN_SAMPLES} clean samples; the errors of
 *   `assertLabeledData` for malformed data; {@link AbortError} when
 *   `options.signal` aborts.
 *
 * @example
 * ```ts
 * // 1,000 clean digits; the benchmark's backdoored small CNN (docs/defences/fine-pruning.md)
 * const { classifier: repaired, pruned, stoppedBy } = await finePruning.repair(suspect, clean1000);
 * console.log(pruned.length, stoppedBy);                            // 9 'accuracy-drop'
 * console.log(await metrics.attackSuccessRate(repaired, triggered, 0)); // 0.022 (was 0.987)
 * repaired.dispose();
 * ```
 */
export async function repair(
  classifier: FullClassifier,
  cleanData: AnyLabeledData,
  options?: FinePruningOptions,
): Promise<FinePruningRepairResult> {
  const o = resolveFinePruningOptions(options);
  const prunes = o.mode !== 'fine-tuning';
  requireCapabilities(FN, 'classifier', classifier, prunes ? ['layers', 'mask', 'train'] : ['train']);
  const info = prunes ? resolveLayer(classifier, o.layer) : undefined;
  assertLabeledData(FN, 'cleanData', cleanData, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  const n = cleanData.y.length;
  if (n < FINE_PRUNING_MIN_CLEAN_SAMPLES) {
    throw new InvalidArgumentError(
      { fn: FN, arg: 'cleanData', value: `${n} samples` },
      `must hold at least ${FINE_PRUNING_MIN_CLEAN_SAMPLES} samples`,
    );
  }
  throwIfAborted(o.signal, FN);
  const live = o.onProgress !== undefined || o.signal !== undefined;

  const accuracyBefore = await accuracyOfChecked(FN, classifier, cleanData, o.batchSize);
  let meanActivation: Float32Array = new Float32Array(0);
  let order: Int32Array = new Int32Array(0);
  let pruned: Int32Array = new Int32Array(0);
  const accuracyCurve = [accuracyBefore];
  let stoppedBy: FinePruningReport['stoppedBy'] = 'none';
  let accuracyAfterPruning = accuracyBefore;
  let result: FullClassifier;

  if (info !== undefined) {
    meanActivation = await meanActivations(classifier, cleanData.x, info, o.batchSize);
    order = ascendingOrder(meanActivation);
    report(o.onProgress, { stage: 'fine-pruning:activations', done: 1, total: 1 });
    const maxPruned = Math.min(info.units - 1, Math.floor(o.maxPrunedFraction * info.units + 1e-9));
    const pruner = new LayerPruner(classifier, info);
    try {
      const keep = new Float32Array(info.units).fill(1);
      let k = 0;
      stoppedBy = 'max-pruned';
      while (k < maxPruned) {
        throwIfAborted(o.signal, FN);
        keep[order[k]!] = 0;
        const acc = await accuracyOfChecked(FN, pruner.set(keep), cleanData, o.batchSize);
        accuracyCurve.push(acc);
        report(o.onProgress, {
          stage: 'fine-pruning:prune',
          done: k + 1,
          total: maxPruned,
          metrics: { accuracy: acc, unit: order[k]! },
        });
        if (live) await yieldToEventLoop();
        if (accuracyBefore - acc > o.maxAccuracyDrop + 1e-9) {
          keep[order[k]!] = 1; // this unit broke the rule: keep it
          stoppedBy = 'accuracy-drop';
          break;
        }
        k++;
      }
      pruned = order.slice(0, k);
      accuracyAfterPruning = accuracyCurve[k]!;
      throwIfAborted(o.signal, FN);
      pruner.set(keep);
      result = pruner.take();
    } finally {
      pruner.dispose();
    }
  } else {
    result = classifier.clone();
  }

  const fineTuning: FitHistory = { loss: [], accuracy: [], seconds: [] };
  let accuracyAfter = accuracyAfterPruning;
  try {
    if (o.mode !== 'pruning' && o.epochs > 0) {
      const h = await (result as TrainableClassifier).fit(cleanData, {
        epochs: o.epochs,
        batchSize: o.trainBatchSize,
        learningRate: o.learningRate,
        optimizer: o.optimizer,
        seed: o.seed,
        signal: o.signal,
        onProgress:
          o.onProgress === undefined
            ? undefined
            : (e) => o.onProgress!({ ...e, stage: `fine-pruning:fine-tune${e.stage === 'fit:epoch' ? ':epoch' : ''}` }),
      });
      fineTuning.loss.push(...h.loss);
      fineTuning.accuracy.push(...h.accuracy);
      fineTuning.seconds.push(...h.seconds);
      accuracyAfter = await accuracyOfChecked(FN, result, cleanData, o.batchSize);
    }
  } catch (e) {
    result.dispose();
    // name this function, not the training loop it called
    if (e instanceof AbortError) throw new AbortError({ fn: FN, arg: 'signal' }, 'was aborted');
    throw e;
  }
  return {
    classifier: result,
    mode: o.mode,
    layer: info?.name ?? null,
    units: info?.units ?? 0,
    meanActivation,
    order,
    pruned,
    accuracyCurve,
    accuracyBefore,
    accuracyAfterPruning,
    accuracyAfter,
    stoppedBy,
    fineTuning,
  };
}
