/**
 * The small CNN the benchmarks train: two conv/pool blocks and one hidden
 * dense layer (56,714 parameters on 28×28×1 MNIST).
 *
 * @packageDocumentation
 */
import type * as tfl from '@tensorflow/tfjs-layers';

import { resolveOptions } from '../core/options.js';
import {
  buildStack,
  checkClassifierOptions,
  checkSpatial,
  LayerSeeds,
  spatialSteps,
  type ClassifierBuilderOptions,
  type LayerSpec,
} from './common.js';

/** Options of {@link smallCnn}. */
export interface SmallCnnOptions extends ClassifierBuilderOptions {
  /** Shape of one input sample `[height, width, channels]`; height and width at least 10. @default [28, 28, 1] */
  readonly inputShape?: readonly number[];
  /** Number of output classes (integer >= 2). @default 10 */
  readonly numClasses?: number;
  /** Seed of the weight initialisation. @default 0 */
  readonly seed?: number;
  /** Name of the returned model. @default 'small_cnn' */
  readonly name?: string;
}

/** Defaults of {@link smallCnn}. */
export const SMALL_CNN_DEFAULTS: Readonly<Required<SmallCnnOptions>> = Object.freeze({
  inputShape: Object.freeze([28, 28, 1]),
  numClasses: 10,
  seed: 0,
  name: 'small_cnn',
});

/**
 * Builds the small benchmark CNN (uncompiled). Layers, in order (3×3 convs,
 * stride 1, `'valid'` padding; 2×2 max pooling, stride 2):
 *
 * | name      | layer                          | output (28×28×1 input) | params |
 * |-----------|--------------------------------|------------------------|--------|
 * | `input`   | Input                          | 28×28×1                | 0      |
 * | `conv1`   | Conv2D 16, 3×3, ReLU           | 26×26×16               | 160    |
 * | `pool1`   | MaxPool 2×2                    | 13×13×16               | 0      |
 * | `conv2`   | Conv2D 32, 3×3, ReLU           | 11×11×32               | 4,640  |
 * | `pool2`   | MaxPool 2×2                    | 5×5×32                 | 0      |
 * | `flatten` | Flatten                        | 800                    | 0      |
 * | `dense1`  | Dense 64, ReLU                 | 64                     | 51,264 |
 * | `logits`  | Dense numClasses, linear       | 10                     | 650    |
 * | `output`  | Softmax                        | 10                     | 0      |
 *
 * Total 56,714 parameters for 28×28×1 and 10 classes. `predict` returns
 * probabilities; the pre-softmax scores are the output of layer `logits`.
 * Kernels are Glorot-uniform, seeded per layer from `seed`; biases start at
 * zero.
 *
 * @param options - See {@link SmallCnnOptions}.
 * @returns A new, uncompiled `tf.LayersModel`; the caller owns (disposes) it.
 * @throws InvalidArgumentError for a bad option (inputShape not three
 *   positive integers, numClasses < 2, non-finite seed, unknown key).
 * @throws ShapeError if `inputShape` is smaller than 10×10.
 * @example
 * ```ts
 * const model = models.smallCnn({ seed: 1 });
 * model.countParams();                 // 56714
 * const clf = fromLayersModel(model);  // a Classifier with every capability
 * ```
 */
export function smallCnn(options?: SmallCnnOptions): tfl.LayersModel {
  const fn = 'models.smallCnn';
  const o = resolveOptions(fn, SMALL_CNN_DEFAULTS, options);
  checkClassifierOptions(fn, o);
  const specs: LayerSpec[] = [
    { kind: 'conv', name: 'conv1', filters: 16, padding: 'valid', activation: 'relu' },
    { kind: 'pool', name: 'pool1', padding: 'valid' },
    { kind: 'conv', name: 'conv2', filters: 32, padding: 'valid', activation: 'relu' },
    { kind: 'pool', name: 'pool2', padding: 'valid' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 64, activation: 'relu' },
    { kind: 'dense', name: 'logits', units: o.numClasses, activation: 'linear' },
    { kind: 'activation', name: 'output', activation: 'softmax' },
  ];
  checkSpatial(fn, 'options.inputShape', o.inputShape, spatialSteps(specs));
  return buildStack(o.name, o.inputShape, specs, new LayerSeeds(o.seed, fn));
}
