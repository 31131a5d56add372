/**
 * stats.pca: variances and axes against scikit-learn on a fixed matrix,
 * orthonormal axes, whitening, wide data (more columns than rows), rank, bad
 * input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { BackdoorKitError } from '../../src/core/errors.js';
import { pca } from '../../src/stats/index.js';
import { ready } from '../helpers/backend.js';
import { X } from './fixtures.js';

before(async () => {
  await ready;
});

describe('stats.pca', () => {
  it('matches scikit-learn explained variances on a fixed matrix', () => {
    const r = pca(X, { components: 3 });
    // PCA(3).fit(X).explained_variance_ / _ratio_, scikit-learn 1.2.1
    const v = [2.0769133724787263, 0.46945788585533627, 0.2928506304722026];
    const ratio = [0.7315079461267301, 0.16534737482342995, 0.10314467904983995];
    v.forEach((x, i) => assert.ok(Math.abs(r.explainedVariance[i]! - x) < 1e-10));
    ratio.forEach((x, i) => assert.ok(Math.abs(r.explainedVarianceRatio[i]! - x) < 1e-10));
    assert.equal(r.rank, 3);
  });

  it('returns orthonormal, sign-fixed axes and scores with the explained variances', () => {
    const r = pca(X, { components: 3 });
    const c = r.components.values;
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        let s = 0;
        for (let j = 0; j < 4; j++) s += c[a * 4 + j]! * c[b * 4 + j]!;
        assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-12);
      }
      const firstNonZero = Array.from(c.subarray(a * 4, a * 4 + 4)).find((v) => Math.abs(v) > 1e-12)!;
      assert.ok(firstNonZero > 0);
      let ss = 0;
      for (let t = 0; t < X.length; t++) ss += r.scores.values[t * 3 + a]! ** 2;
      assert.ok(Math.abs(ss / (X.length - 1) - r.explainedVariance[a]!) < 1e-10);
    }
  });

  it('whitens to unit variance', () => {
    const r = pca(X, { components: 2, whiten: true });
    for (let a = 0; a < 2; a++) {
      let ss = 0;
      for (let t = 0; t < X.length; t++) ss += r.scores.values[t * 2 + a]! ** 2;
      assert.ok(Math.abs(ss / (X.length - 1) - 1) < 1e-10);
    }
  });

  it('handles wide data (more columns than rows) through the row Gram matrix', () => {
    const wide = [
      [1, 0, 0, 0, 0, 2],
      [0, 1, 0, 0, 0, 2],
      [0, 0, 1, 0, 0, 2],
    ];
    const r = pca(wide);
    assert.equal(r.components.rows, 3);
    assert.equal(r.rank, 2);
    // the centred identity block C = I − J/3 has CᵀC = C (eigenvalues 1, 1, 0); over n − 1 = 2 → 0.5, 0.5, 0
    assert.ok(Math.abs(r.explainedVariance[0]! - 0.5) < 1e-12);
    assert.ok(Math.abs(r.explainedVariance[1]! - 0.5) < 1e-12);
    assert.ok(Math.abs(r.explainedVariance[2]!) < 1e-12);
  });

  it('rejects bad input, naming the argument', () => {
    const bad: Array<[() => unknown, string, string]> = [
      [() => pca(X, { components: 5 }), 'INVALID_ARGUMENT', "'options.components'"],
      [() => pca(X, { components: 4, whiten: true }), 'INVALID_ARGUMENT', "'options.components'"],
      [() => pca(X, { whiten: 'yes' as never }), 'INVALID_ARGUMENT', "'options.whiten'"],
      [() => pca([[]]), 'EMPTY_DATA', "'x'"],
      [() => pca(X, { scale: true } as never), 'INVALID_ARGUMENT', "'options.scale'"],
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
