/**
 * The `Classifier` interface every defence works on, and its optional
 * capabilities. A defence states which capabilities it needs and fails fast
 * with a {@link CapabilityError} if the given classifier lacks one.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { CapabilityError, InvalidArgumentError, LayerNotFoundError, UnsupportedError } from './errors.js';
import type { AnyLabeledData, LongRunningOptions } from './types.js';

/**
 * The one required interface: a function from a batch of inputs to class
 * probabilities. Black-box defences (STRIP, feature squeezing, the de-trigger
 * autoencoder) need nothing more.
 *
 * @example
 * ```ts
 * const wrapped: Classifier = {
 *   inputShape: [28, 28, 1],
 *   numClasses: 10,
 *   predict: (x) => tf.tidy(() => tf.softmax(myGraphModel.predict(x) as tf.Tensor2D)),
 * };
 * ```
 */
export interface Classifier {
  /** Shape of one sample, e.g. `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  /** Number of classes. */
  readonly numClasses: number;
  /**
   * Class probabilities `[n, numClasses]` for a batch `[n, ...inputShape]`.
   * Built from tf ops, so it can be differentiated and run inside `tf.tidy`.
   * Never mutates its input. The caller owns (disposes) the result.
   */
  predict(x: tf.Tensor): tf.Tensor2D;
}

/** Kind of a layer, as far as defences care. */
export type LayerKind =
  | 'input'
  | 'conv'
  | 'depthwise-conv'
  | 'dense'
  | 'pool'
  | 'flatten'
  | 'activation'
  | 'batchnorm'
  | 'dropout'
  | 'reshape'
  | 'mask'
  | 'model'
  | 'other';

/** Description of one layer of a {@link LayeredClassifier}. */
export interface LayerInfo {
  /**
   * Unique layer name; a layer inside a sub-model is qualified with the
   * sub-model's name, `backbone/conv1` (the sub-model itself is listed too,
   * kind `'model'`, before its layers).
   */
  readonly name: string;
  /** Coarse kind. */
  readonly kind: LayerKind;
  /** tfjs class name, e.g. `'Conv2D'`. */
  readonly className: string;
  /** Output shape of one sample (no batch dimension). */
  readonly outputShape: readonly number[];
  /** Number of units: channels for a conv layer, units for a dense layer; else the last output dimension. */
  readonly units: number;
  /** Position in this list (sub-models' layers included, depth first). */
  readonly index: number;
}

