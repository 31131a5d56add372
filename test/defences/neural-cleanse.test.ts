import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { ready } from '../helpers/backend.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import { fromLayersModel } from '../../src/core/layers-model.js';
import type { Classifier } from '../../src/core/classifier.js';
import type { LabeledData } from '../../src/core/types.js';
import { subset } from '../../src/data/index.js';
import { triggeredTestSet } from '../../src/poisoning/index.js';
import { accuracy, attackSuccessRate } from '../../src/metrics/index.js';
import {
  chooseSchedule,
  detect,
  filter,
  outlierDetection,
  repair,
  type NeuralCleanseOptions,
  type NeuralCleanseReport,
  type UnlearningCandidate,
} from '../../src/defences/model/neural-cleanse/index.js';
import { CostSchedule } from '../../src/defences/model/neural-cleanse/cost-schedule.js';

before(async () => {
  await ready;
});

/**
 * The authors' cost schedule (patience 5, ×2 / ÷2^1.5, init cost 1e-3,
 * early stop without any progress) on a shortened budget for the 14×14
 * fixture on cpu: steps of 32 inputs in mini-batches of 8, early-stop
 * patience 10 instead of 25, at most 150 steps (the benchmark runs the
 * full schedule). Measured on the fixture: the backdoored model flags
 * labels 2 and 0 (label 0 index ≈ 3.5), the clean twin flags nothing
 * (largest index ≈ 1.4). Label 2 has a naturally small trigger on this tiny
 * 14×14 model (norm ≈ 13 in both twins): with 196 pixels and a 3×3 trigger
 * the planted trigger is not much smaller than the natural ones.
 */
const SHORT: NeuralCleanseOptions = Object.freeze({
  steps: 150,
  samplesPerStep: 32,
  trainBatchSize: 8,
  patience: 5,
  initCost: 1e-3,
  costMultiplier: 2,
  earlyStopThreshold: 1,
  earlyStopPatience: 10,
});

/** A few steps only: for API behaviour, not effectiveness. */
const TINY: NeuralCleanseOptions = Object.freeze({
  steps: 6,
  samplesPerStep: 16,
  trainBatchSize: 8,
  patience: 2,
  initCost: 0.01,
  earlyStopPatience: 2,
  labels: [0, 1, 2],
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** The fixture's 3×3 trigger sits at rows/cols 10..12 of the 14×14 image. */
function massInTrigger(mask: readonly number[]): number {
  let inside = 0;
  let total = 0;
  mask.forEach((v, i) => {
    const r = Math.floor(i / 14);
    const c = i % 14;
    total += v;
    if (r >= 10 && r <= 12 && c >= 10 && c <= 12) inside += v;
  });
  return inside / total;
}

async function weightsSum(clf: { model: tfl.LayersModel }): Promise<number[]> {
  const out: number[] = [];
  for (const w of clf.model.getWeights()) out.push(...(await w.data()));
  return out;
}

describe('neuralCleanse.outlierDetection', () => {
  it('computes median, MAD (×1.4826) and anomaly indices exactly (even count)', () => {
    const r = outlierDetection([10, 50, 52, 54, 56, 58]);
    assert.equal(r.median, 53);
    assert.ok(Math.abs(r.mad - 1.4826 * 3) < 1e-12);
    const expected = [43, 3, 1, -1, -3, -5].map((v) => v / (1.4826 * 3));
    r.indices.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-12, `index ${i}`));
    assert.deepEqual(r.flagged, [0]);
    assert.ok(Math.abs(r.anomalyIndex - 43 / (1.4826 * 3)) < 1e-12);
  });

  it('flags only labels below the median, smallest norm first; odd count; custom threshold', () => {
    // median 3, |dev| = 2,1,0,1,97 -> MAD 1 × 1.4826
    const r = outlierDetection([2, 1, 3, 4, 100]);
    assert.equal(r.median, 3);
    assert.ok(Math.abs(r.mad - 1.4826) < 1e-12);
    assert.deepEqual(r.flagged, []); // (3 − 1) / 1.4826 = 1.35 < 2; 100 is above the median
    assert.ok(r.indices[4]! < -60);
    const r1 = outlierDetection([2, 1, 3, 4, 100], { threshold: 0.5 });
    assert.deepEqual(r1.flagged, [1, 0]); // 1.35 and 0.67 > 0.5, norm 1 first
    assert.ok(Math.abs(r1.anomalyIndex - 2 / 1.4826) < 1e-12);
  });

  it("scale 'log' applies the same test to ln(norm)", () => {
    const e = Math.E;
    // ln: 0, 1, 2, 3, 10 -> median 2, |dev| 2, 1, 0, 1, 8 -> MAD 1.4826
    const r = outlierDetection([1, e, e ** 2, e ** 3, e ** 10], { scale: 'log' });
    assert.ok(Math.abs(r.median - 2) < 1e-12);
    assert.ok(Math.abs(r.mad - 1.4826) < 1e-12);
    assert.ok(Math.abs(r.indices[0]! - 2 / 1.4826) < 1e-12);
    assert.deepEqual(r.flagged, []);
    assert.deepEqual(outlierDetection([1, e, e ** 2, e ** 3, e ** 10], { scale: 'log', threshold: 1 }).flagged, [0]);
    assert.throws(() => outlierDetection([0, 1, 2], { scale: 'log' }), { message: /norms\[0\]/ });
    assert.throws(() => outlierDetection([1, 1, 2], { scale: 'cubic' as 'log' }), { message: /options\.scale/ });
  });

  it('handles MAD = 0 and rejects bad input', () => {
    const r = outlierDetection([5, 5, 5, 1]);
    assert.equal(r.mad, 0);
    assert.deepEqual(r.indices, [0, 0, 0, Infinity]);
    assert.deepEqual(r.flagged, [3]);
    assert.throws(() => outlierDetection([1, 2]), { code: 'INVALID_ARGUMENT', message: /norms/ });
    assert.throws(() => outlierDetection([1, NaN, 3]), { code: 'NON_FINITE', message: /norms\[1\]/ });
    assert.throws(() => outlierDetection([1, 2, 3], { threshold: 0 }), { message: /options\.threshold/ });
    assert.throws(() => outlierDetection([1, 2, 3], { threshold: -1 }), { message: /options\.threshold/ });
  });
});

