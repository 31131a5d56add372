/**
 * Neural Cleanse's input filter: flags inputs whose mean activation over the
 * neurons the reversed trigger excites most is high.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { assertFiniteNumber, assertInteger, assertPositiveInteger } from '../../../core/checks.js';
import { findLayer, requireCapabilities, type Classifier, type LayeredClassifier } from '../../../core/classifier.js';
import { EmptyDataError, InvalidArgumentError } from '../../../core/errors.js';
import { resolveOptions } from '../../../core/options.js';
import { assertBatch } from '../../../core/validate.js';
import { filterScores, unitActivations } from './repair.js';
import { FILTER_DEFAULTS, type FilterOptions, type FilterReport, type InputFilter } from './types.js';

/**
 * Applies the input filter from {@link repair}: scores each input by the
 * mean activation of the neurons the reversed trigger excites most, and
 * flags scores above the threshold calibrated on clean data.
 *
 * @param classifier - The classifier the filter was derived from ('layers' capability). Not modified.
 * @param inputs - Images `[n, ...inputShape]`. Not modified.
 * @param spec - `result.filter` of {@link repair}.
 * @param options - See {@link FilterOptions}.
 * @returns Flags, scores and threshold.
 * @throws {@link CapabilityError}, {@link LayerNotFoundError} for a layer the
 *   classifier lacks, {@link InvalidArgumentError} for a bad spec,
 *   the shape/finiteness errors of the inputs.
 * @example
 * ```ts
 * const { filter: spec } = await neuralCleanse.repair(clf, clean, report);
 * const { suspicious } = await neuralCleanse.filter(clf, incoming, spec!);
 * ```
 */
export async function filter(
  classifier: Classifier,
  inputs: tf.Tensor,
  spec: InputFilter,
  options?: FilterOptions,
): Promise<FilterReport> {
  const fn = 'neuralCleanse.filter';
  requireCapabilities(fn, 'classifier', classifier, ['layers']);
  const o = resolveOptions(fn, FILTER_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.batchSize', o.batchSize);
  const lc = classifier as LayeredClassifier;
  if (spec === null || typeof spec !== 'object') {
    throw new InvalidArgumentError(
      { fn, arg: 'spec', value: spec },
      'must be the filter returned by neuralCleanse.repair',
    );
  }
  const info = findLayer(fn, 'spec.layer', lc, spec.layer);
  if (!Array.isArray(spec.neurons) || spec.neurons.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg: 'spec.neurons', value: spec.neurons },
      'must be a non-empty array of units',
    );
  }
  spec.neurons.forEach((u, i) => assertInteger(fn, `spec.neurons[${i}]`, u, 0, info.units - 1));
  assertFiniteNumber(fn, 'spec.threshold', spec.threshold);
  assertBatch(fn, 'inputs', inputs, classifier.inputShape);
  if (inputs.shape[0] === 0) throw new EmptyDataError({ fn, arg: 'inputs' });
  const acts = await unitActivations(fn, lc, inputs, info, o.batchSize);
  const scores = filterScores(acts, info.units, spec.neurons);
  const suspicious = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) suspicious[i] = scores[i]! > spec.threshold ? 1 : 0;
  return { suspicious, scores, threshold: spec.threshold };
}
