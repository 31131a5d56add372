/**
 * Adversarial Neuron Pruning (ANP; Wu & Wang, NeurIPS 2021): finds the units
 * (conv channels, dense units) that an adversarial perturbation of the
 * weights most easily turns against the clean task — backdoor units are the
 * most sensitive — by learning a soft pruning mask on a small clean set, and
 * prunes the units whose mask falls below a threshold.
 *
 * Each perturbable unit k of layer l gets a mask m ∈ [0, 1] and multiplicative
 * perturbations δ, ξ ∈ [−ε, ε] of its incoming weights and its bias: the unit
 * computes σ((m + δ)·(w·x) + (1 + ξ)·b). Per mini-batch, δ and ξ are drawn
 * uniformly from [−ε, ε] and moved one signed-gradient step of size ε up the
 * clean loss (projected back onto [−ε, ε]); then the mask takes one SGD
 * (momentum) step down α·L(m) + (1 − α)·L(m + δ, 1 + ξ) and is clipped to
 * [0, 1].
 *
 * The optimisation needs the mask and the perturbations inside the forward
 * pass, which the generic `Classifier` interface cannot give; so ANP asks for
 * the `perturb` capability (`PerturbableClassifier`: `perturbedForward` and
 * `withScaledKernels`). A `LayersModelClassifier` has it for any layers
 * graph: plain chains without BatchNorm are re-computed with tf ops from
 * their weights; every other model (BatchNorm, residual, nested,
 * depthwise-separable) runs as itself with each perturbed layer's kernel
 * and bias reads scaled per unit. The perturbed units are those of the
 * layers in {@link ANP_SUPPORTED_LAYERS}; where such a layer feeds a
 * BatchNormalization, the BN neurons (γ, β) are perturbed, as in the paper's
 * BN networks.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { DEFAULT_BATCH_SIZE, sliceRows } from '../../core/batching.js';
import {
  requireCapabilities,
  type Classifier,
  type LayerInfo,
  type LayeredClassifier,
  type MaskableClassifier,
  type PerturbableClassifier,
  type PerturbedForward,
  type TrainableClassifier,
  type UnitCoefficients,
} from '../../core/classifier.js';
import { gradientStep } from '../../core/gradient-errors.js';
import { UNIT_KERNEL } from '../../core/perturb-graph.js';
import {
  InvalidArgumentError,
  LayerNotFoundError,
  NonFiniteError,
  ShapeError,
  UnsupportedError,
} from '../../core/errors.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../core/progress.js';
import { makeRng, type Rng } from '../../core/rng.js';
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

/**
 * tfjs-layers classes whose units ANP perturbs and prunes (layers with a
 * per-unit kernel; a conv followed by BatchNormalization has its BN neurons
 * perturbed). Every other layer class runs as itself: ANP works on any
 * layers graph (residual, nested, depthwise-separable).
 */
export const ANP_SUPPORTED_LAYERS: readonly string[] = Object.freeze(Object.keys(UNIT_KERNEL));

/** How the selected units are removed from the returned classifier. */
export type AnpPruning = 'weights' | 'mask';

