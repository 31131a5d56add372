import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Rng } from '../../src/core/rng.js';
import { auroc, detection, rocCurve } from '../../src/metrics/index.js';
import { expectError } from './fixtures.js';

/** O(n^2) AUROC straight from its definition: P(score+ > score-) + P(tie) / 2. */
function bruteAuroc(scores: ArrayLike<number>, truth: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] !== 1) continue;
    for (let j = 0; j < truth.length; j++) {
      if (truth[j] !== 0) continue;
      pairs++;
      if (scores[i]! > scores[j]!) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

function trapezoid(points: { fpr: number; tpr: number }[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += ((points[i]!.fpr - points[i - 1]!.fpr) * (points[i]!.tpr + points[i - 1]!.tpr)) / 2;
  }
  return area;
}

describe('metrics.detection', () => {
  it('counts and rates on a hand-made table', () => {
    const flags = Uint8Array.of(1, 1, 1, 0, 0, 0, 0, 1);
    const truth = Uint8Array.of(1, 1, 0, 1, 0, 0, 0, 1);
    // tp: 0, 1, 7 = 3; fp: 2 = 1; fn: 3 = 1; tn: 4, 5, 6 = 3
    const r = detection(flags, truth);
    assert.deepEqual(r, {
      tp: 3,
      fp: 1,
      tn: 3,
      fn: 1,
      tpr: 3 / 4,
      fpr: 1 / 4,
      precision: 3 / 4,
      recall: 3 / 4,
      f1: (2 * (3 / 4) * (3 / 4)) / (3 / 4 + 3 / 4),
      accuracy: 6 / 8,
    });
    assert.ok(!('auroc' in r));
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  });

  it('defines the 0/0 cases as 0', () => {
    // nothing flagged: precision 0 (0/0), f1 0
    const none = detection([0, 0, 0], [1, 0, 0]);
    assert.equal(none.precision, 0);
    assert.equal(none.tpr, 0);
    assert.equal(none.f1, 0);
    assert.equal(none.fpr, 0);
    assert.equal(none.accuracy, 2 / 3);
    // no positives in the truth: tpr = recall = 0 (0/0)
    const clean = detection([1, 0], [0, 0]);
    assert.deepEqual([clean.tpr, clean.recall, clean.precision, clean.f1, clean.fpr], [0, 0, 0, 0, 1 / 2]);
    // no negatives: fpr = 0 (0/0)
    const all = detection([1, 0], [1, 1]);
    assert.deepEqual([all.fpr, all.tpr, all.precision, all.f1], [0, 1 / 2, 1, (2 * 0.5) / 1.5]);
    for (const r of [none, clean, all]) {
      for (const v of Object.values(r)) assert.ok(Number.isFinite(v), JSON.stringify(r));
    }
  });

  it('adds the AUROC when scores are given (null when the truth has one class)', () => {
    const r = detection([1, 0, 0, 0], [1, 1, 0, 0], Float32Array.of(0.9, 0.5, 0.5, 0.1));
    assert.equal(r.auroc, 0.875);
    assert.equal(detection([1, 0], [0, 0], [0.3, 0.2]).auroc, null);
    assert.equal(JSON.parse(JSON.stringify(detection([1, 0], [1, 1], [0.3, 0.2]))).auroc, null);
  });

  it('rejects non-binary flags, length mismatches and bad scores, without mutating', () => {
    const F = 'metrics.detection';
    expectError(() => detection([0, 2], [0, 1]), 'INVALID_ARGUMENT', 'flags[1]', F);
    expectError(() => detection([0, 1], [0, 0.5]), 'INVALID_ARGUMENT', 'truth[1]', F);
    expectError(() => detection([0, 1], [0, 1, 1]), 'SHAPE_MISMATCH', 'truth', F);
    expectError(() => detection([], []), 'EMPTY_DATA', 'flags', F);
    expectError(() => detection({ length: 1 } as never, [1]), 'INVALID_ARGUMENT', 'flags', F);
    expectError(() => detection([0, 1], [0, 1], [0.1]), 'SHAPE_MISMATCH', 'scores', F);
    expectError(() => detection([0, 1], [0, 1], [0.1, Number.NaN]), 'NON_FINITE', 'scores[1]', F);
    const flags = Uint8Array.of(1, 0);
    const truth = Uint8Array.of(0, 1);
    const scores = Float32Array.of(0.4, 0.2);
    detection(flags, truth, scores);
    assert.deepEqual(Array.from(flags), [1, 0]);
    assert.deepEqual(Array.from(truth), [0, 1]);
    assert.deepEqual(Array.from(scores), [Math.fround(0.4), Math.fround(0.2)]);
  });
});

describe('metrics.auroc', () => {
  it('matches a hand count with ties counted 1/2', () => {
    // positives score 0.9, 0.8, 0.7, 0.6; negatives 0.8, 0.6, 0.3, 0.3.
    // wins: 0.9 -> 4; 0.8 -> 3 + 1/2 (tie with 0.8); 0.7 -> 3; 0.6 -> 2 + 1/2 (tie with 0.6). 13 / 16.
    const scores = [0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.3, 0.3];
    const truth = [1, 1, 0, 1, 0, 1, 0, 0];
    assert.equal(auroc(scores, truth), 13 / 16);
    assert.equal(auroc([3, 2, 1], [1, 0, 0]), 1);
    assert.equal(auroc([1, 2, 3], [1, 0, 0]), 0);
    assert.equal(auroc([5, 5, 5, 5], [1, 0, 1, 0]), 0.5);
    assert.equal(auroc([Infinity, -Infinity, 0], [1, 0, 0]), 1);
  });

  it('equals the O(n^2) definition and the area under rocCurve on random tied data', () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 5; trial++) {
      const n = 200 + trial * 37;
      const scores = Float32Array.from({ length: n }, () => rng.int(15) / 4);
      const truth = Uint8Array.from({ length: n }, (_, i) => (i < 3 ? i % 2 : rng.next() < 0.3 ? 1 : 0));
      const a = auroc(scores, truth);
      assert.ok(Math.abs(a - bruteAuroc(scores, truth)) < 1e-12, `trial ${trial}`);
      assert.ok(Math.abs(a - trapezoid(rocCurve(scores, truth))) < 1e-12, `trial ${trial} (roc)`);
    }
  });

  it('needs both classes', () => {
    expectError(() => auroc([0.1, 0.2], [1, 1]), 'INVALID_ARGUMENT', 'truth', 'metrics.auroc');
    expectError(() => auroc([0.1, 0.2], [0, 0]), 'INVALID_ARGUMENT', 'truth', 'metrics.auroc');
    expectError(() => auroc([0.1], [0, 1]), 'SHAPE_MISMATCH', 'scores', 'metrics.auroc');
    expectError(() => auroc(['a', 'b'] as never, [0, 1]), 'INVALID_ARGUMENT', 'scores[0]', 'metrics.auroc');
  });
});

describe('metrics.rocCurve', () => {
  it('lists one point per distinct score, from (0, 0) to (1, 1)', () => {
    const pts = rocCurve(Float32Array.of(0.5, 0.9, 0.1, 0.5), Uint8Array.of(1, 1, 0, 0));
    assert.deepEqual(pts, [
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 0, tpr: 0.5, threshold: Math.fround(0.9) },
      { fpr: 0.5, tpr: 1, threshold: 0.5 },
      { fpr: 1, tpr: 1, threshold: Math.fround(0.1) },
    ]);
    assert.equal(trapezoid(pts), 0.875);
    expectError(() => rocCurve([1, 2], [0, 0]), 'INVALID_ARGUMENT', 'truth', 'metrics.rocCurve');
  });
});
