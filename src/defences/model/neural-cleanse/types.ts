/**
 * Options, defaults and result types of Neural Cleanse's detect, repair and
 * input filter.
 *
 * @packageDocumentation
 */
import { DEFAULT_BATCH_SIZE } from '../../../core/batching.js';
import type { Classifier } from '../../../core/classifier.js';
import type { ProgressCallback, Timing } from '../../../core/types.js';
import { COST_SCHEDULE_DEFAULTS, type CostScheduleOptions } from './cost-schedule.js';

/** Options of {@link detect}. */
export interface NeuralCleanseOptions extends CostScheduleOptions {
  /** Maximum optimisation steps per label (a step is `samplesPerStep` inputs, see the docs). @default 1000 */
  readonly steps?: number;
  /** Inputs per step: `floor(samplesPerStep / trainBatchSize)` mini-batches (the reference code's NB_SAMPLE). @default 1000 */
  readonly samplesPerStep?: number;
  /** Mini-batch size per label. @default 32 */
  readonly trainBatchSize?: number;
  /** Adam step size. @default 0.1 */
  readonly learningRate?: number;
  /** Adam β1. @default 0.5 */
  readonly beta1?: number;
  /** Adam β2. @default 0.9 */
  readonly beta2?: number;
  /** Anomaly-index threshold above which a label is flagged. @default 2 */
  readonly threshold?: number;
  /** Scale of the MAD test: `'linear'` (the paper) or `'log'` (see {@link OutlierDetectionOptions.scale}). @default 'linear' */
  readonly scale?: 'linear' | 'log';
  /** Labels to scan (at least 3); `undefined` scans every label. @default undefined */
  readonly labels?: readonly number[] | undefined;
  /**
   * `'batched'` optimises every label at once (one forward pass over
   * labels × batch images); `'sequential'` runs them one after the other,
   * as the reference code. Both give the same result for the same seed.
   * @default 'batched'
   */
  readonly mode?: 'batched' | 'sequential';
  /** Seed for the random initial masks/patterns and the data order. @default 0 */
  readonly seed?: number;
  /** Samples per forward pass when measuring the reversed triggers' attack success. @default 256 */
  readonly batchSize?: number;
  /**
   * Progress callback, one event per optimisation step (`done` = step),
   * with `metrics`: `active` (labels still optimised) and, per label `k`
   * optimised in that step, `attack:k` (the step's mean attack success),
   * `norm:k` (its mean mask norm) and `cost:k` (the cost used).
   * @default undefined
   */
  readonly onProgress?: ProgressCallback | undefined;
  /** Aborts the work with an AbortError. @default undefined */
  readonly signal?: AbortSignal | undefined;
}

