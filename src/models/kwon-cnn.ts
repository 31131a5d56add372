/**
 * The MNIST / Fashion-MNIST target model of Kwon, "Defending Deep Neural
 * Networks against Backdoor Attack by Using De-trigger Autoencoder" (IEEE
 * Access), Table 8 (architecture) and Table 10 (dropout 0.5).
 *
 * @packageDocumentation
 */
import type * as tfl from '@tensorflow/tfjs-layers';

import { resolveOptions } from '../core/options.js';
import {
  assertDropoutRate,
  buildStack,
  checkClassifierOptions,
  checkSpatial,
  LayerSeeds,
  spatialSteps,
  type ClassifierBuilderOptions,
  type LayerSpec,
} from './common.js';

/** Options of {@link kwonCnn}. */
export interface KwonCnnOptions extends ClassifierBuilderOptions {
  /** Shape of one input sample `[height, width, channels]`; height and width at least 16. @default [28, 28, 1] */
  readonly inputShape?: readonly number[];
  /** Number of output classes (integer >= 2). @default 10 */
  readonly numClasses?: number;
  /** Dropout rate after the first fully connected layer (Kwon, Table 10), in [0, 1). @default 0.5 */
  readonly dropout?: number;
  /** Seed of the weight initialisation. @default 0 */
  readonly seed?: number;
  /** Name of the returned model. @default 'kwon_cnn' */
  readonly name?: string;
}

/** Defaults of {@link kwonCnn}. */
export const KWON_CNN_DEFAULTS: Readonly<Required<KwonCnnOptions>> = Object.freeze({
  inputShape: Object.freeze([28, 28, 1]),
  numClasses: 10,
  dropout: 0.5,
  seed: 0,
  name: 'kwon_cnn',
});

/**
 * Builds Kwon's MNIST target CNN (Table 8 of the de-trigger autoencoder
 * paper), uncompiled. 3×3 convs with stride 1 and `'valid'` padding, 2×2 max
 * pooling with stride 2:
 *
 * | name       | layer (Table 8)                 | output (28×28×1) | params  |
 * |------------|---------------------------------|------------------|---------|
 * | `input`    | Input                           | 28×28×1          | 0       |
 * | `conv1`    | Conv. + ReLU [3, 3, 32]         | 26×26×32         | 320     |
 * | `conv2`    | Conv. + ReLU [3, 3, 32]         | 24×24×32         | 9,248   |
 * | `pool1`    | Max pooling [2, 2]              | 12×12×32         | 0       |
 * | `conv3`    | Conv. + ReLU [3, 3, 64]         | 10×10×64         | 18,496  |
 * | `conv4`    | Conv. + ReLU [3, 3, 64]         | 8×8×64           | 36,928  |
 * | `pool2`    | Max pooling [2, 2]              | 4×4×64           | 0       |
 * | `flatten`  | Flatten                         | 1024             | 0       |
 * | `dense1`   | Fully connected + ReLU [200]    | 200              | 205,000 |
 * | `dropout1` | Dropout 0.5 (Table 10)          | 200              | 0       |
 * | `dense2`   | Fully connected + ReLU [200]    | 200              | 40,200  |
 * | `logits`   | Fully connected [10]            | 10               | 2,010   |
 * | `output`   | Softmax                         | 10               | 0       |
 *
 * Total 312,202 parameters for 28×28×1 and 10 classes.
 *
 * The paper gives neither padding, stride nor where the dropout sits. This
 * is the Carlini–Wagner MNIST model (`[32, 32, 64, 64, 200, 200]`, from
 * `nn_robust_attacks/train_models.py`), which Table 8 reproduces layer for
 * layer; we follow it: stride 1, `'valid'` padding, one dropout after the
 * first fully connected layer.
 *
 * Kernels are Glorot-uniform, seeded per layer from `seed`; biases start at
 * zero. Dropout is active only in training.
 *
 * @param options - See {@link KwonCnnOptions}.
 * @returns A new, uncompiled `tf.LayersModel`; the caller owns (disposes) it.
 * @throws InvalidArgumentError for a bad option.
 * @throws ShapeError if `inputShape` is smaller than 16×16.
 * @example
 * ```ts
 * const model = models.kwonCnn({ seed: 7 });
 * model.countParams();   // 312202
 * ```
 */
export function kwonCnn(options?: KwonCnnOptions): tfl.LayersModel {
  const fn = 'models.kwonCnn';
  const o = resolveOptions(fn, KWON_CNN_DEFAULTS, options);
  checkClassifierOptions(fn, o);
  assertDropoutRate(fn, 'options.dropout', o.dropout);
  const specs: LayerSpec[] = [
    { kind: 'conv', name: 'conv1', filters: 32, padding: 'valid', activation: 'relu' },
    { kind: 'conv', name: 'conv2', filters: 32, padding: 'valid', activation: 'relu' },
    { kind: 'pool', name: 'pool1', padding: 'valid' },
    { kind: 'conv', name: 'conv3', filters: 64, padding: 'valid', activation: 'relu' },
    { kind: 'conv', name: 'conv4', filters: 64, padding: 'valid', activation: 'relu' },
    { kind: 'pool', name: 'pool2', padding: 'valid' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 200, activation: 'relu' },
    { kind: 'dropout', name: 'dropout1', rate: o.dropout },
    { kind: 'dense', name: 'dense2', units: 200, activation: 'relu' },
    { kind: 'dense', name: 'logits', units: o.numClasses, activation: 'linear' },
    { kind: 'activation', name: 'output', activation: 'softmax' },
  ];
  checkSpatial(fn, 'options.inputShape', o.inputShape, spatialSteps(specs));
  return buildStack(o.name, o.inputShape, specs, new LayerSeeds(o.seed, fn));
}
