/**
 * Small file-system helpers shared by the readers in `src/data` and the model
 * IO in `src/io`: every failure becomes a {@link BackdoorKitError} naming the
 * public function, the argument and the path. Node-only (`node:fs`).
 *
 * @packageDocumentation
 */

import { BackdoorKitError, FormatError, InvalidArgumentError } from '../core/errors.js';
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

/** Largest file a reader accepts unless told otherwise: 1 GiB. */
export const DEFAULT_MAX_FILE_BYTES = 2 ** 30;

/** How {@link readFileOrThrow} reads. */
export interface ReadLimits {
  /** Refuse a file larger than this many bytes, before reading it. @default DEFAULT_MAX_FILE_BYTES */
  readonly maxBytes?: number;
  /**
   * The folder the file must stay in: the real path (symbolic links
   * resolved) must lie inside the real path of `root`. @default undefined (no containment)
   */
  readonly root?: string | undefined;
}

/**
 * Reads a whole regular file, after checking it is one (not a device, FIFO
 * or directory: `/dev/zero` would never end), that it is at most
 * `maxBytes`, and, with `root`, that its real path stays inside `root` (a
 * `../` or a symbolic link out of the folder is refused). A path that does
 * not exist or cannot be read throws an {@link InvalidArgumentError}
 * (`kind: 'argument'`, the caller named a bad path) or a {@link FormatError}
 * (`kind: 'content'`, the file was expected to exist as part of a larger
 * structure, e.g. a model's weights file).
 */
export async function readFileOrThrow(
  fn: string,
  arg: string,
  path: string,
  kind: 'argument' | 'content' = 'argument',
  limits: ReadLimits = {},
): Promise<Uint8Array> {
  const { readFile, realpath, stat } = nodeBuiltin(fn, 'node:fs/promises');
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  const fail = (detail: string) =>
    kind === 'argument'
      ? new InvalidArgumentError({ fn, arg, value: path }, detail)
      : new FormatError({ fn, arg, value: path }, detail);
  let real: string;
  let size: number;
  try {
    real = await realpath(path);
    const st = await stat(real);
    if (st.isDirectory()) throw fail('names a directory, not a file');
    if (!st.isFile()) throw fail('is not a regular file (a device, pipe or socket is refused)');
    size = st.size;
  } catch (error) {
    if (error instanceof BackdoorKitError) throw error;
    const code = errnoCode(error);
    throw fail(
      code === 'ENOENT'
        ? 'names a file that does not exist'
        : `names a file that could not be read (${oneLine(error)})`,
    );
  }
  if (limits.root !== undefined) {
    const { isAbsolute, relative } = nodeBuiltin(fn, 'node:path');
    let rootReal: string;
    try {
      rootReal = await realpath(limits.root);
    } catch (error) {
      throw fail(`lies in a folder that could not be resolved (${oneLine(error)})`);
    }
    const rel = relative(rootReal, real);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw fail('resolves outside the folder it must stay in (a ../ path or a symbolic link out of it)');
    }
  }
  if (size > maxBytes) {
    throw fail(`is ${size} bytes, more than the ${maxBytes} allowed (raise the size cap to read it)`);
  }
  try {
    const buf = await readFile(real);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (error) {
    throw fail(`names a file that could not be read (${oneLine(error)})`);
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
