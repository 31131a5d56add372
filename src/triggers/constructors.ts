/**
 * Trigger constructors: BadNets squares and pixel patterns, checkerboards,
 * image patches, Chen et al.'s blended injection and Liu et al.'s reflection
 * backdoor. Each returns a frozen, validated {@link Trigger}; nothing here
 * touches tensors.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { makeRng } from '../core/rng.js';
import {
  assertFiniteNumber,
  assertFraction,
  assertInteger,
  assertOneOf,
  assertPositiveInteger,
} from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertUnitValues, makeTrigger, type Trigger, type TriggerKind } from './trigger.js';

/**
 * An image given to a constructor: a grey 2-D array `[height][width]`, a
 * colour 3-D array `[height][width][channels]`, or a row-major HWC
 * `Float32Array` (then `height` and `width` must be given). Values in [0, 1].
 */
export type ImageInput = Float32Array | readonly (readonly number[])[] | readonly (readonly (readonly number[])[])[];

/** Every option key present, with its (possibly undefined) default. */
export type OptionDefaults<T> = { readonly [K in keyof Required<T>]: T[K] };

/** A parsed image: HWC values and dimensions. */
interface ParsedImage {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * Parses an {@link ImageInput} into a fresh HWC Float32Array, checking the
 * dimensions against the optional `height`, `width`, `channels`. A grey 2-D
 * array with `channels > 1` is replicated over the channels.
 */
function parseImage(
  fn: string,
  arg: string,
  image: unknown,
  height: number | undefined,
  width: number | undefined,
  channels: number | undefined,
): ParsedImage {
  if (height !== undefined) assertPositiveInteger(fn, 'options.height', height);
  if (width !== undefined) assertPositiveInteger(fn, 'options.width', width);
  if (channels !== undefined) assertPositiveInteger(fn, 'options.channels', channels);
  if (image instanceof Float32Array) {
    if (height === undefined || width === undefined) {
      throw new InvalidArgumentError(
        { fn, arg: height === undefined ? 'options.height' : 'options.width', value: undefined },
        `is required when ${arg} is a Float32Array`,
      );
    }
    const c = channels ?? image.length / (height * width);
    if (!Number.isInteger(c) || c < 1 || image.length !== height * width * c) {
      throw new ShapeError(
        { fn, arg, value: image },
        `must hold height * width * channels values (height ${height}, width ${width}${channels === undefined ? '' : `, channels ${channels}`})`,
      );
    }
    assertUnitValues(fn, arg, image);
    return { data: Float32Array.from(image), height, width, channels: c };
  }
  if (!Array.isArray(image) || image.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg, value: image },
      'must be a non-empty 2-D array [height][width], a 3-D array [height][width][channels] or a Float32Array',
    );
  }
  const rows = image as readonly unknown[];
  const h = rows.length;
  const first = rows[0];
  if (!Array.isArray(first) || first.length === 0) {
    throw new InvalidArgumentError({ fn, arg: `${arg}[0]`, value: first }, 'must be a non-empty array (one image row)');
  }
  const w = first.length;
  const colour = Array.isArray(first[0]);
  const c0 = colour ? (first[0] as unknown[]).length : 1;
  if (colour && c0 === 0) {
    throw new InvalidArgumentError(
      { fn, arg: `${arg}[0][0]`, value: first[0] },
      'must be a non-empty array of channel values',
    );
  }
  const outC = colour ? c0 : (channels ?? 1);
  if (colour && channels !== undefined && channels !== c0) {
    throw new ShapeError({ fn, arg, value: image }, `has ${c0} channels but options.channels is ${channels}`);
  }
  if (height !== undefined && height !== h) {
    throw new ShapeError({ fn, arg, value: image }, `has ${h} rows but options.height is ${height}`);
  }
  if (width !== undefined && width !== w) {
    throw new ShapeError({ fn, arg, value: image }, `has ${w} columns but options.width is ${width}`);
  }
  const data = new Float32Array(h * w * outC);
  for (let r = 0; r < h; r++) {
    const row = rows[r];
    if (!Array.isArray(row) || row.length !== w) {
      throw new ShapeError(
        { fn, arg: `${arg}[${r}]`, value: row },
        `must be an array of ${w} values (rows must be equally long)`,
      );
    }
    for (let col = 0; col < w; col++) {
      const cell: unknown = row[col];
      if (colour) {
        if (!Array.isArray(cell) || cell.length !== c0) {
          throw new ShapeError(
            { fn, arg: `${arg}[${r}][${col}]`, value: cell },
            `must be an array of ${c0} channel values`,
          );
        }
        for (let ch = 0; ch < c0; ch++) {
          const v: unknown = cell[ch];
          checkUnit(fn, `${arg}[${r}][${col}][${ch}]`, v);
          data[(r * w + col) * outC + ch] = v;
        }
      } else {
        checkUnit(fn, `${arg}[${r}][${col}]`, cell);
        for (let ch = 0; ch < outC; ch++) data[(r * w + col) * outC + ch] = cell;
      }
    }
  }
  return { data, height: h, width: w, channels: outC };
}

