/**
 * The {@link Trigger} data type and its validation. A trigger is plain data
 * (typed arrays and numbers): it can be built by the constructors
 * (`patches.ts`, `blend.ts`, `reflection.ts`, `custom.ts`), by hand, or from
 * a defence's output (e.g. a reversed Neural Cleanse trigger), and is applied
 * to images by {@link stamp}.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError, NonFiniteError, ShapeError } from '../core/errors.js';
import { assertPositiveInteger } from '../core/checks.js';

/**
 * How a trigger is combined with an image.
 *
 * - `'mask'`: `x' = (1 - m) * x + m * p` (BadNets patches, blended injection,
 *   image patches). Where `m = 1` the pixel is replaced by `p`; where `m = 0`
 *   it is left as is; in between it is alpha-blended.
 * - `'additive'`: `x' = clip(x + m * p, 0, 1)` (reflection backdoor: a
 *   reflection adds light to the scene rather than covering it).
 */
export type TriggerKind = 'mask' | 'additive';

/** Which constructor made a trigger (for reports; `stamp` does not read it). */
export type TriggerName = 'square' | 'pattern' | 'checkerboard' | 'image' | 'blend' | 'reflection' | 'custom';

/**
 * A backdoor trigger as plain data. `pattern` and `mask` are row-major HWC
 * arrays of the trigger's own size (`height * width * channels` values, each
 * in [0, 1]). Full-image triggers (`fullImage: true`, e.g. blended injection
 * and reflections) have the images' size and are applied everywhere, ignoring
 * placement.
 *
 * A 1-channel trigger stamped on 3-channel images is broadcast to every
 * channel.
 *
 * @example
 * ```ts
 * const t = triggers.square({ size: 3 });
 * t.kind;    // 'mask'
 * t.pattern; // Float32Array(9) [1, 1, ..., 1]
 * t.mask;    // Float32Array(9) [1, 1, ..., 1]
 * ```
 */
export interface Trigger {
  /** Blending rule: `'mask'` (replace/alpha-blend) or `'additive'` (add and clip). */
  readonly kind: TriggerKind;
  /** The constructor that made it. */
  readonly name: TriggerName;
  /** Height of `pattern` and `mask` in pixels. */
  readonly height: number;
  /** Width of `pattern` and `mask` in pixels. */
  readonly width: number;
  /** Channels of `pattern` and `mask` (1 broadcasts over the image's channels). */
  readonly channels: number;
  /** Trigger pixel values, HWC row-major, in [0, 1]. */
  readonly pattern: Float32Array;
  /** Per-value weight of the trigger, same layout as `pattern`, in [0, 1]. */
  readonly mask: Float32Array;
  /** True when the trigger covers the whole image (placement is ignored). */
  readonly fullImage: boolean;
  /** The scalar parameters it was built with (alpha, model, ...), for reports. */
  readonly params: Readonly<Record<string, number | string | boolean | readonly number[]>>;
}

const KINDS: readonly TriggerKind[] = ['mask', 'additive'];
const NAMES: readonly TriggerName[] = ['square', 'pattern', 'checkerboard', 'image', 'blend', 'reflection', 'custom'];

/** Asserts every value of `values` is finite and in [0, 1]. */
export function assertUnitValues(fn: string, arg: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new NonFiniteError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be a finite number in [0, 1]');
    }
    if (v < 0 || v > 1) {
      throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'must be in [0, 1]');
    }
  }
}

/**
 * Asserts that `value` is a well-formed {@link Trigger}: known kind, positive
 * integer sizes, `pattern` and `mask` Float32Arrays of `height * width *
 * channels` finite values in [0, 1].
 *
 * @param fn - Public function doing the check (named in the error).
 * @param arg - Argument name (named in the error).
 * @param value - The candidate trigger.
 * @returns Nothing; narrows `value` to {@link Trigger}.
 * @throws {@link InvalidArgumentError}, {@link ShapeError} or {@link NonFiniteError}.
 * @example
 * ```ts
 * triggers.assertTrigger('myAttack', 'options.trigger', maybeTrigger);
 * ```
 */
export function assertTrigger(fn: string, arg: string, value: unknown): asserts value is Trigger {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a Trigger (see triggers.square, triggers.blend, ...)');
  }
  const t = value as Partial<Record<keyof Trigger, unknown>>;
  if (typeof t.kind !== 'string' || !(KINDS as readonly string[]).includes(t.kind)) {
    throw new InvalidArgumentError({ fn, arg: `${arg}.kind`, value: t.kind }, "must be 'mask' or 'additive'");
  }
  if (typeof t.name !== 'string' || !(NAMES as readonly string[]).includes(t.name)) {
    throw new InvalidArgumentError({ fn, arg: `${arg}.name`, value: t.name }, `must be one of ${NAMES.join(', ')}`);
  }
  assertPositiveInteger(fn, `${arg}.height`, t.height);
  assertPositiveInteger(fn, `${arg}.width`, t.width);
  assertPositiveInteger(fn, `${arg}.channels`, t.channels);
  if (typeof t.fullImage !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: `${arg}.fullImage`, value: t.fullImage }, 'must be a boolean');
  }
  const size = t.height * t.width * t.channels;
  for (const key of ['pattern', 'mask'] as const) {
    const a = t[key];
    if (!(a instanceof Float32Array)) {
      throw new InvalidArgumentError({ fn, arg: `${arg}.${key}`, value: a }, 'must be a Float32Array');
    }
    if (a.length !== size) {
      throw new ShapeError(
        { fn, arg: `${arg}.${key}`, value: a },
        `must hold height * width * channels = ${t.height} * ${t.width} * ${t.channels} = ${size} values`,
      );
    }
    assertUnitValues(fn, `${arg}.${key}`, a);
  }
  if (t.params === null || typeof t.params !== 'object') {
    throw new InvalidArgumentError({ fn, arg: `${arg}.params`, value: t.params }, 'must be an object');
  }
}

/** Builds a frozen trigger object (arrays are owned by the trigger). */
export function makeTrigger(fields: Trigger): Trigger {
  return Object.freeze({
    ...fields,
    params: Object.freeze({ ...fields.params }),
  });
}
