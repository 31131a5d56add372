/**
 * Patch triggers (BadNets, Gu et al. 2017): a square, a pixel pattern, ART's
 * pixel pattern, a checkerboard, an image patch.
 *
 * @packageDocumentation
 */
import { assertFraction, assertPositiveInteger } from '../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import {
  type ImageInput,
  type OptionDefaults,
  type ParsedImage,
  checkUnit,
  parseImage,
  resolveColour,
  resolveSize,
} from './image-input.js';
import { makeTrigger, type Trigger } from './trigger.js';

// ---------------------------------------------------------------------------
// square

/** Options of {@link square}. */
export interface SquareOptions {
  /** Side in pixels, or `[height, width]` for a rectangle. @default 4 */
  readonly size?: number | readonly [number, number];
  /** Pixel value in [0, 1], or one value per channel (e.g. yellow `[1, 1, 0]`). @default 1 (white) */
  readonly value?: number | readonly number[];
  /** Channels; inferred from `value` when it is an array, else 1. @default undefined */
  readonly channels?: number | undefined;
}

/**
 * Defaults of {@link square}: a 4×4 white square, the trigger of the
 * de-trigger autoencoder paper (Kwon) and the "big square" of Milakovic &
 * Mayer. See docs/attacks/badnets.md.
 */
export const SQUARE_DEFAULTS: OptionDefaults<SquareOptions> = Object.freeze({
  size: 4,
  value: 1,
  channels: undefined,
});

/**
 * An opaque solid square (BadNets' patch trigger): every pixel of the window
 * is replaced by `value`.
 *
 * @param options - {@link SquareOptions}.
 * @returns A `'mask'` trigger with an all-ones mask.
 * @throws {@link InvalidArgumentError} for a non-positive size or a value outside [0, 1];
 *   {@link ShapeError} when `value` has the wrong number of channels.
 * @example
 * ```ts
 * const white = triggers.square({ size: 3 });
 * const yellow = triggers.square({ size: 4, value: [1, 1, 0] }); // 3 channels
 * ```
 */
export function square(options?: SquareOptions): Trigger {
  const fn = 'triggers.square';
  const o = resolveOptions(fn, SQUARE_DEFAULTS, options);
  const [h, w] = resolveSize(fn, 'options.size', o.size);
  const colour = resolveColour(fn, 'options.value', o.value, o.channels);
  const c = colour.length;
  const pattern = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) pattern[i * c + ch] = colour[ch]!;
  return makeTrigger({
    kind: 'mask',
    name: 'square',
    height: h,
    width: w,
    channels: c,
    pattern,
    mask: new Float32Array(h * w * c).fill(1),
    fullImage: false,
    params: { height: h, width: w, value: colour },
  });
}

// ---------------------------------------------------------------------------
// pattern

/** Options of {@link pattern}. */
export interface PatternOptions {
  /**
   * The pattern, `[height][width]`, values in [0, 1] (0/1 for binary patterns
   * such as TrojanNet's 4×4 triggers, grey levels allowed). Required.
   */
  readonly pattern?: readonly (readonly number[])[];
  /** Colour that a cell value scales: pixel = cell × colour[channel]. @default 1 */
  readonly color?: number | readonly number[];
  /** Channels; inferred from `color` when it is an array, else 1. @default undefined */
  readonly channels?: number | undefined;
  /**
   * When true, cells equal to 0 are transparent (mask 0: the image shows
   * through), as in ART's `add_pattern_bd`; when false the whole window is
   * opaque, as in TrojanNet (0 cells are painted black). @default false
   */
  readonly transparentZeros?: boolean;
}

/** Defaults of {@link pattern}. */
export const PATTERN_DEFAULTS: OptionDefaults<PatternOptions> = Object.freeze({
  pattern: undefined,
  color: 1,
  channels: undefined,
  transparentZeros: false,
});

/**
 * A pixel-pattern trigger from a 2-D array (e.g. a TrojanNet 4×4 0/1 pattern,
 * a BadNets pattern).
 *
 * @param options - {@link PatternOptions}; `pattern` is required.
 * @returns A `'mask'` trigger of the pattern's size.
 * @throws {@link InvalidArgumentError} when `pattern` is missing, ragged, or
 *   has values outside [0, 1]; {@link ShapeError} for a colour/channel mismatch.
 * @example
 * ```ts
 * const t = triggers.pattern({ pattern: [[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1]] });
 * ```
 */
