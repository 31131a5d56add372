/**
 * Ready-made pipeline steps around the library's data-level and model-level
 * repairs. Each is a thin wrapper: it calls the defence's documented
 * `detect`/`repair` on the state and returns the new classifier (and, for
 * data-level steps, the cleaned training data) with the defence's report.
 *
 * @packageDocumentation
 */
import type { Classifier } from '../core/classifier.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { AnyLabeledData, LabeledData } from '../core/types.js';
import { assertImageData } from '../core/validate.js';
import * as activationClustering from '../defences/data/activation-clustering/index.js';
import * as anp from '../defences/model/anp.js';
import * as finePruning from '../defences/model/fine-pruning.js';
import * as neuralCleanse from '../defences/model/neural-cleanse/index.js';
import { NC_NEEDS_PIXELS } from '../defences/model/neural-cleanse/reverse.js';
import * as spectralSignatures from '../defences/data/spectral-signatures.js';
import { evaluate, type EvaluateOptions, type Evaluation } from '../evaluation/index.js';
import type { PipelineState, Step, StepContext } from './types.js';

function need(fn: string, state: PipelineState, key: 'train' | 'clean'): AnyLabeledData {
  const d = state[key];
  if (d === undefined) {
    throw new InvalidArgumentError(
      { fn, arg: `state.${key}` },
      key === 'train'
        ? 'is required: this data-level step examines the training data'
        : "is required: this model-level step needs the defender's clean data",
    );
  }
  return d;
}

/** Adds the pipeline's progress callback and signal unless the options set their own. */
function withContext<T extends { onProgress?: unknown; signal?: unknown }>(
  options: T | undefined,
  ctx: StepContext,
): T {
  const o = { ...(options ?? {}) } as Record<string, unknown>;
  if (o['onProgress'] === undefined && ctx.onProgress !== undefined) o['onProgress'] = ctx.onProgress;
  if (o['signal'] === undefined && ctx.signal !== undefined) o['signal'] = ctx.signal;
  return o as T;
}

/** Options of {@link activationClusteringStep}. */
export interface ActivationClusteringStepOptions {
  /** Options of `activationClustering.detect`. @default {} */
  readonly detect?: activationClustering.ActivationClusteringOptions;
  /** Options of `activationClustering.repair`. @default { mode: 'retrain' } (Milakovic & Mayer: remove and retrain) */
  readonly repair?: activationClustering.ActivationClusteringRepairOptions;
}

/** Report of {@link activationClusteringStep}. */
export interface ActivationClusteringStepReport {
  /** The detection report. */
  readonly detection: activationClustering.ActivationClusteringReport;
  /** Samples removed (mode `'retrain'`). */
  readonly removed: number;
  /** Samples relabelled (mode `'relabel'`). */
  readonly relabelled: number;
  /** Epochs trained by the repair. */
  readonly epochs: number;
  /** Whether the repair's training converged. */
  readonly converged: boolean;
}

/**
 * Activation Clustering as a data-level step: `detect` on the state's
 * classifier and training data, then `repair` (by default remove the flagged
 * samples and retrain a fresh model, as Milakovic & Mayer). Replaces the
 * classifier and the training data.
 *
 * @param options - {@link ActivationClusteringStepOptions}.
 * @returns A {@link Step} whose report is an {@link ActivationClusteringStepReport}.
 * @throws {@link InvalidArgumentError} (when run) without `state.train`; the defence's errors.
 * @example
 * ```ts
 * const r = await runPipeline([activationClusteringStep({ detect: { seed: 1 } })], { classifier, train });
 * ```
 */
export function activationClusteringStep(
  options: ActivationClusteringStepOptions = {},
): Step<ActivationClusteringStepReport> {
  const fn = 'activationClusteringStep';
  return {
    name: 'AC',
    run: async (state, ctx) => {
      const train = need(fn, state, 'train');
      const detection = await activationClustering.detect(state.classifier, train, withContext(options.detect, ctx));
      const r = await activationClustering.repair(
        state.classifier,
        train,
        detection,
        withContext({ mode: 'retrain' as const, ...options.repair }, ctx),
      );
      return {
        classifier: r.classifier,
        train: r.data,
        report: { detection, removed: r.removed, relabelled: r.relabelled, epochs: r.epochs, converged: r.converged },
      };
    },
  };
}

