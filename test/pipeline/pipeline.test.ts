import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { fixtureCnn } from '../helpers/backdoor-fixture.js';
import type { FullClassifier } from '../../src/core/classifier.js';
import { fromLayersModel } from '../../src/core/layers-model.js';
import type { LabeledData, ProgressEvent } from '../../src/core/types.js';
import {
  activationClusteringStep,
  disposePipelineResult,
  evaluationStep,
  finePruningStep,
  pipeline,
  runPipeline,
  step,
  type Step,
} from '../../src/pipeline/index.js';
import { Rng } from '../../src/core/rng.js';

before(async () => {
  await ready;
});

/** A fake classifier that records disposal. */
function fake(id: string, log: string[]): FullClassifier {
  return {
    inputShape: [1, 1, 1],
    numClasses: 2,
    predict: (x: tf.Tensor) => tf.tidy(() => tf.oneHot(tf.zeros([x.shape[0]!], 'int32'), 2) as tf.Tensor2D),
    dispose: () => log.push(`dispose ${id}`),
    id,
  } as unknown as FullClassifier;
}

function tinyData(n: number, seed: number): LabeledData {
  const rng = new Rng(seed);
  const v = new Float32Array(n * 14 * 14);
  for (let i = 0; i < v.length; i++) v[i] = rng.next();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % 10;
  return { x: tf.tensor4d(v, [n, 14, 14, 1]), y };
}

describe('runPipeline (composition helper)', () => {
  it('threads the state, keeps every report in order, disposes intermediates only', async () => {
    const log: string[] = [];
    const c0 = fake('c0', log);
    const x0 = tf.zeros([2, 1, 1, 1]) as tf.Tensor4D;
    const train0: LabeledData = { x: x0, y: Int32Array.of(0, 1) };
    const seen: string[] = [];
    const a = step('a', async (s) => {
      seen.push(`a sees ${(s.classifier as unknown as { id: string }).id}`);
      return { classifier: fake('c1', log), report: { n: 1 } };
    });
    const b = step('b', async (s) => {
      seen.push(`b sees ${(s.classifier as unknown as { id: string }).id}`);
      return { report: 'no change' };
    });
    let x2: tf.Tensor4D | undefined;
    const c: Step<number[]> = {
      name: 'c',
      run: async (s) => {
        seen.push(`c sees ${(s.classifier as unknown as { id: string }).id} train ${s.train === train0}`);
        x2 = tf.ones([1, 1, 1, 1]) as tf.Tensor4D;
        return { classifier: fake('c2', log), train: { x: x2, y: Int32Array.of(1) }, report: [1, 2] };
      },
    };
    const steps: string[] = [];
    const r = await runPipeline(
      [a, b, c],
      { classifier: c0, train: train0 },
      {
        onStep: (rec, i) => steps.push(`${i}:${rec.name}`),
      },
    );
    assert.deepEqual(seen, ['a sees c0', 'b sees c1', 'c sees c1 train true']);
    assert.deepEqual(steps, ['0:a', '1:b', '2:c']);
    // typed, ordered records
    assert.equal(r.steps[0].report.n, 1);
    assert.equal(r.steps[1].report, 'no change');
    assert.deepEqual(r.steps[2].report, [1, 2]);
    assert.deepEqual(
      r.steps.map((s) => [s.name, s.replacedClassifier, s.replacedTrain]),
      [
        ['a', true, false],
        ['b', false, false],
        ['c', true, true],
      ],
    );
    assert.ok(r.steps.every((s) => s.seconds >= 0) && r.seconds >= 0);
    // c1 (created by the pipeline, then replaced) was disposed; c0 never
    assert.deepEqual(log, ['dispose c1']);
    assert.equal((r.classifier as unknown as { id: string }).id, 'c2');
    assert.equal(r.ownsClassifier, true);
    assert.equal(r.ownsTrain, true);
    assert.equal(x0.isDisposed, false);
    disposePipelineResult(r);
    assert.deepEqual(log, ['dispose c1', 'dispose c2']);
    assert.equal(x2!.isDisposed, true);
    x0.dispose();
  });

  it('returns the initial state (not owned) when no step replaces it; pipeline() is reusable', async () => {
    const log: string[] = [];
    const c0 = fake('c0', log);
    const p = pipeline(
      step('noop', async () => ({ report: 1 })),
      step('noop2', async () => ({ report: 'x' })),
    );
    assert.equal(p.steps.length, 2);
    const r = await p({ classifier: c0 });
    assert.equal(r.classifier, c0);
    assert.equal(r.ownsClassifier, false);
    assert.equal(r.ownsTrain, false);
    disposePipelineResult(r);
    assert.deepEqual(log, []);
  });

  it('disposes what it created when a step throws, and honours the abort signal', async () => {
    const log: string[] = [];
    const boom = step('boom', async () => {
      throw new Error('boom');
    });
    await assert.rejects(
      runPipeline([step('make', async () => ({ classifier: fake('c1', log), report: 0 })), boom], {
        classifier: fake('c0', log),
      }),
      /boom/,
    );
    assert.deepEqual(log, ['dispose c1']);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(runPipeline([boom], { classifier: fake('c0', log) }, { signal: ac.signal }), {
      code: 'ABORTED',
    });
  });

  it('prefixes progress stages with the step name', async () => {
    const events: ProgressEvent[] = [];
    await runPipeline(
      [
        step('s1', async (_s, ctx) => {
          ctx.onProgress?.({ stage: 'work', done: 1, total: 2 });
          return { report: null };
        }),
      ],
      { classifier: fake('c0', []) },
      { onProgress: (e) => events.push(e) },
    );
    assert.deepEqual(events, [{ stage: 's1: work', done: 1, total: 2 }]);
  });

  it('rejects bad input naming the argument', async () => {
    const c0 = fake('c0', []);
    await assert.rejects(runPipeline([], { classifier: c0 }), { code: 'INVALID_ARGUMENT', message: /steps/ });
    await assert.rejects(runPipeline([{ name: 'x' } as never], { classifier: c0 }), { message: /steps\[0\]/ });
    await assert.rejects(runPipeline([step('a', async () => ({ report: 0 }))], { classifier: {} as never }), {
      message: /initial\.classifier/,
    });
    await assert.rejects(
      runPipeline([step('a', async () => ({ report: 0 }))], { classifier: c0 }, { bogus: 1 } as never),
      { message: /options\.bogus/ },
    );
    assert.throws(() => step('', async () => ({ report: 0 })), { message: /name/ });
    assert.throws(() => step('a', 1 as never), { message: /run/ });
    // a model-level step without clean data, a data-level step without training data
    await assert.rejects(runPipeline([finePruningStep()], { classifier: c0 }), { message: /state\.clean/ });
    await assert.rejects(runPipeline([activationClusteringStep()], { classifier: c0 }), { message: /state\.train/ });
  });
});

