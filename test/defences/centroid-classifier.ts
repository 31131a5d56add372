/**
 * A hand-made classifier with every capability the training-data defences
 * use, whose behaviour can be worked out by hand: inputs are `[1, 1, d]`
 * feature vectors, the "last hidden layer" returns them unchanged, and
 * training computes one centroid per class (prediction: softmax of
 * −‖x − centroidₖ‖² / (2τ)). An optional rule overrides predictions (to play
 * a backdoored model). Shared by the Activation Clustering and Spectral
 * Signatures tests.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { FitHistory, FitOptions, LayerInfo } from '../../src/core/classifier.js';
import { AbortError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { LabeledData } from '../../src/core/types.js';

export class CentroidClassifier {
  readonly inputShape: readonly number[];
  readonly layers: LayerInfo[];
  /** Number of `fit` calls on this object and every copy made from it. */
  static fits = 0;
  disposed = false;

  constructor(
    readonly d: number,
    readonly numClasses: number,
    public centroids: Float64Array | undefined,
    readonly tau = 4,
    readonly rule?: (row: Float32Array) => number | undefined,
  ) {
    this.inputShape = [1, 1, d];
    this.layers = [
      { name: 'features', kind: 'dense', className: 'Dense', outputShape: [d], units: d, index: 0 },
      { name: 'output', kind: 'dense', className: 'Dense', outputShape: [numClasses], units: numClasses, index: 1 },
    ];
  }

  /** Probabilities for a batch, from the centroids (uniform when untrained) or the rule. */
  predict(x: tf.Tensor): tf.Tensor2D {
    const n = x.shape[0]!;
    const v = x.dataSync() as Float32Array;
    const out = new Float32Array(n * this.numClasses);
    for (let i = 0; i < n; i++) {
      const row = v.subarray(i * this.d, (i + 1) * this.d);
      const forced = this.rule?.(row);
      if (forced !== undefined) {
        out[i * this.numClasses + forced] = 1;
        continue;
      }
      if (this.centroids === undefined) {
        out.fill(1 / this.numClasses, i * this.numClasses, (i + 1) * this.numClasses);
        continue;
      }
      const logits = new Float64Array(this.numClasses);
      for (let c = 0; c < this.numClasses; c++) {
        let s = 0;
        for (let j = 0; j < this.d; j++) s += (row[j]! - this.centroids[c * this.d + j]!) ** 2;
        logits[c] = -s / (2 * this.tau);
      }
      const m = Math.max(...logits);
      let z = 0;
      for (let c = 0; c < this.numClasses; c++) z += Math.exp(logits[c]! - m);
      for (let c = 0; c < this.numClasses; c++) out[i * this.numClasses + c] = Math.exp(logits[c]! - m) / z;
    }
    return tf.tensor2d(out, [n, this.numClasses]);
  }

  activations(x: tf.Tensor, layer: string): tf.Tensor2D {
    if (layer !== 'features' && layer !== 'output') throw new Error(`no layer ${layer}`);
    return layer === 'features' ? tf.reshape(x, [x.shape[0]!, this.d]) : this.predict(x);
  }

  clone(): this {
    return new CentroidClassifier(this.d, this.numClasses, this.centroids?.slice(), this.tau, this.rule) as this;
  }

  reinitialized(_seed: number): this {
    return new CentroidClassifier(this.d, this.numClasses, undefined, this.tau) as this;
  }

  /** Class centroids of `data`; reports one step and one epoch per epoch, with a loss that halves each epoch. */
  async fit(data: LabeledData, options: FitOptions = {}): Promise<FitHistory> {
    CentroidClassifier.fits++;
    const epochs = options.epochs ?? 1;
    const v = (await data.x.data()) as Float32Array;
    const sums = new Float64Array(this.numClasses * this.d);
    const counts = new Float64Array(this.numClasses);
    data.y.forEach((c, i) => {
      counts[c]!++;
      for (let j = 0; j < this.d; j++) sums[c * this.d + j]! += v[i * this.d + j]!;
    });
    const history: FitHistory = { loss: [], accuracy: [], seconds: [] };
    for (let e = 0; e < epochs; e++) {
      if (options.signal?.aborted === true) throw new AbortError({ fn: 'fit', arg: 'signal' }, 'was aborted');
      options.onProgress?.({ stage: 'fit', done: e + 1, total: epochs });
      const loss = 1 / 2 ** e;
      history.loss.push(loss);
      history.accuracy.push(1);
      history.seconds.push(0);
      options.onProgress?.({ stage: 'fit:epoch', done: e + 1, total: epochs, metrics: { loss, accuracy: 1 } });
      await new Promise((r) => setImmediate(r));
    }
    this.centroids = sums.map((s, k) => s / Math.max(1, counts[Math.floor(k / this.d)]!));
    return history;
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** Class centres of the hand-made feature data: class c sits at 10·e_c (class 0 at the origin). */
export function centre(c: number, d: number): number[] {
  const v = new Array<number>(d).fill(0);
  if (c > 0) v[c - 1] = 10;
  return v;
}

export interface HandMade {
  data: LabeledData;
  /** 1 for each planted poison sample. */
  poisoned: Uint8Array;
  /** A "backdoored" model: nearest centroid, except that the trigger feature (last) above 4 means class 0. */
  model: CentroidClassifier;
}

/**
 * Hand-made poisoned feature data, d = 4, three classes: `clean[c]` samples
 * around each class centre (unit Gaussian noise in every feature), plus
 * `poison` samples of class `source` carrying the trigger (last feature + 8)
 * and labelled 0. Seeded. Extra classes with the given sizes can be appended.
 */
export function handMade(clean: number[], poison: number, source = 2, seed = 1): HandMade {
  const d = 4;
  const K = clean.length;
  const rng = new Rng(seed);
  const rows: number[][] = [];
  const y: number[] = [];
  const poisoned: number[] = [];
  clean.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      rows.push(centre(c, d).map((v) => v + rng.normal()));
      y.push(c);
      poisoned.push(0);
    }
  });
  for (let i = 0; i < poison; i++) {
    const v = centre(source, d).map((x) => x + rng.normal());
    v[d - 1]! += 8;
    rows.push(v);
    y.push(0);
    poisoned.push(1);
  }
  const x = tf.tensor4d(rows.flat(), [rows.length, 1, 1, d]);
  const centroids = new Float64Array(K * d);
  for (let c = 0; c < K; c++) centroids.set(centre(c, d), c * d);
  const model = new CentroidClassifier(d, K, centroids, 4, (row) => (row[d - 1]! > 4 ? 0 : undefined));
  return { data: { x, y: Int32Array.from(y) }, poisoned: Uint8Array.from(poisoned), model };
}
