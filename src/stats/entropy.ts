/**
 * Shannon entropy of rows of a probability table (STRIP's score).
 *
 * @packageDocumentation
 */
import { assertNumberArray, assertPositiveInteger } from '../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../core/errors.js';

/**
 * Shannon entropy in bits of each row of a row-major probability table,
 * `H = −Σ_c p_c log2 p_c`, with `0 · log 0 = 0`. Rows are used as given (not
 * renormalised).
 *
 * @param probabilities - `rows × numClasses` values, each in [0, 1].
 * @param numClasses - Row width (>= 1).
 * @returns One entropy per row (float64).
 * @throws {@link InvalidArgumentError} for a bad `numClasses` or a value
 *   outside [0, 1]; {@link ShapeError} when the length is not a multiple of
 *   `numClasses`; {@link NonFiniteError} for NaN.
 * @example
 * ```ts
 * stats.entropyBits([0.5, 0.5, 1, 0, 0.25, 0.75], 2);   // Float64Array [1, 0, 0.811...]
 * ```
 */
export function entropyBits(probabilities: ArrayLike<number>, numClasses: number): Float64Array {
  const fn = 'stats.entropyBits';
  assertPositiveInteger(fn, 'numClasses', numClasses);
  assertNumberArray(fn, 'probabilities', probabilities, { minLength: 0 });
  if (probabilities.length % numClasses !== 0) {
    throw new ShapeError(
      { fn, arg: 'probabilities', value: probabilities.length },
      `must hold a multiple of numClasses (${numClasses}) values`,
    );
  }
  const rows = probabilities.length / numClasses;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let h = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = probabilities[r * numClasses + c]!;
      if (p < 0 || p > 1) {
        throw new InvalidArgumentError(
          { fn, arg: `probabilities[${r * numClasses + c}]`, value: p },
          'must be a probability in [0, 1]',
        );
      }
      if (p > 0) h -= p * Math.log2(p);
    }
    out[r] = h;
  }
  return out;
}