describe('neuralCleanse.CostSchedule', () => {
  it('starts at 0, sets initCost after `patience` successes, then ×m up and ÷m^1.5 down, and stops early', () => {
    const s = new CostSchedule({
      patience: 2,
      initCost: 1e-3,
      costMultiplier: 1.5,
      earlyStopThreshold: 0.99,
      earlyStopPatience: 4,
    });
    assert.equal(s.cost, 0);
    assert.deepEqual(s.update(1, 40), { saveBest: true, stop: false });
    assert.equal(s.cost, 0);
    assert.deepEqual(s.update(1, 39), { saveBest: true, stop: false });
    assert.equal(s.cost, 1e-3); // set after 2 successes in a row
    assert.deepEqual(s.update(1, 38.9), { saveBest: true, stop: false });
    assert.ok(Math.abs(s.cost - 1.5e-3) < 1e-15); // 2 successes since it was set (counter restarted at set)
    assert.equal(s.costUpFlag, true);
    assert.deepEqual(s.update(0.5, 30), { saveBest: false, stop: false }); // failure: never the best
    assert.deepEqual(s.update(0.5, 30), { saveBest: false, stop: false });
    assert.ok(Math.abs(s.cost - 1.5e-3 / 1.5 ** 1.5) < 1e-15);
    assert.equal(s.costDownFlag, true);
    assert.equal(s.bestReg, 38.9);
    // the best has not improved by 1% for 4 steps (38.9 ≥ 0.99 × 38.9, counted since step 3), both flags set
    assert.deepEqual(s.update(0.5, 30), { saveBest: false, stop: true });
  });

  it('needs consecutive successes to set the cost; success is ≥ threshold; no early stop without a success', () => {
    const s = new CostSchedule({ patience: 3, attackSuccessThreshold: 0.9 });
    s.update(0.9, 10);
    s.update(0.95, 10);
    s.update(0.5, 10); // breaks the run
    s.update(0.9, 10);
    s.update(0.9, 10);
    assert.equal(s.cost, 0);
    s.update(0.9, 10);
    assert.equal(s.cost, 1e-3);
    const never = new CostSchedule({ patience: 1, earlyStopPatience: 1 });
    for (let i = 0; i < 20; i++) assert.deepEqual(never.update(0.2, 5), { saveBest: false, stop: false });
    assert.equal(never.bestReg, Infinity);
    assert.equal(never.cost, 0); // 0 / 1.5^1.5 stays 0
  });

  it('an improving best resets the early-stop counter; earlyStop: false never stops', () => {
    const s = new CostSchedule({ patience: 1, earlyStopThreshold: 0.99, earlyStopPatience: 2 });
    s.update(1, 50); // cost set (patience 1) and then raised
    s.update(0, 50); // down
    assert.ok(s.costUpFlag && s.costDownFlag);
    assert.equal(s.update(1, 40).stop, false); // improved: counter 0
    assert.equal(s.update(1, 39.9).stop, false); // < 1% better: counter 1
    assert.equal(s.update(1, 39.8).stop, true); // counter 2
    const off = new CostSchedule({ patience: 1, earlyStopPatience: 1, earlyStop: false });
    for (let i = 0; i < 10; i++) assert.equal(off.update(i % 2, 10).stop, false);
  });

  it('rejects bad options', () => {
    assert.throws(() => new CostSchedule({ attackSuccessThreshold: 1.5 }), {
      code: 'INVALID_ARGUMENT',
      message: /options\.attackSuccessThreshold/,
    });
    assert.throws(() => new CostSchedule({ costMultiplier: 1 }), { message: /options\.costMultiplier/ });
    assert.throws(() => new CostSchedule({ patience: 0 }), { message: /options\.patience/ });
  });
});

