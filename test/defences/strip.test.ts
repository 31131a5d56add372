import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { Classifier } from '../../src/core/classifier.js';
import { subset } from '../../src/data/index.js';
import * as strip from '../../src/defences/input/strip.js';
import * as stats from '../../src/stats/index.js';
import { toJsonValue } from '../../src/io/json.js';
import { auroc, detection } from '../../src/metrics/index.js';
import { backdoorFixture } from '../helpers/backdoor-fixture.js';
import { ready } from '../helpers/backend.js';
import { errorPredicate, expectError as expectThrow } from '../helpers/errors.js';

before(async () => {
  await ready;
});

const expectReject = (p: Promise<unknown>, code: string, arg: string, fnName: string): Promise<void> =>
  assert.rejects(p, errorPredicate(code, arg, fnName));

const H = (p: number[]): number => -p.reduce((s, v) => s + (v > 0 ? v * Math.log2(v) : 0), 0);

/**
 * A predict-only classifier on 2-feature inputs: p = x / sum(x). Its
 * prediction entropy on any superimposed input is computable by hand.
 */
const ratio: Classifier = {
  inputShape: [2],
  numClasses: 2,
  predict: (x) => tf.tidy(() => tf.div(x, tf.sum(x, 1, true)) as tf.Tensor2D),
};
const ratioProbs = (v: number[]): number[] => v.map((a) => a / v.reduce((s, b) => s + b, 0));

describe('strip statistics (exact)', () => {
  it('entropyBits: bits, 0·log 0 = 0, one value per row', () => {
    const h = stats.entropyBits([0.5, 0.5, 1, 0, 0.25, 0.75, 0, 1], 2);
    assert.deepEqual(Array.from(h), [1, 0, 0.8112781244591328, 0]);
    assert.deepEqual(Array.from(stats.entropyBits(Float32Array.of(0.25, 0.25, 0.25, 0.25), 4)), [2]);
    assert.equal(stats.entropyBits([], 3).length, 0);
    expectThrow(() => stats.entropyBits([0.5, 0.5, 0.2], 2), 'SHAPE_MISMATCH', 'probabilities');
    expectThrow(() => stats.entropyBits([1.5, -0.5], 2), 'INVALID_ARGUMENT', 'probabilities[0]');
    expectThrow(() => stats.entropyBits([0.5, NaN], 2), 'NON_FINITE', 'probabilities[1]');
    expectThrow(() => stats.entropyBits([1], 0), 'INVALID_ARGUMENT', 'numClasses');
  });

  it('normalFit is the maximum-likelihood fit (population std)', () => {
    const f = stats.normalFit([1, 2, 3, 4]);
    assert.equal(f.mean, 2.5);
    assert.equal(f.std, Math.sqrt(1.25));
    assert.deepEqual(stats.normalFit([7]), { mean: 7, std: 0 });
    expectThrow(() => stats.normalFit([]), 'EMPTY_DATA', 'values');
  });

  it('normalQuantile agrees with scipy.stats.norm.ppf', () => {
    // scipy 1.x: norm.ppf([1e-300, 1e-10, 0.001, 0.01, 0.05, 0.2, 0.5, 0.924, 0.975, 1 - 1e-12])
    const ref: Array<[number, number]> = [
      [1e-300, -37.0470962993612],
      [1e-10, -6.361340902404056],
      [0.001, -3.090232306167813],
      [0.01, -2.3263478740408408],
      [0.05, -1.6448536269514729],
      [0.2, -0.8416212335729142],
      [0.5, 0],
      [0.924, 1.432502720825812],
      [0.975, 1.959963984540054],
      [1 - 1e-12, 7.0344869100478356],
    ];
    for (const [p, z] of ref)
      assert.ok(Math.abs(stats.normalQuantile(p) - z) < 1e-13 * Math.max(1, Math.abs(z)), `p=${p}`);
    for (const bad of [0, 1, -0.1, NaN]) expectThrow(() => stats.normalQuantile(bad), 'INVALID_ARGUMENT', 'p');
  });

  it('quantile is numpy.quantile (linear)', () => {
    assert.equal(stats.quantile([4, 1, 3, 2], 0.5), 2.5);
    assert.ok(Math.abs(stats.quantile([1, 2, 3, 4, 5], 0.1) - 1.4) < 1e-12);
    assert.equal(stats.quantile([3, 1, 2], 0), 1);
    assert.equal(stats.quantile([3, 1, 2], 1), 3);
    const input = [5, 4, 3];
    stats.quantile(input, 0.3);
    assert.deepEqual(input, [5, 4, 3]);
  });

  it('thresholdAtFrr: normal fit and empirical quantile, both polarities', () => {
    const clean = [1, 2, 3, 4];
    const z = -2.3263478740408408;
    assert.ok(Math.abs(stats.thresholdAtFrr(clean, 0.01) - (2.5 + Math.sqrt(1.25) * z)) < 1e-12);
    assert.ok(Math.abs(stats.thresholdAtFrr(clean, 0.01, { polarity: 'high' }) - (2.5 - Math.sqrt(1.25) * z)) < 1e-12);
    assert.equal(stats.thresholdAtFrr([1, 2, 3, 4, 5], 0.25, { method: 'quantile' }), 2);
    assert.equal(stats.thresholdAtFrr([1, 2, 3, 4, 5], 0.25, { method: 'quantile', polarity: 'high' }), 4);
    for (const frr of [0, 1, 1.5, -0.1, NaN]) {
      expectThrow(() => stats.thresholdAtFrr(clean, frr), 'INVALID_ARGUMENT', 'frr');
    }
    expectThrow(
      () => stats.thresholdAtFrr(clean, 0.1, { method: 'mean' as 'normal' }),
      'INVALID_ARGUMENT',
      'options.method',
    );
    expectThrow(() => stats.thresholdAtFrr([], 0.1), 'EMPTY_DATA', 'cleanScores');
  });
});

