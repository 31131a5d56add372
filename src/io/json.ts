/**
 * Plain-JSON reports: {@link saveJson} writes detection results, metrics and
 * the like (typed arrays become arrays), {@link loadJson} reads them back.
 * Node-only (`node:fs`).
 *
 * @packageDocumentation
 */

import { FormatError, InvalidArgumentError } from '../core/errors.js';
import { assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { isTensor } from '../core/validate.js';
import { assertPath, oneLine, readFileOrThrow } from './files.js';
import { nodeBuiltin } from './node-builtins.js';

/** Options of {@link saveJson}. */
export interface SaveJsonOptions {
  /** Spaces of indentation (an integer in [0, 10]); 0 writes one line. @default 2 */
  readonly indent?: number;
}

/** Defaults of {@link SaveJsonOptions}. */
export const SAVE_JSON_DEFAULTS: Readonly<Required<SaveJsonOptions>> = Object.freeze({ indent: 2 });

/**
 * Converts a value to what `JSON.stringify` writes faithfully: typed arrays
 * become plain arrays, `Map`s become objects, `Set`s arrays. Non-finite
 * numbers become `null` (as `JSON.stringify` does).
 *
 * @param value - Any plain data (left untouched).
 * @returns A JSON-safe deep copy.
 * @throws {@link InvalidArgumentError} (as argument `value`, path in the
 *   message) for a tensor, a bigint, a function, a symbol or a cycle.
 * @example
 * ```ts
 * toJsonValue({ suspicious: new Uint8Array([0, 1]) }); // { suspicious: [0, 1] }
 * ```
 */
export function toJsonValue(value: unknown, fn = 'toJsonValue'): unknown {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): unknown => {
    const fail = (detail: string): never => {
      throw new InvalidArgumentError({ fn, arg: path, value: v }, detail);
    };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : null;
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') return fail('is a bigint, which JSON cannot hold');
    if (typeof v === 'function' || typeof v === 'symbol') return fail(`is a ${typeof v}, which JSON cannot hold`);
    if (isTensor(v)) return fail('is a tf.Tensor; convert it first (e.g. await t.array())');
    if (ArrayBuffer.isView(v)) {
      if (v instanceof DataView) return fail('is a DataView, which JSON cannot hold');
      const arr = Array.from(v as unknown as ArrayLike<number | bigint>);
      if (arr.some((x) => typeof x === 'bigint')) return fail('is a BigInt array, which JSON cannot hold');
      return (arr as number[]).map((x) => (Number.isFinite(x) ? x : null));
    }
    const obj = v as object;
    if (seen.has(obj)) return fail('is part of a cycle');
    seen.add(obj);
    let out: unknown;
    if (Array.isArray(obj)) {
      out = obj.map((x, i) => {
        const r = walk(x, `${path}[${i}]`);
        return r === undefined ? null : r;
      });
    } else if (obj instanceof Map) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of obj) o[String(k)] = walk(x, `${path}.${String(k)}`);
      out = o;
    } else if (obj instanceof Set) {
      out = Array.from(obj, (x, i) => walk(x, `${path}[${i}]`) ?? null);
    } else if (obj instanceof Date) {
      out = obj.toISOString();
    } else {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(obj)) {
        const r = walk(x, `${path}.${k}`);
        if (r !== undefined) o[k] = r;
      }
      out = o;
    }
    seen.delete(obj);
    return out;
  };
  return walk(value, 'value');
}

/**
 * Writes `value` as JSON to `path` (creating parent directories). Typed
 * arrays are written as arrays, NaN/±Infinity as `null`.
 *
 * @param path - File to write (overwritten if present).
 * @param value - Plain data: objects, arrays, typed arrays, numbers, strings.
 * @param options - {@link SaveJsonOptions}.
 * @returns Resolves once the file is written.
 * @throws {@link InvalidArgumentError} for a bad path or option, a value JSON
 *   cannot hold (tensor, bigint, function, cycle), or a write failure.
 * @example
 * ```ts
 * const report = await activationClustering.detect(clf, data);
 * await saveJson('reports/ac.json', report);
 * ```
 */
export async function saveJson(path: string, value: unknown, options?: SaveJsonOptions): Promise<void> {
  const fn = 'saveJson';
  assertPath(fn, 'path', path);
  const o = resolveIndent(fn, options);
  const text = `${JSON.stringify(toJsonValue(value, fn), null, o.indent) ?? 'null'}\n`;
  const { mkdir, rename, rm, writeFile } = nodeBuiltin(fn, 'node:fs/promises');
  const { dirname } = nodeBuiltin(fn, 'node:path');
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new InvalidArgumentError({ fn, arg: 'path', value: path }, `could not be written (${oneLine(error)})`);
  }
}

function resolveIndent(fn: string, options: unknown): Required<SaveJsonOptions> {
  const o = resolveOptions(fn, SAVE_JSON_DEFAULTS, options);
  assertInteger(fn, 'options.indent', o.indent, 0, 10);
  return o;
}

/**
 * Reads a JSON file.
 *
 * @param path - File to read.
 * @returns The parsed value (typed arrays come back as plain arrays).
 * @throws {@link InvalidArgumentError} when `path` is not a string or names
 *   no readable file.
 * @throws {@link FormatError} (one-line message naming the path) when the
 *   file is not valid JSON.
 * @example
 * ```ts
 * const report = (await loadJson('reports/ac.json')) as { suspicious: number[] };
 * ```
 */
export async function loadJson(path: string): Promise<unknown> {
  const fn = 'loadJson';
  assertPath(fn, 'path', path);
  const text = new TextDecoder().decode(await readFileOrThrow(fn, 'path', path));
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FormatError({ fn, arg: 'path', value: path }, `is not valid JSON (${oneLine(error, 100)})`);
  }
}
