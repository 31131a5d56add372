/**
 * Shared assertions for the library's typed errors: a `BackdoorKitError` with
 * this `code`, naming this argument (in `arg` and in the message) and, when
 * given, this public function.
 */
import assert from 'node:assert/strict';

import { BackdoorKitError } from '../../src/core/errors.js';

/**
 * A predicate for `assert.throws` / `assert.rejects`: the error is a
 * `BackdoorKitError` with `code`, `arg` exactly `arg` (also named in the
 * message) and, if given, `fn` exactly `fnName`.
 */
export function errorPredicate(code: string, arg: string, fnName?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BackdoorKitError, `not a BackdoorKitError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (fnName !== undefined) assert.equal(e.fn, fnName);
    assert.equal(e.arg, arg);
    assert.ok(e.message.includes(arg), e.message);
    return true;
  };
}

/** Asserts that `fnCall` throws the error {@link errorPredicate} describes. */
export function expectError(fnCall: () => unknown, code: string, arg: string, fnName?: string): void {
  assert.throws(fnCall, errorPredicate(code, arg, fnName));
}

/** Async twin of {@link expectError}. */
export async function expectRejects(
  promise: () => Promise<unknown>,
  code: string,
  arg: string,
  fnName?: string,
): Promise<void> {
  await assert.rejects(promise, errorPredicate(code, arg, fnName));
}
