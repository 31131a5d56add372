/**
 * Plain data types shared by every module.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

/**
 * A labelled data set: inputs of the classifier's own shape and one integer
 * label per sample. `X` is the input tensor: images `[n, height, width,
 * channels]` with values in [0, 1] (the default, what image attacks and
 * image-only defences take), token-id sequences `[n, length]` (int32) or
 * feature rows `[n, features]`. The library never mutates or disposes a
 * `LabeledData` it is given.
 */
export interface LabeledData<X extends tf.Tensor = tf.Tensor4D> {
  /** Inputs, `[n, ...inputShape]`: images NHWC in [0, 1] by default. */
  readonly x: X;
  /** Integer labels in `[0, numClasses)`, one per sample. */
  readonly y: Int32Array;
}

/** A {@link LabeledData} of any input rank (images, sequences, feature rows). */
export type AnyLabeledData = LabeledData<tf.Tensor>;

/** A progress report from long-running work. */
export interface ProgressEvent {
  /** What is running, e.g. `'fit'`, `'neural-cleanse:label 3'`. */
  readonly stage: string;
  /** Units of work done so far in this stage. */
  readonly done: number;
  /** Units of work in this stage. */
  readonly total: number;
  /** Optional numbers of interest (loss, accuracy, ...). */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** Callback receiving {@link ProgressEvent}s. */
export type ProgressCallback = (event: ProgressEvent) => void;

/** Options every long-running function accepts. */
export interface LongRunningOptions {
  /** Called as work progresses. @default undefined */
  readonly onProgress?: ProgressCallback;
  /** Stops the work with an {@link AbortError} when aborted. @default undefined */
  readonly signal?: AbortSignal;
}

/**
 * Wall time of a run, excluded from determinism (two runs with the same seed
 * give the same report except for this field).
 */
export interface Timing {
  /** Whole call, in seconds. */
  readonly totalSeconds: number;
  /** Seconds per named stage (stages may not add up to the total: set-up and checks are outside them). */
  readonly stages: Readonly<Record<string, number>>;
}

/** Clean images for calibration: an image tensor, or a {@link LabeledData} whose labels are ignored. */
export type CleanImages = tf.Tensor | LabeledData;