/** Options for {@link LayeredClassifier.activations}. */
export interface ActivationOptions {
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Capability: read intermediate activations. Needed by AC, SS, Fine-Pruning, ANP. */
export interface LayeredClassifier extends Classifier {
  /** The layers in forward order, with kinds and output shapes. */
  readonly layers: readonly LayerInfo[];
  /**
   * Activations of `layer` for `x`, flattened per sample to `[n, d]`, computed
   * batch by batch. The caller owns the result.
   */
  activations(x: tf.Tensor, layer: string, options?: ActivationOptions): tf.Tensor2D;
}

/** Capability: scale (0 prunes) the units of a layer without touching the original. */
export interface MaskableClassifier extends LayeredClassifier {
  /**
   * A new classifier whose `layer` outputs are multiplied per unit (conv
   * channel / dense unit) by `keep`. The original is unchanged.
   */
  withUnitMask(layer: string, keep: ArrayLike<number>): MaskableClassifier & TrainableClassifier;
}

/** Options for {@link TrainableClassifier.fit}. */
export interface FitOptions extends LongRunningOptions {
  /** Passes over the data. @default 1 */
  readonly epochs?: number;
  /** Samples per gradient step. @default 32 */
  readonly batchSize?: number;
  /** Optimiser step size. @default 0.001 */
  readonly learningRate?: number;
  /** Optimiser. @default 'adam' */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Shuffle the samples each epoch (seeded). @default true */
  readonly shuffle?: boolean;
  /** Seed for shuffling and dropout. @default 0 */
  readonly seed?: number;
  /**
   * BatchNormalization statistics after training: `'recompute'` re-estimates
   * every BN layer's moving mean and variance on `data` once the last epoch
   * is done (see {@link TrainableClassifier.recomputeBatchNorm}; tfjs's
   * momentum-0.99 averages lag the weights, and a BN network trained for a
   * few hundred steps can score far below its training accuracy without
   * it); `'keep'` leaves the moving averages as training left them. No
   * effect on a network without BatchNormalization.
   * @default 'recompute'
   */
  readonly batchNormStatistics?: 'recompute' | 'keep';
}

/** Options for {@link TrainableClassifier.recomputeBatchNorm}. */
export interface RecomputeBatchNormOptions {
  /** Samples per training-mode forward pass (BN statistics are per batch, as in training). @default 32 */
  readonly batchSize?: number;
}

/** Per-epoch training record returned by {@link TrainableClassifier.fit}. */
export interface FitHistory {
  /** Mean training loss per epoch. */
  readonly loss: number[];
  /** Training accuracy per epoch (on the batches as trained). */
  readonly accuracy: number[];
  /** Wall time per epoch in seconds. */
  readonly seconds: number[];
}

/** Capability: copy and train. Needed by repairs that fine-tune or retrain. */
export interface TrainableClassifier extends Classifier {
  /** An independent deep copy (own weights); training it leaves this one unchanged. */
  clone(): this;
  /** A copy with freshly initialised weights (same architecture), seeded. */
  reinitialized(seed: number): this;
  /** Trains this classifier in place on `data` (sparse labels, cross-entropy). */
  fit(data: AnyLabeledData, options?: FitOptions): Promise<FitHistory>;
  /**
   * Re-estimates BatchNormalization statistics in place on inputs `x` (clean
   * data): the average of the per-batch statistics over training-mode
   * forward passes, as after pruning or fine-tuning is standard practice.
   * Optional: repairs call it where present. Resolves to the number of BN
   * layers updated (0 for a network without them).
   */
  recomputeBatchNorm?(x: tf.Tensor, options?: RecomputeBatchNormOptions): Promise<number>;
  /** Releases the weights. The classifier must not be used afterwards. */
  dispose(): void;
}

/**
 * A masked classifier whose masks can be rewritten in place (Fine-Pruning
 * tries many masks on one copy). Optional: without it a defence makes a new
 * `withUnitMask` copy per mask.
 */
export interface MaskUpdatableClassifier extends MaskableClassifier {
  /** The factors of the unit mask on `layer` (a copy), or `undefined` when the layer has none. */
  unitMask(layer: string): Float32Array | undefined;
  /**
   * Replaces the factors of the unit mask on `layer` (which a `withUnitMask`
   * call must have added) by `keep`, in place.
   */
  setUnitMask(layer: string, keep: ArrayLike<number>): void;
}

/** Per-unit coefficients on one perturbed layer of a {@link PerturbedForward}. */
export interface UnitCoefficients {
  /** Multiplies each unit's weighted input `w·x` (shape `[units]`, or broadcastable to the layer's output). */
  readonly weight: tf.Tensor;
  /** Multiplies each unit's bias; `null` leaves the biases as they are. */
  readonly bias: tf.Tensor | null;
}

/**
 * A differentiable forward pass whose chosen conv/dense layers take per-unit
 * coefficients (ANP's neuron masks and perturbations).
 */
export interface PerturbedForward {
  /** The perturbed layers, in the order `forward` takes coefficients. */
  readonly layers: readonly string[];
  /** Units of each perturbed layer. */
  readonly units: readonly number[];
  /** Whether each perturbed layer has a bias. */
  readonly hasBias: readonly boolean[];
  /** True when `forward` returns logits (a final softmax dropped, or a logits model), false for probabilities. */
  readonly outputsLogits: boolean;
  /**
   * The model's output for `x` with `coefficients[j]` on `layers[j]` (null
   * or missing: unperturbed). Built from tf ops; the caller owns the result.
   */
  forward(x: tf.Tensor, coefficients: ReadonlyArray<UnitCoefficients | null>): tf.Tensor2D;
}

/** The `perturb` capability: a per-unit perturbed forward pass and per-unit weight scaling. */
export interface PerturbableClassifier extends LayeredClassifier, TrainableClassifier {
  /**
   * The forward pass with per-unit coefficients on `layers` (conv or dense).
   *
   * @param layers - The layers to perturb.
   * @param fn - The public function asking, named in errors.
   * @throws {@link UnsupportedError} for a model the pass cannot re-compute.
   */
  perturbedForward(layers: readonly string[], fn?: string): PerturbedForward;
  /**
   * An independent copy whose named layers' kernels are multiplied per
   * output unit by `scales[layer]` (0 removes a unit's weights; biases are
   * kept). The original is unchanged.
   */
  withScaledKernels(scales: Readonly<Record<string, ArrayLike<number>>>): this;
}

/** A classifier with every capability (what {@link fromLayersModel} returns). */
export type FullClassifier = MaskableClassifier & TrainableClassifier;

/** Names of the optional capabilities. */
export type Capability = 'layers' | 'mask' | 'train' | 'perturb';

/** The interface each {@link Capability} stands for. */
export interface CapabilityInterfaces {
  layers: LayeredClassifier;
  mask: MaskableClassifier;
  train: TrainableClassifier;
  perturb: PerturbableClassifier;
}

type Intersect<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

/** A classifier with every capability in `N`. */
export type WithCapabilities<N extends readonly Capability[]> = Classifier & Intersect<CapabilityInterfaces[N[number]]>;

/** True if `c` can report layers and activations. */
export function hasLayers(c: Classifier): c is LayeredClassifier {
  const x = c as Partial<LayeredClassifier>;
  return Array.isArray(x.layers) && typeof x.activations === 'function';
}

/** True if `c` supports {@link MaskableClassifier.withUnitMask}. */
export function isMaskable(c: Classifier): c is MaskableClassifier {
  return hasLayers(c) && typeof (c as Partial<MaskableClassifier>).withUnitMask === 'function';
}

/** True if `c` can be cloned and trained. */
/** Whether `c` can rewrite its unit masks in place ({@link MaskUpdatableClassifier}). */
export function canUpdateMask(c: Classifier): c is MaskUpdatableClassifier {
  const x = c as Partial<MaskUpdatableClassifier>;
  return isMaskable(c) && typeof x.setUnitMask === 'function' && typeof x.unitMask === 'function';
}

/** Whether `c` has the `perturb` capability ({@link PerturbableClassifier}). */
export function isPerturbable(c: Classifier): c is PerturbableClassifier {
  const x = c as Partial<PerturbableClassifier>;
  return (
    hasLayers(c) &&
    isTrainable(c) &&
    typeof x.perturbedForward === 'function' &&
    typeof x.withScaledKernels === 'function'
  );
}

export function isTrainable(c: Classifier): c is TrainableClassifier {
  const x = c as Partial<TrainableClassifier>;
  return typeof x.clone === 'function' && typeof x.fit === 'function' && typeof x.dispose === 'function';
}

/** Asserts that `value` is a {@link Classifier}. */
export function assertClassifier(fn: string, arg: string, value: unknown): asserts value is Classifier {
  const c = value as Partial<Classifier> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.predict !== 'function' ||
    !Array.isArray(c.inputShape) ||
    !Number.isInteger(c.numClasses) ||
    (c.numClasses ?? 0) < 2
  ) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      'must be a Classifier { inputShape, numClasses >= 2, predict(x) } (see fromLayersModel)',
    );
  }
}