/** Options of {@link spectralSignaturesStep}. */
export interface SpectralSignaturesStepOptions {
  /** Options of `spectralSignatures.detect`. @default {} */
  readonly detect?: spectralSignatures.SpectralSignaturesOptions;
  /** Options of `spectralSignatures.repair`. @default {} */
  readonly repair?: spectralSignatures.SpectralSignaturesRepairOptions;
}

/** Report of {@link spectralSignaturesStep}. */
export interface SpectralSignaturesStepReport {
  /** The detection report. */
  readonly detection: spectralSignatures.SpectralSignaturesReport;
  /** Samples removed. */
  readonly removed: number;
  /** Epochs retrained. */
  readonly epochs: number;
  /** Whether retraining converged. */
  readonly converged: boolean;
}

/**
 * Spectral Signatures as a data-level step: `detect`, then `repair` (remove
 * the flagged samples and retrain). Replaces the classifier and the training data.
 *
 * @param options - {@link SpectralSignaturesStepOptions}.
 * @returns A {@link Step} whose report is a {@link SpectralSignaturesStepReport}.
 * @throws {@link InvalidArgumentError} (when run) without `state.train`; the defence's errors.
 * @example
 * ```ts
 * const r = await runPipeline([spectralSignaturesStep(), finePruningStep()], { classifier, train, clean });
 * ```
 */
export function spectralSignaturesStep(
  options: SpectralSignaturesStepOptions = {},
): Step<SpectralSignaturesStepReport> {
  const fn = 'spectralSignaturesStep';
  return {
    name: 'SS',
    run: async (state, ctx) => {
      const train = need(fn, state, 'train');
      const detection = await spectralSignatures.detect(state.classifier, train, withContext(options.detect, ctx));
      const r = await spectralSignatures.repair(state.classifier, train, detection, withContext(options.repair, ctx));
      return {
        classifier: r.classifier,
        train: r.data,
        report: { detection, removed: r.removed, epochs: r.epochs, converged: r.converged },
      };
    },
  };
}

/** Report of {@link finePruningStep}: Fine-Pruning's diagnostics. */
export type FinePruningStepReport = finePruning.FinePruningReport;

/**
 * Fine-Pruning as a model-level step on the state's clean data. Replaces the classifier.
 *
 * @param options - Options of `finePruning.repair`. @default {}
 * @returns A {@link Step} whose report is the {@link FinePruningStepReport}.
 * @throws {@link InvalidArgumentError} (when run) without `state.clean`; the defence's errors.
 * @example
 * ```ts
 * const r = await runPipeline([finePruningStep({ maxAccuracyDrop: 0.04 })], { classifier, clean });
 * ```
 */
export function finePruningStep(options?: finePruning.FinePruningOptions): Step<FinePruningStepReport> {
  const fn = 'finePruningStep';
  return {
    name: 'FP',
    run: async (state, ctx) => {
      const clean = need(fn, state, 'clean');
      const { classifier, ...report } = await finePruning.repair(state.classifier, clean, withContext(options, ctx));
      return { classifier, report };
    },
  };
}

/** Report of {@link anpStep}: ANP's diagnostics. */
export type AnpStepReport = anp.AnpReport;

/**
 * Adversarial Neuron Pruning as a model-level step on the state's clean data
 * (the classifier must be a `LayersModelClassifier`). Replaces the classifier.
 *
 * @param options - Options of `anp.repair`. @default {}
 * @returns A {@link Step} whose report is the {@link AnpStepReport}.
 * @throws {@link InvalidArgumentError} (when run) without `state.clean`; the defence's errors.
 * @example
 * ```ts
 * const r = await runPipeline([anpStep({ seed: 0 })], { classifier, clean });
 * ```
 */
