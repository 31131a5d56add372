/**
 * Activation Clustering, step 5: option checks and exclusionary
 * reclassification (Chen et al.: retrain without a cluster and see where its
 * samples go).
 *
 * @packageDocumentation
 */
import {
  assertFiniteNumber,
  assertInRange,
  assertInteger,
  assertLongRunning,
  assertOneOf,
  assertPositiveInteger,
} from '../../../core/checks.js';
import { InvalidArgumentError } from '../../../core/errors.js';
import type { ExReResult, ResolvedOptions } from './types.js';

export function validateOptions(fn: string, o: ResolvedOptions, width: number): void {
  assertOneOf(fn, 'options.segmentBy', o.segmentBy, ['label', 'prediction'] as const);
  assertOneOf(fn, 'options.reduction', o.reduction, ['ica', 'pca', 'none'] as const);
  assertOneOf(fn, 'options.analysis', o.analysis, [
    'exclusionary-reclassification',
    'relative-size',
    'silhouette',
    'distance',
    'smaller',
  ] as const);
  assertPositiveInteger(fn, 'options.dims', o.dims);
  if (o.reduction !== 'none' && o.dims >= width) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.dims', value: o.dims },
      `must be below the width of the clustered layer (${width} activations per sample)`,
    );
  }
  assertPositiveInteger(fn, 'options.nInit', o.nInit);
  assertPositiveInteger(fn, 'options.kmeansMaxIterations', o.kmeansMaxIterations);
  assertPositiveInteger(fn, 'options.icaMaxIterations', o.icaMaxIterations);
  assertInRange(fn, 'options.icaTolerance', o.icaTolerance, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.sizeThreshold', o.sizeThreshold, 0, 0.5);
  assertInRange(fn, 'options.silhouetteThreshold', o.silhouetteThreshold, -1, 1);
  assertInRange(fn, 'options.separationThreshold', o.separationThreshold, 0, Infinity);
  assertInRange(fn, 'options.exReThreshold', o.exReThreshold, 0, Infinity, { minOpen: true });
  assertPositiveInteger(fn, 'options.retrainEpochs', o.retrainEpochs);
  assertPositiveInteger(fn, 'options.trainBatchSize', o.trainBatchSize);
  assertInRange(fn, 'options.retrainLearningRate', o.retrainLearningRate, 0, Infinity, { minOpen: true });
  assertInteger(fn, 'options.silhouetteSampleSize', o.silhouetteSampleSize, 2);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  assertLongRunning(fn, o);
}

/** ExRe statistics of one cluster from the retrained model's probabilities. */
export function exReOf(
  cluster: number,
  label: number,
  rows: ArrayLike<number>,
  probs: Float32Array,
  numClasses: number,
): { result: ExReResult; sources: Int32Array } {
  const counts = new Int32Array(numClasses);
  const sources = new Int32Array(rows.length);
  let confidence = 0;
  for (let r = 0; r < rows.length; r++) {
    const o = rows[r]! * numClasses;
    let best = 0;
    let other = label === 0 ? 1 : 0;
    for (let j = 0; j < numClasses; j++) {
      const p = probs[o + j]!;
      if (p > probs[o + best]!) best = j;
      if (j !== label && p > probs[o + other]!) other = j;
    }
    counts[best]!++;
    sources[r] = other;
    confidence += probs[o + best]!;
  }
  const l = counts[label]!;
  let p = 0;
  let source = -1;
  for (let j = 0; j < numClasses; j++) {
    if (j !== label && counts[j]! > p) {
      p = counts[j]!;
      source = j;
    }
  }
  return {
    result: {
      cluster,
      labelCount: l,
      sourceCount: p,
      source,
      score: l / Math.max(p, 1),
      confidence: rows.length > 0 ? confidence / rows.length : 0,
    },
    sources,
  };
}
