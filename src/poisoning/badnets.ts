/**
 * BadNets poisoned-dataset builder (Gu et al. 2017): all-to-one, all-to-all,
 * arbitrary label maps, source-restricted; replace or append injection.
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
  assertInjection,
  buildClassMap,
  injectStamped,
  resolveAmount,
  resolveNumClasses,
  resolvedStamp,
  selectSources,
  type Injection,
  type LabelMap,
  type PoisonedData,
  type PoisonMode,
  type RateOf,
} from './common.js';

/** Options of {@link badNets}. */
export interface BadNetsOptions {
  /** The trigger to stamp (see the `triggers` constructors). Required. */
  readonly trigger: Trigger;
  /**
   * `'all-to-one'`: every poisoned sample gets `target`; `'all-to-all'`:
   * class `c` → `(c + 1) mod K` (or `labelMap` if given); `'label-map'`: the
   * given `labelMap`. @default 'all-to-one'
   */
  readonly mode?: PoisonMode;
  /** Target class of an all-to-one attack (samples already of it are never sources). @default 0 */
  readonly target?: number | undefined;
  /** Label map for `'all-to-all'` / `'label-map'` (see {@link LabelMap}). @default undefined */
  readonly labelMap?: LabelMap | undefined;
  /** Only samples of these classes can be poisoned (source-specific attack). @default undefined (all) */
  readonly sourceClasses?: readonly number[] | undefined;
  /** Fraction to poison, in [0, 1]; what it is a fraction of is `rateOf`. @default 0.1 */
  readonly rate?: number | undefined;
  /** Exact number of samples to poison (instead of `rate`), drawn uniformly from the eligible ones. @default undefined */
  readonly count?: number | undefined;
  /**
   * What `rate` is a fraction of (see {@link RateOf}); `'auto'` is the whole
   * data set for all-to-one and each source class for all-to-all/label-map.
   * @default 'auto'
   */
  readonly rateOf?: RateOf;
  /** `'replace'` the sources in place or `'append'` triggered copies at the end. @default 'replace' */
  readonly injection?: Injection;
  /** Trigger placement (see {@link Placement}). @default 'bottom-right' */
  readonly placement?: Placement;
  /** Corner margin in pixels. @default 1 */
  readonly margin?: number;
  /** Seed for the choice of samples and random placements. @default 0 */
  readonly seed?: number;
  /** Number of classes; inferred as `max(label) + 1` when not given. @default undefined */
  readonly numClasses?: number | undefined;
}

/** Defaults of {@link badNets}. Sources in docs/attacks/badnets.md. */
export const BADNETS_DEFAULTS: {
  readonly [K in keyof Required<BadNetsOptions>]: K extends 'trigger' ? Trigger | undefined : BadNetsOptions[K];
} = Object.freeze({
  trigger: undefined,
  mode: 'all-to-one',
  target: undefined,
  labelMap: undefined,
  sourceClasses: undefined,
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
 * Builds a BadNets-poisoned copy of a labelled data set: chooses poison
 * sources exactly and reproducibly, stamps the trigger on them and relabels
 * them to the attacker's target.
 *
 * Counting (exact, `round` to nearest): with `rate`, all-to-one poisons
 * `round(rate · n)` samples drawn uniformly from the eligible ones (label ≠
 * target, in `sourceClasses`); all-to-all / label-map poisons
 * `round(rate · n_c)` from each source class `c`. `count` poisons exactly
 * `count` samples drawn uniformly from the eligible ones. With `'append'` the
 * result has `n + k` samples (the last `k` poisoned copies); with `'replace'`
 * it has `n`.
 *
 * @param data - Training data (not modified).
 * @param options - {@link BadNetsOptions}; `trigger` is required.
 * @returns A {@link PoisonedData}; the caller owns (disposes) `result.data.x`.
 * @throws {@link InvalidArgumentError} for a missing trigger, unknown mode, rate
 *   outside [0, 1], more samples asked than eligible, or options that do not
 *   belong to the mode; {@link LabelError} for a target or map entry out of
 *   range; {@link ShapeError} when the trigger does not fit the images;
 *   {@link EmptyDataError} when no source class or sample is left.
 * @example
 * ```ts
 * const { data: poisoned, poisoned: flags } = poisoning.badNets(train, {
 *   trigger: triggers.square({ size: 3 }), target: 7, rate: 0.1, seed: 1,
 * });
 * // train on poisoned, then: poisoned.x.dispose();
 * ```
 */
export function badNets(data: LabeledData, options: BadNetsOptions): PoisonedData {
  const fn = 'poisoning.badNets';
  const o = resolveOptions(fn, BADNETS_DEFAULTS, options);
  assertImageData(fn, 'data', data, {}, 'the trigger is stamped on pixels');
  const K = resolveNumClasses(fn, data.y, o.numClasses);
  assertLabels(fn, 'data.y', data.y, data.x.shape[0], K);
  assertTrigger(fn, 'options.trigger', o.trigger);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  const trigger = o.trigger;
  const { map } = buildClassMap(fn, K, o);
  const amount = resolveAmount(fn, o, o.mode === 'all-to-one' ? 'dataset' : 'per-class', 0.1);
  assertInjection(fn, o.injection);
  const injection = o.injection;
  const root = makeRng(o.seed, fn);
  const [, H, W, C] = data.x.shape;
  // Validate the placement before choosing (count-independent checks).
  planPlacement(fn, trigger, [H, W, C], 0, resolvedStamp(o), 'options.trigger');
  const indices = selectSources(fn, data.y, (c) => map[c]! >= 0, amount, K, root.derive('select'));
  const plan = planPlacement(
    fn,
    trigger,
    [H, W, C],
    indices.length,
    { ...resolvedStamp(o), seed: root.derive('placement').nextSeed() },
    'options.trigger',
  );
  const labels = assembleLabels(data.y, indices, injection, (c) => map[c]!);
  const x: tf.Tensor4D = injectStamped(data.x, indices, trigger, plan, injection);
  return {
    data: { x, y: labels.y },
    poisoned: labels.poisoned,
    originalLabels: labels.originalLabels,
    indices,
    positions: labels.positions,
  };
}