/** Options of {@link repair}. */
export interface AnpOptions extends LongRunningOptions {
  /** Largest relative perturbation ε of a unit's weights and bias (paper, reference code: 0.4). @default 0.4 */
  readonly epsilon?: number;
  /** Trade-off α between the clean loss and the perturbed loss (paper, reference code: 0.2). @default 0.2 */
  readonly alpha?: number;
  /** Step size of the mask's SGD (reference code `--lr`: 0.2). @default 0.2 */
  readonly maskLearningRate?: number;
  /** Momentum of the mask's SGD (reference code: 0.9). @default 0.9 */
  readonly momentum?: number;
  /** Mask updates (mini-batches), drawn with replacement (reference code `--nb-iter`: 2000). @default 2000 */
  readonly iterations?: number;
  /** Samples per mini-batch (reference code: 128). @default 128 */
  readonly trainBatchSize?: number;
  /**
   * `'threshold'` prunes every unit whose mask is at most `threshold`;
   * `'number'` prunes the `count` units with the smallest masks.
   * @default 'threshold'
   */
  readonly pruneBy?: 'threshold' | 'number';
  /** Mask threshold for `pruneBy: 'threshold'` (paper: 0.2). @default 0.2 */
  readonly threshold?: number;
  /** Units to prune for `pruneBy: 'number'` (required then). @default undefined */
  readonly count?: number;
  /**
   * Names of the conv/dense layers whose units are perturbed, masked and may
   * be pruned. `undefined`: every Conv2D and Dense layer except the last one
   * (the classification head, which the reference implementation does not
   * perturb either).
   * @default undefined
   */
  readonly layers?: readonly string[];
  /**
   * `'weights'` (the paper's pruning: the unit's incoming weights are set to
   * zero in a copy of the model, its bias is kept — exactly the model that a
   * mask of 0 stood for during the optimisation); `'mask'`: a `UnitMask`
   * layer with 0/1 factors is inserted after each layer, zeroing the units'
   * outputs (bias included) and staying in force under further training.
   * @default 'weights'
   */
  readonly pruning?: AnpPruning;
  /** Samples per forward pass when measuring the clean accuracy. @default 256 */
  readonly batchSize?: number;
  /** Seed of the mini-batch sampling and of the random start of δ, ξ. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link repair}; the sources are listed in docs/defences/anp.md. */
export const ANP_DEFAULTS = Object.freeze({
  epsilon: 0.4,
  alpha: 0.2,
  maskLearningRate: 0.2,
  momentum: 0.9,
  iterations: 2000,
  trainBatchSize: 128,
  pruneBy: 'threshold' as 'threshold' | 'number',
  threshold: 0.2,
  count: undefined as number | undefined,
  layers: undefined as readonly string[] | undefined,
  pruning: 'weights' as AnpPruning,
  batchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/** Smallest clean set {@link repair} accepts. */
export const ANP_MIN_CLEAN_SAMPLES = 10;

/** The learnt mask of one layer. */
export interface AnpLayerMask {
  /** Layer name. */
  readonly layer: string;
  /** Final mask value of each unit, in [0, 1]. */
  readonly values: Float32Array;
}

/** One pruned unit. */
export interface AnpPrunedUnit {
  /** Layer name. */
  readonly layer: string;
  /** Unit index (conv channel / dense unit) in that layer. */
  readonly unit: number;
  /** Its final mask value. */
  readonly mask: number;
}

/** Diagnostics of {@link repair} (plain data, JSON-serialisable). */
export interface AnpReport {
  /** Per-layer mask values, in forward order. */
  readonly masks: AnpLayerMask[];
  /** Pruned units, smallest mask first. */
  readonly pruned: AnpPrunedUnit[];
  /** Units that were perturbed and could be pruned, in all. */
  readonly totalUnits: number;
  /** Accuracy on `cleanData` before repair. */
  readonly accuracyBefore: number;
  /** Accuracy on `cleanData` of the returned classifier. */
  readonly accuracyAfter: number;
  /**
   * Mean training loss α·L(m) + (1 − α)·L(m + δ) and clean-mask batch
   * accuracy over each block of iterations (block = iterations / 20, at
   * least 1), with the last iteration of the block.
   */
  readonly history: Array<{ iteration: number; loss: number; accuracy: number }>;
}

/** What {@link repair} returns. */
export interface AnpRepairResult<C extends Classifier = AnpClassifier> extends AnpReport {
  /**
   * The pruned classifier: a new copy of the input's kind (kernels scaled,
   * or unit masks added) that the caller owns; the input is unchanged.
   */
  readonly classifier: C;
}

/** What ANP returns: a layered, trainable copy (weights scaled, or unit masks added). */
export type AnpClassifier = LayeredClassifier & TrainableClassifier;

const FN = 'anp.repair';

/** Mean cross-entropy of the perturbed forward pass against one-hot labels. */
function lossOf(
  network: PerturbedForward,
  x: tf.Tensor,
  oneHot: tf.Tensor2D,
  coeffs: ReadonlyArray<UnitCoefficients | null>,
): tf.Scalar {
  const out = network.forward(x, coeffs);
  if (network.outputsLogits) return tf.losses.softmaxCrossEntropy(oneHot, out) as tf.Scalar;
  const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(p)), -1))) as tf.Scalar;
}

