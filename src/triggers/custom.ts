/**
 * A trigger from the caller's own pattern, mask and alpha.
 *
 * @packageDocumentation
 */
import { assertOneOf, assertPositiveInteger } from '../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import type { OptionDefaults } from './image-input.js';
import { assertUnitValues, makeTrigger, type Trigger, type TriggerKind } from './trigger.js';

// ---------------------------------------------------------------------------
// custom

/** Options of {@link custom}. */
export interface CustomTriggerOptions {
  /** Pattern values, HWC row-major, `height * width * channels` in [0, 1]. Required. */
  readonly pattern?: Float32Array | readonly number[];
  /** Mask values, same layout; `height * width` values are broadcast over channels. Required. */
  readonly mask?: Float32Array | readonly number[];
  /** Height in pixels. Required. */
  readonly height?: number;
  /** Width in pixels. Required. */
  readonly width?: number;
  /** Channels. @default 1 */
  readonly channels?: number;
  /** Blending rule. @default 'mask' */
  readonly kind?: TriggerKind;
  /** Whether the trigger covers the whole image. @default false */
  readonly fullImage?: boolean;
}

/** Defaults of {@link custom}. */
export const CUSTOM_DEFAULTS: OptionDefaults<CustomTriggerOptions> = Object.freeze({
  pattern: undefined,
  mask: undefined,
  height: undefined,
  width: undefined,
  channels: 1,
  kind: 'mask',
  fullImage: false,
});

/**
 * A trigger from raw arrays, e.g. a mask and pattern reversed by Neural
 * Cleanse. The arrays are copied and validated.
 *
 * @param options - {@link CustomTriggerOptions}.
 * @returns A validated trigger.
 * @throws {@link InvalidArgumentError}, {@link ShapeError} or NonFiniteError on bad arrays.
 * @example
 * ```ts
 * const t = triggers.custom({ pattern: [1, 1, 1, 1], mask: [1, 0, 0, 1], height: 2, width: 2 });
 * ```
 */
export function custom(options: CustomTriggerOptions): Trigger {
  const fn = 'triggers.custom';
  const o = resolveOptions(fn, CUSTOM_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.height', o.height);
  assertPositiveInteger(fn, 'options.width', o.width);
  assertPositiveInteger(fn, 'options.channels', o.channels);
  assertOneOf(fn, 'options.kind', o.kind, ['mask', 'additive'] as const);
  if (typeof o.fullImage !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.fullImage', value: o.fullImage }, 'must be a boolean');
  }
  const size = o.height * o.width * o.channels;
  const toArray = (arg: 'pattern' | 'mask', v: unknown, allowPlane: boolean): Float32Array => {
    if (!(v instanceof Float32Array) && !Array.isArray(v)) {
      throw new InvalidArgumentError({ fn, arg: `options.${arg}`, value: v }, 'must be a Float32Array or number[]');
    }
    const a = v as ArrayLike<number>;
    const plane = o.height! * o.width!;
    if (a.length !== size && !(allowPlane && a.length === plane)) {
      throw new ShapeError(
        { fn, arg: `options.${arg}`, value: v },
        `must hold ${size} values (height * width * channels)${allowPlane ? ` or ${plane} (height * width)` : ''}`,
      );
    }
    assertUnitValues(fn, `options.${arg}`, a);
    if (a.length === size) return Float32Array.from(a);
    const out = new Float32Array(size);
    for (let i = 0; i < plane; i++) for (let ch = 0; ch < o.channels!; ch++) out[i * o.channels! + ch] = a[i]!;
    return out;
  };
  const pat = toArray('pattern', o.pattern, false);
  const mask = toArray('mask', o.mask, true);
  return makeTrigger({
    kind: o.kind,
    name: 'custom',
    height: o.height,
    width: o.width,
    channels: o.channels,
    pattern: pat,
    mask,
    fullImage: o.fullImage,
    params: { height: o.height, width: o.width },
  });
}
