/**
 * stats.fastIca: unmixing two and three known mixed signals (correlation with
 * the originals ≥ 0.99), agreement with scikit-learn's FastICA on a fixed
 * matrix (values computed offline with scikit-learn 1.2.1), parallel and
 * deflation, whitening, the reconstruction identity, determinism, no
 * mutation, every bad input.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { Matrix } from 'ml-matrix';

import { BackdoorKitError } from '../../src/core/errors.js';
import { fastIca, FAST_ICA_DEFAULTS, kmeans } from '../../src/stats/index.js';
import { ready } from '../helpers/backend.js';
import { N, S1, S2, S3, X } from './fixtures.js';

before(async () => {
  await ready;
});

/** |Pearson correlation| of column i of a row-major `n × k` matrix with `signal`. */
function absCorr(values: Float64Array, k: number, i: number, signal: number[]): number {
  const n = signal.length;
  let mx = 0;
  let my = 0;
  for (let t = 0; t < n; t++) {
    mx += values[t * k + i]!;
    my += signal[t]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let t = 0; t < n; t++) {
    const a = values[t * k + i]! - mx;
    const b = signal[t]! - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return Math.abs(sxy) / Math.sqrt(sxx * syy);
}

/** Best |correlation| of each true source with any estimated component. */
function bestMatches(values: Float64Array, k: number, sources: number[][]): number[] {
  return sources.map((s) => Math.max(...Array.from({ length: k }, (_, i) => absCorr(values, k, i, s))));
}

/**
 * `FastICA(3, whiten='unit-variance', random_state=0, max_iter=1000, tol=1e-8)
 *  .fit(X).components_`, each row scaled to unit length (scikit-learn 1.2.1).
 */
const SKLEARN_PARALLEL = [
  [0.746699, -0.091005, -0.412628, 0.513709],
  [0.112164, 0.77387, 0.052764, -0.621096],
  [-0.414032, 0.065323, 0.901028, 0.111616],
];

function unitRows(values: Float64Array, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => {
    const r = Array.from(values.subarray(i * cols, (i + 1) * cols));
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
}

describe('stats.fastIca', () => {
  it('unmixes two known mixed signals (correlation ≥ 0.99)', () => {
    const n = 500;
    const s1 = Array.from({ length: n }, (_, t) => Math.sin(t / 7));
    const s2 = Array.from({ length: n }, (_, t) => (((t % 23) / 23) * 2 - 1) ** 3);
    const x = s1.map((a, t) => [0.6 * a + 0.4 * s2[t]!, 0.45 * a - 0.55 * s2[t]!]);
    for (const algorithm of ['parallel', 'deflation'] as const) {
      const r = fastIca(x, { components: 2, algorithm, seed: 1 });
      assert.equal(r.converged, true, algorithm);
      for (const c of bestMatches(r.sources.values, 2, [s1, s2])) assert.ok(c >= 0.99, `${algorithm}: ${c}`);
    }
  });

  it('agrees with scikit-learn FastICA on a fixed matrix (up to order and sign)', () => {
    for (const seed of [0, 1, 2]) {
      const r = fastIca(X, { components: 3, seed, maxIterations: 1000, tolerance: 1e-8 });
      const ours = unitRows(r.unmixing.values, 3, 4);
      for (const ref of SKLEARN_PARALLEL) {
        const best = Math.max(...ours.map((row) => Math.abs(row.reduce((s, v, j) => s + v * ref[j]!, 0))));
        assert.ok(best > 0.99999, `seed ${seed}: |cos| ${best}`);
      }
      for (const c of bestMatches(r.sources.values, 3, [S1, S2, S3])) assert.ok(c >= 0.99, String(c));
    }
  });

  it("reproduces the peer script's scikit-learn FastICA + KMeans cluster sizes on the fixed matrix", () => {
    // From `/usr/bin/python3 ../shared/peer/sklearn_ica_kmeans.py X.f32 300 4 DIMS K` (scikit-learn 1.2.1:
    // FastICA(DIMS, max_iter=1000, tol=0.005, random_state=0) then KMeans(K, n_init=10, random_state=0)),
    // X = fixtures.ts's matrix written as float32. It printed sizes [168, 132] (DIMS 3, K 2),
    // [132, 78, 90] (DIMS 3, K 3) and [132, 168] (DIMS 2, K 2); sorted here, since ICA and k-means
    // leave the order of components and clusters open.
    const cases: Array<[number, number, number[]]> = [
      [3, 2, [132, 168]],
      [3, 3, [78, 90, 132]],
      [2, 2, [132, 168]],
    ];
    for (const [dims, k, want] of cases) {
      for (const seed of [0, 1]) {
        const r = fastIca(X, { components: dims, maxIterations: 1000, tolerance: 0.005, seed });
        const km = kmeans(r.sources, k, { nInit: 10, seed });
        const sizes = Array.from(km.sizes).sort((a, b) => a - b);
        assert.deepEqual(sizes, want, `dims ${dims}, k ${k}, seed ${seed}`);
      }
    }
  });

  it('deflation recovers the same sources', () => {
    const r = fastIca(X, { components: 3, algorithm: 'deflation', seed: 0, maxIterations: 1000, tolerance: 1e-8 });
    for (const c of bestMatches(r.sources.values, 3, [S1, S2, S3])) assert.ok(c >= 0.99, String(c));
  });

  it('returns unit-variance, uncorrelated sources, and x ≈ sources · mixingᵀ + mean', () => {
    const r = fastIca(X, { components: 3, seed: 0 });
    const { values, rows, cols } = r.sources;
    assert.deepEqual([rows, cols], [N, 3]);
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        let s = 0;
        for (let t = 0; t < N; t++) s += values[t * 3 + a]! * values[t * 3 + b]!;
        assert.ok(Math.abs(s / N - (a === b ? 1 : 0)) < 1e-9, `${a},${b}: ${s / N}`);
      }
    }
    // X has rank 3, so three components reconstruct it exactly
    let err = 0;
    for (let t = 0; t < N; t++) {
      for (let j = 0; j < 4; j++) {
        let v = r.mean[j]!;
        for (let i = 0; i < 3; i++) v += values[t * 3 + i]! * r.mixing.values[j * 3 + i]!;
        err = Math.max(err, Math.abs(v - X[t]![j]!));
      }
    }
    assert.ok(err < 1e-9, `reconstruction error ${err}`);
    // unmixing maps centred data to the sources
    let err2 = 0;
    for (let t = 0; t < N; t += 17) {
      for (let i = 0; i < 3; i++) {
        let v = 0;
        for (let j = 0; j < 4; j++) v += (X[t]![j]! - r.mean[j]!) * r.unmixing.values[i * 4 + j]!;
        err2 = Math.max(err2, Math.abs(v - values[t * 3 + i]!));
      }
    }
    assert.ok(err2 < 1e-9);
  });

  it('accepts number[][], { values, rows, cols } and ml-matrix alike', () => {
    const a = fastIca(X, { components: 2, seed: 3 });
    const b = fastIca({ values: Float32Array.from(X.flat()), rows: N, cols: 4 }, { components: 2, seed: 3 });
    const c = fastIca(new Matrix(X), { components: 2, seed: 3 });
    for (let i = 0; i < a.sources.values.length; i += 31) {
      assert.ok(Math.abs(a.sources.values[i]! - b.sources.values[i]!) < 1e-5);
      assert.equal(a.sources.values[i], c.sources.values[i]);
    }
  });

  it('is deterministic for a seed and does not modify its input', () => {
    const copy = X.map((r) => r.slice());
    const a = fastIca(X, { components: 3, seed: 5 });
    const b = fastIca(X, { components: 3, seed: 5 });
    assert.deepEqual(a.sources.values, b.sources.values);
    assert.equal(a.iterations, b.iterations);
    assert.deepEqual(X, copy);
  });

  it('stops at maxIterations and reports it', () => {
    const r = fastIca(X, { components: 3, seed: 0, maxIterations: 1, tolerance: 1e-12 });
    assert.equal(r.iterations, 1);
    assert.equal(r.converged, false);
  });

  it('has frozen defaults', () => {
    assert.ok(Object.isFrozen(FAST_ICA_DEFAULTS));
    assert.equal(FAST_ICA_DEFAULTS.maxIterations, 200);
  });

  it('rejects bad input, naming the argument', () => {
    const bad: Array<[() => unknown, string, string]> = [
      [() => fastIca('x' as never), 'INVALID_ARGUMENT', "'x'"],
      [() => fastIca([]), 'EMPTY_DATA', "'x'"],
      [() => fastIca([[1, 2], [3]]), 'SHAPE_MISMATCH', "'x[1]'"],
      [() => fastIca([[1, NaN]]), 'NON_FINITE', "'x[0][1]'"],
      [() => fastIca(X, { components: 5 }), 'INVALID_ARGUMENT', "'options.components'"],
      [() => fastIca(X, { components: 0 }), 'INVALID_ARGUMENT', "'options.components'"],
      [() => fastIca(X, { algorithm: 'cubic' as never }), 'INVALID_ARGUMENT', "'options.algorithm'"],
      [() => fastIca(X, { fun: 'exp' as never }), 'INVALID_ARGUMENT', "'options.fun'"],
      [() => fastIca(X, { tolerance: 0 }), 'INVALID_ARGUMENT', "'options.tolerance'"],
      [() => fastIca(X, { maxIterations: 1.5 }), 'INVALID_ARGUMENT', "'options.maxIterations'"],
      [() => fastIca(X, { alpha: 3 }), 'INVALID_ARGUMENT', "'options.alpha'"],
      [() => fastIca(X, { whiten: false } as never), 'INVALID_ARGUMENT', "'options.whiten'"],
      // rank 3 data cannot give 4 components
      [() => fastIca(X, { components: 4 }), 'INVALID_ARGUMENT', "'options.components'"],
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
