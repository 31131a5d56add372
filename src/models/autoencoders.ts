/**
 * Autoencoder architectures for input purification: the fully connected
 * de-trigger autoencoder of Kwon (IEEE Access, Section IV-C) and a small
 * convolutional encoder/decoder for colour images.
 *
 * @packageDocumentation
 */
import type * as tfl from '@tensorflow/tfjs-layers';

import { InvalidArgumentError } from '../core/errors.js';
import { assertPositiveInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertInputShape, assertModelName, buildStack, LayerSeeds, sizeOf, type LayerSpec } from './common.js';

/** Options of {@link denseAutoencoder}. */
export interface DenseAutoencoderOptions {
  /** Shape of one input sample `[height, width, channels]`; the output has the same shape. @default [28, 28, 1] */
  readonly inputShape?: readonly number[];
  /** Encoder widths, outermost first; the decoder mirrors them (Kwon: 250, 100). @default [250, 100] */
  readonly hidden?: readonly number[];
  /** Width of the latent (bottleneck) layer (Kwon: 20). @default 20 */
  readonly latent?: number;
  /** Activation of the reconstruction layer: `'sigmoid'` keeps outputs in (0, 1) like the images. @default 'sigmoid' */
  readonly outputActivation?: 'sigmoid' | 'linear';
  /** Seed of the weight initialisation. @default 0 */
  readonly seed?: number;
  /** Name of the returned model. @default 'dense_autoencoder' */
  readonly name?: string;
}

/** Defaults of {@link denseAutoencoder} (Kwon, Section IV-C). */
export const DENSE_AUTOENCODER_DEFAULTS: Readonly<Required<DenseAutoencoderOptions>> = Object.freeze({
  inputShape: Object.freeze([28, 28, 1]),
  hidden: Object.freeze([250, 100]),
  latent: 20,
  outputActivation: 'sigmoid',
  seed: 0,
  name: 'dense_autoencoder',
});

function assertWidths(fn: string, arg: string, value: unknown): asserts value is readonly number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be an array of positive integers');
  }
}

function assertSeed(fn: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidArgumentError({ fn, arg: 'options.seed', value }, 'must be a finite number');
  }
}

/**
 * Builds the de-trigger autoencoder of Kwon (Section IV-C), uncompiled: a
 * fully connected encoder (250, 100), a 20-unit latent layer and a mirrored
 * decoder (100, 250), all ReLU, then a reconstruction layer of
 * `height × width × channels` units reshaped back to the input shape.
 *
 * | name             | layer                                   | output (28×28×1) | params  |
 * |------------------|-----------------------------------------|------------------|---------|
 * | `input`          | Input                                   | 28×28×1          | 0       |
 * | `flatten`        | Flatten                                 | 784              | 0       |
 * | `encoder1`       | Dense 250, ReLU                         | 250              | 196,250 |
 * | `encoder2`       | Dense 100, ReLU                         | 100              | 25,100  |
 * | `latent`         | Dense 20, ReLU                          | 20               | 2,020   |
 * | `decoder1`       | Dense 100, ReLU                         | 100              | 2,100   |
 * | `decoder2`       | Dense 250, ReLU                         | 250              | 25,250  |
 * | `reconstruction` | Dense 784, sigmoid                      | 784              | 196,784 |
 * | `output`         | Reshape to the input shape              | 28×28×1          | 0       |
 *
 * Total 447,504 parameters for 28×28×1 (1,593,792 for 32×32×3). With other
 * `hidden` widths the layers are `encoder1..k` and `decoder1..k`.
 *
 * The paper states the widths and "ReLU was used as the activation
 * function", and trains with the squared L2 reconstruction error. It does not
 * name the activation of the latent and output layers; we choose ReLU for
 * the latent layer (the paper's one activation) and sigmoid for the output
 * (images lie in [0, 1]; `outputActivation: 'linear'` turns it off).
 *
 * Kernels are Glorot-uniform, seeded per layer from `seed`; biases start at
 * zero.
 *
 * @param options - See {@link DenseAutoencoderOptions}.
 * @returns A new, uncompiled `tf.LayersModel` mapping `[n, h, w, c]` to
 *   `[n, h, w, c]`; the caller owns (disposes) it.
 * @throws InvalidArgumentError for a bad option.
 * @example
 * ```ts
 * const ae = models.denseAutoencoder({ seed: 1 });
 * ae.countParams();   // 447504
 * ae.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
 * ```
 */
export function denseAutoencoder(options?: DenseAutoencoderOptions): tfl.LayersModel {
  const fn = 'models.denseAutoencoder';
  const o = resolveOptions(fn, DENSE_AUTOENCODER_DEFAULTS, options);
  assertInputShape(fn, 'options.inputShape', o.inputShape);
  assertWidths(fn, 'options.hidden', o.hidden);
  assertPositiveInteger(fn, 'options.latent', o.latent);
  if (o.outputActivation !== 'sigmoid' && o.outputActivation !== 'linear') {
    throw new InvalidArgumentError(
      { fn, arg: 'options.outputActivation', value: o.outputActivation },
      "must be 'sigmoid' or 'linear'",
    );
  }
  assertSeed(fn, o.seed);
  assertModelName(fn, 'options.name', o.name);
  const specs: LayerSpec[] = [{ kind: 'flatten', name: 'flatten' }];
  o.hidden.forEach((units, i) => specs.push({ kind: 'dense', name: `encoder${i + 1}`, units, activation: 'relu' }));
  specs.push({ kind: 'dense', name: 'latent', units: o.latent, activation: 'relu' });
  [...o.hidden]
    .reverse()
    .forEach((units, i) => specs.push({ kind: 'dense', name: `decoder${i + 1}`, units, activation: 'relu' }));
  specs.push(
    { kind: 'dense', name: 'reconstruction', units: sizeOf(o.inputShape), activation: o.outputActivation },
    { kind: 'reshape', name: 'output', targetShape: o.inputShape },
  );
  return buildStack(o.name, o.inputShape, specs, new LayerSeeds(o.seed, fn));
}

