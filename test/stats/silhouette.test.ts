/**
 * stats.silhouetteScore / silhouetteSamples: hand-computed coefficients,
 * agreement with scikit-learn on a fixed matrix, the sampled estimate,
 * singleton clusters, determinism, bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { BackdoorKitError } from '../../src/core/errors.js';
import { silhouetteSamples, silhouetteScore } from '../../src/stats/index.js';
import { ready } from '../helpers/backend.js';
import { S3, X } from './fixtures.js';

before(async () => {
  await ready;
});

describe('stats.silhouette', () => {
  it('matches hand-computed coefficients', () => {
    // point 0: a = 1, b = (10 + 11) / 2 = 10.5 → 9.5 / 10.5; point 1: a = 1, b = 9.5 → 8.5 / 9.5
    const s = silhouetteSamples([[0], [1], [10], [11]], [0, 0, 1, 1]);
    const want = [9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5];
    s.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-15));
    assert.ok(Math.abs(silhouetteScore([[0], [1], [10], [11]], Int32Array.of(0, 0, 1, 1)) - 0.899749373433584) < 1e-15);
  });

  it('gives 0 to a point alone in its cluster (scikit-learn convention)', () => {
    const s = silhouetteSamples([[0], [1], [5]], [0, 0, 1]);
    assert.equal(s[2], 0);
  });

  it('matches scikit-learn on a fixed matrix', () => {
    const labels = S3.map((v) => (v > 0 ? 1 : 0));
    // silhouette_score(X, labels) and silhouette_samples(X, labels)[:5], scikit-learn 1.2.1
    assert.ok(Math.abs(silhouetteScore(X, labels) - 0.46785989140968365) < 1e-12);
    const first = [0.39211312932506326, 0.5289697035776384, 0.6035158046766395, 0.6096290816779728, 0.5692400493251233];
    const s = silhouetteSamples(X, labels);
    first.forEach((v, i) => assert.ok(Math.abs(s[i]! - v) < 1e-12));
  });

  it('estimates from a seeded sample: exact when the sample covers all rows, close otherwise, deterministic', () => {
    const labels = S3.map((v) => (v > 0 ? 1 : 0));
    const exact = silhouetteScore(X, labels);
    assert.equal(silhouetteScore(X, labels, { sampleSize: 1000 }), exact);
    const a = silhouetteScore(X, labels, { sampleSize: 150, seed: 4 });
    const b = silhouetteScore(X, labels, { sampleSize: 150, seed: 4 });
    assert.equal(a, b);
    assert.ok(Math.abs(a - exact) < 0.05, `${a} vs ${exact}`);
  });

  it('rejects bad input, naming the argument', () => {
    const bad: Array<[() => unknown, string, string]> = [
      [() => silhouetteScore(X, [0, 1]), 'SHAPE_MISMATCH', "'labels'"],
      [() => silhouetteScore(X, new Array(X.length).fill(0)), 'INVALID_ARGUMENT', "'labels'"],
      [() => silhouetteScore([[0], [1]], [0, 1]), 'INVALID_ARGUMENT', "'labels'"],
      [() => silhouetteScore([[0], [1], [2]], [0, -1, 1]), 'INVALID_ARGUMENT', "'labels[1]'"],
      [() => silhouetteScore([[0], [1], [2]], 'abc' as never), 'INVALID_ARGUMENT', "'labels'"],
      [
        () => silhouetteScore([[0], [1], [2]], [0, 0, 1], { sampleSize: 0 }),
        'INVALID_ARGUMENT',
        "'options.sampleSize'",
      ],
      [() => silhouetteSamples([[0], [NaN], [2]], [0, 0, 1]), 'NON_FINITE', "'x[1][0]'"],
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
