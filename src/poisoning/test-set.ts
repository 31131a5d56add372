/**
 * Triggered test sets for measuring attack success rate.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError } from '../core/errors.js';
import { makeRng } from '../core/rng.js';
import type { LabeledData } from '../core/types.js';
import { assertFiniteNumber } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertImageData, assertLabels } from '../core/validate.js';
import { planPlacement, stampPlanned, type Placement } from '../triggers/stamp.js';
import { assertTrigger, type Trigger } from '../triggers/trigger.js';
import { buildClassMap, resolveNumClasses, resolvedStamp, type LabelMap, type PoisonMode } from './common.js';

/** Options of {@link triggeredTestSet}. */
export interface TriggeredTestSetOptions {
  /** The trigger to stamp. Required. */
  readonly trigger: Trigger;
  /** The attack's mode (as given to `badNets`). @default 'all-to-one' */
  readonly mode?: PoisonMode;
  /** All-to-one target class. @default 0 */
  readonly target?: number | undefined;
  /** All-to-all / label-map label map; all-to-all defaults to `c → (c + 1) mod K`. @default undefined */
  readonly labelMap?: LabelMap | undefined;
  /** Keep only samples of these classes (source-specific attacks). @default undefined (all sources) */
  readonly sourceClasses?: readonly number[] | undefined;
  /** Trigger placement. @default 'bottom-right' */
  readonly placement?: Placement;
  /** Corner margin in pixels. @default 1 */
  readonly margin?: number;
  /** Seed for random placements. @default 0 */
  readonly seed?: number;
  /** Number of classes; inferred as `max(label) + 1` when not given. @default undefined */
  readonly numClasses?: number | undefined;
}

/** Defaults of {@link triggeredTestSet}. */
export const TRIGGERED_TEST_SET_DEFAULTS: {
  readonly [K in keyof Required<TriggeredTestSetOptions>]: K extends 'trigger'
    ? Trigger | undefined
    : TriggeredTestSetOptions[K];
} = Object.freeze({
  trigger: undefined,
  mode: 'all-to-one',
  target: undefined,
  labelMap: undefined,
  sourceClasses: undefined,
  placement: 'bottom-right',
  margin: 1,
  seed: 0,
  numClasses: undefined,
});

/** Result of {@link triggeredTestSet}. Only `data.x` is a tensor (caller owns it). */
export interface TriggeredTestSet {
  /** The kept samples, all stamped; `data.y` holds their TRUE labels. */
  readonly data: LabeledData;
  /** The all-to-one target, or `null` for all-to-all / label-map. */
  readonly target: number | null;
  /** The label the attacker wants for each sample of `data`. */
  readonly targets: Int32Array;
  /** Index in the input test set of each sample of `data`, ascending. */
  readonly indices: Int32Array;
}

/**
 * Stamps the trigger on every test sample that the attack applies to, for
 * measuring attack success rate (ASR = share of `data` classified as
 * `targets`). All-to-one leaves out samples whose true label already is the
 * target (the project's ASR definition); all-to-all / label-map keeps the
 * samples of every source class (all of them for `(c + 1) mod K`), with a
 * per-sample target. Labels stay true.
 *
 * @param test - Clean test data (not modified).
 * @param options - {@link TriggeredTestSetOptions}; `trigger` is required.
 * @returns A {@link TriggeredTestSet}; the caller owns `result.data.x`.
 * @throws {@link InvalidArgumentError} for a missing trigger or bad options;
 *   {@link LabelError} for a target out of range; {@link ShapeError} when the
 *   trigger does not fit; {@link EmptyDataError} when no sample is kept.
 * @example
 * ```ts
 * const t = poisoning.triggeredTestSet(test, { trigger, target: 7 });
 * const asr = metrics.attackSuccessRate(classifier, t.data.x, t.targets);
 * t.data.x.dispose();
 * ```
 */
export function triggeredTestSet(test: LabeledData, options: TriggeredTestSetOptions): TriggeredTestSet {
  const fn = 'poisoning.triggeredTestSet';
  const o = resolveOptions(fn, TRIGGERED_TEST_SET_DEFAULTS, options);
  assertImageData(fn, 'test', test, {}, 'the trigger is stamped on pixels');
  const K = resolveNumClasses(fn, test.y, o.numClasses);
  assertLabels(fn, 'test.y', test.y, test.x.shape[0], K);
  assertTrigger(fn, 'options.trigger', o.trigger);
  assertFiniteNumber(fn, 'options.seed', o.seed);
  const trigger = o.trigger;
  const { map, target } = buildClassMap(fn, K, o);
  const [, H, W, C] = test.x.shape;
  planPlacement(fn, trigger, [H, W, C], 0, resolvedStamp(o), 'options.trigger');
  const kept: number[] = [];
  for (let i = 0; i < test.y.length; i++) if (map[test.y[i]!]! >= 0) kept.push(i);
  if (kept.length === 0) {
    throw new EmptyDataError(
      { fn, arg: 'test.y', value: test.y },
      target === null ? 'has no sample of a source class' : `has no sample outside the target class ${target}`,
    );
  }
  const indices = Int32Array.from(kept);
  const y = new Int32Array(indices.length);
  const targets = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const c = test.y[indices[j]!]!;
    y[j] = c;
    targets[j] = map[c]!;
  }
  const root = makeRng(o.seed, fn);
  const plan = planPlacement(
    fn,
    trigger,
    [H, W, C],
    indices.length,
    { ...resolvedStamp(o), seed: root.derive('placement').nextSeed() },
    'options.trigger',
  );
  const x = tf.tidy(() => {
    const xf = test.x.dtype === 'float32' ? test.x : tf.cast(test.x, 'float32');
    const sub = indices.length === test.x.shape[0] ? xf : tf.gather(xf, tf.tensor1d(indices, 'int32'));
    return stampPlanned(sub as tf.Tensor4D, trigger, plan);
  });
  return { data: { x, y }, target, targets, indices };
}
