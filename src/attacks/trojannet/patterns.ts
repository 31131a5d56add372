/**
 * TrojanNet's trigger family: the 4,368 binary 4×4 patterns with 5 of 16
 * pixels off, in a fixed order.
 *
 * @packageDocumentation
 */
import { assertInteger } from '../../core/checks.js';

/** Side of a TrojanNet trigger in pixels (4×4). */
export const PATTERN_SIDE = 4;
/** Pixels of a trigger (16). */
export const PATTERN_PIXELS = PATTERN_SIDE * PATTERN_SIDE;
/** Pixels that are off (0) in every trigger (5; the other 11 are on). */
export const PATTERN_OFF_PIXELS = 5;
/** Number of triggers: C(16, 5) = 4368. */
export const NUM_PATTERNS = 4368;

let offTable: Uint8Array | undefined;

/** The off pixels of every pattern, 5 per pattern, in the documented order. */
export function offPixelTable(): Uint8Array {
  if (offTable !== undefined) return offTable;
  const table = new Uint8Array(NUM_PATTERNS * PATTERN_OFF_PIXELS);
  let k = 0;
  for (let a = 0; a < 16; a++)
    for (let b = a + 1; b < 16; b++)
      for (let c = b + 1; c < 16; c++)
        for (let d = c + 1; d < 16; d++)
          for (let e = d + 1; e < 16; e++) {
            table.set([a, b, c, d, e], k * PATTERN_OFF_PIXELS);
            k++;
          }
  offTable = table;
  return table;
}

/** Writes pattern `index` (16 values, 1 = on) into `out` at `offset`. */
export function writePattern(index: number, out: Float32Array, offset: number): void {
  const table = offPixelTable();
  out.fill(1, offset, offset + PATTERN_PIXELS);
  for (let j = 0; j < PATTERN_OFF_PIXELS; j++) out[offset + table[index * PATTERN_OFF_PIXELS + j]!] = 0;
}

/**
 * Trigger pattern `index` of the TrojanNet family: 16 values, row-major 4×4
 * (pixel `r * 4 + c`), `1` = on (full intensity), `0` = off. Exactly 5 pixels
 * are off.
 *
 * Order (fixed, part of the API): pattern `i` is the `i`-th 5-element subset
 * `{a < b < c < d < e}` of the pixel indices 0..15 in lexicographic order,
 * those pixels being the off ones. This is the order of Python's
 * `itertools.combinations(range(16), 5)` that the reference implementation
 * (`synthesize_backdoor_map`) uses, so index `i` here is `combination_list[i]`
 * there: pattern 0 has pixels 0–4 off, pattern 1 pixels 0–3 and 5 off, ...,
 * pattern 4367 pixels 11–15 off.
 *
 * @param index - Integer in [0, 4368).
 * @returns 16 numbers, each 0 or 1 (a new array).
 * @throws {@link InvalidArgumentError} if `index` is not an integer in [0, 4368).
 * @example
 * ```ts
 * trojanNet.pattern(0); // [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
 * ```
 */
export function pattern(index: number): number[] {
  assertInteger('trojanNet.pattern', 'index', index, 0, NUM_PATTERNS - 1);
  const out = new Float32Array(PATTERN_PIXELS);
  writePattern(index, out, 0);
  return Array.from(out);
}

/**
 * All 4,368 TrojanNet trigger patterns in the order of {@link pattern}.
 *
 * @returns An array of 4,368 arrays of 16 zeros and ones (new arrays).
 * @example
 * ```ts
 * const all = trojanNet.patterns();
 * all.length;                          // 4368
 * all[4367];                           // eleven 1s, then five 0s
 * ```
 */
export function patterns(): number[][] {
  const out = new Float32Array(PATTERN_PIXELS);
  const all: number[][] = [];
  for (let i = 0; i < NUM_PATTERNS; i++) {
    writePattern(i, out, 0);
    all.push(Array.from(out));
  }
  return all;
}

/** Euclidean distance from a 16-value patch to the nearest trigger pattern (any of the 4,368). */
export function distanceToFamily(values: Float32Array, offset: number, scratch: Float32Array): number {
  for (let q = 0; q < PATTERN_PIXELS; q++) scratch[q] = values[offset + q]!;
  scratch.sort();
  let d = 0;
  for (let q = 0; q < PATTERN_PIXELS; q++) {
    const target = q < PATTERN_OFF_PIXELS ? 0 : 1;
    d += (scratch[q]! - target) ** 2;
  }
  return Math.sqrt(d);
}
