/**
 * Clean-label poisoning: the trigger is stamped on samples that already
 * belong to the target class, and no label is changed.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { makeRng } from '../core/rng.js';
import type { LabeledData } from '../core/types.js';
import { assertFiniteNumber } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertImageData, assertLabels } from '../core/validate.js';
import { planPlacement, type Placement } from '../triggers/stamp.js';
import { assertTrigger, type Trigger } from '../triggers/trigger.js';
import {
  assembleLabels,
  assertClass,
  assertInjection,
  injectStamped,
  resolveAmount,
  resolveNumClasses,
  resolvedStamp,
  selectSources,
  type Injection,
  type PoisonedData,
  type RateOf,
} from './common.js';

/** Options of {@link cleanLabel}. */
export interface CleanLabelOptions {
  /** The trigger to stamp. Required. */
  readonly trigger: Trigger;
  /** The target class; only its samples are poisoned. @default 0 */
  readonly target?: number;
  /** Fraction to poison, in [0, 1] (of the target class by default, see `rateOf`; ART `pp_poison`). @default 0.33 */
  readonly rate?: number | undefined;
  /** Exact number of target-class samples to poison (instead of `rate`). @default undefined */
  readonly count?: number | undefined;
  /** What `rate` is a fraction of; `'auto'` = `'source'` = the target class. @default 'auto' */
  readonly rateOf?: RateOf;
  /** `'replace'` in place or `'append'` triggered copies. @default 'replace' */
  readonly injection?: Injection;
  /** Trigger placement. @default 'bottom-right' */
  readonly placement?: Placement;
  /** Corner margin in pixels. @default 1 */
  readonly margin?: number;
  /** Seed for the choice of samples and random placements. @default 0 */
  readonly seed?: number;
  /** Number of classes; inferred as `max(label) + 1` when not given. @default undefined */
  readonly numClasses?: number | undefined;
}

/** Defaults of {@link cleanLabel}; the rate (0.33 of the target class) is ART's `pp_poison` default. */
export const CLEAN_LABEL_DEFAULTS: {
  readonly [K in keyof Required<CleanLabelOptions>]: K extends 'trigger' ? Trigger | undefined : CleanLabelOptions[K];
} = Object.freeze({
  trigger: undefined,
  target: 0,
  rate: undefined,
  count: undefined,
  rateOf: 'auto',
  injection: 'replace',
  placement: 'bottom-right',
  margin: 1,
  seed: 0,
  numClasses: undefined,
});

/**
 * Builds a clean-label poisoned copy of a data set: `round(rate · n_target)`
 * (or `count`) samples of the target class, drawn uniformly, get the trigger;
 * every label stays true. This is the trigger-only baseline of Turner et al.'s
 * clean-label attack (ART `PoisoningAttackCleanLabelBackdoor` additionally
 * perturbs the samples adversarially first, which needs a model).
 *
 * @param data - Training data (not modified).
 * @param options - {@link CleanLabelOptions}; `trigger` is required.
 * @returns A {@link PoisonedData} (`originalLabels` equals `data.y`); the caller owns `result.data.x`.
 * @throws {@link InvalidArgumentError} for a missing trigger, rate outside
 *   [0, 1], or more samples asked than the target class holds;
 *   {@link LabelError} for a target out of range; {@link ShapeError} when the
 *   trigger does not fit; {@link EmptyDataError} when the target class is empty.
 * @example
 * ```ts
 * const res = poisoning.cleanLabel(train, { trigger: triggers.checkerboard(), target: 3, rate: 0.3 });
 * res.data.x.dispose();
 * ```
 */
export function cleanLabel(data: LabeledData, options: CleanLabelOptions): PoisonedData {
  const fn = 'poisoning.cleanLabel';
  const o = resolveOptions(fn, CLEAN_LABEL_DEFAULTS, options);
  assertImageData(fn, 'data', data, {}, 'the trigger is stamped on pixels');
  const K = resolveNumClasses(fn, data.y, o.numClasses);
  assertLabels(fn, 'data.y', data.y, data.x.shape[0], K);
  assertTrigger(fn, 'options.trigger', o.trigger);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  const trigger = o.trigger;
  const target = o.target;
  assertClass(fn, 'options.target', target, K);
  const amount = resolveAmount(fn, o, 'source', 0.33);
  assertInjection(fn, o.injection);
  const [, H, W, C] = data.x.shape;
  planPlacement(fn, trigger, [H, W, C], 0, resolvedStamp(o), 'options.trigger');
  const root = makeRng(o.seed, fn);
  const indices = selectSources(fn, data.y, (c) => c === target, amount, K, root.derive('select'));
  const plan = planPlacement(
    fn,
    trigger,
    [H, W, C],
    indices.length,
    { ...resolvedStamp(o), seed: root.derive('placement').nextSeed() },
    'options.trigger',
  );
  const labels = assembleLabels(data.y, indices, o.injection, (c) => c);
  const x: tf.Tensor4D = injectStamped(data.x, indices, trigger, plan, o.injection);
  return {
    data: { x, y: labels.y },
    poisoned: labels.poisoned,
    originalLabels: labels.originalLabels,
    indices,
    positions: labels.positions,
  };
}
