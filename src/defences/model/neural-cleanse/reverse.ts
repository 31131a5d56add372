/**
 * Neural Cleanse's reverse engineering: every label's smallest trigger (mask
 * and pattern) optimised at once in one batched program, with the reference
 * code's per-label arithmetic, cost schedule and early stop.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { argmaxRows, collectBatches } from '../../../core/batching.js';
import { assertInteger } from '../../../core/checks.js';
import type { Classifier } from '../../../core/classifier.js';
import type { LabeledData } from '../../../core/types.js';
import { assertImageData } from '../../../core/validate.js';
import { BackdoorKitError, InvalidArgumentError, UnsupportedError } from '../../../core/errors.js';
import { gradientFailure, releaseFailedTape } from '../../../core/gradient-errors.js';
import { assertImageClassifier as assertPixelClassifier } from '../../../core/classifier.js';
import { report as reportProgress, throwIfAborted, yieldToEventLoop } from '../../../core/progress.js';
import { makeRng, type Rng } from '../../../core/rng.js';
import { CostSchedule, type CostScheduleOptions } from './cost-schedule.js';
import type { ResolvedDetect } from './types.js';

const TANH_EPS = 1e-7;

/** Inverse of the mask/pattern parametrisation `tanh(w) / (2 − ε) + 0.5`. */
function toTanhSpace(v: number): number {
  return Math.atanh((v - 0.5) * (2 - TANH_EPS));
}

/** An endless stream of shuffled mini-batches over `n` samples (a partial batch ends each pass, as Keras' iterator). */
class BatchStream {
  private order: Int32Array;
  private pos = 0;
  constructor(
    private readonly n: number,
    private readonly batchSize: number,
    private readonly rng: Rng,
  ) {
    this.order = rng.permutation(n);
  }
  next(): Int32Array {
    if (this.pos >= this.n) {
      this.order = this.rng.permutation(this.n);
      this.pos = 0;
    }
    const end = Math.min(this.n, this.pos + this.batchSize);
    const out = this.order.subarray(this.pos, end);
    this.pos = end;
    return out;
  }
}

interface LabelRun {
  readonly label: number;
  readonly schedule: CostSchedule;
  best: { mask: tf.Tensor; pattern: tf.Tensor } | undefined;
  last: { mask: Float32Array; pattern: Float32Array } | undefined;
}

export interface ReversedTrigger {
  readonly label: number;
  readonly mask: Float32Array;
  readonly pattern: Float32Array;
  readonly converged: boolean;
  readonly steps: number;
  readonly cost: number;
}

/** Optimiser state of the active labels, stacked on the first axis. */
interface StackState {
  mw: tf.Tensor4D; // mask in tanh space [A, H, W, 1]
  pw: tf.Tensor4D; // pattern in tanh space [A, H, W, C]
  m1: tf.Tensor4D; // Adam first moment of mw
  v1: tf.Tensor4D; // Adam second moment of mw
  m2: tf.Tensor4D;
  v2: tf.Tensor4D;
}

function disposeState(s: StackState): void {
  tf.dispose([s.mw, s.pw, s.m1, s.v1, s.m2, s.v2]);
}

/** Mask and pattern in [0, 1] from their tanh-space parameters. */
function fromTanh(w: tf.Tensor): tf.Tensor {
  return tf.add(tf.div(tf.tanh(w), 2 - TANH_EPS), 0.5);
}

/**
 * Reverse-engineers the smallest trigger of each label in `labels`, all at
 * once (stacked on the first axis). Labels leave the stack when they stop
 * early; the loop ends after `steps` steps or when none is left.
 */