/** Options of {@link convAutoencoder}. */
export interface ConvAutoencoderOptions {
  /** Shape of one input sample `[height, width, channels]`; the output has the same shape. @default [28, 28, 1] */
  readonly inputShape?: readonly number[];
  /** Filters of the encoder convolutions, outermost first (one 2×2 pooling each); the decoder mirrors them. @default [32, 16] */
  readonly filters?: readonly number[];
  /** Seed of the weight initialisation. @default 0 */
  readonly seed?: number;
  /** Name of the returned model. @default 'conv_autoencoder' */
  readonly name?: string;
}

/** Defaults of {@link convAutoencoder}. */
export const CONV_AUTOENCODER_DEFAULTS: Readonly<Required<ConvAutoencoderOptions>> = Object.freeze({
  inputShape: Object.freeze([28, 28, 1]),
  filters: Object.freeze([32, 16]),
  seed: 0,
  name: 'conv_autoencoder',
});

/**
 * Builds a small convolutional autoencoder, uncompiled, whose output has the
 * input's shape (values in (0, 1)). All convs are 3×3, stride 1, `'same'`
 * padding; pooling is 2×2 max pooling with `'same'` padding (odd sizes round
 * up); upsampling is nearest-neighbour ×2. For `filters: [32, 16]`:
 *
 * | name        | layer                         | 28×28×1 input | params | 32×32×3 input | params |
 * |-------------|-------------------------------|---------------|--------|---------------|--------|
 * | `input`     | Input                         | 28×28×1       | 0      | 32×32×3       | 0      |
 * | `enc_conv1` | Conv 32, ReLU                 | 28×28×32      | 320    | 32×32×32      | 896    |
 * | `enc_pool1` | MaxPool 2×2                   | 14×14×32      | 0      | 16×16×32      | 0      |
 * | `enc_conv2` | Conv 16, ReLU                 | 14×14×16      | 4,624  | 16×16×16      | 4,624  |
 * | `enc_pool2` | MaxPool 2×2                   | 7×7×16        | 0      | 8×8×16        | 0      |
 * | `dec_up1`   | UpSampling 2×2                | 14×14×16      | 0      | 16×16×16      | 0      |
 * | `dec_conv1` | Conv 16, ReLU                 | 14×14×16      | 2,320  | 16×16×16      | 2,320  |
 * | `dec_up2`   | UpSampling 2×2                | 28×28×16      | 0      | 32×32×16      | 0      |
 * | `dec_conv2` | Conv 32, ReLU                 | 28×28×32      | 4,640  | 32×32×32      | 4,640  |
 * | `output`    | Conv `channels`, sigmoid      | 28×28×1       | 289    | 32×32×3       | 867    |
 *
 * Totals: 12,193 (28×28×1) and 13,347 (32×32×3). When a side is not a
 * multiple of `2^filters.length` the upsampled map is larger than the input;
 * a `crop` layer (Cropping2D, bottom/right) after the last upsampling brings
 * it back to the input size (e.g. 30×30: 30 → 15 → 8 → 16 → 32, cropped to
 * 30).
 *
 * Kernels are Glorot-uniform, seeded per layer from `seed`; biases start at
 * zero.
 *
 * @param options - See {@link ConvAutoencoderOptions}.
 * @returns A new, uncompiled `tf.LayersModel` mapping `[n, h, w, c]` to
 *   `[n, h, w, c]`; the caller owns (disposes) it.
 * @throws InvalidArgumentError for a bad option (including an empty `filters`).
 * @example
 * ```ts
 * const ae = models.convAutoencoder({ inputShape: [32, 32, 3], seed: 1 });
 * ae.countParams();   // 13347
 * ```
 */
export function convAutoencoder(options?: ConvAutoencoderOptions): tfl.LayersModel {
  const fn = 'models.convAutoencoder';
  const o = resolveOptions(fn, CONV_AUTOENCODER_DEFAULTS, options);
  assertInputShape(fn, 'options.inputShape', o.inputShape);
  assertWidths(fn, 'options.filters', o.filters);
  if (o.filters.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'options.filters', value: o.filters }, 'must list at least one layer');
  }
  assertSeed(fn, o.seed);
  assertModelName(fn, 'options.name', o.name);
  const [height, width, channels] = o.inputShape as [number, number, number];
  const depth = o.filters.length;
  const specs: LayerSpec[] = [];
  let h = height;
  let w = width;
  o.filters.forEach((filters, i) => {
    specs.push(
      { kind: 'conv', name: `enc_conv${i + 1}`, filters, padding: 'same', activation: 'relu' },
      { kind: 'pool', name: `enc_pool${i + 1}`, padding: 'same' },
    );
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  });
  const scale = 2 ** depth;
  [...o.filters].reverse().forEach((filters, i) => {
    specs.push({ kind: 'upsample', name: `dec_up${i + 1}` });
    if (i === depth - 1 && (h * scale !== height || w * scale !== width)) {
      specs.push({
        kind: 'crop',
        name: 'crop',
        cropping: [
          [0, h * scale - height],
          [0, w * scale - width],
        ],
      });
    }
    specs.push({ kind: 'conv', name: `dec_conv${i + 1}`, filters, padding: 'same', activation: 'relu' });
  });
  specs.push({ kind: 'conv', name: 'output', filters: channels, padding: 'same', activation: 'sigmoid' });
  return buildStack(o.name, o.inputShape, specs, new LayerSeeds(o.seed, fn));
}
