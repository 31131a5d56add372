/**
 * Shared machinery of the poisoned-dataset builders: class maps, exact
 * seeded selection of poison sources, and the vectorised replace/append
 * injection.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError, InvalidArgumentError, LabelError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { LabeledData } from '../core/types.js';
import { assertFraction, assertInteger, assertOneOf } from '../core/checks.js';
import { stampPlanned, widenPlan, type Placement, type PlacementPlan } from '../triggers/stamp.js';
import type { Trigger } from '../triggers/trigger.js';

/** How poisoned samples are relabelled. */
export type PoisonMode = 'all-to-one' | 'all-to-all' | 'label-map';

/**
 * What `rate` is a fraction of:
 *
 * - `'dataset'`: the whole input data set (`round(rate · n)` samples in all);
 * - `'source'`: the eligible samples (`round(rate · #eligible)` in all);
 * - `'per-class'`: each source class separately (`round(rate · n_c)` from
 *   every source class `c`);
 * - `'auto'`: `'dataset'` for all-to-one, `'per-class'` for all-to-all and
 *   label-map, `'source'` for clean-label.
 */
export type RateOf = 'auto' | 'dataset' | 'source' | 'per-class';

/** Where poisoned samples go: in place of their sources, or appended copies. */
export type Injection = 'replace' | 'append';

/**
 * A label map for all-to-all / label-map attacks: an array with one target per
 * class (entries equal to their index mean "not a source"), or a record
 * `{ source: target }` listing only the source classes.
 */
export type LabelMap = readonly number[] | Int32Array | Readonly<Record<number, number>>;

/** Result of a poisoned-dataset builder. Only `data.x` is a tensor (caller owns it). */
export interface PoisonedData {
  /** The poisoned data set: a new tensor (dispose it) and new labels. */
  readonly data: LabeledData;
  /** 1 for every poisoned sample of `data`, 0 otherwise (length of `data.y`). */
  readonly poisoned: Uint8Array;
  /** The true (pre-attack) label of every sample of `data`. */
  readonly originalLabels: Int32Array;
  /** Input indices of the poisoned samples' sources, ascending. */
  readonly indices: Int32Array;
  /** Positions in `data` of the poisoned samples, aligned with `indices`. */
  readonly positions: Int32Array;
}

const MODES: readonly PoisonMode[] = ['all-to-one', 'all-to-all', 'label-map'];
const RATE_OF: readonly RateOf[] = ['auto', 'dataset', 'source', 'per-class'];
const INJECTIONS: readonly Injection[] = ['replace', 'append'];

/** Validates `options.numClasses` or infers it as `max(y) + 1`. */
export function resolveNumClasses(fn: string, y: Int32Array, numClasses: unknown): number {
  if (numClasses !== undefined) {
    assertInteger(fn, 'options.numClasses', numClasses, 1);
    return numClasses;
  }
  let max = 0;
  for (let i = 0; i < y.length; i++) if (y[i]! > max) max = y[i]!;
  return max + 1;
}

/** Validates a class index option (`options.target`, ...) against `numClasses`. */
export function assertClass(fn: string, arg: string, value: unknown, numClasses: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be an integer class index');
  }
  if (value < 0 || value >= numClasses) {
    throw new LabelError(
      { fn, arg, value },
      `must be a class in [0, ${numClasses}) (set options.numClasses if needed)`,
    );
  }
}

/** The attack's relabelling options, as accepted by the builders. */
export interface MappingOptions {
  mode: unknown;
  target: unknown;
  labelMap: unknown;
  sourceClasses: unknown;
}

/**
 * Builds the class map of an attack: `map[c]` is the label given to poisoned
 * samples of class `c`, or −1 when class `c` is not a source.
 *
 * @throws {@link InvalidArgumentError} for an unknown mode or options that do
 *   not belong to it; {@link LabelError} for classes out of range;
 *   {@link EmptyDataError} when no class is left as a source.
 */