export function pattern(options: PatternOptions): Trigger {
  const fn = 'triggers.pattern';
  const o = resolveOptions(fn, PATTERN_DEFAULTS, options);
  if (o.pattern === undefined) {
    throw new InvalidArgumentError({ fn, arg: 'options.pattern', value: undefined }, 'is required');
  }
  const colour = resolveColour(fn, 'options.color', o.color, o.channels);
  const transparent = o.transparentZeros;
  if (typeof transparent !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: 'options.transparentZeros', value: transparent }, 'must be a boolean');
  }
  const grey = parseImage(fn, 'options.pattern', o.pattern, undefined, undefined, undefined);
  if (grey.channels !== 1) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.pattern', value: o.pattern },
      'must be a 2-D array [height][width]; give colour through options.color',
    );
  }
  const c = colour.length;
  const n = grey.height * grey.width;
  const pat = new Float32Array(n * c);
  const mask = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const v = grey.data[i]!;
    for (let ch = 0; ch < c; ch++) {
      pat[i * c + ch] = v * colour[ch]!;
      mask[i * c + ch] = transparent && v === 0 ? 0 : 1;
    }
  }
  return makeTrigger({
    kind: 'mask',
    name: 'pattern',
    height: grey.height,
    width: grey.width,
    channels: c,
    pattern: pat,
    mask,
    fullImage: false,
    params: { height: grey.height, width: grey.width, color: colour, transparentZeros: transparent },
  });
}

/**
 * ART's `add_pattern_bd` pattern (3×3, four pixels set, others transparent):
 * ```
 * 0 0 1
 * 0 1 0
 * 1 0 1
 * ```
 * Stamped at `'bottom-right'` with the default margin 1 it sets exactly the
 * pixels ART's `add_pattern_bd(x, distance=2)` sets.
 */
export const ART_PIXEL_PATTERN: readonly (readonly number[])[] = Object.freeze([
  Object.freeze([0, 0, 1]),
  Object.freeze([0, 1, 0]),
  Object.freeze([1, 0, 1]),
]);

/** Options of {@link artPixelPattern}. */
export interface ArtPixelPatternOptions {
  /** Pixel value (ART `pixel_value`), or one per channel. @default 1 */
  readonly value?: number | readonly number[];
  /** Channels; inferred from `value` when it is an array, else 1. @default undefined */
  readonly channels?: number | undefined;
}

/** Defaults of {@link artPixelPattern} (ART `pixel_value=1`). */
export const ART_PIXEL_PATTERN_DEFAULTS: OptionDefaults<ArtPixelPatternOptions> = Object.freeze({
  value: 1,
  channels: undefined,
});

/**
 * The 4-pixel BadNets-style pattern of IBM ART's `add_pattern_bd`
 * ({@link ART_PIXEL_PATTERN}); zero cells are transparent.
 *
 * @param options - {@link ArtPixelPatternOptions}.
 * @returns A 3×3 `'mask'` trigger whose mask is 1 on the four set pixels.
 * @throws {@link InvalidArgumentError} for a value outside [0, 1].
 * @example
 * ```ts
 * const x2 = stamp(x, triggers.artPixelPattern()); // == ART add_pattern_bd(x, distance=2, pixel_value=1)
 * ```
 */
export function artPixelPattern(options?: ArtPixelPatternOptions): Trigger {
  const fn = 'triggers.artPixelPattern';
  const o = resolveOptions(fn, ART_PIXEL_PATTERN_DEFAULTS, options);
  const colour = resolveColour(fn, 'options.value', o.value, o.channels);
  return pattern({ pattern: ART_PIXEL_PATTERN, color: colour, transparentZeros: true });
}

// ---------------------------------------------------------------------------
// checkerboard

/** Options of {@link checkerboard}. */
export interface CheckerboardOptions {
  /** Side in pixels, or `[height, width]`. @default 4 */
  readonly size?: number | readonly [number, number];
  /** Side of one checker cell in pixels. @default 1 */
  readonly cellSize?: number;
  /** Grey values of the two cells; the top-left cell takes the first. @default [1, 0] */
  readonly values?: readonly [number, number];
  /** Channels (the grey values are replicated). @default 1 */
  readonly channels?: number;
}

/** Defaults of {@link checkerboard}: a 4×4 white/black board of 1-pixel cells. */
export const CHECKERBOARD_DEFAULTS: OptionDefaults<CheckerboardOptions> = Object.freeze({
  size: 4,
  cellSize: 1,
  values: Object.freeze([1, 0]) as unknown as readonly [number, number],
  channels: 1,
});

/**
 * An opaque checkerboard (the "black-white squares at the bottom-right
 * corner" trigger of BadNets as drawn in Liu et al. 2020, Fig. 1A).
 *
 * @param options - {@link CheckerboardOptions}.
 * @returns A `'mask'` trigger with an all-ones mask.
 * @throws {@link InvalidArgumentError} for non-positive sizes or values outside [0, 1].
 * @example
 * ```ts
 * const t = triggers.checkerboard({ size: 3 }); // 1 0 1 / 0 1 0 / 1 0 1
 * ```
 */
