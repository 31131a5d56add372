/**
 * stats.kmeans: exact partitions, centres and inertia on hand-made data, the
 * global optimum over restarts, agreement with scikit-learn's best inertia on
 * a fixed matrix, canonical labels, determinism, no mutation, bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { BackdoorKitError } from '../../src/core/errors.js';
import { kmeans, KMEANS_DEFAULTS } from '../../src/stats/index.js';
import { ready } from '../helpers/backend.js';
import { X } from './fixtures.js';

before(async () => {
  await ready;
});

describe('stats.kmeans', () => {
  it('splits two obvious groups exactly, with hand-computed centres and inertia', () => {
    const r = kmeans(
      [
        [0, 0],
        [10, 0],
        [0, 2],
        [10, 2],
      ],
      2,
      { seed: 3 },
    );
    assert.deepEqual(Array.from(r.labels), [0, 1, 0, 1]); // numbered by first appearance
    assert.deepEqual(Array.from(r.sizes), [2, 2]);
    assert.deepEqual(Array.from(r.centroids.values), [0, 1, 10, 1]);
    assert.equal(r.inertia, 4);
  });

  it('k = 1 gives the mean and the total sum of squares', () => {
    const r = kmeans([[1], [2], [3], [6]], 1);
    assert.deepEqual(Array.from(r.labels), [0, 0, 0, 0]);
    assert.equal(r.centroids.values[0], 3);
    assert.equal(r.inertia, 4 + 1 + 0 + 9);
  });

  it('finds the global optimum of a rectangle (left/right, not top/bottom)', () => {
    const pts = [
      [0, 0],
      [0, 1],
      [4, 0],
      [4, 1],
      [0, 0.5],
      [4, 0.5],
    ];
    for (const seed of [0, 1, 2, 3]) {
      const r = kmeans(pts, 2, { seed });
      assert.deepEqual(Array.from(r.labels), [0, 0, 1, 1, 0, 1], `seed ${seed}`);
      assert.ok(Math.abs(r.inertia - 1) < 1e-12);
    }
  });

  it("matches scikit-learn's best inertia on a fixed matrix", () => {
    // KMeans(k, n_init=50, random_state=0).fit(X).inertia_, scikit-learn 1.2.1
    const ref: Record<number, number> = { 2: 402.50182184934624, 3: 279.1958553026076, 4: 182.36068018998213 };
    for (const k of [2, 3, 4]) {
      const r = kmeans(X, k, { nInit: 20, seed: 0 });
      assert.ok(Math.abs(r.inertia - ref[k]!) < 1e-6 * ref[k]!, `k=${k}: ${r.inertia} vs ${ref[k]}`);
      assert.equal(
        Array.from(r.sizes).reduce((a, b) => a + b, 0),
        X.length,
      );
    }
  });

  it('is deterministic for a seed and does not modify its input', () => {
    const copy = X.map((r) => r.slice());
    const a = kmeans(X, 4, { seed: 9, nInit: 3 });
    const b = kmeans(X, 4, { seed: 9, nInit: 3 });
    assert.deepEqual(a.labels, b.labels);
    assert.equal(a.inertia, b.inertia);
    assert.deepEqual(X, copy);
  });

  it('handles identical points (one non-empty cluster)', () => {
    const r = kmeans(
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
      2,
    );
    assert.equal(r.inertia, 0);
    assert.equal(r.labels[0], 0);
  });

  it('has frozen defaults (10 restarts, as scikit-learn)', () => {
    assert.ok(Object.isFrozen(KMEANS_DEFAULTS));
    assert.equal(KMEANS_DEFAULTS.nInit, 10);
  });

  it('rejects bad input, naming the argument', () => {
    const bad: Array<[() => unknown, string, string]> = [
      [() => kmeans(X, 0), 'INVALID_ARGUMENT', "'k'"],
      [() => kmeans([[1], [2]], 3), 'INVALID_ARGUMENT', "'k'"],
      [() => kmeans(X, 2.5), 'INVALID_ARGUMENT', "'k'"],
      [() => kmeans(null as never, 2), 'INVALID_ARGUMENT', "'x'"],
      [() => kmeans([[1], [Infinity]], 1), 'NON_FINITE', "'x[1][0]'"],
      [() => kmeans({ values: [1, 2, 3], rows: 2, cols: 2 }, 1), 'SHAPE_MISMATCH', "'x.values'"],
      [() => kmeans(X, 2, { nInit: 0 }), 'INVALID_ARGUMENT', "'options.nInit'"],
      [() => kmeans(X, 2, { maxIterations: -1 }), 'INVALID_ARGUMENT', "'options.maxIterations'"],
      [() => kmeans(X, 2, { tolerance: -1 }), 'INVALID_ARGUMENT', "'options.tolerance'"],
      [() => kmeans(X, 2, { seed: NaN }), 'INVALID_ARGUMENT', "'options.seed'"],
      [() => kmeans(X, 2, { init: 'random' } as never), 'INVALID_ARGUMENT', "'options.init'"],
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