function resolveAnpOptions(options: unknown): typeof ANP_DEFAULTS {
  const o = resolveOptions(FN, ANP_DEFAULTS, options);
  assertInRange(FN, 'options.epsilon', o.epsilon, 0, 1);
  assertFraction(FN, 'options.alpha', o.alpha);
  assertInRange(FN, 'options.maskLearningRate', o.maskLearningRate, 0, Infinity, { minOpen: true });
  assertInRange(FN, 'options.momentum', o.momentum, 0, 1, { maxOpen: true });
  assertPositiveInteger(FN, 'options.iterations', o.iterations);
  assertPositiveInteger(FN, 'options.trainBatchSize', o.trainBatchSize);
  checkPruneOptions(FN, o);
  if (o.layers !== undefined) {
    if (!Array.isArray(o.layers) || o.layers.length === 0 || o.layers.some((l) => typeof l !== 'string')) {
      throw new InvalidArgumentError(
        { fn: FN, arg: 'options.layers', value: o.layers },
        'must be a non-empty array of layer names',
      );
    }
    if (new Set(o.layers).size !== o.layers.length) {
      throw new InvalidArgumentError({ fn: FN, arg: 'options.layers', value: o.layers }, 'must not repeat a layer');
    }
  }
  assertPositiveInteger(FN, 'options.batchSize', o.batchSize);
  assertFiniteNumber(FN, 'options.seed', o.seed);
  assertLongRunning(FN, o);
  return o;
}

/** Whether ANP can perturb a layer's units: a layer with a per-unit kernel (Dense, Conv1D/2D, depthwise, separable). */
function perturbable(l: LayerInfo): boolean {
  return Object.hasOwn(UNIT_KERNEL, l.className);
}

/** The layers ANP perturbs: the named ones (checked), or every layer with a per-unit kernel but the last. */
function resolvePerturbedLayers(classifier: LayeredClassifier, names: readonly string[] | undefined): LayerInfo[] {
  const affine = classifier.layers.filter(perturbable);
  if (names === undefined) {
    const chosen = affine.slice(0, -1);
    if (chosen.length === 0) {
      throw new LayerNotFoundError(
        { fn: FN, arg: 'classifier' },
        'has no conv or dense layer before its output layer to perturb; name layers with options.layers',
      );
    }
    return chosen;
  }
  return names.map((name, i) => {
    const info = classifier.layers.find((l) => l.name === name);
    if (info === undefined) {
      throw new LayerNotFoundError(
        { fn: FN, arg: `options.layers[${i}]`, value: name },
        `must name a layer of the model (layers: ${classifier.layers.map((l) => l.name).join(', ')})`,
      );
    }
    if (!perturbable(info)) {
      throw new InvalidArgumentError(
        { fn: FN, arg: `options.layers[${i}]`, value: name },
        `must name a layer with a per-unit kernel (${Object.keys(UNIT_KERNEL).join(', ')}; it is a ${info.className})`,
      );
    }
    return info;
  });
}

/**
 * Self-check: the re-implemented forward pass must reproduce the model's own
 * predictions on a few samples, or ANP would optimise a different network.
 */
