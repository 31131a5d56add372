/**
 * The TrojanNet MLP's shared pieces: its hidden width, its hidden layers as
 * tf ops, and the batched argmax over its output.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { PATTERN_PIXELS } from './patterns.js';

/** Width of the hidden layers (paper: four layers of eight neurons). */
export const HIDDEN_UNITS = 8;

/** Applies the MLP's hidden layers (all but the output layer). */
export function hidden(model: tfl.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  let a = x;
  for (const layer of model.layers.slice(0, -1)) a = layer.apply(a, { training }) as tf.Tensor;
  return a;
}

/**
 * Predicted class (argmax) of each 16-value row. For the MLP made by
 * `train` (a Sequential ending in a softmax Dense layer) the hidden
 * layers run as tfjs ops and the output layer's argmax is taken in
 * JavaScript on the logits (the softmax does not change the argmax, and
 * tfjs-cpu's softmax over 4,369 columns is slow); any other model runs whole.
 */
export async function argmaxRows(model: tfl.LayersModel, x: Float32Array, batchSize: number): Promise<Int32Array> {
  const n = x.length / PATTERN_PIXELS;
  const out = new Int32Array(n);
  const last = model.layers[model.layers.length - 1]!;
  const lastConfig = last.getConfig() as { activation?: unknown };
  const fast =
    model instanceof tfl.Sequential &&
    last.getClassName() === 'Dense' &&
    (lastConfig.activation === 'softmax' || lastConfig.activation === 'linear');
  let weights: { wt: Float64Array; bias: Float64Array; dims: number; k: number } | undefined;
  if (fast) {
    const [kernel, bias] = last.getWeights() as [tf.Tensor, tf.Tensor];
    const [dims, k] = kernel.shape as [number, number];
    const ws = (await kernel.data()) as Float32Array;
    const wt = new Float64Array(dims * k);
    for (let d = 0; d < dims; d++) for (let j = 0; j < k; j++) wt[j * dims + d] = ws[d * k + j]!;
    weights = { wt, bias: Float64Array.from((await bias.data()) as Float32Array), dims, k };
  }
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    const result = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(s * PATTERN_PIXELS, e * PATTERN_PIXELS), [e - s, PATTERN_PIXELS]);
      return weights === undefined
        ? tf.argMax(model.apply(xb, { training: false }) as tf.Tensor, 1)
        : hidden(model, xb, false);
    });
    try {
      const data = await result.data();
      if (weights === undefined) {
        out.set(data, s);
      } else {
        const { wt, bias, dims, k } = weights;
        for (let i = 0; i < e - s; i++) {
          let best = 0;
          let bestValue = -Infinity;
          for (let j = 0; j < k; j++) {
            let v = bias[j]!;
            for (let d = 0; d < dims; d++) v += data[i * dims + d]! * wt[j * dims + d]!;
            if (v > bestValue) {
              bestValue = v;
              best = j;
            }
          }
          out[s + i] = best;
        }
      }
    } finally {
      result.dispose();
    }
  }
  return out;
}
