/**
 * Composition of defences as plain functions. A {@link Step} takes the
 * current {@link PipelineState} (a classifier, the possibly poisoned training
 * data, the defender's clean data) and returns a new classifier and/or
 * training data plus its report; {@link runPipeline} runs steps in order,
 * keeps every step's report and time, and disposes the intermediate
 * classifiers and datasets it created. Milakovic & Mayer's combinations are
 * then two lines:
 *
 * ```ts
 * const acFp = await runPipeline([activationClusteringStep(), finePruningStep()], { classifier, train, clean });
 * const fpAc = await runPipeline([finePruningStep(), activationClusteringStep()], { classifier, train, clean });
 * ```
 *
 * Browser-safe: no Node module is imported.
 *
 * @packageDocumentation
 */
import { assertClassifier } from '../core/classifier.js';
import { InvalidArgumentError } from '../core/errors.js';
import { throwIfAborted } from '../core/progress.js';
import type { ProgressCallback } from '../core/types.js';
import { assertLongRunning, assertOptionalFunction, assertOptionsObject } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';

export {
  activationClusteringStep,
  spectralSignaturesStep,
  finePruningStep,
  anpStep,
  neuralCleanseStep,
  evaluationStep,
  type EvaluationStepInput,
  type ActivationClusteringStepOptions,
  type ActivationClusteringStepReport,
  type SpectralSignaturesStepOptions,
  type SpectralSignaturesStepReport,
  type FinePruningStepReport,
  type AnpStepReport,
  type NeuralCleanseStepOptions,
  type NeuralCleanseStepReport,
} from './steps.js';
export type {
  PipelineState,
  StepContext,
  StepOutput,
  Step,
  StepRecord,
  StepRecords,
  PipelineResult,
  PipelineOptions,
} from './types.js';
import type {
  PipelineOptions,
  PipelineResult,
  PipelineState,
  Step,
  StepContext,
  StepRecord,
  StepRecords,
} from './types.js';

/** Defaults of {@link runPipeline}. */
export const PIPELINE_DEFAULTS = Object.freeze({
  onStep: undefined as ((record: StepRecord<unknown>, index: number) => void) | undefined,
  onProgress: undefined as ProgressCallback | undefined,
  signal: undefined as AbortSignal | undefined,
});

/**
 * Makes a step from a name and a function (sugar for `{ name, run }`).
 *
 * @param name - The step's name (non-empty).
 * @param run - The step's function; it must not modify or dispose the state.
 * @returns The {@link Step}.
 * @throws {@link InvalidArgumentError} for an empty name or a `run` that is not a function.
 * @example
 * ```ts
 * const measure = step('measure', async (s) => ({ report: await metrics.accuracy(s.classifier, s.clean!) }));
 * ```
 */
export function step<R>(name: string, run: Step<R>['run']): Step<R> {
  const fn = 'step';
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'name', value: name }, 'must be a non-empty string');
  }
  if (typeof run !== 'function') throw new InvalidArgumentError({ fn, arg: 'run', value: run }, 'must be a function');
  return { name, run };
}

/**
 * Runs steps in order. Each step sees the state the previous one left; its
 * report, time and whether it replaced the classifier/data are recorded.
 * Classifiers and training data that a step created and a later step
 * replaced are disposed here; the initial ones are never modified or
 * disposed. If a step throws, everything the pipeline created is disposed
 * and the error is rethrown.
 *
 * @param steps - The steps (at least one).
 * @param initial - The starting {@link PipelineState}. Not modified.
 * @param options - {@link PipelineOptions}.
 * @returns A {@link PipelineResult}: the final classifier and data, one
 *   typed record per step, total seconds and what the caller must dispose.
 * @throws {@link InvalidArgumentError} for an empty or malformed step list,
 *   a bad state or options; whatever a step throws ({@link AbortError} when aborted).
 * @example
 * ```ts
 * const r = await runPipeline([activationClusteringStep(), finePruningStep()], { classifier, train, clean });
 * r.steps[0].report.removed;      // poison samples AC removed before retraining
 * r.steps[1].report.pruned.length // units Fine-Pruning pruned
 * disposePipelineResult(r);
 * ```
 */
