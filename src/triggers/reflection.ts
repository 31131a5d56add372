/**
 * Reflection triggers (Liu et al., ECCV 2020, "Reflection Backdoor"): the
 * three reflection models.
 *
 * @packageDocumentation
 */
import { assertFiniteNumber, assertFraction, assertInteger, assertOneOf } from '../core/checks.js';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import { type ImageInput, type OptionDefaults, type ParsedImage, parseImage } from './image-input.js';
import { makeTrigger, type Trigger, type TriggerKind } from './trigger.js';

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
