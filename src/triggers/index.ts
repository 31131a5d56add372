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
  BLEND_DEFAULTS,
  CHECKERBOARD_DEFAULTS,
  CUSTOM_DEFAULTS,
  IMAGE_PATCH_DEFAULTS,
  NOISE_IMAGE_DEFAULTS,
  PATTERN_DEFAULTS,
  REFLECTION_DEFAULTS,
  SQUARE_DEFAULTS,
  artPixelPattern,
  blend,
  checkerboard,
  custom,
  gaussianKernel1d,
  imagePatch,
  noiseImage,
  pattern,
  reflection,
  square,
} from './constructors.js';
export type {
  ArtPixelPatternOptions,
  BlendOptions,
  CheckerboardOptions,
  CustomTriggerOptions,
  ImageInput,
  ImagePatchOptions,
  NoiseImageOptions,
  PatternOptions,
  ReflectionModel,
  ReflectionOptions,
  SquareOptions,
} from './constructors.js';
export { CORNERS, STAMP_DEFAULTS, stamp, stampArray } from './stamp.js';
export type { Corner, Placement, StampOptions } from './stamp.js';
export { assertTrigger } from './trigger.js';
export type { Trigger, TriggerKind, TriggerName } from './trigger.js';
