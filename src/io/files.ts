/**
 * Small file-system helpers shared by the readers in `src/data` and the model
 * IO in `src/io`: every failure becomes a {@link BackdoorKitError} naming the
 * public function, the argument and the path. Node-only (`node:fs`).
 *
 * @packageDocumentation
 */

import { FormatError, InvalidArgumentError } from '../core/errors.js';
import { nodeBuiltin } from './node-builtins.js';

/** One-line, bounded rendering of an underlying error's message. */
export function oneLine(error: unknown, max = 160): string {
  const raw = error instanceof Error ? error.message : String(error);
  const flat = raw.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** The `code` of a Node system error (`'ENOENT'`, ...), if any. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Asserts that `value` is a non-empty string (a path). */
export function assertPath(fn: string, arg: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a non-empty path string');
  }
}

/**
 * Reads a whole file. A path that does not exist or cannot be read throws an
 * {@link InvalidArgumentError} (`kind: 'argument'`, the caller named a bad
 * path) or a {@link FormatError} (`kind: 'content'`, the file was expected to
 * exist as part of a larger structure, e.g. a model's weights file).
 */
export async function readFileOrThrow(
  fn: string,
  arg: string,
  path: string,
  kind: 'argument' | 'content' = 'argument',
): Promise<Uint8Array> {
  const { readFile } = nodeBuiltin(fn, 'node:fs/promises');
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (error) {
    const code = errnoCode(error);
    const detail =
      code === 'ENOENT'
        ? 'names a file that does not exist'
        : code === 'EISDIR'
          ? 'names a directory, not a file'
          : `names a file that could not be read (${oneLine(error)})`;
    throw kind === 'argument'
      ? new InvalidArgumentError({ fn, arg, value: path }, detail)
      : new FormatError({ fn, arg, value: path }, detail);
  }
}

/** True when `path` is an existing directory; false when it is something else; throws when missing. */
export async function isDirectoryOrThrow(fn: string, arg: string, path: string): Promise<boolean> {
  const { stat } = nodeBuiltin(fn, 'node:fs/promises');
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    const code = errnoCode(error);
    throw new InvalidArgumentError(
      { fn, arg, value: path },
      code === 'ENOENT'
        ? 'names a path that does not exist'
        : `names a path that could not be read (${oneLine(error)})`,
    );
  }
}