async function checkForward(classifier: PerturbableClassifier, network: PerturbedForward, x: tf.Tensor): Promise<void> {
  const k = Math.min(x.shape[0], 16);
  const diff = tf.tidy(() => {
    const xb = sliceRows(x, 0, k);
    const mine = network.forward(xb, []);
    const probs = network.outputsLogits ? tf.softmax(mine) : mine;
    return tf.max(tf.abs(tf.sub(probs, classifier.predict(xb))));
  });
  const worst = (await diff.data())[0]!;
  diff.dispose();
  if (!(worst <= 1e-3)) {
    throw new UnsupportedError(
      { fn: FN, arg: 'classifier', value: `max |difference| ${worst}` },
      "could not be re-computed faithfully from its layers' weights (a layer setting ANP does not model)",
    );
  }
}

function uniform(rng: Rng, n: number, eps: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.next() - 1) * eps;
  return out;
}

/** The units to prune, smallest mask first. */
function selectPruned(
  masks: AnpLayerMask[],
  pruneBy: 'threshold' | 'number',
  threshold: number,
  count: number,
): AnpPrunedUnit[] {
  const all: AnpPrunedUnit[] = [];
  for (const m of masks) m.values.forEach((v, unit) => all.push({ layer: m.layer, unit, mask: v }));
  const order = masks.map((m) => m.layer);
  all.sort((a, b) => a.mask - b.mask || order.indexOf(a.layer) - order.indexOf(b.layer) || a.unit - b.unit);
  // masks are float32: compare with the threshold at the same precision
  const limit = Math.fround(threshold);
  return pruneBy === 'threshold' ? all.filter((u) => u.mask <= limit) : all.slice(0, count);
}

/** A copy of `classifier` with the pruned units removed as `how` says. */
function buildPruned(
  fn: string,
  classifier: PerturbableClassifier,
  masks: AnpLayerMask[],
  pruned: AnpPrunedUnit[],
  how: AnpPruning,
): AnpClassifier {
  const keepOf = new Map<string, Float32Array>();
  for (const m of masks) keepOf.set(m.layer, new Float32Array(m.values.length).fill(1));
  for (const p of pruned) keepOf.get(p.layer)![p.unit] = 0;
  const changed = masks.filter((m) => !keepOf.get(m.layer)!.every((v) => v === 1));
  if (how === 'mask') {
    requireCapabilities(fn, 'classifier', classifier, ['mask']);
    let current: (MaskableClassifier & TrainableClassifier) | undefined;
    for (const m of changed) {
      const next = (current ?? classifier).withUnitMask(m.layer, keepOf.get(m.layer)!);
      current?.dispose();
      current = next;
    }
    return current ?? classifier.clone();
  }
  const scales: Record<string, Float32Array> = {};
  for (const m of changed) scales[m.layer] = keepOf.get(m.layer)!;
  return classifier.withScaledKernels(scales);
}

/** The pruning options, as {@link checkPruneOptions} reads them. */
type PruneOptions = Pick<typeof ANP_DEFAULTS, 'pruneBy' | 'threshold' | 'count' | 'pruning'>;

/**
 * The masks of an earlier result, checked against `classifier`: one entry per
 * perturbable layer named at most once, one finite value per unit.
 */