export function buildClassMap(
  fn: string,
  numClasses: number,
  o: MappingOptions,
): { map: Int32Array; target: number | null } {
  assertOneOf(fn, 'options.mode', o.mode, MODES);
  const K = numClasses;
  const map = new Int32Array(K).fill(-1);
  let target: number | null = null;
  if (o.mode === 'all-to-one') {
    if (o.labelMap !== undefined) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.labelMap', value: o.labelMap },
        "applies only to mode 'all-to-all' or 'label-map' (all-to-one uses options.target)",
      );
    }
    const t = o.target ?? 0;
    assertClass(fn, 'options.target', t, K);
    target = t;
    for (let c = 0; c < K; c++) if (c !== t) map[c] = t;
  } else {
    if (o.target !== undefined) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.target', value: o.target },
        `applies only to mode 'all-to-one' (mode is '${o.mode}'; use options.labelMap)`,
      );
    }
    if (o.labelMap === undefined) {
      if (o.mode === 'label-map') {
        throw new InvalidArgumentError(
          { fn, arg: 'options.labelMap', value: undefined },
          "is required when mode is 'label-map'",
        );
      }
      if (K < 2) {
        throw new InvalidArgumentError(
          { fn, arg: 'options.numClasses', value: K },
          'must be at least 2 for all-to-all',
        );
      }
      for (let c = 0; c < K; c++) map[c] = (c + 1) % K;
    } else {
      const lm = o.labelMap;
      if (Array.isArray(lm) || lm instanceof Int32Array) {
        const arr = lm as ArrayLike<unknown>;
        if (arr.length !== K) {
          throw new InvalidArgumentError(
            { fn, arg: 'options.labelMap', value: lm },
            `must have one entry per class (${K}) when given as an array`,
          );
        }
        for (let c = 0; c < K; c++) {
          const v = arr[c];
          assertClass(fn, `options.labelMap[${c}]`, v, K);
          if (v !== c) map[c] = v;
        }
      } else if (lm !== null && typeof lm === 'object') {
        for (const [key, v] of Object.entries(lm)) {
          const c = Number(key);
          assertClass(fn, `options.labelMap key '${key}'`, c, K);
          assertClass(fn, `options.labelMap[${key}]`, v, K);
          if (v !== c) map[c] = v;
        }
      } else {
        throw new InvalidArgumentError(
          { fn, arg: 'options.labelMap', value: lm },
          'must be an array with one target per class or a record { source: target }',
        );
      }
    }
  }
  restrictToSources(fn, map, o.sourceClasses);
  if (!map.some((v) => v >= 0)) {
    throw new EmptyDataError(
      { fn, arg: o.sourceClasses === undefined ? 'options.labelMap' : 'options.sourceClasses', value: o.sourceClasses },
      'leaves no source class (every class is excluded or maps to itself)',
    );
  }
  return { map, target };
}

/** Sets `map[c] = -1` for classes outside `sourceClasses` (when given). */
export function restrictToSources(fn: string, map: Int32Array, sourceClasses: unknown): void {
  if (sourceClasses === undefined) return;
  if (!Array.isArray(sourceClasses) && !(sourceClasses instanceof Int32Array)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.sourceClasses', value: sourceClasses },
      'must be an array of class indices',
    );
  }
  const list = sourceClasses as ArrayLike<unknown>;
  if (list.length === 0)
    throw new EmptyDataError({ fn, arg: 'options.sourceClasses', value: sourceClasses }, 'must not be empty');
  const keep = new Uint8Array(map.length);
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    assertClass(fn, `options.sourceClasses[${i}]`, c, map.length);
    keep[c] = 1;
  }
  for (let c = 0; c < map.length; c++) if (keep[c] === 0) map[c] = -1;
}

/** Validates `rate` / `count` / `rateOf` and resolves `rateOf: 'auto'`. */
export function resolveAmount(
  fn: string,
  o: { rate: unknown; count: unknown; rateOf: unknown },
  autoRateOf: Exclude<RateOf, 'auto'>,
  defaultRate: number,
): { rate: number; count: number | undefined; rateOf: Exclude<RateOf, 'auto'> } {
  assertOneOf(fn, 'options.rateOf', o.rateOf, RATE_OF);
  if (o.count !== undefined) {
    if (o.rate !== undefined) {
      throw new InvalidArgumentError(
        { fn, arg: 'options.count', value: o.count },
        'cannot be given together with options.rate',
      );
    }
    if (o.rateOf !== 'auto') {
      throw new InvalidArgumentError(
        { fn, arg: 'options.rateOf', value: o.rateOf },
        'applies only to options.rate (options.count is a total number)',
      );
    }
    assertInteger(fn, 'options.count', o.count, 0);
    return { rate: 0, count: o.count, rateOf: autoRateOf };
  }
  const rate = o.rate ?? defaultRate;
  assertFraction(fn, 'options.rate', rate);
  return { rate, count: undefined, rateOf: o.rateOf === 'auto' ? autoRateOf : o.rateOf };
}

/** Validates `options.injection`. */
export function assertInjection(fn: string, value: unknown): asserts value is Injection {
  assertOneOf(fn, 'options.injection', value, INJECTIONS);
}

