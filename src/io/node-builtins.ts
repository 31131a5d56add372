/**
 * Node's built-in modules, reached through `process.getBuiltinModule` when a
 * function needs them instead of through top-level `import`s, so that the
 * package barrel can be bundled for (and imported in) a browser: only the
 * file readers and writers need Node, and they say so with a typed error
 * when called elsewhere.
 *
 * @packageDocumentation
 */
import type * as NodeFs from 'node:fs/promises';
import type * as NodeModule from 'node:module';
import type * as NodePath from 'node:path';
import type * as NodeZlib from 'node:zlib';

import { UnsupportedError } from '../core/errors.js';

/** The Node built-ins the library uses, by name. */
interface Builtins {
  'node:fs/promises': typeof NodeFs;
  'node:module': typeof NodeModule;
  'node:path': typeof NodePath;
  'node:zlib': typeof NodeZlib;
}

/**
 * Returns a Node built-in module (Node ≥ 20.16, where
 * `process.getBuiltinModule` exists).
 *
 * @param fn - The public function that needs it (for the error message).
 * @param name - The module, e.g. `'node:fs/promises'`.
 * @returns The module namespace.
 * @throws UnsupportedError (code `UNSUPPORTED`) outside Node, or on a Node
 *   without `process.getBuiltinModule`.
 * @internal
 */
export function nodeBuiltin<K extends keyof Builtins>(fn: string, name: K): Builtins[K] {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.(name);
  if (mod === undefined || mod === null) {
    throw new UnsupportedError(
      { fn },
      `needs Node.js ≥ 20.16 (the built-in module '${name}'); in a browser, read the bytes yourself and use the in-memory variant`,
    );
  }
  return mod as Builtins[K];
}
