/**
 * The types of a pipeline: its state, steps and records.
 *
 * @packageDocumentation
 */
import type { FullClassifier } from '../core/classifier.js';
import type { AnyLabeledData, LabeledData, LongRunningOptions, ProgressCallback } from '../core/types.js';

/** What flows from step to step. */
export interface PipelineState {
  /** The current classifier. */
  readonly classifier: FullClassifier;
  /** The (possibly poisoned) training data, for data-level steps. @default undefined */
  readonly train?: AnyLabeledData | undefined;
  /** Clean data the defender trusts, for model-level steps (never replaced). @default undefined */
  readonly clean?: LabeledData | undefined;
}

/** What a step's `run` receives besides the state. */
export interface StepContext {
  /** Progress of this step (stages prefixed with the step's name). */
  readonly onProgress: ProgressCallback | undefined;
  /** The pipeline's abort signal. */
  readonly signal: AbortSignal | undefined;
}

/**
 * What a step returns: a new classifier and/or new training data (both
 * owned by the pipeline from then on; leave them out to keep the current
 * ones) and its report (plain data).
 */
export interface StepOutput<R> {
  /** A new classifier (not the state's), or undefined to keep it. */
  readonly classifier?: FullClassifier | undefined;
  /** New training data (not the state's), or undefined to keep it. */
  readonly train?: AnyLabeledData | undefined;
  /** The step's report. */
  readonly report: R;
}

/** One step of a pipeline: a name and an async function of the state. */
export interface Step<R> {
  /** Name shown in records, progress and tables. */
  readonly name: string;
  /** Runs the step; must not modify or dispose the state it is given. */
  readonly run: (state: PipelineState, context: StepContext) => Promise<StepOutput<R>>;
}

/** The record a pipeline keeps of one step. */
export interface StepRecord<R> {
  /** The step's name. */
  readonly name: string;
  /** Its report. */
  readonly report: R;
  /** Wall time in seconds. */
  readonly seconds: number;
  /** Whether it replaced the classifier. */
  readonly replacedClassifier: boolean;
  /** Whether it replaced the training data. */
  readonly replacedTrain: boolean;
}

/** The records of a tuple of steps, in order and typed per step. */
export type StepRecords<S extends readonly Step<unknown>[]> = {
  -readonly [K in keyof S]: S[K] extends Step<infer R> ? StepRecord<R> : never;
};

/** Result of {@link runPipeline}. */
export interface PipelineResult<S extends readonly Step<unknown>[]> {
  /** The final classifier (the initial one if no step replaced it). */
  readonly classifier: FullClassifier;
  /** The final training data (the initial one if no step replaced it). */
  readonly train: AnyLabeledData | undefined;
  /** One record per step, in order. */
  readonly steps: StepRecords<S>;
  /** Total wall time in seconds. */
  readonly seconds: number;
  /** True when `classifier` is new: the caller disposes it (see {@link disposePipelineResult}). */
  readonly ownsClassifier: boolean;
  /** True when `train` is new: the caller disposes `train.x`. */
  readonly ownsTrain: boolean;
}

/** Options of {@link runPipeline}. */
export interface PipelineOptions extends LongRunningOptions {
  /** Called after each step with its record. @default undefined */
  readonly onStep?: ((record: StepRecord<unknown>, index: number) => void) | undefined;
}