/**
 * Asserts that `classifier` has every capability in `needs`, naming the
 * missing one.
 *
 * @throws {@link CapabilityError}
 */
export function requireCapabilities<const N extends readonly Capability[]>(
  fn: string,
  arg: string,
  classifier: unknown,
  needs: N,
): asserts classifier is WithCapabilities<N> {
  assertClassifier(fn, arg, classifier);
  for (const need of needs) {
    if (!CAPABILITY_CHECKS[need].has(classifier)) {
      throw new CapabilityError(
        { fn, arg },
        `needs the '${need}' capability (${CAPABILITY_CHECKS[need].what}); wrap a tfjs-layers model with fromLayersModel() to get it`,
      );
    }
  }
}

const CAPABILITY_CHECKS: Readonly<Record<Capability, { has: (c: Classifier) => boolean; what: string }>> = {
  layers: { has: hasLayers, what: 'layers + activations(x, layer)' },
  mask: { has: isMaskable, what: 'withUnitMask(layer, keep)' },
  train: { has: isTrainable, what: 'clone() + fit(data, options) + dispose()' },
  perturb: {
    has: isPerturbable,
    what: 'perturbedForward(layers) + withScaledKernels(scales), as a LayersModelClassifier has',
  },
};

/**
 * Looks up a layer by name, with a helpful error listing the available ones.
 *
 * @throws {@link LayerNotFoundError}
 */
export function findLayer(fn: string, arg: string, classifier: LayeredClassifier, name: unknown): LayerInfo {
  const found = typeof name === 'string' ? classifier.layers.find((l) => l.name === name) : undefined;
  if (found === undefined) {
    throw new LayerNotFoundError(
      { fn, arg, value: name },
      `must name a layer of the model (layers: ${classifier.layers.map((l) => l.name).join(', ')})`,
    );
  }
  return found;
}

/**
 * The last hidden layer: the input of the final classification layer (the
 * layer whose activations Chen et al. cluster). Skips trailing activation /
 * dropout / mask layers between it and the last dense layer.
 */
export function lastHiddenLayer(fn: string, classifier: LayeredClassifier): LayerInfo {
  const layers = classifier.layers;
  let i = layers.length - 1;
  while (i >= 0 && layers[i]!.kind !== 'dense') i--;
  i--;
  while (i >= 0 && (layers[i]!.kind === 'dropout' || layers[i]!.kind === 'input')) i--;
  if (i < 0) {
    throw new LayerNotFoundError({ fn, arg: 'classifier' }, 'has no hidden layer before its final dense layer');
  }
  return layers[i]!;
}

/** The conv layers of a layered classifier, in order. */
export function convLayers(classifier: LayeredClassifier): LayerInfo[] {
  return classifier.layers.filter((l) => l.kind === 'conv' || l.kind === 'depthwise-conv');
}

/**
 * Asserts the classifier takes images `[height, width, channels]`, for the
 * defences that work on pixels; `why` says what needs them.
 *
 * @returns The input shape `[H, W, C]`.
 * @throws {@link UnsupportedError} for a classifier of token sequences, feature rows or other inputs.
 */
export function assertImageClassifier(fn: string, classifier: Classifier, why: string): [number, number, number] {
  const s = classifier.inputShape;
  if (s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UnsupportedError(
      { fn, arg: 'classifier', value: s },
      `must take images [height, width, channels] (${why})`,
    );
  }
  return [s[0]!, s[1]!, s[2]!];
}
