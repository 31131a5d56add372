/**
 * Shared pieces of the model builders: option validation, per-layer seeded
 * initialisers and the spatial-size arithmetic used to reject inputs that are
 * too small for a network's convolution/pooling stack.
 *
 * @packageDocumentation
 */
import * as tfl from '@tensorflow/tfjs-layers';

import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { makeRng, type Rng } from '../core/rng.js';
import { assertInteger } from '../core/checks.js';

/** A tfjs-layers initialiser (the class itself is not exported by tfjs-layers). */
export type Initializer = ReturnType<typeof tfl.initializers.glorotUniform>;

/** Options every classifier builder accepts. */
export interface ClassifierBuilderOptions {
  /** Shape of one input sample, `[height, width, channels]`. */
  readonly inputShape?: readonly number[];
  /** Number of output classes (integer >= 2). */
  readonly numClasses?: number;
  /** Seed of the weight initialisation; same seed, bit-identical weights. @default 0 */
  readonly seed?: number;
  /** Name of the returned model (layer names are fixed and documented per builder). */
  readonly name?: string;
}

/** Asserts that `value` is `[height, width, channels]` with positive integer entries. */
export function assertInputShape(fn: string, arg: string, value: unknown): asserts value is readonly number[] {
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    !value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)
  ) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      'must be [height, width, channels], three positive integers (one NHWC sample)',
    );
  }
}

/** Asserts that `value` is an integer number of classes >= 2. */
export function assertNumClasses(fn: string, arg: string, value: unknown): asserts value is number {
  assertInteger(fn, arg, value, 2);
}

/** Asserts that `value` is a non-empty string usable as a model name. */
export function assertModelName(fn: string, arg: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a non-empty string');
  }
}

/** Asserts that `value` is a dropout rate in [0, 1). */
export function assertDropoutRate(fn: string, arg: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a dropout rate in [0, 1)');
  }
}

/**
 * Seeded initialisers, one independent seed per layer name. The seed of a
 * layer depends only on the model seed and the layer's name (via
 * {@link Rng.derive}), so adding a layer never changes the weights of the
 * others.
 */
export class LayerSeeds {
  private readonly rng: Rng;

  constructor(seed: unknown, fn: string) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new InvalidArgumentError({ fn, arg: 'options.seed', value: seed }, 'must be a finite number');
    }
    this.rng = makeRng(seed, fn);
  }

  /** The seed derived for `layerName`, in [0, 2^31). */
  seedFor(layerName: string): number {
    return this.rng.derive(`layer:${layerName}`).nextSeed();
  }

  /**
   * Initialiser arguments for a conv/dense layer: Glorot-uniform kernel
   * (the Keras default) seeded for this layer, zero bias (the Keras default;
   * it draws nothing random).
   */
  init(layerName: string): { kernelInitializer: Initializer; biasInitializer: 'zeros' } {
    return {
      kernelInitializer: tfl.initializers.glorotUniform({ seed: this.seedFor(layerName) }),
      biasInitializer: 'zeros',
    };
  }
}

/** One step of a spatial stack: a 3×3 (or k×k) convolution or a 2×2 pooling. */
export type SpatialStep =
  | { readonly layer: string; readonly op: 'conv'; readonly kernel: number; readonly padding: 'valid' | 'same' }
  | { readonly layer: string; readonly op: 'pool'; readonly size: number; readonly padding: 'valid' | 'same' };

/** Output length of one spatial dimension after `step` (stride 1 conv, stride = size pooling). */
export function stepSize(size: number, step: SpatialStep): number {
  if (step.op === 'conv') return step.padding === 'same' ? size : size - step.kernel + 1;
  return step.padding === 'same' ? Math.ceil(size / step.size) : Math.floor(size / step.size);
}

/** Smallest input length for which every step of `steps` leaves at least one pixel. */
export function minimumSize(steps: readonly SpatialStep[]): number {
  for (let s = 1; s < 1 << 16; s++) if (sizesOk(s, steps)) return s;
  return Infinity;
}

function sizesOk(size: number, steps: readonly SpatialStep[]): boolean {
  let v = size;
  for (const step of steps) {
    v = stepSize(v, step);
    if (v < 1) return false;
  }
  return true;
}

/**
 * Runs `steps` over the height and width of `inputShape`; throws a
 * {@link ShapeError} naming the argument and the first layer whose output
 * would be empty.
 *
 * @returns The final `[height, width]`.
 */
export function checkSpatial(
  fn: string,
  arg: string,
  inputShape: readonly number[],
  steps: readonly SpatialStep[],
): [number, number] {
  let h = inputShape[0]!;
  let w = inputShape[1]!;
  for (const step of steps) {
    h = stepSize(h, step);
    w = stepSize(w, step);
    if (h < 1 || w < 1) {
      const min = minimumSize(steps);
      throw new ShapeError(
        { fn, arg, value: [...inputShape] },
        `is too small for the network: layer '${step.layer}' would output ${Math.max(h, 0)}x${Math.max(w, 0)} pixels; ` +
          `height and width must be at least ${min}`,
      );
    }
  }
  return [h, w];
}