/** A hand-made calibration for {@link ratio} over `pool` (threshold 0.93 bits, quantile rule). */
function handCalibration(pool: number[][], over: Partial<strip.StripCalibration>): strip.StripCalibration {
  return {
    kind: 'strip-calibration',
    inputShape: [2],
    numClasses: 2,
    overlays: pool.length,
    superimpose: 'add',
    alpha: 0.5,
    poolSize: pool.length,
    pool: Float32Array.from(pool.flat()),
    cleanEntropy: Float32Array.of(0.9, 0.95, 1),
    mean: 0.95,
    std: 0.05,
    frr: 0.01,
    thresholdMethod: 'quantile',
    threshold: 0.93,
    ...over,
  };
}

describe('strip.calibrate / strip.detect on a hand-made predict-only classifier (exact)', () => {
  // five clean inputs; with N = 4 each is overlaid with all four others
  const cleanRows = [
    [1, 1],
    [1.2, 1],
    [1, 1.5],
    [2, 1],
    [1, 3],
  ];

  it('the clean entropy of each image is the mean over all other images, threshold from the normal fit', async () => {
    const x = tf.tensor2d(cleanRows);
    const before = tf.memory().numTensors;
    const cal = await strip.calibrate(ratio, x, { overlays: 4, batchSize: 3 });
    assert.equal(tf.memory().numTensors, before);
    const expected = cleanRows.map((a, i) => {
      let s = 0;
      cleanRows.forEach((b, k) => {
        if (k !== i) s += H(ratioProbs([a[0]! + b[0]!, a[1]! + b[1]!]));
      });
      return s / 4;
    });
    expected.forEach((v, i) =>
      assert.ok(Math.abs(cal.cleanEntropy[i]! - v) < 1e-5, `${i}: ${cal.cleanEntropy[i]} vs ${v}`),
    );
    assert.equal(cal.poolSize, 5);
    assert.deepEqual(Array.from(cal.pool).sort(), cleanRows.flat().map(Math.fround).sort());
    const fit = stats.normalFit(cal.cleanEntropy);
    assert.ok(Math.abs(cal.threshold - (fit.mean + fit.std * stats.normalQuantile(0.01))) < 1e-12);
    assert.equal(cal.mean, fit.mean);
    assert.equal(cal.std, fit.std);
    // blend: alpha·x + (1 − alpha)·o
    const calB = await strip.calibrate(ratio, x, { overlays: 4, superimpose: 'blend', alpha: 0.25 });
    const b0 =
      cleanRows.slice(1).reduce((s, o) => s + H(ratioProbs([0.25 + 0.75 * o[0]!, 0.25 + 0.75 * o[1]!])), 0) / 4;
    assert.ok(Math.abs(calB.cleanEntropy[0]! - b0) < 1e-5);
    // max: the pixel-wise maximum max(x, o); every clean entropy exact
    const calM = await strip.calibrate(ratio, x, { overlays: 4, superimpose: 'max' });
    assert.equal(calM.superimpose, 'max');
    cleanRows.forEach((a, i) => {
      const want =
        cleanRows.reduce(
          (s, b, k) => (k === i ? s : s + H(ratioProbs([Math.max(a[0]!, b[0]!), Math.max(a[1]!, b[1]!)]))),
          0,
        ) / 4;
      assert.ok(Math.abs(calM.cleanEntropy[i]! - want) < 1e-5, `max ${i}: ${calM.cleanEntropy[i]} vs ${want}`);
    });
    // plain data, JSON-serialisable
    assert.doesNotThrow(() => JSON.stringify(toJsonValue(cal)));
    x.dispose();
  });

  it('detect: score = mean entropy over the overlays, flagged below the threshold, both rules', async () => {
    const pool = [
      [1, 1],
      [1, 2],
      [3, 1],
    ];
    const base = handCalibration(pool, { overlays: 3, superimpose: 'add' });
    const inputs = tf.tensor2d([
      [9, 0.1],
      [1, 1],
      [0.1, 9],
    ]);
    const before = tf.memory().numTensors;
    const r = await strip.detect(ratio, inputs, { calibration: base });
    assert.equal(tf.memory().numTensors, before);
    const want = [
      [9, 0.1],
      [1, 1],
      [0.1, 9],
    ].map((a) => pool.reduce((s, o) => s + H(ratioProbs([a[0]! + o[0]!, a[1]! + o[1]!])), 0) / 3);
    want.forEach((v, i) => assert.ok(Math.abs(r.scores[i]! - v) < 1e-5));
    // the calibration's 'max' rule: score = mean over the pool of H(max(x, o))
    const rMax = await strip.detect(ratio, inputs, { calibration: { ...base, superimpose: 'max' } });
    [
      [9, 0.1],
      [1, 1],
      [0.1, 9],
    ]
      .map((a) => pool.reduce((s, o) => s + H(ratioProbs([Math.max(a[0]!, o[0]!), Math.max(a[1]!, o[1]!)])), 0) / 3)
      .forEach((v, i) => assert.ok(Math.abs(rMax.scores[i]! - v) < 1e-5, `max ${i}: ${rMax.scores[i]} vs ${v}`));
    assert.deepEqual(
      Array.from(r.suspicious),
      want.map((v) => (v < 0.93 ? 1 : 0)),
    );
    assert.deepEqual(Array.from(r.suspicious), [1, 0, 1]);
    assert.equal(r.threshold, 0.93);
    assert.equal(r.polarity, 'low');
    assert.deepEqual(Array.from(r.overlaysUsed), [3, 3, 3]);
    assert.equal(r.forwardPasses, 9);
    // a different FRR / method re-derives the threshold from the clean entropies
    const q = await strip.detect(ratio, inputs, { calibration: base, frr: 0.5, thresholdMethod: 'quantile' });
    assert.ok(Math.abs(q.threshold - 0.95) < 1e-6);
    // plain arrays (a calibration loaded from JSON) work too
    const fromJson = toJsonValue(base) as unknown as strip.StripCalibration;
    const j = await strip.detect(ratio, inputs, { calibration: fromJson });
    assert.deepEqual(Array.from(j.scores), Array.from(r.scores));
    assert.equal(r.overlayEntropies, undefined);
    // returnEntropies: every per-overlay entropy, [n, N] in draw order; N = poolSize here, so
    // each row is a permutation of the entropies against the three pool images
    const e = await strip.detect(ratio, inputs, { calibration: base, returnEntropies: true });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(Array.from(e.scores), Array.from(r.scores));
    const ent = e.overlayEntropies!;
    assert.equal(ent.length, 9);
    [
      [9, 0.1],
      [1, 1],
      [0.1, 9],
    ].forEach((a, i) => {
      const row = Array.from(ent.subarray(3 * i, 3 * i + 3));
      const hand = pool.map((o) => H(ratioProbs([a[0]! + o[0]!, a[1]! + o[1]!])));
      const sortNum = (v: number[]) => [...v].sort((p, q) => p - q);
      sortNum(row).forEach((v, k) => assert.ok(Math.abs(v - sortNum(hand)[k]!) < 1e-5, `${i}: ${row} vs ${hand}`));
      assert.ok(Math.abs(row.reduce((p, q) => p + q, 0) / 3 - r.scores[i]!) < 1e-6);
    });
    // adaptive + returnEntropies: the overlays an input skipped are NaN, the rest average to its score
    const ad = await strip.detect(ratio, inputs, {
      calibration: base,
      returnEntropies: true,
      adaptive: true,
      minOverlays: 2,
      overlayStep: 1,
    });
    for (let i = 0; i < 3; i++) {
      const row = Array.from(ad.overlayEntropies!.subarray(3 * i, 3 * i + 3));
      const used = ad.overlaysUsed[i]!;
      assert.ok(used >= 2 && used <= 3);
      assert.ok(row.slice(0, used).every((v) => Number.isFinite(v)));
      assert.ok(row.slice(used).every((v) => Number.isNaN(v)));
      const mean = row.slice(0, used).reduce((p, q) => p + q, 0) / used;
      assert.ok(Math.abs(mean - ad.scores[i]!) < 1e-6);
    }
    assert.doesNotThrow(() => JSON.stringify(toJsonValue(e)));
    inputs.dispose();
  });
});

