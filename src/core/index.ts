/**
 * Core: the Classifier interface and adapters, data types, seeded RNG,
 * errors, validation, progress and batching.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export { Rng, makeRng } from './rng.js';
export type { CleanImages, Timing, LabeledData, ProgressEvent, ProgressCallback, LongRunningOptions } from './types.js';
export type {
  Classifier,
  LayeredClassifier,
  MaskableClassifier,
  TrainableClassifier,
  FullClassifier,
  MaskUpdatableClassifier,
  PerturbableClassifier,
  PerturbedForward,
  UnitCoefficients,
  CapabilityInterfaces,
  WithCapabilities,
  LayerInfo,
  LayerKind,
  ActivationOptions,
  FitOptions,
  FitHistory,
  Capability,
} from './classifier.js';
export {
  hasLayers,
  isMaskable,
  isTrainable,
  canUpdateMask,
  isPerturbable,
  assertClassifier,
  requireCapabilities,
  findLayer,
  lastHiddenLayer,
  convLayers,
} from './classifier.js';
export {
  fromLayersModel,
  activationsData,
  LayersModelClassifier,
  FROM_LAYERS_MODEL_DEFAULTS,
  FIT_DEFAULTS,
} from './layers-model.js';
export type { FromLayersModelOptions, ModelOutput } from './layers-model.js';
export { PERTURBABLE_LAYER_CLASSES } from './perturb.js';
export { UnitMask, registerCustomLayers } from './unit-mask-layer.js';
export type { UnitMaskArgs } from './unit-mask-layer.js';
export {
  DEFAULT_BATCH_SIZE,
  batchRanges,
  mapBatches,
  collectBatches,
  predictProbabilities,
  argmaxRows,
} from './batching.js';
export { throwIfAborted } from './progress.js';
export { validateLabeledData } from './validate.js';
