/**
 * Turns the errors tfjs throws when a model cannot be differentiated into
 * typed errors that name the missing kernel and backend, and checks a
 * layers model for what tfjs 4.22 can never differentiate before any work.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { BackdoorKitError, UnsupportedError } from './errors.js';

const MISSING_KERNEL = /Kernel '([^']+)' not registered for backend '([^']+)'/;
const DILATED = /dilation rates greater than 1 are not yet supported in gradients/;

/**
 * A typed error for a tfjs failure while differentiating, or `undefined`
 * when `error` is not one of the known cases (the caller rethrows it as is).
 *
 * @param fn - The public function that was differentiating.
 * @param arg - The argument whose model failed (usually `'classifier'`).
 * @param error - What tfjs threw.
 */
export function gradientFailure(fn: string, arg: string, error: unknown): BackdoorKitError | undefined {
  if (error instanceof BackdoorKitError || !(error instanceof Error)) return undefined;
  const missing = MISSING_KERNEL.exec(error.message);
  if (missing !== null) {
    return new UnsupportedError(
      { fn, arg },
      `needs the tfjs kernel '${missing[1]}', which backend '${missing[2]}' does not register${
        missing[2] === 'wasm' || missing[2] === 'cpu'
          ? ' (registerFastKernels() adds the gradient kernels wasm and cpu lack; call it after choosing the backend)'
          : ''
      }`,
    );
  }
  if (DILATED.test(error.message)) {
    return new UnsupportedError(
      { fn, arg },
      'has a dilated convolution (dilationRate > 1), which tfjs 4.22 cannot differentiate',
    );
  }
  return undefined;
}

/** Layer classes whose `dilationRate` tfjs cannot differentiate when above 1. */
const DILATABLE = new Set(['Conv1D', 'Conv2D', 'SeparableConv2D', 'DepthwiseConv2D', 'Conv2DTranspose']);

/**
 * Throws an {@link UnsupportedError} naming the first layer of `model` (sub-models
 * included) that tfjs 4.22 cannot differentiate: a convolution with
 * `dilationRate` above 1. Called before work by everything that trains.
 */
export function assertDifferentiable(fn: string, arg: string, model: tfl.LayersModel): void {
  const visit = (layers: readonly tfl.layers.Layer[], prefix: string): void => {
    for (const layer of layers) {
      const nested = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
      if (Array.isArray(nested)) {
        visit(nested, `${prefix}${layer.name}/`);
        continue;
      }
      if (!DILATABLE.has(layer.getClassName())) continue;
      const rate = (layer.getConfig() as { dilationRate?: number | number[] }).dilationRate;
      const rates = Array.isArray(rate) ? rate : [rate ?? 1];
      if (rates.some((r) => r > 1)) {
        throw new UnsupportedError(
          { fn, arg },
          `has layer '${prefix}${layer.name}' (${layer.getClassName()}, dilationRate ${JSON.stringify(rate)}): tfjs 4.22 cannot differentiate dilated convolutions`,
        );
      }
    }
  };
  visit(model.layers, '');
}

/** The parts of tfjs's engine state a failed backward pass leaves behind (tfjs-core 4.x). */
interface TapeState {
  gradientDepth: number;
  activeTape: Array<{ saved?: Array<{ dispose(): void }> }> | null;
}

/**
 * Frees what a backward pass that threw leaves behind: tfjs keeps the
 * tensors saved for the backward pass until the pass completes, so a
 * gradient that fails midway (a missing kernel) leaks them, and the next
 * `tf.grad` forgets them for good. Call it in the `catch` of every top-level
 * gradient computation; it does nothing while a gradient is being taken.
 */
export function releaseFailedTape(): void {
  const state = (tf.engine() as unknown as { state?: TapeState }).state;
  if (state === undefined || state.gradientDepth !== 0 || state.activeTape === null) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null;
}

/**
 * Runs one gradient step in `tf.tidy`; a backward pass that fails frees what
 * tfjs kept ({@link releaseFailedTape}) and throws a typed error where it can
 * ({@link gradientFailure}).
 */
export function gradientStep<T extends tf.TensorContainer>(fn: string, f: () => T): T {
  try {
    return tf.tidy(f);
  } catch (e) {
    releaseFailedTape();
    throw gradientFailure(fn, 'classifier', e) ?? e;
  }
}