describe('evaluationStep', () => {
  it('evaluates the current classifier against `before` without changing the state', async () => {
    const log: string[] = [];
    /** Predicts class 1 for every input. */
    const ones = {
      ...fake('ones', log),
      predict: (x: tf.Tensor) => tf.tidy(() => tf.oneHot(tf.ones([x.shape[0]!], 'int32'), 2) as tf.Tensor2D),
    } as FullClassifier;
    const clean: LabeledData = { x: tf.zeros([4, 1, 1, 1]) as tf.Tensor4D, y: Int32Array.of(0, 0, 1, 1) };
    const triggered: LabeledData = { x: tf.zeros([2, 1, 1, 1]) as tf.Tensor4D, y: Int32Array.of(0, 0) };
    const r = await runPipeline([evaluationStep('E', { clean, triggered, target: 1, before: fake('zeros', log) })], {
      classifier: ones,
    });
    const e = r.steps[0].report;
    assert.equal(r.steps[0].name, 'evaluate E');
    assert.equal(e.name, 'E');
    assert.deepEqual(e.before, { cleanAccuracy: 0.5, asr: 0, robustAccuracy: 1 });
    assert.deepEqual(e.after, { cleanAccuracy: 0.5, asr: 1, robustAccuracy: 0 });
    assert.equal(r.classifier, ones);
    assert.equal(r.ownsClassifier, false);
    clean.x.dispose();
    triggered.x.dispose();
  });
});

describe('library steps compose (tiny model, AC → FP)', () => {
  it('runs AC then FP, keeps both reports, leaks nothing after disposal, leaves the input alone', async () => {
    const clf = fromLayersModel(fixtureCnn(1), { owned: true });
    const train = tinyData(60, 1);
    const clean = tinyData(30, 2);
    const w0 = Array.from(await clf.model.getWeights()[0]!.data());
    const n0 = tf.memory().numTensors;
    const r = await runPipeline(
      [
        activationClusteringStep({
          detect: { analysis: 'relative-size', dims: 2, nInit: 2, seed: 1 },
          repair: { maxEpochs: 1, seed: 1 },
        }),
        finePruningStep({ epochs: 1, maxAccuracyDrop: 0.5 }),
      ],
      { classifier: clf, train, clean },
    );
    assert.equal(r.steps[0].name, 'AC');
    assert.equal(r.steps[0].report.detection.suspicious.length, 60);
    assert.equal(
      r.steps[0].report.removed,
      r.steps[0].report.detection.suspicious.reduce((a, b) => a + b, 0),
    );
    assert.equal(r.train!.y.length, 60 - r.steps[0].report.removed);
    assert.equal(r.steps[1].name, 'FP');
    assert.equal(r.steps[1].report.layer, 'conv2');
    assert.ok(r.ownsClassifier && r.ownsTrain);
    disposePipelineResult(r);
    assert.equal(tf.memory().numTensors, n0);
    assert.deepEqual(Array.from(await clf.model.getWeights()[0]!.data()), w0);
    clf.dispose();
    train.x.dispose();
    clean.x.dispose();
  });
});