/** Defaults of {@link detect}. Sources: see docs/defences/neural-cleanse.md. */
export const NEURAL_CLEANSE_DEFAULTS = Object.freeze({
  ...COST_SCHEDULE_DEFAULTS,
  steps: 1000,
  samplesPerStep: 1000,
  trainBatchSize: 32,
  learningRate: 0.1,
  beta1: 0.5,
  beta2: 0.9,
  threshold: 2,
  scale: 'linear' as 'linear' | 'log',
  labels: undefined as readonly number[] | undefined,
  mode: 'batched' as 'batched' | 'sequential',
  seed: 0,
  batchSize: DEFAULT_BATCH_SIZE,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

export type ResolvedDetect = typeof NEURAL_CLEANSE_DEFAULTS;

/** The reversed trigger and statistics of one label. */
export interface NeuralCleanseLabel {
  /** The label. */
  readonly label: number;
  /** L1 norm of the reversed mask (sum over its `height × width` values). */
  readonly norm: number;
  /** `(median − norm) / MAD` (positive below the median). */
  readonly anomalyIndex: number;
  /** Whether this label was flagged as a backdoor target. */
  readonly flagged: boolean;
  /**
   * Attack success of the reversed trigger on the clean data: the share of
   * clean inputs of other labels classified as this label once stamped.
   */
  readonly attackSuccess: number;
  /** Whether some step reached `attackSuccessThreshold` (else the last mask is reported). */
  readonly converged: boolean;
  /** Optimisation steps run (fewer than `steps` after an early stop). */
  readonly steps: number;
  /** Final cost of the schedule. */
  readonly cost: number;
  /** Reversed mask, `height × width` values in [0, 1], row-major (shared by every channel). */
  readonly mask: number[];
  /** Reversed pattern, `height × width × channels` values in [0, 1], HWC row-major. */
  readonly pattern: number[];
}

/** Result of {@link detect}: plain data (JSON-serialisable). */
export interface NeuralCleanseReport {
  /** True when at least one label is flagged. */
  readonly backdoored: boolean;
  /** Flagged labels, smallest trigger first. */
  readonly targets: number[];
  /** The anomaly index of the smallest trigger (the paper's detection score). */
  readonly anomalyIndex: number;
  /** Threshold the anomaly indices were compared with. */
  readonly threshold: number;
  /** Scale of the MAD test (`median` and `mad` are in log units with `'log'`). */
  readonly scale: 'linear' | 'log';
  /** Median of the norms. */
  readonly median: number;
  /** `1.4826 × median(|norm − median|)`. */
  readonly mad: number;
  /** `[height, width]` of each mask. */
  readonly maskShape: [number, number];
  /** `[height, width, channels]` of each pattern. */
  readonly patternShape: [number, number, number];
  /** One entry per scanned label, in the order scanned. */
  readonly perClass: NeuralCleanseLabel[];
  /** Wall time (not deterministic); stage `reverse`: the reverse engineering of every label. */
  readonly timing: Timing;
}

/** The paper's input filter: flags inputs whose mean activation over the neurons the reversed trigger excites most is high. */
export interface InputFilter {
  /** Layer whose units are read. */
  readonly layer: string;
  /** The units (conv channels / dense units) averaged into the score. */
  readonly neurons: number[];
  /** Inputs scoring above this are flagged. */
  readonly threshold: number;
  /** The false-rejection rate (clean inputs flagged) the threshold was set for on clean data. */
  readonly frr: number;
}

/** One fine-tuning schedule of the unlearning selection ({@link NeuralCleanseRepairOptions.schedules}). */
export interface UnlearningSchedule {
  /** Optimiser. @default the repair's `optimizer` */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Step size. @default the repair's `learningRate` */
  readonly learningRate?: number;
  /** Epochs. @default the repair's `epochs` */
  readonly epochs?: number;
  /** Share of the fine-tuning data stamped with a reversed trigger. @default the repair's `stampFraction` */
  readonly stampFraction?: number;
}

/**
 * The schedules `schedules: 'auto'` chooses from: the paper's (Adam 1e-3,
 * one epoch, 20% stamped) first, then longer and larger-step Adam runs, SGD
 * with momentum, and a 50% stamped share. The list is the sweep of
 * docs/results.md (*Neural Cleanse unlearning settings*), fixed before the
 * library selection was measured on the other subjects.
 */
export const UNLEARNING_SCHEDULES: readonly Readonly<Required<UnlearningSchedule>>[] = Object.freeze(
  (
    [
      ['adam', 1e-3, 1, 0.2],
      ['adam', 1e-3, 3, 0.2],
      ['adam', 1e-3, 5, 0.2],
      ['adam', 3e-3, 2, 0.2],
      ['adam', 3e-3, 5, 0.2],
      ['adam', 1e-2, 1, 0.2],
      ['momentum', 2e-3, 3, 0.2],
      ['momentum', 5e-3, 3, 0.2],
      ['adam', 1e-3, 3, 0.5],
    ] as const
  ).map(([optimizer, learningRate, epochs, stampFraction]) =>
    Object.freeze({ optimizer, learningRate, epochs, stampFraction }),
  ),
);

/** One schedule tried by the unlearning selection, with its validation scores. */
export interface UnlearningCandidate {
  /** The schedule, with every field filled in. */
  readonly schedule: Required<UnlearningSchedule>;
  /** Accuracy on the validation data after fine-tuning on the rest. */
  readonly validationAccuracy: number;
  /** Reversed triggers' attack success on the validation data (max over targets). */
  readonly validationAttackSuccess: number;
  /** Whether the validation accuracy stayed within `maxValidationDrop`. */
  readonly eligible: boolean;
}

/** Options of {@link repair}. */
export interface NeuralCleanseRepairOptions {
  /** `'unlearning'` (fine-tune with the reversed trigger, labels kept) or `'pruning'`. @default 'unlearning' */
  readonly method?: 'unlearning' | 'pruning';
  /** Labels whose reversed triggers are removed; `undefined` takes `report.targets`. @default undefined */
  readonly targets?: readonly number[] | undefined;
  /** Unlearning: share of the clean data stamped with a reversed trigger (labels kept). @default 0.2 */
  readonly stampFraction?: number;
  /** Unlearning: epochs of fine-tuning. @default 1 */
  readonly epochs?: number;
  /** Unlearning: mini-batch size. @default 32 */
  readonly trainBatchSize?: number;
  /** Unlearning: optimiser of the fine-tuning. @default 'adam' */
  readonly optimizer?: 'adam' | 'sgd' | 'momentum';
  /** Unlearning: step size. @default 0.001 */
  readonly learningRate?: number;
  /**
   * Unlearning: fine-tuning schedules to choose from on the defender's own
   * data (beyond the paper). `undefined` runs the single schedule given by
   * `optimizer`, `learningRate`, `epochs` and `stampFraction`. With a list
   * of two or more (fields left out are taken from those options; a list of
   * one just runs that schedule) or `'auto'` (the
   * {@link UNLEARNING_SCHEDULES} preset), `validationFraction` of the clean
   * data is held out; each schedule fine-tunes a copy on the rest; a schedule
   * is eligible if its validation accuracy is at most `maxValidationDrop`
   * below the unrepaired classifier's, and the eligible one with the lowest
   * reversed-trigger success on the validation data wins (ties: higher
   * accuracy, then the earlier schedule; with none eligible, the most
   * accurate). The winner is then run again on all the clean data.
   * @default undefined
   */
  readonly schedules?: readonly UnlearningSchedule[] | 'auto' | undefined;
  /** Schedule selection: share of the clean data held out for validation. @default 0.2 */
  readonly validationFraction?: number;
  /** Schedule selection: largest validation-accuracy drop (a fraction) a schedule may cause and stay eligible. @default 0.01 */
  readonly maxValidationDrop?: number;
  /**
   * Pruning and filter: the layer whose units are ranked; `undefined` takes
   * the second to last layer (the input of the final dense layer).
   * @default undefined
   */
  readonly layer?: string | undefined;
  /** Pruning: stop once the reversed triggers' attack success is at most this. @default 0.05 */
  readonly stopAttackSuccess?: number;
  /** Pruning: prune at most this share of the layer's units. @default 0.3 */
  readonly maxPruneFraction?: number;
  /** Whether to derive the input filter (needs the 'layers' capability). @default true */
  readonly filter?: boolean;
  /** Filter: share of the layer's units used (at least one). @default 0.01 */
  readonly filterFraction?: number;
  /** Filter: false-positive rate on the clean data the threshold is set for. @default 0.05 */
  readonly filterFrr?: number;
  /** Samples per forward pass for activations and evaluation. @default 256 */
  readonly batchSize?: number;
  /** Seed for the stamped subset and the fine-tuning order. @default 0 */
  readonly seed?: number;
  /** Progress callback. @default undefined */
  readonly onProgress?: ProgressCallback | undefined;
  /** Aborts the work with an AbortError. @default undefined */
  readonly signal?: AbortSignal | undefined;
}

/** Defaults of {@link repair}. Sources: see docs/defences/neural-cleanse.md. */
export const NEURAL_CLEANSE_REPAIR_DEFAULTS = Object.freeze({
  method: 'unlearning' as 'unlearning' | 'pruning',
  targets: undefined as readonly number[] | undefined,
  stampFraction: 0.2,
  epochs: 1,
  trainBatchSize: 32,
  optimizer: 'adam' as 'adam' | 'sgd' | 'momentum',
  learningRate: 1e-3,
  schedules: undefined as readonly UnlearningSchedule[] | 'auto' | undefined,
  validationFraction: 0.2,
  maxValidationDrop: 0.01,
  layer: undefined as string | undefined,
  stopAttackSuccess: 0.05,
  maxPruneFraction: 0.3,
  filter: true,
  filterFraction: 0.01,
  filterFrr: 0.05,
  batchSize: DEFAULT_BATCH_SIZE,
  seed: 0,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

export type ResolvedRepair = typeof NEURAL_CLEANSE_REPAIR_DEFAULTS;

/** One pruning step of {@link repair}. */
export interface PruningStep {
  /** Units pruned so far. */
  readonly pruned: number;
  /** Reversed triggers' attack success (maximum over targets) after this step. */
  readonly attackSuccess: number;
}

/** Result of {@link repair}. Everything but `classifier` is plain data. */
export interface NeuralCleanseRepairResult<C extends Classifier = Classifier> {
  /**
   * The repaired classifier (a new one: `clone()` + fine-tuning for
   * unlearning, `withUnitMask()` for pruning); the caller disposes it.
   */
  readonly classifier: C;
  /** The method applied. */
  readonly method: 'unlearning' | 'pruning';
  /** Labels whose reversed triggers were removed. */
  readonly targets: number[];
  /** Reversed triggers' attack success on the clean data (max over targets), before and after. */
  readonly attackSuccessBefore: number;
  readonly attackSuccessAfter: number;
  /** Accuracy on the clean data before and after. */
  readonly cleanAccuracyBefore: number;
  readonly cleanAccuracyAfter: number;
  /** Unlearning details. */
  readonly unlearning?: {
    readonly samples: number;
    readonly stamped: number;
    readonly loss: number[];
    readonly accuracy: number[];
    /** The schedule of the final fine-tuning. */
    readonly schedule: Required<UnlearningSchedule>;
    /** The schedule selection, when `schedules` was given. */
    readonly selection?: {
      /** Samples held out for validation (the rest fine-tuned each candidate). */
      readonly validationSamples: number;
      /** The unrepaired classifier's accuracy and reversed-trigger success on the validation data. */
      readonly validationAccuracyBefore: number;
      readonly validationAttackSuccessBefore: number;
      readonly candidates: UnlearningCandidate[];
      /** Index of the chosen candidate. */
      readonly chosen: number;
    };
  };
  /** Pruning details. */
  readonly pruning?: {
    readonly layer: string;
    /** Units in pruning order (largest activation increase under the reversed trigger first). */
    readonly ranking: number[];
    /** Units pruned. */
    readonly pruned: number[];
    /** Per-unit factors of the returned classifier's mask (0 = pruned). */
    readonly keep: number[];
    readonly steps: PruningStep[];
    /** Why pruning stopped. */
    readonly stoppedBecause: 'attack-success' | 'max-prune-fraction';
  };
  /** The input filter (computed on the input classifier; use it with that classifier), if asked for. */
  readonly filter?: InputFilter;
}

/** Options of {@link filter}. */
export interface FilterOptions {
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** Defaults of {@link filter}. */
export const FILTER_DEFAULTS: Readonly<Required<FilterOptions>> = Object.freeze({ batchSize: DEFAULT_BATCH_SIZE });

/** Result of {@link filter}: plain data. */
export interface FilterReport {
  /** 1 for each input flagged as carrying a trigger. */
  readonly suspicious: Uint8Array;
  /** Mean activation of the filter's neurons per input. */
  readonly scores: Float32Array;
  /** The threshold applied (`score > threshold` is flagged). */
  readonly threshold: number;
}