export async function reverseEngineer(
  fn: string,
  classifier: Classifier,
  x: tf.Tensor4D,
  labels: readonly number[],
  o: ResolvedDetect,
  stage: string,
): Promise<ReversedTrigger[]> {
  const [, H, W, C] = x.shape;
  const P = H * W;
  const D = P * C;
  const K = classifier.numClasses;
  const n = x.shape[0];
  const root = makeRng(o.seed, fn);
  const stream = new BatchStream(n, o.trainBatchSize, root.derive('order'));
  const batchesPerStep = Math.max(1, Math.floor(o.samplesPerStep / o.trainBatchSize));
  const schedule: Required<CostScheduleOptions> = {
    initCost: o.initCost,
    attackSuccessThreshold: o.attackSuccessThreshold,
    patience: o.patience,
    costMultiplier: o.costMultiplier,
    earlyStop: o.earlyStop,
    earlyStopThreshold: o.earlyStopThreshold,
    earlyStopPatience: o.earlyStopPatience,
  };
  const runs: LabelRun[] = labels.map((label) => ({
    label,
    schedule: new CostSchedule(schedule),
    best: undefined,
    last: undefined,
  }));

  // random initial mask and pattern per label (uniform in [0, 1), as the reference code), seeded per label
  const A0 = labels.length;
  const maskInit = new Float32Array(A0 * P);
  const patInit = new Float32Array(A0 * D);
  labels.forEach((label, a) => {
    const r = root.derive(`init ${label}`);
    for (let i = 0; i < P; i++) maskInit[a * P + i] = toTanhSpace(r.next());
    for (let i = 0; i < D; i++) patInit[a * D + i] = toTanhSpace(r.next());
  });
  let state: StackState = tf.tidy(() => {
    const mw = tf.tensor4d(maskInit, [A0, H, W, 1]);
    const pw = tf.tensor4d(patInit, [A0, H, W, C]);
    return { mw, pw, m1: tf.zerosLike(mw), v1: tf.zerosLike(mw), m2: tf.zerosLike(pw), v2: tf.zerosLike(pw) };
  });
  let active: number[] = labels.map((_, a) => a);
  let t = 0;
  const { learningRate: lr, beta1: b1, beta2: b2 } = o;
  const ADAM_EPS = 1e-7;

  try {
    for (let step = 0; step < o.steps && active.length > 0; step++) {
      throwIfAborted(o.signal, fn);
      const A = active.length;
      const costs = tf.tensor1d(
        active.map((a) => runs[a]!.schedule.cost),
        'float32',
      );
      const targets = tf.tensor1d(
        active.map((a) => runs[a]!.label),
        'int32',
      );
      let accSum: tf.Tensor1D = tf.zeros([A]);
      let regSum: tf.Tensor1D = tf.zeros([A]);
      let seen = 0;
      try {
        for (let b = 0; b < batchesPerStep; b++) {
          const idx = stream.next();
          const B = idx.length;
          seen += B;
          t++;
          const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
          let correct: tf.Tensor | undefined;
          let reg: tf.Tensor | undefined;
          try {
            const next = tf.tidy(() => {
              const xb = tf.reshape(tf.gather(x, tf.tensor1d(idx, 'int32')), [1, B, D]);
              const oneHot = tf.reshape(tf.cast(tf.oneHot(targets, K), 'float32'), [A, 1, K]);
              const loss = (mw: tf.Tensor, pw: tf.Tensor): tf.Scalar => {
                const mask = fromTanh(mw); // [A, H, W, 1]
                const pattern = fromTanh(pw); // [A, H, W, C]
                const maskD = tf.reshape(C === 1 ? mask : tf.tile(mask, [1, 1, 1, C]), [A, 1, D]);
                const patD = tf.reshape(pattern, [A, 1, D]);
                const xAdv = tf.add(tf.mul(tf.sub(1, maskD), xb), tf.mul(maskD, patD)); // [A, B, D]
                const probs = classifier.predict(tf.reshape(xAdv, [A * B, H, W, C]));
                const p3 = tf.reshape(probs, [A, B, K]);
                const logp = tf.log(tf.clipByValue(p3, 1e-7, 1 - 1e-7));
                const ce = tf.neg(tf.sum(tf.mul(logp, oneHot), 2)); // [A, B]
                const l1 = tf.sum(tf.reshape(mask, [A, P]), 1); // [A]
                correct = tf.keep(
                  tf.sum(tf.cast(tf.equal(tf.argMax(p3, 2), tf.reshape(targets, [A, 1])), 'float32'), 1),
                );
                reg = tf.keep(l1);
                return tf.sum(tf.add(tf.mean(ce, 1), tf.mul(costs, l1))) as tf.Scalar;
              };
              const [gm, gp] = tf.grads(loss)([state.mw, state.pw]) as [tf.Tensor4D, tf.Tensor4D];
              const adam = (w: tf.Tensor4D, m: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D) => {
                const m2 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
                const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
                const w2 = tf.sub(w, tf.mul(tf.div(m2, tf.add(tf.sqrt(v2), ADAM_EPS)), lrT));
                return [w2, m2, v2] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
              };
              const [mw, m1, v1] = adam(state.mw, state.m1, state.v1, gm);
              const [pw, m2, v2] = adam(state.pw, state.m2, state.v2, gp);
              return {
                state: { mw, pw, m1, v1, m2, v2 },
                acc: tf.add(accSum, correct!) as tf.Tensor1D,
                reg: tf.add(regSum, reg!) as tf.Tensor1D,
              };
            });
            disposeState(state);
            state = next.state;
            tf.dispose([accSum, regSum]);
            accSum = next.acc;
            regSum = next.reg;
          } catch (e) {
            releaseFailedTape();
            const typed = gradientFailure(fn, 'classifier', e);
            if (typed !== undefined) throw typed;
            if (t === 1 && !(e instanceof BackdoorKitError)) {
              throw new UnsupportedError(
                { fn, arg: 'classifier' },
                `could not be differentiated through predict (it must be built from tf ops on its input): ${
                  e instanceof Error ? e.message : String(e)
                }`,
              );
            }
            throw e;
          } finally {
            tf.dispose([correct, reg].filter((v): v is tf.Tensor => v !== undefined));
          }
        }
        const both = tf.concat([accSum, regSum]);
        const stats = await both.data();
        both.dispose();
        const stopped: boolean[] = [];
        const save: number[] = [];
        const metrics: Record<string, number> = {};
        active.forEach((a, i) => {
          const run = runs[a]!;
          const attack = stats[i]! / seen;
          const norm = stats[A + i]! / batchesPerStep;
          metrics[`attack:${run.label}`] = attack;
          metrics[`norm:${run.label}`] = norm;
          metrics[`cost:${run.label}`] = run.schedule.cost;
          const d = run.schedule.update(attack, norm);
          if (d.saveBest) save.push(i);
          stopped.push(d.stop);
        });
        for (const i of save) {
          const run = runs[active[i]!]!;
          const best = tf.tidy(() => ({
            mask: fromTanh(tf.slice(state.mw, [i, 0, 0, 0], [1, H, W, 1])),
            pattern: fromTanh(tf.slice(state.pw, [i, 0, 0, 0], [1, H, W, C])),
          }));
          if (run.best !== undefined) tf.dispose([run.best.mask, run.best.pattern]);
          run.best = best;
        }
        if (stopped.some((s) => s)) {
          const keep = stopped.flatMap((s, i) => (s ? [] : [i]));
          const next = tf.tidy(() => {
            const idx = tf.tensor1d(keep, 'int32');
            const g = (v: tf.Tensor4D) => tf.gather(v, idx);
            return {
              mw: g(state.mw),
              pw: g(state.pw),
              m1: g(state.m1),
              v1: g(state.v1),
              m2: g(state.m2),
              v2: g(state.v2),
            };
          });
          disposeState(state);
          state = next;
          active = keep.map((i) => active[i]!);
        }
        metrics.active = active.length;
        reportProgress(o.onProgress, { stage, done: step + 1, total: o.steps, metrics });
        if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
      } finally {
        tf.dispose([costs, targets, accSum, regSum]);
      }
    }
    // labels still active: remember their last mask/pattern (used when none converged)
    if (active.length > 0) {
      const last = tf.tidy(() =>
        tf.concat([tf.reshape(fromTanh(state.mw), [-1]), tf.reshape(fromTanh(state.pw), [-1])]),
      );
      const values = (await last.data()) as Float32Array;
      last.dispose();
      const A = active.length;
      active.forEach((a, i) => {
        runs[a]!.last = {
          mask: values.slice(i * P, (i + 1) * P),
          pattern: values.slice(A * P + i * D, A * P + (i + 1) * D),
        };
      });
    }
    const out: ReversedTrigger[] = [];
    for (const run of runs) {
      let mask: Float32Array;
      let pattern: Float32Array;
      if (run.best !== undefined) {
        mask = (await run.best.mask.data()) as Float32Array;
        pattern = (await run.best.pattern.data()) as Float32Array;
      } else {
        mask = run.last!.mask;
        pattern = run.last!.pattern;
      }
      // tanh(w)/(2 − ε) + 0.5 can round a hair outside [0, 1] in float32 (−6e-8 seen): clamp what is reported
      out.push({
        label: run.label,
        mask: Float32Array.from(mask, clamp01),
        pattern: Float32Array.from(pattern, clamp01),
        converged: run.best !== undefined,
        steps: run.schedule.steps,
        cost: run.schedule.cost,
      });
    }
    return out;
  } finally {
    disposeState(state);
    for (const run of runs) if (run.best !== undefined) tf.dispose([run.best.mask, run.best.pattern]);
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** `(1 − m)·x + m·p` for a mask `[H*W]` (shared by channels) and a pattern `[H*W*C]`. The caller owns the result. */
export function applyReversed(x: tf.Tensor4D, mask: ArrayLike<number>, pattern: ArrayLike<number>): tf.Tensor4D {
  const [, H, W, C] = x.shape;
  return tf.tidy(() => {
    const m = tf.tensor4d(Float32Array.from(mask), [1, H, W, 1]);
    const p = tf.tensor4d(Float32Array.from(pattern), [1, H, W, C]);
    return tf.add(tf.mul(tf.sub(1, m), x), tf.mul(m, p)) as tf.Tensor4D;
  });
}

/** Predicted labels of `x` stamped with a reversed trigger, batch by batch. */
export async function predictStamped(
  classifier: Classifier,
  x: tf.Tensor4D,
  mask: ArrayLike<number>,
  pattern: ArrayLike<number>,
  batchSize: number,
): Promise<Int32Array> {
  const [, H, W, C] = x.shape;
  const m = tf.tensor4d(Float32Array.from(mask), [1, H, W, 1]);
  const p = tf.tensor4d(Float32Array.from(pattern), [1, H, W, C]);
  try {
    const { values, cols } = await collectBatches(x, batchSize, (b) =>
      classifier.predict(tf.add(tf.mul(tf.sub(1, m), b), tf.mul(m, p))),
    );
    return argmaxRows(values, cols);
  } finally {
    tf.dispose([m, p]);
  }
}

export function checkLabels(fn: string, labels: unknown, numClasses: number): number[] {
  if (labels === undefined) return Array.from({ length: numClasses }, (_, i) => i);
  if (!Array.isArray(labels)) {
    throw new InvalidArgumentError({ fn, arg: 'options.labels', value: labels }, 'must be an array of labels');
  }
  const seen = new Set<number>();
  labels.forEach((v: unknown, i) => {
    assertInteger(fn, `options.labels[${i}]`, v, 0, numClasses - 1);
    if (seen.has(v)) throw new InvalidArgumentError({ fn, arg: `options.labels[${i}]`, value: v }, 'is repeated');
    seen.add(v);
  });
  if (labels.length < 3) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.labels', value: labels },
      'must hold at least 3 labels (the MAD outlier test needs them)',
    );
  }
  return labels as number[];
}

export function assertImageClassifier(fn: string, classifier: Classifier): [number, number, number] {
  return assertPixelClassifier(fn, classifier, 'Neural Cleanse reverses an image mask');
}

/** Why Neural Cleanse refuses data other than images. */
export const NC_NEEDS_PIXELS = 'Neural Cleanse reverse-engineers a trigger as a mask over pixels';

/** Checks the defender's clean data: images of the classifier's input shape, labels in range. */
export function assertCleanImages(
  fn: string,
  classifier: Classifier,
  cleanData: unknown,
): asserts cleanData is LabeledData {
  assertImageData(
    fn,
    'cleanData',
    cleanData,
    { inputShape: classifier.inputShape, numClasses: classifier.numClasses },
    NC_NEEDS_PIXELS,
  );
}
