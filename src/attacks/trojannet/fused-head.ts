/**
 * The fused output head of TrojanNet training: softmax cross-entropy with
 * its gradient in one kernel over the MLP's last layer.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { HIDDEN_UNITS } from './mlp.js';

/** `2^(i/64)` for i = 0..63, and `2^-e` for e = 0..63: tables of {@link fastExp}. */
const EXP_FRACTION = Float64Array.from({ length: 64 }, (_, i) => 2 ** (i / 64));
const EXP_INTEGER = Float64Array.from({ length: 64 }, (_, e) => 2 ** -e);
/** Below this, `exp` is treated as 0 (e^-40 ≈ 4e-18, far below float32 resolution of a sum ≥ 1). */
const EXP_CUTOFF = -40;

/**
 * `exp(t)` for `t` in [-40, 0] to a relative error below 1e-9, about ten
 * times faster than `Math.exp` in V8: `2^x = 2^(k/64) * 2^f` with a table for
 * the first factor and a cubic for the second (`f < 1/64`).
 */
function fastExp(t: number): number {
  const x = t * Math.LOG2E * 64;
  const k = Math.floor(x);
  const f = ((x - k) / 64) * Math.LN2;
  const poly = 1 + f * (1 + f * (0.5 + f * (1 / 6 + f / 24)));
  return EXP_FRACTION[k & 63]! * EXP_INTEGER[-(k >> 6)]! * poly;
}

/**
 * The output layer and the softmax cross-entropy, fused and computed in plain
 * JavaScript (forward and gradient): mathematically the mean categorical
 * cross-entropy of `softmax(h W + b)` with sparse labels. Done by hand
 * because tfjs-cpu's softmax and broadcasting kernels over `[batch, 4369]`
 * take seconds per step (see the docs page); the small layers before it stay
 * tfjs ops. `h` must have {@link HIDDEN_UNITS} (8) columns.
 */
export function makeFusedHead(labels: () => Int32Array): (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | ((t: tf.Tensor[]) => void)>) => {
    const [h, w, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const save = args[3] as (t: tf.Tensor[]) => void;
    const hs = h.dataSync() as Float32Array;
    const ws = w.dataSync() as Float32Array;
    const bias = Float64Array.from(b.dataSync() as Float32Array);
    const y = labels();
    const n = h.shape[0]!;
    const k = bias.length;
    const D = HIDDEN_UNITS;
    // Class-major float64 copy of the kernel: row j holds the 8 weights of output j.
    const wt = new Float64Array(k * D);
    for (let d = 0; d < D; d++) for (let j = 0; j < k; j++) wt[j * D + d] = ws[d * k + j]!;
    const z = new Float64Array(k);
    const dWt = new Float64Array(k * D);
    const db = new Float64Array(k);
    const dh = new Float32Array(n * D);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const o = i * D;
      const h0 = hs[o]!,
        h1 = hs[o + 1]!,
        h2 = hs[o + 2]!,
        h3 = hs[o + 3]!;
      const h4 = hs[o + 4]!,
        h5 = hs[o + 5]!,
        h6 = hs[o + 6]!,
        h7 = hs[o + 7]!;
      let max = -Infinity;
      for (let j = 0; j < k; j++) {
        const q = j * D;
        const v =
          bias[j]! +
          h0 * wt[q]! +
          h1 * wt[q + 1]! +
          h2 * wt[q + 2]! +
          h3 * wt[q + 3]! +
          h4 * wt[q + 4]! +
          h5 * wt[q + 5]! +
          h6 * wt[q + 6]! +
          h7 * wt[q + 7]!;
        z[j] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const t = z[j]! - max;
        const e = t < EXP_CUTOFF ? 0 : fastExp(t);
        z[j] = e;
        sum += e;
      }
      const label = y[i]!;
      loss += Math.log(sum) - Math.log(Math.max(z[label]!, 1e-300));
      const scale = 1 / (sum * n);
      z[label] = z[label]! - sum; // so that z[label] * scale = p - 1/n
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        a4 = 0,
        a5 = 0,
        a6 = 0,
        a7 = 0;
      for (let j = 0; j < k; j++) {
        const zj = z[j]!;
        if (zj === 0) continue;
        const g = zj * scale;
        const q = j * D;
        db[j] = db[j]! + g;
        a0 += g * wt[q]!;
        a1 += g * wt[q + 1]!;
        a2 += g * wt[q + 2]!;
        a3 += g * wt[q + 3]!;
        a4 += g * wt[q + 4]!;
        a5 += g * wt[q + 5]!;
        a6 += g * wt[q + 6]!;
        a7 += g * wt[q + 7]!;
        dWt[q] = dWt[q]! + h0 * g;
        dWt[q + 1] = dWt[q + 1]! + h1 * g;
        dWt[q + 2] = dWt[q + 2]! + h2 * g;
        dWt[q + 3] = dWt[q + 3]! + h3 * g;
        dWt[q + 4] = dWt[q + 4]! + h4 * g;
        dWt[q + 5] = dWt[q + 5]! + h5 * g;
        dWt[q + 6] = dWt[q + 6]! + h6 * g;
        dWt[q + 7] = dWt[q + 7]! + h7 * g;
      }
      dh[o] = a0;
      dh[o + 1] = a1;
      dh[o + 2] = a2;
      dh[o + 3] = a3;
      dh[o + 4] = a4;
      dh[o + 5] = a5;
      dh[o + 6] = a6;
      dh[o + 7] = a7;
    }
    const dW = new Float32Array(D * k);
    for (let d = 0; d < D; d++) for (let j = 0; j < k; j++) dW[d * k + j] = dWt[j * D + d]!;
    const grads = [tf.tensor2d(dh, [n, D]), tf.tensor2d(dW, [D, k]), tf.tensor1d(Float32Array.from(db))];
    save(grads);
    return {
      value: tf.scalar(loss / n),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)),
    };
  }) as unknown as (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
}