/** Product of the entries of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One layer of a plain feed-forward stack, as {@link buildStack} understands it. */
export type LayerSpec =
  | {
      readonly kind: 'conv';
      readonly name: string;
      readonly filters: number;
      readonly kernel?: number;
      readonly padding: 'valid' | 'same';
      readonly activation: 'relu' | 'sigmoid' | 'linear';
    }
  | { readonly kind: 'pool'; readonly name: string; readonly padding: 'valid' | 'same' }
  | { readonly kind: 'upsample'; readonly name: string }
  | { readonly kind: 'crop'; readonly name: string; readonly cropping: [[number, number], [number, number]] }
  | { readonly kind: 'dropout'; readonly name: string; readonly rate: number }
  | { readonly kind: 'flatten'; readonly name: string }
  | { readonly kind: 'reshape'; readonly name: string; readonly targetShape: readonly number[] }
  | {
      readonly kind: 'dense';
      readonly name: string;
      readonly units: number;
      readonly activation: 'relu' | 'sigmoid' | 'linear';
    }
  | { readonly kind: 'activation'; readonly name: string; readonly activation: 'softmax' | 'sigmoid' };

/**
 * Builds a functional tfjs-layers model `input -> specs[0] -> ... -> specs[n-1]`
 * with the given model name, an input layer named `'input'` and every other
 * layer named by its spec (no global name counters leak into layer names).
 * Conv and dense layers get a Glorot-uniform kernel seeded per layer name and
 * a zero bias.
 */
export function buildStack(
  modelName: string,
  inputShape: readonly number[],
  specs: readonly LayerSpec[],
  seeds: LayerSeeds,
): tfl.LayersModel {
  const input = tfl.input({ shape: [...inputShape], name: 'input' });
  let t: tfl.SymbolicTensor = input;
  for (const spec of specs) {
    t = makeLayer(spec, seeds).apply(t) as tfl.SymbolicTensor;
  }
  return tfl.model({ inputs: input, outputs: t, name: modelName });
}

function makeLayer(spec: LayerSpec, seeds: LayerSeeds): tfl.layers.Layer {
  switch (spec.kind) {
    case 'conv':
      return tfl.layers.conv2d({
        name: spec.name,
        filters: spec.filters,
        kernelSize: spec.kernel ?? 3,
        strides: 1,
        padding: spec.padding,
        activation: spec.activation,
        ...seeds.init(spec.name),
      });
    case 'pool':
      return tfl.layers.maxPooling2d({ name: spec.name, poolSize: 2, strides: 2, padding: spec.padding });
    case 'upsample':
      return tfl.layers.upSampling2d({ name: spec.name, size: [2, 2] });
    case 'crop':
      return tfl.layers.cropping2D({ name: spec.name, cropping: spec.cropping });
    case 'dropout':
      // No seed on purpose: a seeded tfjs dropout draws the same mask at every step.
      return tfl.layers.dropout({ name: spec.name, rate: spec.rate });
    case 'flatten':
      return tfl.layers.flatten({ name: spec.name });
    case 'reshape':
      return tfl.layers.reshape({ name: spec.name, targetShape: [...spec.targetShape] });
    case 'dense':
      return tfl.layers.dense({
        name: spec.name,
        units: spec.units,
        activation: spec.activation,
        ...seeds.init(spec.name),
      });
    case 'activation':
      return tfl.layers.activation({ name: spec.name, activation: spec.activation });
  }
}

/** The {@link SpatialStep}s (conv / pool) of a layer stack, for {@link checkSpatial}. */
export function spatialSteps(specs: readonly LayerSpec[]): SpatialStep[] {
  const steps: SpatialStep[] = [];
  for (const s of specs) {
    if (s.kind === 'conv') steps.push({ layer: s.name, op: 'conv', kernel: s.kernel ?? 3, padding: s.padding });
    else if (s.kind === 'pool') steps.push({ layer: s.name, op: 'pool', size: 2, padding: s.padding });
  }
  return steps;
}

/** Resolved common options of a classifier builder. */
export interface ResolvedClassifierOptions {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly seed: number;
  readonly name: string;
}

/** Validates the common classifier-builder options (already merged over defaults). */
export function checkClassifierOptions(fn: string, o: ResolvedClassifierOptions): void {
  assertInputShape(fn, 'options.inputShape', o.inputShape);
  assertNumClasses(fn, 'options.numClasses', o.numClasses);
  if (typeof o.seed !== 'number' || !Number.isFinite(o.seed)) {
    throw new InvalidArgumentError({ fn, arg: 'options.seed', value: o.seed }, 'must be a finite number');
  }
  assertModelName(fn, 'options.name', o.name);
}
