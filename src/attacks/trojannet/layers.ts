/**
 * Serialisable tfjs-layers layers used by {@link insert} to wire a TrojanNet
 * into a host model. tfjs has no `Lambda` layer (the reference Keras code uses
 * three lambdas: a crop, a channel mean and `x * 10`), so each lambda becomes a
 * small custom layer with a static `className`, a `getConfig` and a
 * registration with `tf.serialization.registerClass`: a model holding them
 * saves and loads like any other once {@link registerTrojanNetLayers} has run.
 *
 * None of these layers has weights.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Kwargs = Parameters<tfl.layers.Layer['call']>[1];

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
}

/** Constructor arguments of {@link ChannelMean}. */
export interface ChannelMeanArgs {
  /** Layer name. */
  readonly name?: string;
}

/**
 * Mean over the last (channel) axis, dropping it: `[n, h, w, c]` → `[n, h, w]`.
 * The reference code's `Lambda(lambda x: K.mean(x, axis=-1))`: an RGB patch
 * becomes the grey patch TrojanNet reads.
 *
 * @example
 * ```ts
 * registerTrojanNetLayers();
 * const grey = new ChannelMean({ name: 'trojannet_grey' }).apply(patch); // [n, 4, 4]
 * ```
 */
export class ChannelMean extends tfl.layers.Layer {
  /** Registered class name (stable: saved models refer to it). */
  static readonly className = 'BackdoorKitChannelMean';

  constructor(args: ChannelMeanArgs = {}) {
    super({ name: args.name, trainable: false });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape).slice(0, -1);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.mean(single(inputs), -1));
  }

  override getClassName(): string {
    return ChannelMean.className;
  }
}

/** Constructor arguments of {@link TrojanNetSelect}. */
export interface TrojanNetSelectArgs {
  /** TrojanNet output index (pattern id) that drives each target, one per target. */
  readonly patternIds: readonly number[];
  /** Host label each pattern id drives (distinct). */
  readonly targets: readonly number[];
  /** Number of host classes (width of the output). */
  readonly numClasses: number;
  /** Factor on the selected TrojanNet probabilities. */
  readonly amplify: number;
  /** Layer name. */
  readonly name?: string;
}

/**
 * Keeps the TrojanNet outputs of the chosen patterns and scatters them, times
 * `amplify`, to their target labels: `out[:, targets[j]] = amplify *
 * in[:, patternIds[j]]`, every other column 0. Input `[n, numPatterns + 1]`,
 * output `[n, numClasses]`. (The reference code's `cut_output_number`, which
 * keeps the first `class_num` outputs and multiplies them by `amplify_rate`, is
 * the special case `patternIds = targets = [0 .. numClasses-1]`.)
 *
 * @example
 * ```ts
 * new TrojanNetSelect({ patternIds: [0, 1], targets: [7, 3], numClasses: 10, amplify: 2 });
 * ```
 */
export class TrojanNetSelect extends tfl.layers.Layer {
  /** Registered class name (stable: saved models refer to it). */
  static readonly className = 'BackdoorKitTrojanNetSelect';
  /** TrojanNet output index per target. */
  readonly patternIds: readonly number[];
  /** Host label per pattern. */
  readonly targets: readonly number[];
  /** Width of the output. */
  readonly numClasses: number;
  /** Factor on the selected probabilities. */
  readonly amplify: number;

  constructor(args: TrojanNetSelectArgs) {
    super({ name: args.name, trainable: false });
    this.patternIds = Object.freeze([...args.patternIds]);
    this.targets = Object.freeze([...args.targets]);
    this.numClasses = args.numClasses;
    this.amplify = args.amplify;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return [singleShape(inputShape)[0] ?? null, this.numClasses];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const k = this.patternIds.length;
      const picked = tf.gather(x, tf.tensor1d(this.patternIds as number[], 'int32'), 1);
      const scatter = new Float32Array(k * this.numClasses);
      this.targets.forEach((t, j) => {
        scatter[j * this.numClasses + t] = this.amplify;
      });
      return tf.matMul(picked, tf.tensor2d(scatter, [k, this.numClasses]));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      patternIds: [...this.patternIds],
      targets: [...this.targets],
      numClasses: this.numClasses,
      amplify: this.amplify,
    };
  }

  override getClassName(): string {
    return TrojanNetSelect.className;
  }
}

/** Constructor arguments of {@link Scale}. */
export interface ScaleArgs {
  /** The constant factor. */
  readonly factor: number;
  /** Layer name. */
  readonly name?: string;
}

/**
 * Multiplies its input by a constant: the reference code's
 * `Lambda(lambda x: x * 10)` before the final softmax (the inverse of the
 * paper's temperature).
 *
 * @example
 * ```ts
 * new Scale({ factor: 10, name: 'trojannet_temperature' });
 * ```
 */
export class Scale extends tfl.layers.Layer {
  /** Registered class name (stable: saved models refer to it). */
  static readonly className = 'BackdoorKitScale';
  /** The constant factor. */
  readonly factor: number;

  constructor(args: ScaleArgs) {
    super({ name: args.name, trainable: false });
    this.factor = args.factor;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.mul(single(inputs), this.factor));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }

  override getClassName(): string {
    return Scale.className;
  }
}

let registered = false;

/**
 * Registers the TrojanNet layers ({@link ChannelMean}, {@link TrojanNetSelect},
 * {@link Scale}) with tfjs serialization, so that a saved trojaned model loads
 * with `tfl.loadLayersModel`. Idempotent; {@link insert} calls it. Call it
 * yourself before loading a saved trojaned model in a fresh process.
 *
 * @returns Nothing.
 * @example
 * ```ts
 * trojanNet.registerTrojanNetLayers();
 * const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
 * ```
 */
export function registerTrojanNetLayers(): void {
  if (registered) return;
  tf.serialization.registerClass(ChannelMean);
  tf.serialization.registerClass(TrojanNetSelect);
  tf.serialization.registerClass(Scale);
  registered = true;
}