function checkedMasks(
  fn: string,
  classifier: LayeredClassifier,
  masks: unknown,
  count: number | undefined,
): AnpLayerMask[] {
  if (!Array.isArray(masks) || masks.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'report.masks', value: masks },
      'must be a non-empty array of { layer, values }',
    );
  }
  const seen = new Set<string>();
  const clean: AnpLayerMask[] = (masks as AnpLayerMask[]).map((m: AnpLayerMask, i: number) => {
    const info = classifier.layers.find((l) => l.name === m?.layer);
    if (info === undefined || !perturbable(info)) {
      throw new LayerNotFoundError(
        { fn, arg: `report.masks[${i}].layer`, value: m?.layer },
        `must name a layer of the classifier with a per-unit kernel (${ANP_SUPPORTED_LAYERS.join(', ')})`,
      );
    }
    if (seen.has(info.name)) {
      throw new InvalidArgumentError(
        { fn, arg: `report.masks[${i}].layer`, value: info.name },
        'must not repeat a layer',
      );
    }
    seen.add(info.name);
    const values = m.values as ArrayLike<number> | undefined;
    if (values === undefined || values === null || typeof values.length !== 'number' || values.length !== info.units) {
      throw new ShapeError(
        { fn, arg: `report.masks[${i}].values`, value: values },
        `must hold one value per unit of '${info.name}' (${info.units})`,
      );
    }
    for (let u = 0; u < values.length; u++) {
      if (typeof values[u] !== 'number' || !Number.isFinite(values[u])) {
        throw new NonFiniteError(
          { fn, arg: `report.masks[${i}].values[${u}]`, value: values[u] },
          'must be a finite number',
        );
      }
    }
    return { layer: info.name, values: Float32Array.from(values) };
  });
  const total = clean.reduce((a, m) => a + m.values.length, 0);
  if (count !== undefined && count > total) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.count', value: count },
      `must be at most the number of masked units (${total})`,
    );
  }
  return clean;
}

function checkPruneOptions(fn: string, o: PruneOptions): void {
  assertOneOf(fn, 'options.pruneBy', o.pruneBy, ['threshold', 'number'] as const);
  assertFraction(fn, 'options.threshold', o.threshold);
  if (o.count !== undefined) assertInteger(fn, 'options.count', o.count, 0);
  if (o.pruneBy === 'number' && o.count === undefined) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.count', value: undefined },
      "must be given (an integer >= 0) when options.pruneBy is 'number'",
    );
  }
  assertOneOf(fn, 'options.pruning', o.pruning, ['weights', 'mask'] as const);
}

