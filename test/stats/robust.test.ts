/** stats.median / stats.mad: exact values, no mutation, bad input. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { BackdoorKitError } from '../../src/core/errors.js';
import { mad, MAD_NORMAL_SCALE, median } from '../../src/stats/index.js';
import { ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

describe('stats.median / stats.mad', () => {
  it('computes exact values', () => {
    assert.equal(median([3, 1, 4, 1, 5]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median(Float32Array.of(7)), 7);
    assert.equal(mad([1, 2, 3, 4, 100]), 1);
    assert.equal(mad([1, 2, 3, 4, 100], true), MAD_NORMAL_SCALE);
    assert.equal(mad([5, 5, 5]), 0);
  });

  it('does not modify its input', () => {
    const v = [3, 1, 2];
    median(v);
    mad(v);
    assert.deepEqual(v, [3, 1, 2]);
  });

  it('rejects bad input, naming the argument', () => {
    const bad: Array<[() => unknown, string, string]> = [
      [() => median([]), 'EMPTY_DATA', "'values'"],
      [() => median([1, NaN]), 'NON_FINITE', "'values[1]'"],
      [() => median('12' as never), 'INVALID_ARGUMENT', "'values'"],
      [() => mad([1, '2'] as never), 'INVALID_ARGUMENT', "'values[1]'"],
      [() => mad([1, 2], 1 as never), 'INVALID_ARGUMENT', "'normal'"],
    ];
    for (const [f, code, arg] of bad) {
      assert.throws(
        f,
        (e: unknown) => e instanceof BackdoorKitError && e.code === code && e.message.includes(arg),
        arg,
      );
    }
  });
});
