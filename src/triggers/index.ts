/**
 * Triggers: constructors (`square`, `pattern`, `artPixelPattern`,
 * `checkerboard`, `imagePatch`, `blend`, `reflection`, `custom`,
 * `noiseImage`) and stamping (`stamp`, `stampArray`).
 *
 * The package barrel exposes this module as the `triggers` namespace and
 * re-exports `stamp` at the top level.
 *
 * @packageDocumentation
 */
export {
  ART_PIXEL_PATTERN,
  ART_PIXEL_PATTERN_DEFAULTS,
  CHECKERBOARD_DEFAULTS,
  IMAGE_PATCH_DEFAULTS,
  PATTERN_DEFAULTS,
  SQUARE_DEFAULTS,
  artPixelPattern,
  checkerboard,
  imagePatch,
  pattern,
  square,
} from './patches.js';
export { BLEND_DEFAULTS, NOISE_IMAGE_DEFAULTS, blend, noiseImage } from './blend.js';
export { CUSTOM_DEFAULTS, custom } from './custom.js';
export { REFLECTION_DEFAULTS, gaussianKernel1d, reflection } from './reflection.js';
export type {
  ArtPixelPatternOptions,
  CheckerboardOptions,
  ImagePatchOptions,
  PatternOptions,
  SquareOptions,
} from './patches.js';
export type { BlendOptions, NoiseImageOptions } from './blend.js';
export type { CustomTriggerOptions } from './custom.js';
export type { ImageInput } from './image-input.js';
export type { ReflectionModel, ReflectionOptions } from './reflection.js';
export { CORNERS, STAMP_DEFAULTS, stamp, stampArray } from './stamp.js';
export type { Corner, Placement, StampOptions } from './stamp.js';
export { assertTrigger } from './trigger.js';
export type { Trigger, TriggerKind, TriggerName } from './trigger.js';
