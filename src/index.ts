/**
 * backdoor-kit: backdoor (trojan) attacks and defences for neural networks on
 * TensorFlow.js. Explicit named exports only; defences, attacks and helper
 * families are namespaces (`triggers.square(...)`, `poisoning.badNets(...)`).
 *
 * The tensor backend is the caller's: this package never imports a backend
 * or calls `tf.setBackend`.
 *
 * @packageDocumentation
 */

// core
export {
  BackdoorKitError,
  InvalidArgumentError,
  ShapeError,
  NonFiniteError,
  EmptyDataError,
  LabelError,
  LayerNotFoundError,
  CapabilityError,
  UnsupportedError,
  FormatError,
  DependencyError,
  AbortError,
  Rng,
  fromLayersModel,
  LayersModelClassifier,
  FROM_LAYERS_MODEL_DEFAULTS,
  FIT_DEFAULTS,
  activationsData,
  hasLayers,
  isMaskable,
  isTrainable,
  canUpdateMask,
  isPerturbable,
  requireCapabilities,
  PERTURBABLE_LAYER_CLASSES,
  lastHiddenLayer,
  convLayers,
  UnitMask,
  registerCustomLayers,
  predictProbabilities,
  validateLabeledData,
} from './core/index.js';
export type {
  BackdoorKitErrorCode,
  ErrorContext,
  CleanImages,
  Timing,
  LabeledData,
  ProgressEvent,
  ProgressCallback,
  LongRunningOptions,
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
  FromLayersModelOptions,
  ModelOutput,
  UnitMaskArgs,
} from './core/index.js';

// fast kernels
export { registerFastKernels, unregisterFastKernels, FAST_KERNELS } from './kernels/index.js';
export type { FastKernelBackend, FastKernelsInfo, FastKernelsRemoval } from './kernels/index.js';

// models, data, io
export * as models from './models/index.js';
export * as datasets from './data/index.js';
export {
  saveModel,
  loadModel,
  saveJson,
  loadJson,
  toJsonValue,
  SAVE_MODEL_DEFAULTS,
  LOAD_MODEL_DEFAULTS,
  DEFAULT_MAX_FILE_BYTES,
  SAVE_JSON_DEFAULTS,
} from './io/index.js';
export type { SaveModelOptions, LoadModelOptions, SaveJsonOptions } from './io/index.js';

// attacks
export * as triggers from './triggers/index.js';
export { stamp, stampArray } from './triggers/index.js';
export type { Trigger, TriggerKind, Placement, StampOptions } from './triggers/index.js';
export * as poisoning from './poisoning/index.js';
export type { PoisonedData, LabelMap, PoisonMode, RateOf, Injection, TriggeredTestSet } from './poisoning/index.js';
export * as trojanNet from './attacks/trojannet/index.js';

// defences
export * as activationClustering from './defences/data/activation-clustering/index.js';
export * as spectralSignatures from './defences/data/spectral-signatures.js';
export * as neuralCleanse from './defences/model/neural-cleanse/index.js';
export * as finePruning from './defences/model/fine-pruning.js';
export * as anp from './defences/model/anp.js';
export * as strip from './defences/input/strip.js';
export * as featureSqueezing from './defences/input/feature-squeezing.js';
export * as detriggerAutoencoder from './defences/input/detrigger-autoencoder.js';
export * as stats from './stats/index.js';

// metrics, evaluation, composition
export * as metrics from './metrics/index.js';
export {
  evaluate,
  evaluateFromLabels,
  evaluationTable,
  EVALUATE_DEFAULTS,
  EVALUATE_FROM_LABELS_DEFAULTS,
  EVALUATION_TABLE_DEFAULTS,
} from './evaluation/index.js';
export type {
  Evaluation,
  EvaluationInput,
  EvaluateOptions,
  ModelScores,
  Verdict,
  DetectionInput,
  LabelsInput,
  EvaluationTableOptions,
} from './evaluation/index.js';
export {
  runPipeline,
  pipeline,
  step,
  disposePipelineResult,
  PIPELINE_DEFAULTS,
  activationClusteringStep,
  spectralSignaturesStep,
  finePruningStep,
  anpStep,
  neuralCleanseStep,
  evaluationStep,
} from './pipeline/index.js';
export type {
  PipelineState,
  Step,
  StepContext,
  StepOutput,
  StepRecord,
  StepRecords,
  PipelineResult,
  PipelineOptions,
  EvaluationStepInput,
  ActivationClusteringStepOptions,
  ActivationClusteringStepReport,
  SpectralSignaturesStepOptions,
  SpectralSignaturesStepReport,
  FinePruningStepReport,
  AnpStepReport,
  NeuralCleanseStepOptions,
  NeuralCleanseStepReport,
} from './pipeline/index.js';
