/**
 * Options objects: merging what a caller passed over a function's defaults,
 * refusing keys the function does not know.
 *
 * @packageDocumentation
 */
import { assertOptionsObject } from './checks.js';
import { InvalidArgumentError } from './errors.js';

/**
 * Merges `options` over `defaults` after checking that it is an object (or
 * undefined) and that every key it holds is one of the defaults' own keys
 * (`Object.hasOwn`, so `toString` or `__proto__` are not options). Keys set
 * to `undefined` keep the default.
 *
 * @param fn - The public function name, for error messages.
 * @param defaults - Every known option with its default value.
 * @param options - What the caller passed.
 * @param arg - The argument name, for error messages.
 * @default arg 'options'
 * @returns A fresh object; neither input is modified.
 * @throws {@link InvalidArgumentError} naming `options.<key>` for an unknown key.
 */
export function resolveOptions<T extends object>(fn: string, defaults: T, options: unknown, arg = 'options'): T {
  assertOptionsObject(fn, options, arg);
  if (options === undefined) return { ...defaults };
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(defaults, key)) {
      throw new InvalidArgumentError(
        { fn, arg: `${arg}.${key}`, value: given[key] },
        `is not a known option (known: ${Object.keys(defaults).join(', ')})`,
      );
    }
  }
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) merged[k] = v;
  return merged as T;
}
