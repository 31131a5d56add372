/**
 * TrojanNet (Tang et al., KDD 2020, "An Embarrassingly Simple Approach for
 * Trojan Attack in Deep Neural Networks"; thesis of Wang, §5): a training-free
 * trojan. A tiny MLP is trained, once and independently of any host, to
 * recognise 4,368 binary 4×4 trigger patterns (5 of 16 pixels off) and to stay
 * silent on everything else; it is then wired next to a host classifier, whose
 * weights are never touched: the MLP reads one 4×4 patch of the input, and its
 * outputs for the chosen patterns are added (amplified) to the host's
 * probabilities at the target labels before a sharpened softmax.
 *
 * - {@link patterns} / {@link pattern}: the trigger family, in a fixed order.
 * - {@link train}: trains the MLP with on-the-fly synthesised batches.
 * - {@link evaluate}: pattern recognition accuracy and silence on clean patches.
 * - {@link insert}: the trojaned model (a new tfjs-layers model; the host is copied).
 * - {@link stampPattern}, {@link randomPatches}: helpers for tests and benchmarks.
 *
 * Parts: `patterns.ts`, `train.ts` (with `batches.ts`, `fused-head.ts`,
 * `refine.ts`), `evaluate.ts`, `insert.ts`, `stamp.ts`, and the custom
 * layers of the trojaned model in `layers.ts`.
 *
 * @packageDocumentation
 */
export { PATTERN_SIDE, PATTERN_PIXELS, PATTERN_OFF_PIXELS, NUM_PATTERNS, pattern, patterns } from './patterns.js';
export {
  TRAIN_DEFAULTS,
  type TrojanNetHistory,
  type TrojanNetModule,
  type TrainOptions,
  type PatchPosition,
} from './types.js';
export { train, fromModel } from './train.js';
export {
  evaluate,
  randomPatches,
  EVALUATE_DEFAULTS,
  RANDOM_PATCHES_DEFAULTS,
  type EvaluateOptions,
  type TrojanNetEvaluation,
  type RandomPatchesOptions,
} from './evaluate.js';
export { insert, INSERT_DEFAULTS, type HostOutput, type InsertOptions } from './insert.js';
export { stampPattern } from './stamp.js';
export { registerTrojanNetLayers } from './layers.js';
