/**
 * Progress reporting and cancellation helpers shared by every long-running
 * function.
 *
 * @packageDocumentation
 */
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

/** Yields to the event loop so that timers and abort signals can fire. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