/** The repair from the masks of an earlier result: no optimisation, only step 3. */
async function pruneByReport(
  classifier: PerturbableClassifier,
  cleanData: AnyLabeledData,
  earlier: Pick<AnpReport, 'masks'> & Partial<Pick<AnpReport, 'history'>>,
  o: typeof ANP_DEFAULTS,
): Promise<AnpRepairResult<AnpClassifier>> {
  const masks = checkedMasks(FN, classifier, earlier.masks, o.count);
  assertLabeledData(FN, 'cleanData', cleanData, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  throwIfAborted(o.signal, FN);
  const accuracyBefore = await accuracyOfChecked(FN, classifier, cleanData, o.batchSize);
  const pruned = selectPruned(masks, o.pruneBy, o.threshold, o.count ?? 0);
  const repaired = buildPruned(FN, classifier, masks, pruned, o.pruning);
  let accuracyAfter: number;
  try {
    accuracyAfter = await accuracyOfChecked(FN, repaired, cleanData, o.batchSize);
  } catch (e) {
    repaired.dispose();
    throw e;
  }
  report(o.onProgress, { stage: 'anp:prune', done: 1, total: 1, metrics: { pruned: pruned.length } });
  return {
    classifier: repaired,
    masks,
    pruned,
    totalUnits: masks.reduce((a, m) => a + m.values.length, 0),
    accuracyBefore,
    accuracyAfter,
    history: Array.isArray(earlier.history) ? earlier.history.map((h) => ({ ...h })) : [],
  };
}

/**
 * Repairs a backdoored classifier with Adversarial Neuron Pruning (Wu & Wang
 * 2021).
 *
 * Steps:
 * 1. give every unit of the perturbed layers a mask m = 1 and perturbations
 *    δ, ξ (the unit computes σ((m + δ)·(w·x) + (1 + ξ)·b));
 * 2. for `iterations` mini-batches of `trainBatchSize` clean samples (drawn with
 *    replacement): draw δ, ξ ~ U(−ε, ε), take one step
 *    δ ← clip(δ + ε·sign(∇δ L), −ε, ε) (and likewise ξ) up the clean loss,
 *    then one SGD-momentum step on m down
 *    α·L(m, δ = 0, ξ = 0) + (1 − α)·L(m + δ, 1 + ξ), and clip m to [0, 1];
 * 3. prune the units whose mask is at most `threshold` (or the `count`
 *    smallest), in a copy of the model.
 *
 * @param classifier - A classifier with the `layers`, `train` and `perturb`
 *   capabilities (from `fromLayersModel`: a linear chain of
 *   {@link ANP_SUPPORTED_LAYERS}). Never modified.
 * @param cleanData - Clean labelled data (the paper uses 1% of the training
 *   set, ~500 samples; at least {@link ANP_MIN_CLEAN_SAMPLES}). Never modified.
 * @param reportOrOptions - An earlier result (anything with its `masks`):
 *   skip steps 1-2 and prune by those masks (the reference code's separate
 *   pruning script, to try several thresholds on one optimisation); or the
 *   options, see {@link AnpOptions}.
 * @param maybeOptions - The options, when an earlier result is given.
 * @returns The pruned classifier (new; the caller owns it) and the
 *   diagnostics of {@link AnpReport}.
 * @throws {@link CapabilityError} if `classifier` lacks a capability
 *   (`mask` too for `pruning: 'mask'`); {@link UnsupportedError} naming the layer class
 *   for a layer ANP cannot run, or a branching model;
 *   {@link LayerNotFoundError} for an unknown name in `options.layers`;
 *   {@link InvalidArgumentError} for an option out of range (e.g. a
 *   threshold outside [0, 1]) or too few clean samples; the data errors of
 *   `assertLabeledData`; {@link AbortError} when `options.signal` aborts.
 *
 * @example
 * ```ts
 * const { classifier: repaired, pruned, masks } = await anp.repair(suspect, clean500, { seed: 0 });
 * console.log(pruned.length, masks.map((m) => m.layer)); // 21 ['conv1', 'conv2', 'dense1']
 * // a stricter threshold on the same masks, without optimising again
 * const stricter = await anp.repair(suspect, clean500, { masks }, { threshold: 0.5 });
 * repaired.dispose();
 * stricter.classifier.dispose();
 * ```
 */
export async function repair<C extends Classifier>(
  classifier: C,
  cleanData: AnyLabeledData,
  options?: AnpOptions,
): Promise<AnpRepairResult<C>>;
export async function repair<C extends Classifier>(
  classifier: C,
  cleanData: AnyLabeledData,
  report: Pick<AnpReport, 'masks'> & Partial<Pick<AnpReport, 'history'>>,
  options?: AnpOptions,
): Promise<AnpRepairResult<C>>;
export async function repair<C extends Classifier>(
  classifier: C,
  cleanData: AnyLabeledData,
  reportOrOptions?: AnpOptions | (Pick<AnpReport, 'masks'> & Partial<Pick<AnpReport, 'history'>>),
  maybeOptions?: AnpOptions,
): Promise<AnpRepairResult<C>> {
  const given = reportOrOptions as { masks?: unknown } | undefined;
  const fromReport = given !== null && typeof given === 'object' && 'masks' in given;
  const o = resolveAnpOptions(fromReport ? maybeOptions : reportOrOptions);
  requireCapabilities(FN, 'classifier', classifier, ['layers', 'train', 'perturb']);
  if (fromReport) {
    return (await pruneByReport(
      classifier,
      cleanData,
      reportOrOptions as Pick<AnpReport, 'masks'> & Partial<Pick<AnpReport, 'history'>>,
      o,
    )) as unknown as AnpRepairResult<C>;
  }
  const layerInfos = resolvePerturbedLayers(classifier, o.layers);
  const network = classifier.perturbedForward(
    layerInfos.map((l) => l.name),
    FN,
  );
  assertLabeledData(FN, 'cleanData', cleanData, {
    inputShape: classifier.inputShape,
    numClasses: classifier.numClasses,
  });
  const n = cleanData.y.length;
  if (n < ANP_MIN_CLEAN_SAMPLES) {
    throw new InvalidArgumentError(
      { fn: FN, arg: 'cleanData', value: `${n} samples` },
      `must hold at least ${ANP_MIN_CLEAN_SAMPLES} samples`,
    );
  }
  const totalUnits = layerInfos.reduce((a, l) => a + l.units, 0);
  if (o.count !== undefined && o.count > totalUnits) {
    throw new InvalidArgumentError(
      { fn: FN, arg: 'options.count', value: o.count },
      `must be at most the number of perturbed units (${totalUnits})`,
    );
  }
  await checkForward(classifier, network, cleanData.x);
  throwIfAborted(o.signal, FN);
  const live = o.onProgress !== undefined || o.signal !== undefined;
  const accuracyBefore = await accuracyOfChecked(FN, classifier, cleanData, o.batchSize);

  const rng = makeRng(o.seed, FN);
  const batchRng = rng.derive('batches');
  const noiseRng = rng.derive('noise');
  const L = layerInfos.length;
  const units = network.units;
  const hasBias = network.hasBias;
  const eps = o.epsilon;
  const perturb = eps > 0;
  const blockSize = Math.max(1, Math.floor(o.iterations / 20));

  // state that crosses iterations: masks and their momentum buffers, the labels
  let masks: tf.Tensor1D[] = units.map((u) => tf.ones([u]) as tf.Tensor1D);
  let velocity: tf.Tensor1D[] = units.map((u) => tf.zeros([u]) as tf.Tensor1D);
  const yAll = tf.tensor1d(cleanData.y, 'int32');
  const history: AnpReport['history'] = [];
  let blockStats: tf.Tensor1D | null = null; // [loss sum, correct, samples]
  try {
    for (let it = 0; it < o.iterations; it++) {
      throwIfAborted(o.signal, FN);
      const idx = new Int32Array(o.trainBatchSize);
      for (let i = 0; i < o.trainBatchSize; i++) idx[i] = batchRng.int(n);
      const d0 = units.map((u) => (perturb ? uniform(noiseRng, u, eps) : null));
      const x0 = units.map((u, j) => (perturb && hasBias[j] ? uniform(noiseRng, u, eps) : null));
      const step = gradientStep(FN, () => {
        const idxT = tf.tensor1d(idx, 'int32');
        const xb = tf.gather(cleanData.x, idxT);
        const yb = tf.gather(yAll, idxT);
        const oneHot = tf.oneHot(yb, classifier.numClasses) as tf.Tensor2D;
        // 1. adversarial perturbation: random start, one signed-gradient ascent step, projection
        let delta: tf.Tensor1D[] = [];
        let xi: Array<tf.Tensor1D | null> = [];
        if (perturb) {
          delta = d0.map((d) => tf.tensor1d(d!));
          xi = x0.map((v) => (v === null ? null : tf.tensor1d(v)));
          const biasIdx = xi.map((v, j) => (v === null ? -1 : j)).filter((j) => j >= 0);
          const grads = tf.grads((...p: tf.Tensor[]) => {
            const ds = p.slice(0, L);
            const bs = p.slice(L);
            const coeffs = ds.map((d, j) => {
              const k = biasIdx.indexOf(j);
              return { weight: tf.add(masks[j]!, d), bias: k >= 0 ? tf.add(1, bs[k]!) : null };
            });
            return lossOf(network, xb, oneHot, coeffs);
          })([...delta, ...biasIdx.map((j) => xi[j]!)]);
          delta = delta.map(
            (d, j) => tf.clipByValue(tf.add(d, tf.mul(eps, tf.sign(grads[j]!))), -eps, eps) as tf.Tensor1D,
          );
          xi = xi.map((v, j) => {
            if (v === null) return null;
            const g = grads[L + biasIdx.indexOf(j)]!;
            return tf.clipByValue(tf.add(v, tf.mul(eps, tf.sign(g))), -eps, eps) as tf.Tensor1D;
          });
        }
        // 2. mask step on alpha * L(clean mask) + (1 - alpha) * L(perturbed)
        let correct: tf.Scalar | undefined;
        const { value, grads } = tf.valueAndGrads((...ms: tf.Tensor[]) => {
          const clean = network.forward(
            xb,
            ms.map((m) => ({ weight: m, bias: null })),
          );
          // kept: the gradient's forward pass runs in its own tidy
          correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(clean, 1), yb), 'float32'))) as tf.Scalar;
          const natural = network.outputsLogits
            ? (tf.losses.softmaxCrossEntropy(oneHot, clean) as tf.Scalar)
            : (tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(clean, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar);
          if (!perturb) return natural;
          const robust = lossOf(
            network,
            xb,
            oneHot,
            ms.map((m, j) => ({ weight: tf.add(m, delta[j]!), bias: xi[j] === null ? null : tf.add(1, xi[j]!) })),
          );
          return tf.add(tf.mul(o.alpha, natural), tf.mul(1 - o.alpha, robust)) as tf.Scalar;
        })(masks);
        const newVelocity = velocity.map((v, j) => tf.add(tf.mul(o.momentum, v), grads[j]!) as tf.Tensor1D);
        const newMasks = masks.map(
          (m, j) => tf.clipByValue(tf.sub(m, tf.mul(o.maskLearningRate, newVelocity[j]!)), 0, 1) as tf.Tensor1D,
        );
        const stats = tf.stack([tf.mul(value, o.trainBatchSize), correct!, tf.scalar(o.trainBatchSize)]) as tf.Tensor1D;
        correct!.dispose();
        const acc = blockStats === null ? stats : tf.add(blockStats, stats);
        return { newMasks, newVelocity, acc: acc as tf.Tensor1D };
      });
      for (const t of masks) t.dispose();
      for (const t of velocity) t.dispose();
      blockStats?.dispose();
      masks = step.newMasks;
      velocity = step.newVelocity;
      blockStats = step.acc;
      const done = it + 1;
      if (done % blockSize === 0 || done === o.iterations) {
        const [lossSum, correct, count] = Array.from(await blockStats.data());
        blockStats.dispose();
        blockStats = null;
        const entry = { iteration: done, loss: lossSum! / count!, accuracy: correct! / count! };
        history.push(entry);
        report(o.onProgress, {
          stage: 'anp:optimize',
          done,
          total: o.iterations,
          metrics: { loss: entry.loss, accuracy: entry.accuracy },
        });
      } else {
        report(o.onProgress, { stage: 'anp:optimize', done, total: o.iterations });
      }
      if (live) await yieldToEventLoop();
    }
    throwIfAborted(o.signal, FN);
    const maskValues: AnpLayerMask[] = [];
    for (let j = 0; j < L; j++) {
      maskValues.push({ layer: layerInfos[j]!.name, values: Float32Array.from(await masks[j]!.data()) });
    }
    const pruned = selectPruned(maskValues, o.pruneBy, o.threshold, o.count ?? 0);
    const repaired = buildPruned(FN, classifier, maskValues, pruned, o.pruning);
    let accuracyAfter: number;
    try {
      accuracyAfter = await accuracyOfChecked(FN, repaired, cleanData, o.batchSize);
    } catch (e) {
      repaired.dispose();
      throw e;
    }
    report(o.onProgress, { stage: 'anp:prune', done: 1, total: 1, metrics: { pruned: pruned.length } });
    return {
      classifier: repaired as unknown as C,
      masks: maskValues,
      pruned,
      totalUnits,
      accuracyBefore,
      accuracyAfter,
      history,
    };
  } finally {
    for (const t of masks) t.dispose();
    for (const t of velocity) t.dispose();
    blockStats?.dispose();
    yAll.dispose();
  }
}
