/**
 * `fromLayersModel`: wraps a tfjs-layers model as a {@link FullClassifier}
 * with every capability (predict, layers, activations, unit masks, clone,
 * fit).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { collectBatches, DEFAULT_BATCH_SIZE, mapBatches, sliceRows } from './batching.js';
import type {
  ActivationOptions,
  FitHistory,
  FitOptions,
  FullClassifier,
  LayerInfo,
  LayeredClassifier,
  LayerKind,
  MaskUpdatableClassifier,
  PerturbableClassifier,
  PerturbedForward,
  RecomputeBatchNormOptions,
} from './classifier.js';
import { findLayer } from './classifier.js';
import { recomputeBatchNorm } from './batch-norm.js';
import { assertDifferentiable, gradientFailure, releaseFailedTape } from './gradient-errors.js';
import { InvalidArgumentError, NonFiniteError, ShapeError, UnsupportedError } from './errors.js';
import { report, throwIfAborted, yieldToEventLoop } from './progress.js';
import { perturbedForwardOf } from './perturb.js';
import { GraphPerturbedForward, scaleUnitsInPlace } from './perturb-graph.js';
import { makeRng } from './rng.js';
import type { AnyLabeledData } from './types.js';
import { registerCustomLayers, UnitMask } from './unit-mask-layer.js';
import { type ConfigDict, insertUnitMask } from './model-config.js';
import { configOf, copyWeightsByName, flattenLayers, isContainer, outputFunction, resolveNested } from './nested.js';
import { assertInRange, assertLongRunning, assertOneOf, assertOptionsObject, assertPositiveInteger } from './checks.js';
import { resolveOptions } from './options.js';
import { assertLabeledData, assertBatch } from './validate.js';

/** What the wrapped model outputs. */
export type ModelOutput = 'probabilities' | 'logits';

/** Options of {@link fromLayersModel}. */
export interface FromLayersModelOptions {
  /**
   * Whether the model's last layer yields probabilities (e.g. ends in softmax)
   * or logits; with `'logits'`, `predict` applies a softmax and `fit` uses the
   * softmax cross-entropy on the logits.
   * @default 'probabilities'
   */
  readonly output?: ModelOutput;
  /**
   * Whether the classifier owns the model: `dispose()` then disposes it.
   * @default false
   */
  readonly owned?: boolean;
}

/** Defaults of {@link fromLayersModel}. */
export const FROM_LAYERS_MODEL_DEFAULTS: Readonly<Required<FromLayersModelOptions>> = Object.freeze({
  output: 'probabilities',
  owned: false,
});

/** Defaults of {@link LayersModelClassifier.fit}. */
export const FIT_DEFAULTS = Object.freeze({
  epochs: 1,
  batchSize: 32,
  learningRate: 0.001,
  optimizer: 'adam' as 'adam' | 'sgd' | 'momentum',
  shuffle: true,
  seed: 0,
  onProgress: undefined as FitOptions['onProgress'],
  signal: undefined as AbortSignal | undefined,
  batchNormStatistics: 'recompute' as 'recompute' | 'keep',
});

const KIND_BY_CLASS: Readonly<Record<string, LayerKind>> = {
  InputLayer: 'input',
  Conv2D: 'conv',
  Conv1D: 'conv',
  Conv3D: 'conv',
  SeparableConv2D: 'conv',
  Conv2DTranspose: 'conv',
  DepthwiseConv2D: 'depthwise-conv',
  Dense: 'dense',
  MaxPooling2D: 'pool',
  AveragePooling2D: 'pool',
  MaxPooling1D: 'pool',
  AveragePooling1D: 'pool',
  GlobalAveragePooling2D: 'pool',
  GlobalMaxPooling2D: 'pool',
  Flatten: 'flatten',
  Activation: 'activation',
  ReLU: 'activation',
  LeakyReLU: 'activation',
  Softmax: 'activation',
  ELU: 'activation',
  BatchNormalization: 'batchnorm',
  Dropout: 'dropout',
  SpatialDropout1D: 'dropout',
  GaussianNoise: 'dropout',
  GaussianDropout: 'dropout',
  AlphaDropout: 'dropout',
  Reshape: 'reshape',
  [UnitMask.className]: 'mask',
};