export async function runPipeline<const S extends readonly Step<unknown>[]>(
  steps: S,
  initial: PipelineState,
  options?: PipelineOptions,
): Promise<PipelineResult<S>> {
  const fn = 'runPipeline';
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'steps', value: steps }, 'must be a non-empty array of steps');
  }
  steps.forEach((s: unknown, i) => {
    const st = s as Partial<Step<unknown>> | null;
    if (st === null || typeof st !== 'object' || typeof st.name !== 'string' || typeof st.run !== 'function') {
      throw new InvalidArgumentError({ fn, arg: `steps[${i}]`, value: s }, 'must be a step ({ name, run })');
    }
  });
  assertOptionsObject(fn, initial, 'initial');
  if (initial === undefined) throw new InvalidArgumentError({ fn, arg: 'initial', value: initial }, 'is required');
  assertClassifier(fn, 'initial.classifier', initial.classifier);
  const o = resolveOptions(fn, PIPELINE_DEFAULTS, options);
  assertOptionalFunction(fn, 'options.onStep', o.onStep);
  assertLongRunning(fn, o);

  const t0 = performance.now();
  let state: PipelineState = { classifier: initial.classifier, train: initial.train, clean: initial.clean };
  const records: StepRecord<unknown>[] = [];
  const ownedClassifier = () => state.classifier !== initial.classifier;
  const ownedTrain = () => state.train !== undefined && state.train !== initial.train;
  try {
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      throwIfAborted(o.signal, fn);
      const userProgress = o.onProgress;
      const context: StepContext = {
        onProgress:
          userProgress === undefined ? undefined : (e) => userProgress({ ...e, stage: `${s.name}: ${e.stage}` }),
        signal: o.signal,
      };
      const ts = performance.now();
      const out = await s.run(state, context);
      const seconds = (performance.now() - ts) / 1000;
      const newClassifier = out.classifier !== undefined && out.classifier !== state.classifier;
      const newTrain = out.train !== undefined && out.train !== state.train;
      if (newClassifier && ownedClassifier()) state.classifier.dispose();
      if (newTrain && ownedTrain()) state.train!.x.dispose();
      state = {
        classifier: newClassifier ? out.classifier! : state.classifier,
        train: newTrain ? out.train : state.train,
        clean: state.clean,
      };
      const record: StepRecord<unknown> = {
        name: s.name,
        report: out.report,
        seconds,
        replacedClassifier: newClassifier,
        replacedTrain: newTrain,
      };
      records.push(record);
      o.onStep?.(record, i);
    }
  } catch (e) {
    if (ownedClassifier()) state.classifier.dispose();
    if (ownedTrain()) state.train!.x.dispose();
    throw e;
  }
  return {
    classifier: state.classifier,
    train: state.train,
    steps: records as StepRecords<S>,
    seconds: (performance.now() - t0) / 1000,
    ownsClassifier: ownedClassifier(),
    ownsTrain: ownedTrain(),
  };
}

/**
 * Bundles steps into a reusable function of a state (sugar over {@link runPipeline}).
 *
 * @param steps - The steps, in order.
 * @returns A function `(initial, options?) => runPipeline(steps, initial, options)` with the steps attached as `steps`.
 * @throws {@link InvalidArgumentError} (when called) as {@link runPipeline}.
 * @example
 * ```ts
 * const acThenFp = pipeline(activationClusteringStep(), finePruningStep());
 * const r = await acThenFp({ classifier, train, clean });
 * ```
 */
export function pipeline<const S extends readonly Step<unknown>[]>(
  ...steps: S
): ((initial: PipelineState, options?: PipelineOptions) => Promise<PipelineResult<S>>) & { readonly steps: S } {
  const run = (initial: PipelineState, options?: PipelineOptions) => runPipeline(steps, initial, options);
  return Object.assign(run, { steps });
}

/**
 * Disposes what a pipeline result owns (its classifier and training data
 * when they are new); the initial state is left alone.
 *
 * @param result - A {@link PipelineResult}.
 * @returns Nothing.
 * @throws Never.
 * @example
 * ```ts
 * disposePipelineResult(await runPipeline(steps, state));
 * ```
 */
export function disposePipelineResult(result: PipelineResult<readonly Step<unknown>[]>): void {
  if (result.ownsClassifier) result.classifier.dispose();
  if (result.ownsTrain && result.train !== undefined) result.train.x.dispose();
}
