/**
 * `UnitMask`: a serialisable tfjs-layers layer that multiplies its input by a
 * fixed per-unit factor along the last axis (conv channel / dense unit). It is
 * what {@link LayersModelClassifier.withUnitMask} inserts after a layer, so a
 * masked model still saves, loads and trains with the mask in force (the mask
 * is a non-trainable weight, stored with the model's weights: fine-tuning
 * cannot regrow pruned units).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Constructor arguments of {@link UnitMask}. */
export interface UnitMaskArgs {
  /** Number of units (size of the last axis). */
  readonly units: number;
  /** Layer name. */
  readonly name?: string;
}

type Kwargs = Parameters<tfl.layers.Layer['call']>[1];

/**
 * Multiplies the last axis by a fixed (non-trainable) per-unit factor.
 *
 * @example
 * ```ts
 * const mask = new UnitMask({ units: 32, name: 'conv2__unit_mask' }); // factors start at 1
 * // after building: mask.setWeights([tf.tensor1d(keep)])
 * ```
 */
export class UnitMask extends tfl.layers.Layer {
  /** Registered class name (stable: saved models refer to it). */
  static readonly className = 'BackdoorKitUnitMask';
  /** Number of units masked. */
  readonly units: number;
  private maskWeight: tfl.LayerVariable | undefined;

  constructor(args: UnitMaskArgs) {
    super({ name: args.name, trainable: false });
    this.units = args.units;
  }

  override build(_inputShape: tfl.Shape | tfl.Shape[]): void {
    this.maskWeight = this.addWeight('mask', [this.units], 'float32', tfl.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.mul(x, this.maskWeight!.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }

  override getClassName(): string {
    return UnitMask.className;
  }
}

let registered = false;

/**
 * Registers backdoor-kit's custom layers with tfjs serialization so that
 * saved models containing them load. Idempotent; called by every function
 * that creates or loads such a model.
 */
export function registerCustomLayers(): void {
  if (registered) return;
  tf.serialization.registerClass(UnitMask);
  registered = true;
}