function checkUnit(fn: string, arg: string, v: unknown): asserts v is number {
  assertFiniteNumber(fn, arg, v);
  if (v < 0 || v > 1) throw new InvalidArgumentError({ fn, arg, value: v }, 'must be in [0, 1]');
}

/** Resolves a grey value or per-channel colour into one value per channel. */
function resolveColour(fn: string, arg: string, value: unknown, channels: number | undefined): number[] {
  if (channels !== undefined) assertPositiveInteger(fn, 'options.channels', channels);
  if (typeof value === 'number') {
    checkUnit(fn, arg, value);
    return new Array<number>(channels ?? 1).fill(value);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      'must be a number in [0, 1] or a non-empty array with one per channel',
    );
  }
  if (channels !== undefined && value.length !== channels) {
    throw new ShapeError({ fn, arg, value }, `must have one value per channel (options.channels is ${channels})`);
  }
  return (value as unknown[]).map((v, i) => {
    checkUnit(fn, `${arg}[${i}]`, v);
    return v;
  });
}

/** Resolves `size` (a number or `[height, width]`). */
function resolveSize(fn: string, arg: string, size: unknown): [number, number] {
  if (Array.isArray(size)) {
    if (size.length !== 2)
      throw new InvalidArgumentError({ fn, arg, value: size }, 'must be a number or [height, width]');
    assertPositiveInteger(fn, `${arg}[0]`, size[0]);
    assertPositiveInteger(fn, `${arg}[1]`, size[1]);
    return [size[0], size[1]];
  }
  assertPositiveInteger(fn, arg, size);
  return [size, size];
}

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

// ---------------------------------------------------------------------------
// reflection

/** Reflection models of Liu et al. 2020 (Refool). */
export type ReflectionModel = 'in-focus' | 'out-of-focus' | 'ghost';

/** Options of {@link reflection}. */
export interface ReflectionOptions {
  /** The reflected image `x_R` (see {@link ImageInput}), the images' size. Required. */
  readonly image?: ImageInput;
  /** Image height; required when `image` is a Float32Array. @default undefined */
  readonly height?: number | undefined;
  /** Image width; required when `image` is a Float32Array. @default undefined */
  readonly width?: number | undefined;
  /** Image channels; inferred from `image`. @default undefined */
  readonly channels?: number | undefined;
  /**
   * Reflection model: `'in-focus'` (both layers in the depth of field, kernel
   * = intensity), `'out-of-focus'` (Gaussian kernel of std `sigma`),
   * `'ghost'` (two-pulse kernel, offset `offset`, weights `ghostAlpha` and
   * `1 − ghostAlpha`). @default 'out-of-focus'
   */
  readonly model?: ReflectionModel;
  /** Reflection intensity α multiplying the reflection layer, in [0, 1]. @default 0.25 */
  readonly alpha?: number;
  /** Gaussian std in pixels (`'out-of-focus'`). @default 3 */
  readonly sigma?: number;
  /** Ghost shift `[rows, cols]` (`'ghost'`), non-negative integers. @default [5, 5] */
  readonly offset?: readonly [number, number];
  /** Weight of the unshifted copy in the ghost kernel (`'ghost'`), in [0, 1]. @default 0.5 */
  readonly ghostAlpha?: number;
}

/**
 * Defaults of {@link reflection}. Liu et al.'s reference code draws its
 * parameters at random per image; ours are fixed at the middle of its ranges:
 * reflection weight `1 − α_t ∈ [0.05, 0.45]` → 0.25, `σ ∈ [1, 5]` → 3,
 * ghost offset `∈ [3, 8]` → 5, ghost weight `∈ [0.15, 0.85]` → 0.5; the
 * out-of-focus model is drawn in 51% of its cases (`ghost_rate` 0.49), so it
 * is the default model. See docs/attacks/reflection.md.
 */
export const REFLECTION_DEFAULTS: OptionDefaults<ReflectionOptions> = Object.freeze({
  image: undefined,
  height: undefined,
  width: undefined,
  channels: undefined,
  model: 'out-of-focus',
  alpha: 0.25,
  sigma: 3,
  offset: Object.freeze([5, 5]) as unknown as readonly [number, number],
  ghostAlpha: 0.5,
});

const REFLECTION_MODELS: readonly ReflectionModel[] = ['in-focus', 'out-of-focus', 'ghost'];

/** Mirror index without repeating the edge (OpenCV BORDER_REFLECT_101). */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const j = ((i % period) + period) % period;
  return j < n ? j : period - j;
}

/**
 * Normalised 1-D Gaussian kernel of std `sigma` and size `2·ceil(2σ) + 1`
 * (the size Liu et al.'s reference code passes to OpenCV); used by the
 * out-of-focus {@link reflection} model.
 *
 * @param sigma - Standard deviation in pixels, > 0 (not validated here).
 * @returns The kernel weights (summing to 1), centre at index `ceil(2σ)`.
 * @example
 * ```ts
 * triggers.gaussianKernel1d(0.5); // Float64Array(3) [0.107, 0.787, 0.107]
 * ```
 */