export function anpStep(options?: anp.AnpOptions): Step<AnpStepReport> {
  const fn = 'anpStep';
  return {
    name: 'ANP',
    run: async (state, ctx) => {
      const clean = need(fn, state, 'clean');
      const { classifier, ...report } = await anp.repair(state.classifier, clean, withContext(options, ctx));
      return { classifier, report };
    },
  };
}

/** Options of {@link neuralCleanseStep}. */
export interface NeuralCleanseStepOptions {
  /** Options of `neuralCleanse.detect`. @default {} */
  readonly detect?: neuralCleanse.NeuralCleanseOptions;
  /** Options of `neuralCleanse.repair`. @default {} */
  readonly repair?: neuralCleanse.NeuralCleanseRepairOptions;
}

/** Report of {@link neuralCleanseStep}. */
export interface NeuralCleanseStepReport {
  /** The detection report. */
  readonly detection: neuralCleanse.NeuralCleanseReport;
  /** The repair's diagnostics (`null` when no label was flagged and nothing was repaired). */
  readonly repair: Omit<neuralCleanse.NeuralCleanseRepairResult, 'classifier'> | null;
}

/**
 * Neural Cleanse as a model-level step: `detect` on the clean data and, if a
 * label is flagged, `repair`. Replaces the classifier only when it repaired.
 *
 * @param options - {@link NeuralCleanseStepOptions}.
 * @returns A {@link Step} whose report is a {@link NeuralCleanseStepReport}.
 * @throws {@link InvalidArgumentError} (when run) without `state.clean`; the defence's errors.
 * @example
 * ```ts
 * const r = await runPipeline([neuralCleanseStep({ detect: { seed: 0 } })], { classifier, clean });
 * ```
 */
export function neuralCleanseStep(options: NeuralCleanseStepOptions = {}): Step<NeuralCleanseStepReport> {
  const fn = 'neuralCleanseStep';
  return {
    name: 'NC',
    run: async (state, ctx) => {
      const clean = need(fn, state, 'clean');
      assertImageData(fn, 'state.clean', clean, {}, NC_NEEDS_PIXELS);
      const detection = await neuralCleanse.detect(state.classifier, clean, withContext(options.detect, ctx));
      if (!detection.backdoored) return { report: { detection, repair: null } };
      const { classifier, ...repair } = await neuralCleanse.repair(
        state.classifier,
        clean,
        detection,
        withContext(options.repair, ctx),
      );
      return { classifier, report: { detection, repair } };
    },
  };
}

/** What {@link evaluationStep} measures on: test data, target and the reference classifier. */
export interface EvaluationStepInput {
  /** Clean test data. */
  readonly clean: LabeledData;
  /** Triggered test data with true labels. */
  readonly triggered: LabeledData;
  /** The attack's target. */
  readonly target: number | ArrayLike<number>;
  /** The classifier the deltas are taken against (usually the backdoored model before any defence). */
  readonly before: Classifier;
}

/**
 * A step that changes nothing and reports an {@link Evaluation} of the
 * current classifier against `input.before` (its `seconds` is `null`: the
 * defences' times are in the pipeline's step records). Put it between
 * defence steps to measure every prefix of a combination in one run.
 *
 * @param name - Row name, e.g. `'AC → FP'`.
 * @param input - {@link EvaluationStepInput}.
 * @param options - Options of {@link evaluate} (not `name`). @default {}
 * @returns A {@link Step} whose report is an {@link Evaluation}.
 * @throws {@link InvalidArgumentError} (when run) as {@link evaluate}.
 * @example
 * ```ts
 * const on = { clean: test, triggered, target: 0, before: backdoored };
 * await runPipeline([activationClusteringStep(), evaluationStep('AC', on), finePruningStep(), evaluationStep('AC → FP', on)], state);
 * ```
 */
export function evaluationStep(
  name: string,
  input: EvaluationStepInput,
  options: Omit<EvaluateOptions, 'name'> = {},
): Step<Evaluation> {
  return {
    name: `evaluate ${name}`,
    run: async (state) => ({ report: await evaluate({ ...input, after: state.classifier }, { ...options, name }) }),
  };
}
