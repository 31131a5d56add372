/**
 * Re-estimating BatchNormalization statistics on data: after training with
 * tfjs's default momentum (0.99) the moving averages lag the weights, and
 * after pruning or fine-tuning they describe a network that no longer
 * exists. Standard practice (SWA's `update_bn`, PyTorch's `momentum=None`)
 * replaces them by the cumulative average of the per-batch statistics over a
 * pass of training-mode forward passes; that is what this does.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { sliceRows } from './batching.js';

/** The part of a tfjs BatchNormalization layer this module touches. */
interface BatchNormLayer {
  momentum: number;
}

/** Every BatchNormalization layer of `model`, sub-models included, in layer order. */
export function batchNormLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  const visit = (layers: readonly tfl.layers.Layer[]): void => {
    for (const layer of layers) {
      const nested = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
      if (Array.isArray(nested)) visit(nested);
      else if (layer.getClassName() === 'BatchNormalization') out.push(layer);
    }
  };
  visit(model.layers);
  return out;
}

/**
 * Sets the moving mean and variance of every BatchNormalization layer of
 * `model` to the average of its batch statistics over `x`, taken in batches
 * of `batchSize` in training mode (so each layer sees inputs normalised as
 * in training). Each batch enters with weight `rows / rows so far` (momentum
 * `seen / (seen + rows)`): the average over samples of the batch statistics;
 * the layers' own momentum is restored after. Other
 * weights are untouched. Does nothing for a model without BatchNormalization.
 *
 * @returns How many BatchNormalization layers were updated.
 */
export function recomputeBatchNorm(model: tfl.LayersModel, x: tf.Tensor, batchSize: number): number {
  const layers = batchNormLayers(model) as unknown as BatchNormLayer[];
  if (layers.length === 0) return 0;
  const saved = layers.map((l) => l.momentum);
  const n = x.shape[0]!;
  try {
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      // weight of the statistics so far: the rows already seen over all rows up to this batch
      for (const l of layers) l.momentum = s / e;
      tf.tidy(() => {
        model.apply(sliceRows(x, s, e), { training: true });
      });
    }
  } finally {
    layers.forEach((l, i) => (l.momentum = saved[i]!));
  }
  return layers.length;
}