export function gaussianKernel1d(sigma: number): Float64Array {
  const radius = Math.ceil(2 * sigma);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** Separable Gaussian blur of an HWC image, reflect-101 borders. */
function gaussianBlur(img: ParsedImage, sigma: number): Float64Array {
  const { data, height: h, width: w, channels: c } = img;
  const k = gaussianKernel1d(sigma);
  const radius = (k.length - 1) / 2;
  const tmp = new Float64Array(h * w * c);
  for (let r = 0; r < h; r++) {
    for (let col = 0; col < w; col++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) s += k[t + radius]! * data[(r * w + reflect101(col + t, w)) * c + ch]!;
        tmp[(r * w + col) * c + ch] = s;
      }
    }
  }
  const out = new Float64Array(h * w * c);
  for (let r = 0; r < h; r++) {
    for (let col = 0; col < w; col++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) s += k[t + radius]! * tmp[(reflect101(r + t, h) * w + col) * c + ch]!;
        out[(r * w + col) * c + ch] = s;
      }
    }
  }
  return out;
}

/**
 * A reflection trigger (Liu et al. 2020, "Reflection Backdoor", Refool).
 * The reflection layer is `R = α · (x_R ⊗ k)` with `k` set by `model`:
 *
 * - `'in-focus'`: `k = δ` (`R = α·x_R`);
 * - `'out-of-focus'`: `k` a normalised Gaussian of std `sigma`, size
 *   `2·ceil(2σ)+1`, mirrored borders;
 * - `'ghost'`: `k = ghostAlpha·δ(0,0) + (1 − ghostAlpha)·δ(offset)`, i.e. the
 *   reflection plus a copy shifted down/right by `offset`, zero filled.
 *
 * The trigger is additive: {@link stamp} computes `x' = clip(x + R, 0, 1)`.
 * `R` is precomputed here, so stamping costs one add.
 *
 * @param options - {@link ReflectionOptions}; `image` is required.
 * @returns A full-image `'additive'` trigger with `pattern = R` and an all-ones mask.
 * @throws {@link InvalidArgumentError} for an unknown model, α or ghostAlpha
 *   outside [0, 1], a non-positive sigma, or an offset outside the image.
 * @example
 * ```ts
 * const t = triggers.reflection({ image: otherImage, height: 32, width: 32, model: 'ghost', offset: [3, 3] });
 * const x2 = stamp(x, t); // x + R, clipped to [0, 1]
 * ```
 */
export function reflection(options: ReflectionOptions): Trigger {
  const fn = 'triggers.reflection';
  const o = resolveOptions(fn, REFLECTION_DEFAULTS, options);
  if (o.image === undefined)
    throw new InvalidArgumentError({ fn, arg: 'options.image', value: undefined }, 'is required');
  assertOneOf(fn, 'options.model', o.model, REFLECTION_MODELS);
  assertFraction(fn, 'options.alpha', o.alpha);
  assertFiniteNumber(fn, 'options.sigma', o.sigma);
  if (o.sigma <= 0) throw new InvalidArgumentError({ fn, arg: 'options.sigma', value: o.sigma }, 'must be > 0');
  assertFraction(fn, 'options.ghostAlpha', o.ghostAlpha);
  const offset = o.offset as unknown;
  if (!Array.isArray(offset) || offset.length !== 2) {
    throw new InvalidArgumentError({ fn, arg: 'options.offset', value: offset }, 'must be [rows, cols]');
  }
  const img = parseImage(fn, 'options.image', o.image, o.height, o.width, o.channels);
  assertInteger(fn, 'options.offset[0]', offset[0], 0, img.height - 1);
  assertInteger(fn, 'options.offset[1]', offset[1], 0, img.width - 1);
  const [dy, dx] = offset as [number, number];
  const { height: h, width: w, channels: c } = img;
  const alpha = o.alpha;
  const ga = o.ghostAlpha;
  let layer: ArrayLike<number>;
  if (o.model === 'in-focus') {
    layer = img.data;
  } else if (o.model === 'out-of-focus') {
    layer = gaussianBlur(img, o.sigma);
  } else {
    const g = new Float64Array(h * w * c);
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++) {
        for (let ch = 0; ch < c; ch++) {
          const i = (r * w + col) * c + ch;
          const shifted = r >= dy && col >= dx ? img.data[((r - dy) * w + (col - dx)) * c + ch]! : 0;
          g[i] = ga * img.data[i]! + (1 - ga) * shifted;
        }
      }
    }
    layer = g;
  }
  const pat = new Float32Array(h * w * c);
  // Kernels sum to 1 and x_R is in [0, 1], so R is in [0, α]; min/max only
  // absorb floating-point rounding.
  for (let i = 0; i < pat.length; i++) pat[i] = Math.min(1, Math.max(0, alpha * layer[i]!));
  const kind: TriggerKind = 'additive';
  return makeTrigger({
    kind,
    name: 'reflection',
    height: h,
    width: w,
    channels: c,
    pattern: pat,
    mask: new Float32Array(h * w * c).fill(1),
    fullImage: true,
    params: { height: h, width: w, model: o.model, alpha, sigma: o.sigma, offset: [dy, dx], ghostAlpha: ga },
  });
}

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
