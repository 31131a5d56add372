/**
 * Blended triggers (Chen et al. 2017, "Targeted Backdoor Attacks on Deep
 * Learning Systems Using Data Poisoning"): a whole-image key blended in, and
 * seeded noise keys.
 *
 * @packageDocumentation
 */
import { assertFraction, assertPositiveInteger } from '../core/checks.js';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import { makeRng } from '../core/rng.js';
import { type ImageInput, type OptionDefaults, parseImage } from './image-input.js';
import { makeTrigger, type Trigger } from './trigger.js';

// ---------------------------------------------------------------------------
// blend

/** Options of {@link blend}. */
export interface BlendOptions {
  /** The key image blended over the whole input (see {@link ImageInput}). Required. */
  readonly image?: ImageInput;
  /** Image height; required when `image` is a Float32Array. @default undefined */
  readonly height?: number | undefined;
  /** Image width; required when `image` is a Float32Array. @default undefined */
  readonly width?: number | undefined;
  /** Image channels; inferred from `image`. @default undefined */
  readonly channels?: number | undefined;
  /** Blend ratio α: `x' = α·k + (1 − α)·x` (Chen et al. 2017). @default 0.2 */
  readonly alpha?: number;
}

/** Defaults of {@link blend}: α = 0.2, Chen et al. 2017's blend ratio. */
export const BLEND_DEFAULTS: OptionDefaults<BlendOptions> = Object.freeze({
  image: undefined,
  height: undefined,
  width: undefined,
  channels: undefined,
  alpha: 0.2,
});

/**
 * Chen et al. 2017's blended injection: the key image `k` is blended over the
 * whole input, `x' = α·k + (1 − α)·x`. Full-image: it must have the images'
 * height and width (placement is ignored).
 *
 * @param options - {@link BlendOptions}; `image` is required (e.g. from {@link noiseImage}).
 * @returns A full-image `'mask'` trigger whose mask is `alpha` everywhere.
 * @throws {@link InvalidArgumentError} for `alpha` outside [0, 1] or image values outside [0, 1].
 * @example
 * ```ts
 * const key = triggers.noiseImage({ height: 28, width: 28, seed: 1 });
 * const t = triggers.blend({ image: key, height: 28, width: 28, alpha: 0.2 });
 * ```
 */
export function blend(options: BlendOptions): Trigger {
  const fn = 'triggers.blend';
  const o = resolveOptions(fn, BLEND_DEFAULTS, options);
  if (o.image === undefined)
    throw new InvalidArgumentError({ fn, arg: 'options.image', value: undefined }, 'is required');
  assertFraction(fn, 'options.alpha', o.alpha);
  const alpha = o.alpha ?? 0.2;
  const img = parseImage(fn, 'options.image', o.image, o.height, o.width, o.channels);
  return makeTrigger({
    kind: 'mask',
    name: 'blend',
    height: img.height,
    width: img.width,
    channels: img.channels,
    pattern: img.data,
    mask: new Float32Array(img.data.length).fill(alpha),
    fullImage: true,
    params: { height: img.height, width: img.width, alpha },
  });
}

// ---------------------------------------------------------------------------
// noiseImage

/** Options of {@link noiseImage}. */
export interface NoiseImageOptions {
  /** Height in pixels. Required. */
  readonly height?: number;
  /** Width in pixels. Required. */
  readonly width?: number;
  /** Channels. @default 1 */
  readonly channels?: number;
  /** Seed of the generator. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link noiseImage}. */
export const NOISE_IMAGE_DEFAULTS: OptionDefaults<NoiseImageOptions> = Object.freeze({
  height: undefined,
  width: undefined,
  channels: 1,
  seed: 0,
});

/**
 * A seeded uniform-noise image in [0, 1), HWC — Chen et al. 2017's "random
 * pattern" key for {@link blend}.
 *
 * @param options - {@link NoiseImageOptions}; `height` and `width` are required.
 * @returns A new Float32Array of `height * width * channels` values.
 * @throws {@link InvalidArgumentError} for non-positive sizes or a non-finite seed.
 * @example
 * ```ts
 * const key = triggers.noiseImage({ height: 28, width: 28, seed: 7 });
 * ```
 */
export function noiseImage(options: NoiseImageOptions): Float32Array {
  const fn = 'triggers.noiseImage';
  const o = resolveOptions(fn, NOISE_IMAGE_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.height', o.height);
  assertPositiveInteger(fn, 'options.width', o.width);
  assertPositiveInteger(fn, 'options.channels', o.channels);
  const rng = makeRng(o.seed ?? 0, fn);
  const out = new Float32Array(o.height * o.width * o.channels);
  for (let i = 0; i < out.length; i++) out[i] = rng.next();
  return out;
}
