/**
 * Checks and scores on a classifier's predicted probabilities, shared by the
 * input-level defences.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from './classifier.js';
import { ShapeError } from './errors.js';

/** Entropy in bits of each row of a probability tensor (0·log 0 = 0). */
export function entropyTensor(p: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const plogp = tf.mul(p, tf.log(tf.maximum(p, tf.scalar(1e-30))));
    return tf.mul(tf.sum(plogp, 1), tf.scalar(-1 / Math.LN2)) as tf.Tensor1D;
  });
}

/** Checks a classifier's output shape once per batch. */
export function checkProbabilities(fn: string, classifier: Classifier, p: tf.Tensor, rows: number): void {
  if (p.rank !== 2 || p.shape[0] !== rows || p.shape[1] !== classifier.numClasses) {
    throw new ShapeError(
      { fn, arg: 'classifier', value: p },
      `predict must return [n, numClasses] = [${rows}, ${classifier.numClasses}] probabilities`,
    );
  }
}