describe('neuralCleanse.chooseSchedule', () => {
  const s = { optimizer: 'adam', learningRate: 1e-3, epochs: 1, stampFraction: 0.2 } as const;
  const c = (acc: number, asr: number, eligible: boolean): UnlearningCandidate => ({
    schedule: s,
    validationAccuracy: acc,
    validationAttackSuccess: asr,
    eligible,
  });
  it('picks the lowest attack success among eligible candidates; ties go to accuracy, then order', () => {
    assert.equal(chooseSchedule([c(0.97, 0.1, true), c(0.96, 0.02, true), c(0.9, 0, false)]), 1);
    assert.equal(chooseSchedule([c(0.95, 0.02, true), c(0.96, 0.02, true), c(0.97, 0.05, true)]), 1);
    assert.equal(chooseSchedule([c(0.96, 0.02, true), c(0.96, 0.02, true)]), 0);
  });
  it('with none eligible picks the most accurate (ties: lower attack success); -1 for none', () => {
    assert.equal(chooseSchedule([c(0.9, 0.0, false), c(0.93, 0.5, false), c(0.93, 0.4, false)]), 2);
    assert.equal(chooseSchedule([]), -1);
  });
});

describe('neuralCleanse.detect / repair on the planted-backdoor fixture', () => {
  let f: BackdoorFixture;
  let defender: LabeledData;
  let held: LabeledData;
  let heldTriggered: LabeledData;
  let reportB: NeuralCleanseReport;
  let reportC: NeuralCleanseReport;

  before(async () => {
    f = await backdoorFixture();
    defender = subset(f.test, range(0, 300));
    held = subset(f.test, range(300, f.test.y.length));
    heldTriggered = triggeredTestSet(held, { trigger: f.trigger, target: f.target }).data;
    reportB = await detect(f.backdoored, defender, SHORT);
    reportC = await detect(f.clean, defender, SHORT);
  });

  it('flags label 0 of the backdoored model (index > 2), not of its clean twin, and reverses the planted trigger', () => {
    const b0 = reportB.perClass[0]!;
    const c0 = reportC.perClass[0]!;
    assert.equal(reportB.perClass.length, 10);
    assert.deepEqual(
      reportB.perClass.map((p) => p.label),
      range(0, 10),
    );
    // detection: label 0 flagged on the backdoored model, with the paper's threshold 2
    assert.equal(reportB.backdoored, true);
    assert.ok(reportB.targets.includes(0), `targets ${JSON.stringify(reportB.targets)}`);
    assert.equal(b0.flagged, true);
    assert.ok(b0.anomalyIndex > 2, `label-0 index ${b0.anomalyIndex}`);
    // the clean twin: label 0 not flagged, and its trigger is not abnormally small
    assert.equal(c0.flagged, false);
    assert.ok(!reportC.targets.includes(0), `clean targets ${JSON.stringify(reportC.targets)}`);
    assert.ok(c0.anomalyIndex < 2, `clean label-0 index ${c0.anomalyIndex}`);
    assert.ok(reportC.anomalyIndex < reportB.anomalyIndex, `${reportC.anomalyIndex} vs ${reportB.anomalyIndex}`);
    // the reversed trigger of label 0 works and is small
    assert.ok(b0.attackSuccess >= 0.9, `attack success ${b0.attackSuccess}`);
    assert.ok(b0.converged);
    assert.ok(b0.norm < reportB.median, `label-0 norm ${b0.norm} vs median ${reportB.median}`);
    assert.ok(b0.norm < c0.norm, `label-0 norm backdoored ${b0.norm} vs clean ${c0.norm}`);
    // and sits on the true trigger (3×3 = 4.6% of the image) in the backdoored model, not in the clean one
    assert.ok(massInTrigger(b0.mask) > 0.1, `backdoored: mass in trigger ${massInTrigger(b0.mask)}`);
    assert.ok(massInTrigger(c0.mask) < 0.05, `clean: mass in trigger ${massInTrigger(c0.mask)}`);
    // report shape
    assert.deepEqual(reportB.maskShape, [14, 14]);
    assert.deepEqual(reportB.patternShape, [14, 14, 1]);
    for (const p of reportB.perClass) {
      assert.equal(p.mask.length, 196);
      assert.equal(p.pattern.length, 196);
      assert.ok(p.mask.every((v) => v >= 0 && v <= 1));
      assert.ok(Math.abs(p.norm - p.mask.reduce((s, v) => s + v, 0)) < 1e-3);
      assert.ok(p.steps >= 1 && p.steps <= 150);
    }
    assert.equal(reportB.backdoored, reportB.targets.length > 0);
    const again = outlierDetection(reportB.perClass.map((p) => p.norm));
    assert.deepEqual(
      again.flagged.map((i) => reportB.perClass[i]!.label),
      reportB.targets,
    );
    assert.ok(Math.abs(again.anomalyIndex - reportB.anomalyIndex) < 1e-9);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(reportB)));
  });

  it('repair by unlearning lowers the real attack success on held-out digits, on a copy', async () => {
    const before = tf.memory().numTensors;
    const w0 = await weightsSum(f.backdoored);
    const asr0 = await attackSuccessRate(f.backdoored, heldTriggered, 0);
    const stages = new Set<string>();
    const r = await repair(f.backdoored, defender, reportB, {
      targets: [0],
      learningRate: 3e-3,
      onProgress: (e) => stages.add(e.stage),
    });
    assert.deepEqual([...stages], ['neural-cleanse:unlearning fit', 'neural-cleanse:unlearning fit:epoch']);
    const asr1 = await attackSuccessRate(r.classifier, heldTriggered, 0);
    const acc1 = await accuracy(r.classifier, held);
    assert.equal(r.method, 'unlearning');
    assert.deepEqual(r.targets, [0]);
    assert.equal(r.unlearning!.samples, 300);
    assert.equal(r.unlearning!.stamped, 60);
    assert.ok(r.attackSuccessBefore > 0.9, `reversed ASR before ${r.attackSuccessBefore}`);
    assert.ok(r.attackSuccessAfter < 0.2, `reversed ASR after ${r.attackSuccessAfter}`);
    assert.ok(asr1 < asr0 - 0.3, `real ASR ${asr0} -> ${asr1}`);
    assert.ok(acc1 > 0.8, `held-out accuracy ${acc1}`);
    assert.deepEqual(await weightsSum(f.backdoored), w0, 'input classifier modified');
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair chooses the unlearning schedule on held-out clean data and refits the winner on all of it', async () => {
    const before = tf.memory().numTensors;
    const w0 = await weightsSum(f.backdoored);
    const stages = new Set<string>();
    const schedules = [
      { learningRate: 1e-6 },
      { learningRate: 3e-3, epochs: 2 },
      { learningRate: 0.5, optimizer: 'sgd' as const },
    ];
    const r = await repair(f.backdoored, defender, reportB, {
      targets: [0],
      filter: false,
      schedules,
      onProgress: (e) => stages.add(e.stage.replace(/:epoch$/, '')),
    });
    const sel = r.unlearning!.selection!;
    assert.equal(sel.validationSamples, 60);
    assert.equal(sel.candidates.length, 3);
    assert.deepEqual(sel.candidates[1]!.schedule, {
      optimizer: 'adam',
      learningRate: 3e-3,
      epochs: 2,
      stampFraction: 0.2,
    });
    assert.ok(sel.validationAttackSuccessBefore > 0.9, `validation ASR before ${sel.validationAttackSuccessBefore}`);
    // a step of 1e-6 changes nothing: eligible, but the trigger still works
    assert.ok(sel.candidates[0]!.validationAttackSuccess > 0.9);
    assert.ok(sel.candidates[0]!.eligible);
    for (const cand of sel.candidates) {
      assert.equal(cand.eligible, cand.validationAccuracy >= sel.validationAccuracyBefore - 0.01 - 1e-12);
    }
    assert.equal(sel.chosen, chooseSchedule(sel.candidates));
    assert.equal(sel.chosen, 1, JSON.stringify(sel.candidates));
    assert.deepEqual(r.unlearning!.schedule, sel.candidates[1]!.schedule);
    assert.deepEqual([...stages].sort(), [
      'neural-cleanse:unlearning candidate 0 fit',
      'neural-cleanse:unlearning candidate 1 fit',
      'neural-cleanse:unlearning candidate 2 fit',
      'neural-cleanse:unlearning fit',
    ]);
    // the final model is the plain repair with the chosen schedule, on all 300 samples
    assert.equal(r.unlearning!.samples, 300);
    const plain = await repair(f.backdoored, defender, reportB, {
      targets: [0],
      filter: false,
      learningRate: 3e-3,
      epochs: 2,
    });
    assert.deepEqual(
      await weightsSum(r.classifier as typeof f.backdoored),
      await weightsSum(plain.classifier as typeof f.backdoored),
    );
    assert.equal(r.attackSuccessAfter, plain.attackSuccessAfter);
    assert.ok(r.attackSuccessAfter < 0.2, `reversed ASR after ${r.attackSuccessAfter}`);
    assert.equal(plain.unlearning!.selection, undefined);
    assert.deepEqual(await weightsSum(f.backdoored), w0, 'input classifier modified');
    r.classifier.dispose();
    plain.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair by pruning masks units until the reversed trigger fails; the filter flags triggered inputs', async () => {
    const before = tf.memory().numTensors;
    const w0 = await weightsSum(f.backdoored);
    const r = await repair(f.backdoored, defender, reportB, { method: 'pruning', targets: [0] }); // default: dense1
    const p = r.pruning!;
    assert.equal(p.layer, 'dense1');
    assert.equal(p.ranking.length, 32);
    assert.deepEqual(
      [...p.ranking].sort((a, b) => a - b),
      range(0, 32),
    );
    assert.deepEqual(p.pruned, p.ranking.slice(0, p.pruned.length));
    assert.equal(p.keep.filter((v) => v === 0).length, p.pruned.length);
    assert.ok(p.pruned.length >= 1 && p.pruned.length <= Math.ceil(0.3 * 32));
    assert.equal(p.steps.length, p.pruned.length);
    if (p.stoppedBecause === 'attack-success') assert.ok(r.attackSuccessAfter <= 0.05);
    assert.ok(
      r.attackSuccessAfter < r.attackSuccessBefore - 0.5,
      `${r.attackSuccessBefore} -> ${r.attackSuccessAfter}`,
    );
    const asr1 = await attackSuccessRate(r.classifier, heldTriggered, 0);
    assert.ok(asr1 < 0.6, `real ASR after pruning ${asr1}`);
    // the filter is calibrated at 5% FPR on the defender's digits and catches more triggered than clean inputs
    const spec = r.filter!;
    assert.equal(spec.layer, 'dense1');
    assert.equal(spec.neurons.length, 1);
    assert.equal(spec.neurons[0], p.ranking[0]);
    const own = await filter(f.backdoored, defender.x, spec);
    const ownRate = own.suspicious.reduce((s, v) => s + v, 0) / own.suspicious.length;
    assert.ok(ownRate <= 0.05 + 1e-9 && ownRate >= 0.04, `defender FPR ${ownRate}`);
    const trig = await filter(f.backdoored, heldTriggered.x, spec);
    const clean = await filter(f.backdoored, held.x, spec);
    const tpr = trig.suspicious.reduce((s, v) => s + v, 0) / trig.suspicious.length;
    const fpr = clean.suspicious.reduce((s, v) => s + v, 0) / clean.suspicious.length;
    assert.ok(tpr > fpr + 0.2, `filter TPR ${tpr} vs FPR ${fpr}`);
    clean.scores.forEach((s, i) => assert.equal(clean.suspicious[i], s > spec.threshold ? 1 : 0));
    assert.deepEqual(await weightsSum(f.backdoored), w0, 'input classifier modified');
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair honours an AbortSignal without leaking', async () => {
    const before = tf.memory().numTensors;
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(repair(f.backdoored, defender, reportB, { targets: [0], signal: pre.signal }), {
      code: 'ABORTED',
    });
    const ctl = new AbortController();
    await assert.rejects(
      repair(f.backdoored, defender, reportB, {
        targets: [0],
        method: 'pruning',
        stopAttackSuccess: 0,
        onProgress: () => ctl.abort(),
        signal: ctl.signal,
      }),
      { code: 'ABORTED' },
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair with no target returns an unchanged copy', async () => {
    const before = tf.memory().numTensors;
    const none = { ...reportB, targets: [], backdoored: false };
    const r = await repair(f.backdoored, defender, none, { filter: false });
    assert.deepEqual(r.targets, []);
    assert.equal(r.unlearning!.stamped, 0);
    assert.equal(r.cleanAccuracyAfter, r.cleanAccuracyBefore);
    assert.notEqual(r.classifier, f.backdoored);
    r.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('neuralCleanse.detect: engine behaviour', () => {
  let f: BackdoorFixture;
  let small: LabeledData;

  before(async () => {
    f = await backdoorFixture();
    small = subset(f.test, range(0, 48));
  });

  it('batched and sequential runs give the same result', async () => {
    const opts = { ...TINY, earlyStopPatience: 1, patience: 1, initCost: 0.05 };
    const b = await detect(f.backdoored, small, { ...opts, mode: 'batched' });
    const s = await detect(f.backdoored, small, { ...opts, mode: 'sequential' });
    b.perClass.forEach((p, i) => {
      const q = s.perClass[i]!;
      assert.equal(p.label, q.label);
      assert.equal(p.steps, q.steps, `label ${p.label} steps`);
      assert.equal(p.converged, q.converged);
      assert.ok(Math.abs(p.norm - q.norm) <= 1e-3 * q.norm, `label ${p.label}: ${p.norm} vs ${q.norm}`);
      const maxDiff = p.mask.reduce((m, v, j) => Math.max(m, Math.abs(v - q.mask[j]!)), 0);
      assert.ok(maxDiff < 1e-3, `label ${p.label} mask diff ${maxDiff}`);
    });
    assert.deepEqual(b.targets, s.targets);
  });

  it('is deterministic for a seed, leaks no tensor and mutates nothing', async () => {
    const x0 = Array.from(await small.x.data());
    const y0 = Array.from(small.y);
    const w0 = await weightsSum(f.backdoored);
    const before = tf.memory().numTensors;
    const a = await detect(f.backdoored, small, TINY);
    assert.equal(tf.memory().numTensors, before);
    const b = await detect(f.backdoored, small, TINY);
    const c = await detect(f.backdoored, small, { ...TINY, seed: 5 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(
      a.perClass.map((p) => p.mask),
      b.perClass.map((p) => p.mask),
    );
    assert.deepEqual(a.targets, b.targets);
    assert.notDeepEqual(
      a.perClass.map((p) => p.mask),
      c.perClass.map((p) => p.mask),
    );
    assert.deepEqual(Array.from(await small.x.data()), x0);
    assert.deepEqual(Array.from(small.y), y0);
    assert.deepEqual(await weightsSum(f.backdoored), w0);
  });

  it('works on any differentiable Classifier (predict only)', async () => {
    const bare: Classifier = {
      inputShape: f.backdoored.inputShape,
      numClasses: 10,
      predict: (x) => f.backdoored.predict(x),
    };
    const r = await detect(bare, small, { ...TINY, steps: 2 });
    assert.equal(r.perClass.length, 3);
    assert.ok(r.perClass.every((p) => Number.isFinite(p.norm)));
  });

  it('reports progress once per step and honours an AbortSignal (no leak)', async () => {
    const events: Array<{ stage: string; done: number; total: number }> = [];
    const r = await detect(f.backdoored, small, {
      ...TINY,
      steps: 4,
      earlyStop: false,
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(
      events.map((e) => e.done),
      [1, 2, 3, 4],
    );
    assert.ok(events.every((e) => e.stage === 'neural-cleanse:reverse' && e.total === 4));
    assert.ok(r.perClass.every((p) => p.steps === 4));
    const seq: string[] = [];
    await detect(f.backdoored, small, { ...TINY, steps: 1, mode: 'sequential', onProgress: (e) => seq.push(e.stage) });
    assert.deepEqual(
      seq,
      [0, 1, 2].map((l) => `neural-cleanse:reverse label ${l}`),
    );

    const before = tf.memory().numTensors;
    const ctl = new AbortController();
    let seen = 0;
    await assert.rejects(
      detect(f.backdoored, small, {
        ...TINY,
        steps: 50,
        onProgress: () => {
          seen++;
          ctl.abort();
        },
        signal: ctl.signal,
      }),
      { code: 'ABORTED', name: 'AbortError' },
    );
    assert.equal(seen, 1);
    assert.equal(tf.memory().numTensors, before);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(detect(f.backdoored, small, { ...TINY, signal: pre.signal }), { code: 'ABORTED' });
  });

  it('rejects bad input before any work', async () => {
    const clf = f.backdoored;
    const cases: Array<[NeuralCleanseOptions | undefined, LabeledData, RegExp, string]> = [
      [{ threshold: 0 }, small, /options\.threshold/, 'INVALID_ARGUMENT'],
      [{ threshold: -2 }, small, /options\.threshold/, 'INVALID_ARGUMENT'],
      [{ threshold: NaN }, small, /options\.threshold/, 'INVALID_ARGUMENT'],
      [{ attackSuccessThreshold: 1.5 }, small, /options\.attackSuccessThreshold/, 'INVALID_ARGUMENT'],
      [{ attackSuccessThreshold: 0 }, small, /options\.attackSuccessThreshold/, 'INVALID_ARGUMENT'],
      [{ steps: 0 }, small, /options\.steps/, 'INVALID_ARGUMENT'],
      [{ learningRate: 0 }, small, /options\.learningRate/, 'INVALID_ARGUMENT'],
      [{ beta1: 1 }, small, /options\.beta1/, 'INVALID_ARGUMENT'],
      [{ mode: 'parallel' as 'batched' }, small, /options\.mode/, 'INVALID_ARGUMENT'],
      [{ labels: [0, 1] }, small, /options\.labels/, 'INVALID_ARGUMENT'],
      [{ labels: [0, 1, 1] }, small, /options\.labels\[2\]/, 'INVALID_ARGUMENT'],
      [{ labels: [0, 1, 10] }, small, /options\.labels\[2\]/, 'INVALID_ARGUMENT'],
      [{ bogus: 1 } as NeuralCleanseOptions, small, /options\.bogus/, 'INVALID_ARGUMENT'],
      [
        { trainBatchSize: 64 },
        small,
        /Argument 'cleanData'.*at least options\.trainBatchSize \(64\)/,
        'INVALID_ARGUMENT',
      ],
      [undefined, subset(f.test, range(0, 10)), /Argument 'cleanData'.*at least/, 'INVALID_ARGUMENT'],
    ];
    for (const [opts, data, message, code] of cases) {
      await assert.rejects(detect(clf, data, opts), { code, message }, String(message));
    }
    const wrong = { x: tf.zeros([40, 12, 12, 1]) as tf.Tensor4D, y: new Int32Array(40) };
    await assert.rejects(detect(clf, wrong), { code: 'SHAPE_MISMATCH', message: /cleanData\.x/ });
    const badY = { x: small.x, y: Int32Array.from(small.y, () => 12) };
    await assert.rejects(detect(clf, badY), { code: 'LABEL_OUT_OF_RANGE', message: /cleanData\.y/ });
    wrong.x.dispose();
    const flat: Classifier = { inputShape: [196], numClasses: 10, predict: (x) => tf.softmax(x) as tf.Tensor2D };
    await assert.rejects(detect(flat, small), { code: 'UNSUPPORTED', message: /classifier/ });
    await assert.rejects(detect({} as Classifier, small), { code: 'INVALID_ARGUMENT', message: /classifier/ });
    // predict not differentiable with respect to its input (reads the data back)
    const detached: Classifier = {
      inputShape: clf.inputShape,
      numClasses: 10,
      predict: (x) => {
        const p = clf.predict(x);
        const copy = tf.tensor2d(p.dataSync(), p.shape as [number, number]);
        p.dispose();
        return copy;
      },
    };
    const before = tf.memory().numTensors;
    await assert.rejects(detect(detached, small, TINY), { code: 'UNSUPPORTED', message: /classifier.*differentiated/ });
    assert.equal(tf.memory().numTensors, before);
  });

  it('repair and filter reject bad input', async () => {
    const clf = f.backdoored;
    const report = await detect(clf, small, TINY);
    // an all-convolutional model (no final dense layer, so no "second to last layer"): pruning/filter need options.layer
    const allConv = fromLayersModel(
      tfl.sequential({
        layers: [
          tfl.layers.conv2d({ inputShape: [14, 14, 1], filters: 10, kernelSize: 3, name: 'conv' }),
          tfl.layers.globalAveragePooling2d({ name: 'gap' }),
          tfl.layers.activation({ activation: 'softmax', name: 'softmax' }),
        ],
      }),
      { owned: true },
    );
    await assert.rejects(repair(allConv, small, report, { targets: [0], method: 'pruning' }), {
      code: 'LAYER_NOT_FOUND',
      message: /no hidden layer.*options\.layer/,
    });
    const viaConv = await repair(allConv, small, report, { targets: [0], method: 'pruning', layer: 'conv' });
    assert.equal(viaConv.pruning!.layer, 'conv');
    viaConv.classifier.dispose();
    allConv.dispose();
    await assert.rejects(repair(clf, small, report, { targets: [0], layer: 'nope' }), {
      code: 'LAYER_NOT_FOUND',
      message: /options\.layer/,
    });
    const bare: Classifier = { inputShape: clf.inputShape, numClasses: 10, predict: (x) => clf.predict(x) };
    await assert.rejects(repair(bare, small, report, { targets: [0] }), {
      code: 'MISSING_CAPABILITY',
      message: /'train'/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [7] }), {
      code: 'INVALID_ARGUMENT',
      message: /report\.perClass/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [12] }), { message: /options\.targets\[0\]/ });
    await assert.rejects(repair(clf, small, {} as NeuralCleanseReport), { message: /Argument 'report'/ });
    await assert.rejects(repair(clf, small, report, { stampFraction: 2 }), { message: /options\.stampFraction/ });
    await assert.rejects(repair(clf, small, report, { filterFrr: 1 }), { message: /options\.filterFrr/ });
    await assert.rejects(repair(clf, small, report, { targets: [0], schedules: [] }), {
      code: 'INVALID_ARGUMENT',
      message: /options\.schedules/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], schedules: 'best' as 'auto' }), {
      message: /options\.schedules/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], schedules: [{ lr: 1 } as never] }), {
      message: /options\.schedules\[0\]\.lr/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], schedules: [{}, { epochs: 0 }] }), {
      message: /options\.schedules\[1\]\.epochs/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], validationFraction: 1 }), {
      message: /options\.validationFraction/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], maxValidationDrop: -0.1 }), {
      message: /options\.maxValidationDrop/,
    });
    await assert.rejects(repair(clf, small, report, { targets: [0], schedules: 'auto', validationFraction: 0.001 }), {
      code: 'INVALID_ARGUMENT',
      message: /options\.validationFraction.*0 of the/,
    });
    await assert.rejects(repair(clf, small, report, { method: 'retrain' as 'pruning' }), {
      message: /options\.method/,
    });
    const spec = { layer: 'nope', neurons: [0], threshold: 1, frr: 0.05 };
    await assert.rejects(filter(clf, small.x, spec), { code: 'LAYER_NOT_FOUND', message: /spec\.layer/ });
    await assert.rejects(filter(clf, small.x, { ...spec, layer: 'dense1', neurons: [99] }), {
      message: /spec\.neurons\[0\]/,
    });
  });
});