const MASK_SUFFIX = '__unit_mask';

/** Checks per-unit factors: an array of `units` finite numbers. */
function checkFactors(
  fn: string,
  arg: string,
  keep: unknown,
  units: number,
  layer: string,
): asserts keep is ArrayLike<number> {
  if (keep === null || typeof keep !== 'object' || typeof (keep as ArrayLike<unknown>).length !== 'number') {
    throw new InvalidArgumentError({ fn, arg, value: keep }, 'must be an array of per-unit factors');
  }
  const k = keep as ArrayLike<unknown>;
  if (k.length !== units) {
    throw new ShapeError({ fn, arg, value: keep }, `must have one factor per unit of '${layer}' (${units})`);
  }
  for (let i = 0; i < k.length; i++) {
    if (typeof k[i] !== 'number' || !Number.isFinite(k[i])) {
      throw new NonFiniteError({ fn, arg: `${arg}[${i}]`, value: k[i] }, 'must be a finite number');
    }
  }
}

function describeLayers(model: tfl.LayersModel): LayerInfo[] {
  return flattenLayers(model).map(({ name, layer }, index) => {
    const className = layer.getClassName();
    const shape = layer.outputShape;
    // multi-output layers are listed with their first output
    const single = (Array.isArray(shape[0]) ? shape[0] : shape) as Array<number | null>;
    const outputShape = single.slice(1).map((d) => d ?? -1);
    const cfg = layer.getConfig() as { filters?: number; units?: number };
    const kind = isContainer(layer) ? 'model' : (KIND_BY_CLASS[className] ?? 'other');
    const units =
      kind === 'conv' && typeof cfg.filters === 'number'
        ? cfg.filters
        : kind === 'dense' && typeof cfg.units === 'number'
          ? cfg.units
          : (outputShape[outputShape.length - 1] ?? 0);
    return Object.freeze({ name, kind, className, outputShape: Object.freeze(outputShape), units, index });
  });
}

/** The tfjs layer behind a listed (possibly qualified) name; callers validated the name. */
function layerNamed(model: tfl.LayersModel, name: string): tfl.layers.Layer {
  const found = resolveNested(model, name);
  if (found === undefined) throw new Error(`internal: no layer '${name}'`);
  return found.layer;
}

/** Rebuilds a model (same class, same layer names) from its config; weights are fresh. */
function modelFromConfig(model: tfl.LayersModel, config: ConfigDict, fastWeightInit: boolean): tfl.LayersModel {
  registerCustomLayers();
  const isSequential = model instanceof tfl.Sequential;
  if (isSequential) {
    return tfl.Sequential.fromConfig(tfl.Sequential, config, {}, fastWeightInit) as tfl.LayersModel;
  }
  return tfl.LayersModel.fromConfig(tfl.LayersModel, config, {}, fastWeightInit) as tfl.LayersModel;
}

/** Walks a layer config and re-seeds every initializer that takes a seed. */
function reseedInitializers(node: unknown, rng: ReturnType<typeof makeRng>): void {
  if (Array.isArray(node)) {
    for (const v of node) reseedInitializers(v, rng);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (/initializer$/i.test(key) && value !== null && typeof value === 'object') {
      const init = value as { className?: string; config?: Record<string, unknown> };
      if (init.config !== undefined && 'seed' in init.config) init.config.seed = rng.nextSeed();
      else if (
        init.config !== undefined &&
        /Uniform|Normal|Glorot|He|LeCun|VarianceScaling|Orthogonal/i.test(init.className ?? '')
      ) {
        init.config.seed = rng.nextSeed();
      }
    } else {
      reseedInitializers(value, rng);
    }
  }
}

/**
 * A tfjs-layers model as a classifier with every capability. Create with
 * {@link fromLayersModel}.
 */