export function checkerboard(options?: CheckerboardOptions): Trigger {
  const fn = 'triggers.checkerboard';
  const o = resolveOptions(fn, CHECKERBOARD_DEFAULTS, options);
  const [h, w] = resolveSize(fn, 'options.size', o.size);
  assertPositiveInteger(fn, 'options.cellSize', o.cellSize);
  assertPositiveInteger(fn, 'options.channels', o.channels);
  const values = o.values as unknown;
  if (!Array.isArray(values) || values.length !== 2) {
    throw new InvalidArgumentError({ fn, arg: 'options.values', value: values }, 'must be a pair [a, b]');
  }
  checkUnit(fn, 'options.values[0]', values[0]);
  checkUnit(fn, 'options.values[1]', values[1]);
  const c = o.channels;
  const pat = new Float32Array(h * w * c);
  for (let r = 0; r < h; r++) {
    for (let col = 0; col < w; col++) {
      const parity = (Math.floor(r / o.cellSize) + Math.floor(col / o.cellSize)) % 2;
      const v = parity === 0 ? values[0] : values[1];
      for (let ch = 0; ch < c; ch++) pat[(r * w + col) * c + ch] = v;
    }
  }
  return makeTrigger({
    kind: 'mask',
    name: 'checkerboard',
    height: h,
    width: w,
    channels: c,
    pattern: pat,
    mask: new Float32Array(h * w * c).fill(1),
    fullImage: false,
    params: { height: h, width: w, cellSize: o.cellSize, values: [values[0], values[1]] },
  });
}

// ---------------------------------------------------------------------------
// imagePatch

/** Options of {@link imagePatch}. */
export interface ImagePatchOptions {
  /** The patch image (see {@link ImageInput}). Required. */
  readonly image?: ImageInput;
  /** Patch height; required when `image` is a Float32Array. @default undefined */
  readonly height?: number | undefined;
  /** Patch width; required when `image` is a Float32Array. @default undefined */
  readonly width?: number | undefined;
  /** Patch channels; inferred from `image`. @default undefined */
  readonly channels?: number | undefined;
  /**
   * Per-pixel opacity in [0, 1] (`[height][width]` array or Float32Array of
   * `height * width` or `height * width * channels` values), like an alpha
   * channel. @default undefined (opaque)
   */
  readonly mask?: ImageInput | undefined;
  /** Global blend factor multiplying the mask (ART `insert_image` `blend`). @default 1 */
  readonly alpha?: number;
}

/** Defaults of {@link imagePatch}: opaque, `alpha` 1. */
export const IMAGE_PATCH_DEFAULTS: OptionDefaults<ImagePatchOptions> = Object.freeze({
  image: undefined,
  height: undefined,
  width: undefined,
  channels: undefined,
  mask: undefined,
  alpha: 1,
});

/**
 * An image patch trigger (Chen et al.'s accessory injection, ART
 * `insert_image`): the patch replaces the window, weighted by
 * `alpha × mask`.
 *
 * @param options - {@link ImagePatchOptions}; `image` is required.
 * @returns A `'mask'` trigger of the patch's size.
 * @throws {@link InvalidArgumentError} for values outside [0, 1] or a missing image;
 *   {@link ShapeError} when dimensions disagree.
 * @example
 * ```ts
 * const t = triggers.imagePatch({ image: [[0, 1], [1, 0]], alpha: 0.8 });
 * ```
 */
export function imagePatch(options: ImagePatchOptions): Trigger {
  const fn = 'triggers.imagePatch';
  const o = resolveOptions(fn, IMAGE_PATCH_DEFAULTS, options);
  if (o.image === undefined)
    throw new InvalidArgumentError({ fn, arg: 'options.image', value: undefined }, 'is required');
  assertFraction(fn, 'options.alpha', o.alpha);
  const img = parseImage(fn, 'options.image', o.image, o.height, o.width, o.channels);
  const mask = resolveMask(fn, o.mask, img, o.alpha ?? 1);
  return makeTrigger({
    kind: 'mask',
    name: 'image',
    height: img.height,
    width: img.width,
    channels: img.channels,
    pattern: img.data,
    mask,
    fullImage: false,
    params: { height: img.height, width: img.width, alpha: o.alpha ?? 1 },
  });
}

function resolveMask(fn: string, mask: unknown, img: ParsedImage, alpha: number): Float32Array {
  const { height: h, width: w, channels: c } = img;
  const out = new Float32Array(h * w * c);
  if (mask === undefined) return out.fill(alpha);
  let m: ParsedImage;
  if (mask instanceof Float32Array) {
    if (mask.length !== h * w && mask.length !== h * w * c) {
      throw new ShapeError(
        { fn, arg: 'options.mask', value: mask },
        `must hold height * width (${h * w}) or height * width * channels (${h * w * c}) values`,
      );
    }
    m = parseImage(fn, 'options.mask', mask, h, w, mask.length / (h * w));
  } else {
    m = parseImage(fn, 'options.mask', mask, h, w, undefined);
  }
  if (m.channels !== 1 && m.channels !== c) {
    throw new ShapeError({ fn, arg: 'options.mask', value: mask }, `must have 1 or ${c} channels`);
  }
  for (let i = 0; i < h * w; i++) {
    for (let ch = 0; ch < c; ch++) out[i * c + ch] = alpha * m.data[i * m.channels + (m.channels === 1 ? 0 : ch)]!;
  }
  return out;
}
