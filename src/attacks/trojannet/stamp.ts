/**
 * Stamping a TrojanNet pattern into images.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { assertInteger } from '../../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../../core/errors.js';
import { assertImages } from '../../core/validate.js';
import type { PatchPosition } from './types.js';
import { NUM_PATTERNS, PATTERN_PIXELS, PATTERN_SIDE, writePattern } from './patterns.js';

export function assertPosition(
  fn: string,
  arg: string,
  value: unknown,
  height: number,
  width: number,
): asserts value is PatchPosition {
  const pos = value as Partial<PatchPosition> | null;
  if (pos === null || typeof pos !== 'object' || typeof pos.row !== 'number' || typeof pos.col !== 'number') {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be { row, col }');
  }
  assertInteger(fn, `${arg}.row`, pos.row);
  assertInteger(fn, `${arg}.col`, pos.col);
  if (pos.row < 0 || pos.row + PATTERN_SIDE > height) {
    throw new ShapeError(
      { fn, arg: `${arg}.row`, value: pos.row },
      `must be in [0, ${height - PATTERN_SIDE}] (4×4 area inside ${height} rows)`,
    );
  }
  if (pos.col < 0 || pos.col + PATTERN_SIDE > width) {
    throw new ShapeError(
      { fn, arg: `${arg}.col`, value: pos.col },
      `must be in [0, ${width - PATTERN_SIDE}] (4×4 area inside ${width} columns)`,
    );
  }
}

/**
 * Stamps TrojanNet pattern `patternIndex` onto every image: the 4×4 area at
 * `position` is set to the pattern (1 = on → 1.0, 0 = off → 0.0) in every
 * channel; the rest of each image is unchanged. Vectorised (one mask
 * multiply-add for the whole batch).
 *
 * @param x - Images `[n, h, w, c]` in [0, 1], `h, w >= 4`. Not modified.
 * @param patternIndex - Integer in [0, 4368).
 * @param position - Top-left pixel of the 4×4 area. `undefined`: the
 *   bottom-right corner (the default of {@link insert}).
 * @returns New images `[n, h, w, c]`; the caller owns (disposes) them.
 * @throws {@link BackdoorKitError} for bad images, an index out of range or a
 *   position whose area leaves the image ({@link ShapeError}).
 * @example
 * ```ts
 * const triggered = trojanNet.stampPattern(test.x, 0, { row: 24, col: 24 });
 * ```
 */
export function stampPattern(x: tf.Tensor4D, patternIndex: number, position?: PatchPosition): tf.Tensor4D {
  const fn = 'trojanNet.stampPattern';
  assertImages(fn, 'x', x);
  assertInteger(fn, 'patternIndex', patternIndex, 0, NUM_PATTERNS - 1);
  const [, height, width] = x.shape;
  const pos = position ?? { row: height - PATTERN_SIDE, col: width - PATTERN_SIDE };
  assertPosition(fn, 'position', pos, height, width);
  const values = new Float32Array(PATTERN_PIXELS);
  writePattern(patternIndex, values, 0);
  const keep = new Float32Array(height * width).fill(1);
  const add = new Float32Array(height * width);
  for (let r = 0; r < PATTERN_SIDE; r++) {
    for (let c = 0; c < PATTERN_SIDE; c++) {
      const at = (pos.row + r) * width + pos.col + c;
      keep[at] = 0;
      add[at] = values[r * PATTERN_SIDE + c]!;
    }
  }
  return tf.tidy(() =>
    tf.add(tf.mul(x, tf.tensor4d(keep, [1, height, width, 1])), tf.tensor4d(add, [1, height, width, 1])),
  );
}