/**
 * Chooses the poison sources exactly and reproducibly.
 *
 * - `count`: `count` samples uniformly without replacement from the eligible
 *   ones;
 * - `'dataset'` / `'source'`: `round(rate · n)` / `round(rate · #eligible)`
 *   samples uniformly from the eligible ones;
 * - `'per-class'`: `round(rate · n_c)` samples uniformly from each source
 *   class `c`, classes in ascending order.
 *
 * @returns Input indices, ascending.
 * @throws {@link EmptyDataError} when no sample is eligible;
 *   {@link InvalidArgumentError} when more samples are asked than are eligible.
 */
export function selectSources(
  fn: string,
  y: Int32Array,
  isSource: (label: number) => boolean,
  amount: { rate: number; count: number | undefined; rateOf: Exclude<RateOf, 'auto'> },
  numClasses: number,
  rng: Rng,
): Int32Array {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  const eligible: number[] = [];
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (isSource(c)) {
      eligible.push(i);
      byClass[c]!.push(i);
    }
  }
  if (eligible.length === 0) {
    throw new EmptyDataError({ fn, arg: 'data.y', value: y }, 'has no sample of a source class to poison');
  }
  const chosen: number[] = [];
  if (amount.count === undefined && amount.rateOf === 'per-class') {
    for (let c = 0; c < numClasses; c++) {
      const members = byClass[c]!;
      if (members.length === 0) continue;
      const k = Math.round(amount.rate * members.length);
      for (const j of rng.sample(members.length, k)) chosen.push(members[j]!);
    }
  } else {
    const k = amount.count ?? Math.round(amount.rate * (amount.rateOf === 'dataset' ? y.length : eligible.length));
    if (k > eligible.length) {
      const arg = amount.count === undefined ? 'options.rate' : 'options.count';
      const value = amount.count ?? amount.rate;
      throw new InvalidArgumentError(
        { fn, arg, value },
        `asks for ${k} poisoned samples but only ${eligible.length} samples are eligible (of a source class, not already the target)`,
      );
    }
    for (const j of rng.sample(eligible.length, k)) chosen.push(eligible[j]!);
  }
  return Int32Array.from(chosen).sort();
}

/**
 * Stamps the chosen samples and assembles the result tensor: `replace`
 * stamps them in place (one pass over the batch in which the other samples'
 * frames are the identity), `append` stamps copies of them and adds these
 * after the `n` inputs (in `indices` order). Returns a new float32 tensor;
 * no other tensor survives.
 */
export function injectStamped(
  x: tf.Tensor4D,
  indices: Int32Array,
  trigger: Trigger,
  plan: PlacementPlan,
  injection: Injection,
): tf.Tensor4D {
  const n = x.shape[0];
  if (injection === 'replace') return stampPlanned(x, trigger, widenPlan(plan, indices, n));
  return tf.tidy(() => {
    const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    if (indices.length === 0) return tf.clone(xf);
    const sub = tf.gather(xf, tf.tensor1d(indices, 'int32'));
    return tf.concat([xf, stampPlanned(sub, trigger, plan)], 0);
  });
}

/**
 * Builds the label/flag arrays of a {@link PoisonedData}. `relabel(c)` is the
 * label a poisoned sample of true class `c` gets.
 */
export function assembleLabels(
  y: Int32Array,
  indices: Int32Array,
  injection: Injection,
  relabel: (label: number) => number,
): { y: Int32Array; poisoned: Uint8Array; originalLabels: Int32Array; positions: Int32Array } {
  const n = y.length;
  const k = indices.length;
  const total = injection === 'append' ? n + k : n;
  const outY = new Int32Array(total);
  const original = new Int32Array(total);
  outY.set(y);
  original.set(y);
  const poisoned = new Uint8Array(total);
  const positions = new Int32Array(k);
  for (let j = 0; j < k; j++) {
    const src = indices[j]!;
    const pos = injection === 'append' ? n + j : src;
    positions[j] = pos;
    poisoned[pos] = 1;
    original[pos] = y[src]!;
    outY[pos] = relabel(y[src]!);
  }
  return { y: outY, poisoned, originalLabels: original, positions };
}

/** The stamping options of a builder's resolved options. */
export function resolvedStamp(o: {
  placement?: Placement | undefined;
  margin?: number | undefined;
  seed?: number | undefined;
}): {
  placement: Placement;
  margin: number;
  seed: number;
} {
  return { placement: o.placement ?? 'bottom-right', margin: o.margin ?? 1, seed: o.seed ?? 0 };
}