export class LayersModelClassifier implements FullClassifier, MaskUpdatableClassifier, PerturbableClassifier {
  /** The wrapped model. Training through {@link fit} changes its weights. */
  readonly model: tfl.LayersModel;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly LayerInfo[];
  /** What the model's last layer outputs. */
  readonly output: ModelOutput;
  private readonly owned: boolean;
  private readonly subModels = new Map<string, (x: tf.Tensor) => tf.Tensor>();

  /** @internal Use {@link fromLayersModel}. */
  constructor(model: tfl.LayersModel, output: ModelOutput, owned: boolean) {
    this.model = model;
    this.output = output;
    this.owned = owned;
    const inShape = model.inputs[0]!.shape.slice(1);
    this.inputShape = Object.freeze(inShape.map((d) => d as number));
    const outShape = model.outputs[0]!.shape;
    this.numClasses = outShape[outShape.length - 1] as number;
    this.layers = Object.freeze(describeLayers(model));
  }

  /**
   * Class probabilities for a batch (softmax applied when the model outputs
   * logits). Differentiable; runs inside `tf.tidy`.
   */
  predict(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const out = this.model.apply(x, { training: false }) as tf.Tensor;
      return (this.output === 'logits' ? tf.softmax(out) : out) as tf.Tensor2D;
    });
  }

  /** Raw model output (logits when `output` is `'logits'`, else probabilities). */
  predictRaw(x: tf.Tensor, training = false): tf.Tensor2D {
    return this.model.apply(x, { training }) as tf.Tensor2D;
  }

  private subModel(layer: string): (x: tf.Tensor) => tf.Tensor {
    let sub = this.subModels.get(layer);
    if (sub === undefined) {
      sub = outputFunction('activations', this.model, resolveNested(this.model, layer)!);
      this.subModels.set(layer, sub);
    }
    return sub;
  }

  /**
   * Activations of `layer` for `x`, flattened per sample to `[n, d]`, computed
   * batch by batch. The caller owns the result.
   *
   * @throws {@link LayerNotFoundError} for an unknown layer name.
   */
  activations(x: tf.Tensor, layer: string, options: ActivationOptions = {}): tf.Tensor2D {
    const fn = 'activations';
    findLayer(fn, 'layer', this, layer);
    assertOptionsObject(fn, options);
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    assertPositiveInteger(fn, 'options.batchSize', batchSize);
    assertBatch(fn, 'x', x, this.inputShape);
    return mapBatches(x, batchSize, (b) => this.activationBatch(b, layer));
  }

  /** @internal One batch of flattened activations, unvalidated (callers validate once). */
  activationBatch(x: tf.Tensor, layer: string): tf.Tensor2D {
    return tf.tidy(() => {
      const a = this.subModel(layer)(x);
      return tf.reshape(a, [x.shape[0]!, -1]) as tf.Tensor2D;
    });
  }

  /**
   * A new classifier whose `layer` outputs are multiplied per unit (conv
   * channel / dense unit, the last axis) by `keep` (0 prunes). The new model
   * is a deep copy with a {@link UnitMask} layer inserted after `layer` —
   * or, where `layer` feeds only a BatchNormalization and/or activation
   * layers (conv → BN → ReLU), after the last of those, so that a pruned
   * unit reads as exactly 0 in every later layer rather than as the BN's
   * shift; the original is untouched. Masking an already-masked layer
   * multiplies the factors.
   *
   * @throws {@link LayerNotFoundError} for an unknown layer,
   *   {@link ShapeError} if `keep` has the wrong length,
   *   {@link NonFiniteError} if it holds NaN/Infinity.
   */
  withUnitMask(layer: string, keep: ArrayLike<number>): LayersModelClassifier {
    const fn = 'withUnitMask';
    const info = findLayer(fn, 'layer', this, layer);
    checkFactors(fn, 'keep', keep, info.units, layer);
    if (info.kind === 'mask') {
      throw new InvalidArgumentError(
        { fn, arg: 'layer', value: layer },
        'is itself a mask layer; mask the layer it follows',
      );
    }
    const maskName = `${layer}${MASK_SUFFIX}`;
    const existing = this.layers.find((l) => l.name === maskName);
    registerCustomLayers();
    let factors = Float32Array.from(keep);
    let clone: tfl.LayersModel;
    if (existing !== undefined) {
      const prev = layerNamed(this.model, maskName).getWeights()[0]!.dataSync();
      factors = factors.map((v, i) => v * prev[i]!);
      clone = modelFromConfig(this.model, this.model.getConfig(), true);
    } else {
      const config = this.model.getConfig() as ConfigDict;
      // a layer of a sub-model is masked inside the sub-model's own config
      const at = configOf(fn, config, this.model instanceof tfl.Sequential, layer);
      const leafMask = `${at.leaf}${MASK_SUFFIX}`;
      insertUnitMask(fn, at.config, at.leaf, leafMask, info.units, at.sequential, info.outputShape.length + 1);
      clone = modelFromConfig(this.model, config, true);
    }
    copyWeightsByName(this.model, clone);
    const maskLayer = layerNamed(clone, maskName);
    tf.tidy(() => maskLayer.setWeights([tf.tensor1d(factors, 'float32')]));
    return new LayersModelClassifier(clone, this.output, true);
  }

  /**
   * The factors of the unit mask that {@link withUnitMask} put on `layer` (a
   * copy), or `undefined` if the layer has no mask.
   *
   * @throws {@link LayerNotFoundError} for an unknown layer.
   */
  unitMask(layer: string): Float32Array | undefined {
    findLayer('unitMask', 'layer', this, layer);
    const maskName = `${layer}${MASK_SUFFIX}`;
    if (!this.layers.some((l) => l.name === maskName)) return undefined;
    return Float32Array.from(layerNamed(this.model, maskName).getWeights()[0]!.dataSync());
  }

  /**
   * Replaces, in place, the factors of the unit mask on `layer` (added by
   * {@link withUnitMask}) by `keep`.
   *
   * @throws {@link LayerNotFoundError} for an unknown layer, {@link InvalidArgumentError}
   *   if it has no mask, {@link ShapeError} / {@link NonFiniteError} for a bad `keep`.
   */
  setUnitMask(layer: string, keep: ArrayLike<number>): void {
    const fn = 'setUnitMask';
    const info = findLayer(fn, 'layer', this, layer);
    checkFactors(fn, 'keep', keep, info.units, layer);
    const maskName = `${layer}${MASK_SUFFIX}`;
    if (!this.layers.some((l) => l.name === maskName)) {
      throw new InvalidArgumentError(
        { fn, arg: 'layer', value: layer },
        'has no unit mask (add one with withUnitMask)',
      );
    }
    const maskLayer = layerNamed(this.model, maskName);
    tf.tidy(() => maskLayer.setWeights([tf.tensor1d(Float32Array.from(keep), 'float32')]));
  }

  /**
   * The forward pass re-computed from the layers' weights, with per-unit
   * coefficients on `layers` (each a layer with a per-unit kernel). Plain
   * BN-free chains of the layer classes in `PERTURBABLE_LAYER_CLASSES` are
   * re-computed with tf ops; every other graph runs as itself with scaled
   * kernel and bias reads (`GraphPerturbedForward`).
   *
   * @throws {@link UnsupportedError} naming the layer or topology it cannot re-compute.
   */
  perturbedForward(layers: readonly string[], fn = 'perturbedForward'): PerturbedForward {
    const logits = this.output === 'logits';
    // the chain interpreter for plain chains without BN; the model itself, with scaled reads, for the rest
    if (!flattenLayers(this.model).some(({ layer }) => layer.getClassName() === 'BatchNormalization')) {
      try {
        return perturbedForwardOf(this.model, logits, layers, fn);
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
      }
    }
    return new GraphPerturbedForward(this.model, logits, layers, fn);
  }

  /**
   * An independent copy whose named layers' kernels are multiplied per output
   * unit by `scales[layer]` (biases kept); the original is unchanged.
   *
   * @throws {@link LayerNotFoundError} for an unknown layer, {@link ShapeError} /
   *   {@link NonFiniteError} for bad factors.
   */
  withScaledKernels(scales: Readonly<Record<string, ArrayLike<number>>>): this {
    const fn = 'withScaledKernels';
    const checked = new Map<string, Float32Array>();
    for (const [name, keep] of Object.entries(scales)) {
      const info = findLayer(fn, 'scales', this, name);
      checkFactors(fn, `scales.${name}`, keep, info.units, name);
      checked.set(name, Float32Array.from(keep));
    }
    const copy = this.clone();
    try {
      scaleUnitsInPlace(fn, copy.model, checked);
    } catch (e) {
      copy.dispose();
      throw e;
    }
    return copy;
  }

  /** An independent deep copy (own weights). */
  clone(): this {
    const copy = modelFromConfig(this.model, this.model.getConfig(), true);
    copyWeightsByName(this.model, copy);
    return new LayersModelClassifier(copy, this.output, true) as this;
  }

  /** Same architecture, freshly initialised weights drawn from `seed`. */
  reinitialized(seed: number): this {
    const rng = makeRng(seed, 'reinitialized');
    const config = this.model.getConfig() as ConfigDict;
    reseedInitializers(config.layers, rng);
    const fresh = modelFromConfig(this.model, config, false);
    // Unit masks are part of the architecture: keep their factors.
    for (const info of this.layers) {
      if (info.kind === 'mask') layerNamed(fresh, info.name).setWeights(layerNamed(this.model, info.name).getWeights());
    }
    return new LayersModelClassifier(fresh, this.output, true) as this;
  }

  /**
   * Trains this classifier in place with a seeded loop (sparse labels,
   * cross-entropy; Adam by default). Unit masks stay in force.
   *
   * @returns Loss, accuracy and seconds per epoch.
   * @throws {@link BackdoorKitError} on bad data or options; {@link AbortError} when aborted.
   */
  async fit(data: AnyLabeledData, options: FitOptions = {}): Promise<FitHistory> {
    const fn = 'fit';
    const o = resolveOptions(fn, FIT_DEFAULTS, options);
    assertPositiveInteger(fn, 'options.epochs', o.epochs);
    assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
    assertInRange(fn, 'options.learningRate', o.learningRate, 0, Infinity, { minOpen: true });
    assertOneOf(fn, 'options.optimizer', o.optimizer, ['adam', 'sgd', 'momentum'] as const);
    assertOneOf(fn, 'options.batchNormStatistics', o.batchNormStatistics, ['recompute', 'keep'] as const);
    assertLongRunning(fn, o);
    assertLabeledData(fn, 'data', data, { inputShape: this.inputShape, numClasses: this.numClasses });
    assertDifferentiable(fn, 'classifier', this.model);
    throwIfAborted(o.signal, fn);

    const rng = makeRng(o.seed, fn);
    const n = data.y.length;
    const optimizer =
      o.optimizer === 'adam'
        ? tf.train.adam(o.learningRate)
        : o.optimizer === 'sgd'
          ? tf.train.sgd(o.learningRate)
          : tf.train.momentum(o.learningRate, 0.9);
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const yAll = tf.tensor1d(data.y, 'int32');
    const history: FitHistory = { loss: [], accuracy: [], seconds: [] };
    const steps = Math.ceil(n / o.batchSize);
    // Dropout-like layers draw their masks from `seed`; a fixed seed would
    // repeat one mask every step, none makes training irreproducible. Give
    // each step its own derived seed and restore the layers' seeds after.
    const seeded = this.model.layers.filter((l) => 'seed' in l && 'rate' in l) as unknown as Array<{
      seed: number | undefined;
    }>;
    const savedSeeds = seeded.map((l) => l.seed);
    const dropoutRng = rng.derive('dropout');
    try {
      for (let epoch = 0; epoch < o.epochs; epoch++) {
        const t0 = performance.now();
        const order = o.shuffle ? rng.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
        const batchLoss: tf.Scalar[] = [];
        const batchCorrect: tf.Scalar[] = [];
        try {
          for (let step = 0; step < steps; step++) {
            throwIfAborted(o.signal, fn);
            const s = step * o.batchSize;
            const e = Math.min(n, s + o.batchSize);
            const contiguous = !o.shuffle;
            for (const l of seeded) l.seed = dropoutRng.nextSeed();
            try {
              this.trainStep(
                optimizer,
                vars,
                data.x,
                yAll,
                contiguous ? null : order.subarray(s, e),
                s,
                e,
                batchLoss,
                batchCorrect,
              );
            } catch (error) {
              releaseFailedTape();
              throw gradientFailure(fn, 'classifier', error) ?? error;
            }
            if (o.onProgress !== undefined || o.signal !== undefined) {
              report(o.onProgress, { stage: 'fit', done: epoch * steps + step + 1, total: o.epochs * steps });
              await yieldToEventLoop();
            }
          }
          const sums = tf.tidy(() => tf.stack([tf.addN(batchLoss), tf.addN(batchCorrect)]));
          const [lossSum, correctSum] = Array.from(await sums.data());
          sums.dispose();
          history.loss.push(lossSum! / n);
          history.accuracy.push(correctSum! / n);
          history.seconds.push((performance.now() - t0) / 1000);
          report(o.onProgress, {
            stage: 'fit:epoch',
            done: epoch + 1,
            total: o.epochs,
            metrics: { loss: lossSum! / n, accuracy: correctSum! / n },
          });
        } finally {
          for (const t of batchLoss) t.dispose();
          for (const t of batchCorrect) t.dispose();
        }
      }
      if (o.batchNormStatistics === 'recompute') recomputeBatchNorm(this.model, data.x, o.batchSize);
    } finally {
      seeded.forEach((l, i) => (l.seed = savedSeeds[i]));
      yAll.dispose();
      optimizer.dispose();
    }
    return history;
  }

  /**
   * Re-estimates every BatchNormalization layer's moving mean and variance
   * (sub-models included) in place on `x`: the sample-weighted average of
   * the batch statistics over training-mode forward passes (PyTorch's
   * `momentum=None`, SWA's `update_bn`). Other weights are untouched.
   *
   * @param x - Inputs of the classifier's input shape (clean data).
   * @param options - {@link RecomputeBatchNormOptions}.
   * @returns The number of BatchNormalization layers updated.
   * @throws {@link ShapeError} for inputs of the wrong shape; {@link InvalidArgumentError} for bad options.
   */
  async recomputeBatchNorm(x: tf.Tensor, options: RecomputeBatchNormOptions = {}): Promise<number> {
    const fn = 'recomputeBatchNorm';
    const { batchSize } = resolveOptions(fn, { batchSize: FIT_DEFAULTS.batchSize }, options);
    assertPositiveInteger(fn, 'options.batchSize', batchSize);
    assertBatch(fn, 'x', x, this.inputShape);
    return recomputeBatchNorm(this.model, x, batchSize);
  }

  /** One optimiser step on rows `[s, e)` (or the rows `idx`); pushes the step's summed loss and correct count. */
  private trainStep(
    optimizer: tf.Optimizer,
    vars: tf.Variable[],
    x: tf.Tensor,
    yAll: tf.Tensor1D,
    rows: Int32Array | null,
    s: number,
    e: number,
    batchLoss: tf.Scalar[],
    batchCorrect: tf.Scalar[],
  ): void {
    let correct: tf.Scalar | undefined;
    try {
      tf.tidy(() => {
        const idx = rows === null ? null : tf.tensor1d(rows, 'int32');
        const xb = idx === null ? sliceRows(x, s, e) : tf.gather(x, idx);
        const yb = idx === null ? sliceRows(yAll, s, e) : tf.gather(yAll, idx);
        const oneHot = tf.oneHot(yb, this.numClasses);
        const loss = optimizer.minimize(
          () => {
            const out = this.model.apply(xb, { training: true }) as tf.Tensor2D;
            correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), yb), 'float32')) as tf.Scalar);
            if (this.output === 'logits') return tf.losses.softmaxCrossEntropy(oneHot, out) as tf.Scalar;
            const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
            return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(p)), -1))) as tf.Scalar;
          },
          true,
          vars,
        );
        batchLoss.push(tf.keep(tf.mul(loss!, e - s)));
        batchCorrect.push(correct!);
      });
    } catch (error) {
      // a failed backward pass may have kept this step's count already
      if (correct !== undefined && !batchCorrect.includes(correct)) correct.dispose();
      throw error;
    }
  }

  /** Disposes the model if this classifier owns it (copies made by clone/withUnitMask always do). */
  dispose(): void {
    this.subModels.clear();
    if (this.owned) this.model.dispose();
  }
}

