/**
 * Fixtures for the metrics tests: a fake classifier whose class
 * probabilities are its input pixels, so predictions are fixed by hand.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from '../../src/core/classifier.js';

/** A {@link Classifier} on `[1, 1, k]` inputs that returns the input, normalised per row, as probabilities. */
export interface PassThrough extends Classifier {
  /** Batch sizes `predict` was called with, in order. */
  readonly calls: number[];
}

export function passThrough(k: number): PassThrough {
  const calls: number[] = [];
  return {
    inputShape: [1, 1, k],
    numClasses: k,
    calls,
    predict(x: tf.Tensor): tf.Tensor2D {
      calls.push(x.shape[0]!);
      return tf.tidy(() => {
        const r = tf.reshape(x, [-1, k]) as tf.Tensor2D;
        return tf.div(r, tf.sum(r, 1, true));
      });
    },
  };
}

/** Inputs whose predicted class (arg-max) is `labels[i]`: probability 0.7 on it, the rest spread evenly. */
export function inputsFor(labels: readonly number[], k: number): tf.Tensor4D {
  const values: number[] = [];
  for (const l of labels) {
    for (let c = 0; c < k; c++) values.push(c === l ? 0.7 : 0.3 / (k - 1));
  }
  return tf.tensor4d(values, [labels.length, 1, 1, k]);
}

/** The shared typed-error assertions (test/helpers/errors.ts). */
export { expectError, expectRejects } from '../helpers/errors.js';
