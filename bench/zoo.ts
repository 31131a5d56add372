/**
 * Defences on the models users bring (issue 14): BadNets all-to-one (4×4
 * white square, bottom-right, target 0, 10% poison) planted in zoo models
 * trained exactly like the small-CNN subjects (8 epochs, batch 128, Adam
 * 1e-3, wasm): a BatchNorm CNN (conv stride 2 'same' → BN → ReLU ×2) and a
 * ResNet-style residual network (stem, one residual block, global average
 * pooling). Each defence runs with its library defaults, on the defender
 * data the small-CNN rows use: Activation Clustering on the poisoned
 * training set; Fine-Pruning on 1,000 unpoisoned training digits; ANP on
 * 500. Evaluated on the 2,000 held-out test digits.
 *
 * `npm run bench -- zoo` (also writes docs/results.md).
 */
import * as tf from '@tensorflow/tfjs-core';

import { activationClustering, anp, finePruning, metrics, type Classifier } from '../src/index.js';
import { markdownTable } from './results-file.js';
import { cleanSample, subject, useBackend, type Subject } from './subjects.js';

const pct = (v: number) => (100 * v).toFixed(1);

async function measure(s: Subject, c: Classifier): Promise<{ acc: number; asr: number }> {
  return {
    acc: await metrics.accuracy(c, s.test, { batchSize: 500 }),
    asr: await metrics.attackSuccessRate(c, s.triggered, 0, { batchSize: 500 }),
  };
}

export function f1(flags: Uint8Array, truth: Uint8Array): { f1: number; precision: number; recall: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < truth.length; i++) {
    if (flags[i] && truth[i]) tp++;
    else if (flags[i]) fp++;
    else if (truth[i]) fn++;
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  return { f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall), precision, recall };
}

/** Runs the zoo benchmark; returns the markdown section. */
export async function benchZoo(
  opts: { archs?: ReadonlyArray<'bn' | 'residual' | 'separable'>; log?: (l: string) => void } = {},
): Promise<{ markdown: string }> {
  const log = opts.log ?? ((l: string) => console.error(l));
  await useBackend('wasm');
  const rows: Array<Array<string | number>> = [];
  const names = {
    bn: 'BN CNN (×2 width)',
    residual: 'residual (×3 width)',
    separable: 'depthwise-separable (×4 width)',
  };
  for (const arch of opts.archs ?? (['bn', 'residual'] as const)) {
    log(`training ${arch} ...`);
    const s = await subject({ kind: 'all-to-one', arch });
    const name = names[arch];
    log(`  clean ${pct(s.cleanAccuracy)}%, ASR ${pct(s.asr)}% (${s.trainSeconds.toFixed(0)} s)`);
    rows.push([
      name,
      'none (backdoored)',
      pct(s.cleanAccuracy),
      pct(s.asr),
      '–',
      `trained in ${s.trainSeconds.toFixed(0)} s`,
    ]);

    let t0 = performance.now();
    const ac = await activationClustering.detect(s.classifier, s.train, { seed: 0 });
    const q = f1(ac.suspicious, s.poisoned);
    rows.push([
      name,
      'Activation Clustering (defaults)',
      '–',
      '–',
      ((performance.now() - t0) / 1000).toFixed(0),
      `F1 ${q.f1.toFixed(3)} (precision ${q.precision.toFixed(3)}, recall ${q.recall.toFixed(3)})`,
    ]);
    log(`  AC F1 ${q.f1.toFixed(3)}`);

    const clean1000 = cleanSample(s, 1000, 0);
    t0 = performance.now();
    const fp = await finePruning.repair(s.classifier, clean1000, { seed: 0 });
    const mfp = await measure(s, fp.classifier);
    rows.push([
      name,
      `Fine-Pruning (defaults: layer ${fp.layer}, ${fp.pruned.length}/${fp.units} pruned)`,
      pct(mfp.acc),
      pct(mfp.asr),
      ((performance.now() - t0) / 1000).toFixed(0),
      `drop ${(100 * (s.cleanAccuracy - mfp.acc)).toFixed(1)} points`,
    ]);
    log(`  FP acc ${pct(mfp.acc)} ASR ${pct(mfp.asr)}`);
    fp.classifier.dispose();
    clean1000.x.dispose();

    const clean500 = cleanSample(s, 500, 1);
    t0 = performance.now();
    const a = await anp.repair(s.classifier, clean500, { seed: 0 });
    const ma = await measure(s, a.classifier);
    rows.push([
      name,
      `ANP (defaults; ${a.pruned.length}/${a.totalUnits} units pruned)`,
      pct(ma.acc),
      pct(ma.asr),
      ((performance.now() - t0) / 1000).toFixed(0),
      `drop ${(100 * (s.cleanAccuracy - ma.acc)).toFixed(1)} points`,
    ]);
    log(`  ANP acc ${pct(ma.acc)} ASR ${pct(ma.asr)}`);
    a.classifier.dispose();
    clean500.x.dispose();

    s.classifier.dispose();
    for (const t of new Set([s.train.x, s.cleanTrain.x, s.test.x, s.triggered.x])) tf.dispose(t);
  }
  const markdown = [
    'Subjects: BadNets all-to-one (4×4 white square, bottom-right, target 0, 10% poison) in zoo models from `test/helpers/zoo.ts` at MNIST size, trained like the small-CNN subjects (8 epochs, batch 128, Adam 1e-3, seed 0, wasm; `fit` re-estimates BN statistics after training, the default). Defences with library defaults; AC on the poisoned training set, FP on 1,000 unpoisoned training digits, ANP on 500; evaluated on the 2,000 held-out test digits (ASR on the non-target digits with the trigger).',
    '',
    markdownTable(['model', 'defence', 'clean acc %', 'ASR %', 'seconds', 'notes'], rows),
  ].join('\n');
  return { markdown };
}