/**
 * Wraps a tfjs-layers model as a {@link FullClassifier}: predict, layer
 * listing, batched activations, unit masks, clone and a seeded `fit`.
 *
 * @param model - A single-input, single-output model whose input shape is
 *   fully defined apart from the batch dimension.
 * @param options - See {@link FromLayersModelOptions}.
 * @returns A classifier wrapping (not copying) `model`.
 * @throws {@link UnsupportedError} for multi-input/output models or an
 *   undefined input shape; {@link InvalidArgumentError} for a non-model.
 *
 * @example
 * ```ts
 * const clf = fromLayersModel(models.smallCnn({ inputShape: [28, 28, 1], numClasses: 10 }));
 * await clf.fit(train, { epochs: 2, batchSize: 128, seed: 1 });
 * const pruned = clf.withUnitMask('conv2', keep); // clf unchanged
 * ```
 */
export function fromLayersModel(model: tfl.LayersModel, options: FromLayersModelOptions = {}): LayersModelClassifier {
  const fn = 'fromLayersModel';
  const o = resolveOptions(fn, FROM_LAYERS_MODEL_DEFAULTS, options);
  assertOneOf(fn, 'options.output', o.output, ['probabilities', 'logits'] as const);
  if (
    model === null ||
    typeof model !== 'object' ||
    !Array.isArray((model as Partial<tfl.LayersModel>).inputs) ||
    typeof (model as Partial<tfl.LayersModel>).apply !== 'function'
  ) {
    throw new InvalidArgumentError({ fn, arg: 'model', value: model }, 'must be a tfjs-layers LayersModel');
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedError(
      { fn, arg: 'model', value: `${model.inputs.length} inputs, ${model.outputs.length} outputs` },
      'must have exactly one input and one output',
    );
  }
  const inShape = model.inputs[0]!.shape.slice(1);
  if (inShape.some((d) => d === null || d <= 0)) {
    throw new UnsupportedError({ fn, arg: 'model', value: inShape }, 'must have a fully defined input shape');
  }
  const outShape = model.outputs[0]!.shape;
  if (outShape.length !== 2 || outShape[1] === null || (outShape[1] as number) < 2) {
    throw new UnsupportedError({ fn, arg: 'model', value: outShape }, 'must output [batch, numClasses >= 2]');
  }
  return new LayersModelClassifier(model, o.output, o.owned);
}

/**
 * Activations of `layer` for `x` as plain row-major data `[rows, cols]`,
 * computed batch by batch into one preallocated array (the device never holds
 * more than one batch of activations). Validates once, up front.
 *
 * @param classifier - A classifier with the `layers` capability.
 * @param x - Inputs `[n, ...inputShape]`.
 * @param layer - Layer name.
 * @param batchSize - Samples per forward pass. @default 256
 * @throws {@link BackdoorKitError} for an unknown layer or bad input.
 */
export async function activationsData(
  classifier: LayeredClassifier,
  x: tf.Tensor,
  layer: string,
  batchSize = DEFAULT_BATCH_SIZE,
): Promise<{ values: Float32Array; rows: number; cols: number }> {
  const fn = 'activationsData';
  findLayer(fn, 'layer', classifier, layer);
  assertPositiveInteger(fn, 'batchSize', batchSize);
  assertBatch(fn, 'x', x, classifier.inputShape);
  if (classifier instanceof LayersModelClassifier) {
    return collectBatches(x, batchSize, (b) => classifier.activationBatch(b, layer));
  }
  return collectBatches(x, batchSize, (b) => classifier.activations(b, layer, { batchSize: b.shape[0]! }));
}
