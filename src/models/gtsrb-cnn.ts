/**
 * The GTSRB traffic-sign CNN of Table 5.9 in Wang's TrojanNet / ANP thesis
 * (taken from Tang et al., TrojanNet, whose code builds it as
 * `GTSRB.cnn_model` / `load_traffic_sign_model`).
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

/** Options of {@link gtsrbCnn}. */
export interface GtsrbCnnOptions extends ClassifierBuilderOptions {
  /** Shape of one input sample `[height, width, channels]`; height and width at least 22. @default [32, 32, 3] */
  readonly inputShape?: readonly number[];
  /** Number of output classes (integer >= 2). @default 43 */
  readonly numClasses?: number;
  /** Dropout rate after each pooling layer (TrojanNet code), in [0, 1). @default 0.2 */
  readonly convDropout?: number;
  /** Dropout rate after the 512-unit layer (TrojanNet code), in [0, 1). @default 0.5 */
  readonly denseDropout?: number;
  /** Seed of the weight initialisation. @default 0 */
  readonly seed?: number;
  /** Name of the returned model. @default 'gtsrb_cnn' */
  readonly name?: string;
}

/** Defaults of {@link gtsrbCnn}. */
export const GTSRB_CNN_DEFAULTS: Readonly<Required<GtsrbCnnOptions>> = Object.freeze({
  inputShape: Object.freeze([32, 32, 3]),
  numClasses: 43,
  convDropout: 0.2,
  denseDropout: 0.5,
  seed: 0,
  name: 'gtsrb_cnn',
});

/**
 * Builds the GTSRB CNN of the TrojanNet experiments (thesis Table 5.9),
 * uncompiled. 3×3 convs with stride 1; in each block the first conv pads
 * `'same'` and the second `'valid'`; 2×2 max pooling with stride 2:
 *
 * | name       | layer (Table 5.9)            | output (32×32×3) | params  |
 * |------------|------------------------------|------------------|---------|
 * | `input`    | Input                        | 32×32×3          | 0       |
 * | `conv1`    | Conv 32, 3×3, ReLU, same     | 32×32×32         | 896     |
 * | `conv2`    | Conv 32, 3×3, ReLU, valid    | 30×30×32         | 9,248   |
 * | `pool1`    | MaxPool 2×2                  | 15×15×32         | 0       |
 * | `dropout1` | Dropout 0.2                  | 15×15×32         | 0       |
 * | `conv3`    | Conv 64, 3×3, ReLU, same     | 15×15×64         | 18,496  |
 * | `conv4`    | Conv 64, 3×3, ReLU, valid    | 13×13×64         | 36,928  |
 * | `pool2`    | MaxPool 2×2                  | 6×6×64           | 0       |
 * | `dropout2` | Dropout 0.2                  | 6×6×64           | 0       |
 * | `conv5`    | Conv 128, 3×3, ReLU, same    | 6×6×128          | 73,856  |
 * | `conv6`    | Conv 128, 3×3, ReLU, valid   | 4×4×128          | 147,584 |
 * | `pool3`    | MaxPool 2×2                  | 2×2×128          | 0       |
 * | `dropout3` | Dropout 0.2                  | 2×2×128          | 0       |
 * | `flatten`  | Flatten                      | 512              | 0       |
 * | `dense1`   | FC 512, ReLU                 | 512              | 262,656 |
 * | `dropout4` | Dropout 0.5                  | 512              | 0       |
 * | `logits`   | FC 43                        | 43               | 22,059  |
 * | `output`   | Softmax                      | 43               | 0       |
 *
 * Total 571,723 parameters for 32×32×3 and 43 classes.
 *
 * Table 5.9 lists the channels, filter sizes and activations only. Its
 * fourth conv reads "32" channels while the pooling after it reads "64"; the
 * TrojanNet code the table is taken from (`base * 2` = 64) settles it as 64.
 * Padding (`'same'` then `'valid'` per block) and the dropout layers are not
 * in the table; they come from that code.
 *
 * Kernels are Glorot-uniform, seeded per layer from `seed`; biases start at
 * zero. Dropout is active only in training.
 *
 * @param options - See {@link GtsrbCnnOptions}.
 * @returns A new, uncompiled `tf.LayersModel`; the caller owns (disposes) it.
 * @throws InvalidArgumentError for a bad option.
 * @throws ShapeError if `inputShape` is smaller than 22×22.
 * @example
 * ```ts
 * const model = models.gtsrbCnn({ seed: 3 });
 * model.countParams();   // 571723
 * ```
 */
export function gtsrbCnn(options?: GtsrbCnnOptions): tfl.LayersModel {
  const fn = 'models.gtsrbCnn';
  const o = resolveOptions(fn, GTSRB_CNN_DEFAULTS, options);
  checkClassifierOptions(fn, o);
  assertDropoutRate(fn, 'options.convDropout', o.convDropout);
  assertDropoutRate(fn, 'options.denseDropout', o.denseDropout);
  const specs: LayerSpec[] = [];
  const filters = [32, 64, 128];
  filters.forEach((f, b) => {
    specs.push(
      { kind: 'conv', name: `conv${2 * b + 1}`, filters: f, padding: 'same', activation: 'relu' },
      { kind: 'conv', name: `conv${2 * b + 2}`, filters: f, padding: 'valid', activation: 'relu' },
      { kind: 'pool', name: `pool${b + 1}`, padding: 'valid' },
      { kind: 'dropout', name: `dropout${b + 1}`, rate: o.convDropout },
    );
  });
  specs.push(
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'dense1', units: 512, activation: 'relu' },
    { kind: 'dropout', name: 'dropout4', rate: o.denseDropout },
    { kind: 'dense', name: 'logits', units: o.numClasses, activation: 'linear' },
    { kind: 'activation', name: 'output', activation: 'softmax' },
  );
  checkSpatial(fn, 'options.inputShape', o.inputShape, spatialSteps(specs));
  return buildStack(o.name, o.inputShape, specs, new LayerSeeds(o.seed, fn));
}