describe('strip with several overlays per superimposed image (exact)', () => {
  const rows = [
    [1, 1],
    [1.2, 1],
    [1, 1.5],
  ];
  const combine = (mode: strip.Superimpose, a: number[], os: number[][], alpha = 0.5): number[] =>
    a.map((v, d) => {
      const col = os.map((o) => o[d]!);
      if (mode === 'add') return v + col.reduce((p, q) => p + q, 0);
      if (mode === 'max') return Math.max(v, ...col);
      return alpha * v + ((1 - alpha) * col.reduce((p, q) => p + q, 0)) / col.length;
    });

  it('calibrate: with N = 1 and k = 2 each image is combined with both others at once', async () => {
    const x = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    for (const mode of ['add', 'blend', 'max'] as const) {
      const cal = await strip.calibrate(ratio, x, {
        overlays: 1,
        overlaysPerImage: 2,
        superimpose: mode,
        alpha: 0.25,
      });
      assert.equal(cal.overlaysPerImage, 2);
      rows.forEach((a, i) => {
        const others = rows.filter((_, j) => j !== i);
        const want = H(ratioProbs(combine(mode, a, others, 0.25)));
        assert.ok(Math.abs(cal.cleanEntropy[i]! - want) < 1e-5, `${mode} ${i}: ${cal.cleanEntropy[i]} vs ${want}`);
      });
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  it('detect: every superimposed image combines the input with k distinct pool images', async () => {
    const pool = [
      [1, 1],
      [1, 2],
      [3, 1],
    ];
    const cal = handCalibration(pool, { overlays: 1, superimpose: 'max', overlaysPerImage: 3 });
    const inputs = tf.tensor2d([
      [9, 0.1],
      [0.5, 0.5],
    ]);
    const before = tf.memory().numTensors;
    for (const mode of ['add', 'blend', 'max'] as const) {
      const r = await strip.detect(ratio, inputs, { calibration: { ...cal, superimpose: mode } });
      [
        [9, 0.1],
        [0.5, 0.5],
      ].forEach((a, i) => {
        const want = H(ratioProbs(combine(mode, a, pool)));
        assert.ok(Math.abs(r.scores[i]! - want) < 1e-5, `${mode} ${i}: ${r.scores[i]} vs ${want}`);
      });
      assert.equal(r.forwardPasses, 2);
    }
    // a pool too small for N·k draws, and an option contradicting the calibration
    await expectReject(
      strip.detect(ratio, inputs, { calibration: { ...cal, overlays: 2 } }),
      'INVALID_ARGUMENT',
      'options.calibration.poolSize',
      'strip.detect',
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, overlaysPerImage: 1 }),
      'INVALID_ARGUMENT',
      'options.overlaysPerImage',
      'strip.detect',
    );
    // a calibration saved before the option existed reads as k = 1
    const { overlaysPerImage: _k, ...old } = cal;
    const one = await strip.detect(ratio, inputs, { calibration: { ...old, superimpose: 'max' } });
    assert.equal(one.forwardPasses, 2);
    assert.equal(tf.memory().numTensors, before);
    inputs.dispose();
  });
});

describe('strip on the planted-backdoor fixture', () => {
  it('separates triggered from clean inputs on the backdoored model, not on the clean twin', async () => {
    const f = await backdoorFixture();
    const held = subset(
      f.cleanTrain,
      Array.from({ length: 300 }, (_, i) => i),
    );
    const n = 150;
    const x = tf.concat([tf.slice(f.test.x, 0, n), tf.slice(f.triggered.x, 0, n)]);
    const truth = new Uint8Array(2 * n).fill(1, n);
    const xCopy = Array.from(await x.data());
    const before = tf.memory().numTensors;
    const cal = await strip.calibrate(f.backdoored, held, { overlays: 20, poolSize: 150, seed: 1 });
    const r = await strip.detect(f.backdoored, x, { calibration: cal, seed: 2 });
    assert.equal(tf.memory().numTensors, before);
    const d = detection(
      r.suspicious,
      truth,
      Float32Array.from(r.scores, (v) => -v),
    );
    // measured: AUROC 0.88, FPR 0.007, TPR 0.19
    assert.ok(d.auroc! > 0.8, `AUROC ${d.auroc}`);
    assert.ok(d.fpr <= 0.05, `FRR ${d.fpr}`);
    assert.ok(d.tpr >= 0.08, `TPR ${d.tpr}`);
    // the clean twin has no backdoor: the triggered inputs look clean
    const calC = await strip.calibrate(f.clean, held, { overlays: 20, poolSize: 150, seed: 1 });
    const rc = await strip.detect(f.clean, x, { calibration: calC, seed: 2 });
    const a = auroc(
      Float32Array.from(rc.scores, (v) => -v),
      truth,
    );
    assert.ok(a < 0.7, `clean-model AUROC ${a}`);
    // adaptive mode: fewer forward passes, nearly the same decisions
    const ad = await strip.detect(f.backdoored, x, { calibration: cal, seed: 2, adaptive: true });
    assert.ok(ad.forwardPasses < 0.85 * r.forwardPasses, `passes ${ad.forwardPasses} of ${r.forwardPasses}`);
    let same = 0;
    for (let i = 0; i < 2 * n; i++) if (ad.suspicious[i] === r.suspicious[i]) same++;
    assert.ok(same >= 0.97 * 2 * n, `same decisions ${same} / ${2 * n}`);
    // seeded: the same seed gives the same scores, another seed other ones
    const again = await strip.detect(f.backdoored, x, { calibration: cal, seed: 2 });
    assert.deepEqual(Array.from(again.scores), Array.from(r.scores));
    const other = await strip.detect(f.backdoored, x, { calibration: cal, seed: 3 });
    assert.notDeepEqual(Array.from(other.scores), Array.from(r.scores));
    // inputs untouched
    assert.deepEqual(Array.from(await x.data()), xCopy);
    x.dispose();
    held.x.dispose();
  });

  it('detect with cleanData calibrates first; onProgress reports and AbortSignal stops', async () => {
    const f = await backdoorFixture();
    const held = subset(
      f.cleanTrain,
      Array.from({ length: 60 }, (_, i) => i),
    );
    const x = tf.slice(f.triggered.x, 0, 10);
    const stages = new Set<string>();
    let last = 0;
    const r = await strip.detect(f.backdoored, x, {
      cleanData: held,
      overlays: 10,
      poolSize: 50,
      batchSize: 40,
      onProgress: (e) => {
        stages.add(e.stage);
        if (e.stage === 'strip:detect') {
          assert.ok(e.done > last && e.done <= e.total);
          last = e.done;
        }
      },
    });
    assert.deepEqual([...stages].sort(), ['strip:calibrate', 'strip:detect']);
    assert.equal(last, 100);
    assert.equal(r.suspicious.length, 10);
    const before = tf.memory().numTensors;
    const ac = new AbortController();
    ac.abort();
    await expectReject(
      strip.detect(f.backdoored, x, { cleanData: held, overlays: 10, signal: ac.signal }),
      'ABORTED',
      'signal',
      'strip.detect',
    );
    const mid = new AbortController();
    await expectReject(
      strip.calibrate(f.backdoored, held, {
        overlays: 10,
        poolSize: 50,
        batchSize: 20,
        signal: mid.signal,
        onProgress: () => mid.abort(),
      }),
      'ABORTED',
      'signal',
      'strip.calibrate',
    );
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    held.x.dispose();
  });
});

describe('strip bad input', () => {
  const clean = (): tf.Tensor => tf.tensor2d(Array.from({ length: 12 }, (_, i) => [1 + i / 10, 1]));

  it('rejects bad options before any work', async () => {
    const x = clean();
    const inputs = tf.tensor2d([[1, 2]]);
    const c = 'strip.calibrate';
    await expectReject(strip.calibrate(ratio, x, { overlays: 0 }), 'INVALID_ARGUMENT', 'options.overlays', c);
    await expectReject(strip.calibrate(ratio, x, { overlays: 2.5 }), 'INVALID_ARGUMENT', 'options.overlays', c);
    for (const frr of [0, 1, 1.2, -0.01]) {
      await expectReject(strip.calibrate(ratio, x, { overlays: 4, frr }), 'INVALID_ARGUMENT', 'options.frr', c);
    }
    await expectReject(
      strip.calibrate(ratio, x, { overlays: 4, poolSize: 4 }),
      'INVALID_ARGUMENT',
      'options.poolSize',
      c,
    );
    await expectReject(strip.calibrate(ratio, x, { overlays: 4, alpha: 2 }), 'INVALID_ARGUMENT', 'options.alpha', c);
    await expectReject(
      strip.calibrate(ratio, x, { overlays: 4, superimpose: 'min' as 'add' }),
      'INVALID_ARGUMENT',
      'options.superimpose',
      c,
    );
    await expectReject(strip.calibrate(ratio, x, { overlays: 20 }), 'INVALID_ARGUMENT', 'cleanData', c);
    for (const overlaysPerImage of [0, 1.5]) {
      await expectReject(
        strip.calibrate(ratio, x, { overlays: 2, overlaysPerImage }),
        'INVALID_ARGUMENT',
        'options.overlaysPerImage',
        c,
      );
    }
    await expectReject(
      strip.calibrate(ratio, x, { overlays: 4, overlaysPerImage: 3, poolSize: 12 }),
      'INVALID_ARGUMENT',
      'options.poolSize',
      c,
    );
    await expectReject(
      strip.calibrate(ratio, x, { overlays: 4, overlaysPerImage: 3 }),
      'INVALID_ARGUMENT',
      'cleanData',
      c,
    );
    await expectReject(
      strip.calibrate(ratio, x, { overlays: 4, nope: 1 } as strip.StripCalibrateOptions),
      'INVALID_ARGUMENT',
      'options.nope',
      c,
    );
    await expectReject(strip.calibrate(ratio, tf.zeros([3, 3]), { overlays: 1 }), 'SHAPE_MISMATCH', 'cleanData', c);
    await expectReject(strip.calibrate({} as Classifier, x), 'INVALID_ARGUMENT', 'classifier', c);
    const d = 'strip.detect';
    await expectReject(strip.detect(ratio, inputs, { overlays: 4 }), 'INVALID_ARGUMENT', 'options.calibration', d);
    const cal = await strip.calibrate(ratio, x, { overlays: 4 });
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, cleanData: x }),
      'INVALID_ARGUMENT',
      'options.calibration',
      d,
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, overlays: 5 }),
      'INVALID_ARGUMENT',
      'options.overlays',
      d,
    );
    await expectReject(strip.detect(ratio, inputs, { calibration: cal, frr: 1 }), 'INVALID_ARGUMENT', 'options.frr', d);
    await expectReject(strip.detect(ratio, tf.zeros([2, 3]), { calibration: cal }), 'SHAPE_MISMATCH', 'inputs', d);
    await expectReject(strip.detect(ratio, tf.zeros([0, 2]), { calibration: cal }), 'EMPTY_DATA', 'inputs', d);
    await expectReject(strip.detect(ratio, tf.tensor2d([[NaN, 1]]), { calibration: cal }), 'NON_FINITE', 'inputs', d);
    const other: Classifier = { ...ratio, inputShape: [3] };
    await expectReject(
      strip.detect(other, tf.zeros([1, 3]), { calibration: cal }),
      'SHAPE_MISMATCH',
      'options.calibration.inputShape',
      d,
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: { ...cal, pool: new Float32Array(3) } }),
      'SHAPE_MISMATCH',
      'options.calibration.pool',
      d,
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, adaptive: true, minOverlays: 0 }),
      'INVALID_ARGUMENT',
      'options.minOverlays',
      d,
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, returnEntropies: 'yes' as unknown as boolean }),
      'INVALID_ARGUMENT',
      'options.returnEntropies',
      d,
    );
    await expectReject(
      strip.detect(ratio, inputs, { calibration: cal, adaptive: 1 as unknown as boolean }),
      'INVALID_ARGUMENT',
      'options.adaptive',
      d,
    );
    const bad: Classifier = { inputShape: [2], numClasses: 3, predict: (t) => ratio.predict(t) };
    await expectReject(strip.detect(bad, inputs, { cleanData: x, overlays: 4 }), 'SHAPE_MISMATCH', 'classifier', d);
    tf.dispose([x, inputs]);
  });
});
