/**
 * Progress reporting and cancellation helpers shared by every long-running
 * function.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { AbortError } from './errors.js';
import type { ProgressCallback, ProgressEvent } from './types.js';

/**
 * Throws an {@link AbortError} naming `fn` if `signal` has been aborted.
 *
 * @param signal - The caller's signal, or `undefined`.
 * @param fn - Name of the public function doing the work.
 * @throws {@link AbortError} when `signal.aborted` is true.
 */
export function throwIfAborted(signal: AbortSignal | undefined, fn: string): void {
  if (signal?.aborted === true) throw new AbortError({ fn, arg: 'signal' }, 'was aborted');
}

/**
 * Calls `onProgress` if it was given. An exception in the callback propagates
 * (it is the caller's code).
 */
export function report(onProgress: ProgressCallback | undefined, event: ProgressEvent): void {
  if (onProgress !== undefined) onProgress(event);
}

/** Browsers yield through `requestAnimationFrame` (a frame, ~16 ms): at most once per this many ms. */
const BROWSER_YIELD_MS = 50;
let lastYield = 0;

/**
 * Yields to the event loop so that timers, abort signals and the page can
 * run: `tf.nextFrame()`, which is `setImmediate` in Node (every call yields)
 * and an animation frame in a browser (throttled to one per 50 ms, so a loop
 * of fast steps is not slowed to the frame rate).
 */
export async function yieldToEventLoop(): Promise<void> {
  if (typeof (globalThis as { requestAnimationFrame?: unknown }).requestAnimationFrame === 'function') {
    const now = performance.now();
    if (now - lastYield < BROWSER_YIELD_MS) return;
    lastYield = now;
  }
  await tf.nextFrame();
}
