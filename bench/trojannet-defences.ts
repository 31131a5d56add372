/**
 * The seed thesis's experiment (Wang, "New IP Protection Technique for Deep
 * Neural Networks", Universität zu Lübeck, §5.6): TrojanNet inserted into
 * the clean small CNN (one target, label 0, pattern 0 at the bottom-right
 * corner, the reference merge), then Neural Cleanse (thesis: anomaly index
 * 1.56, not flagged), ANP with 500 clean digits (thesis: removes it) and
 * Fine-Pruning with 1,000, all with library defaults, on wasm. The inserted
 * model nests the host and the MLP as sub-models and selects with `gather`:
 * it could not be defended at all before issue 14.
 *
 * `npm run bench -- trojannet-defences` (also writes docs/results.md).
 */
import * as tf from '@tensorflow/tfjs-core';

import * as trojanNet from '../src/attacks/trojannet/index.js';
import { anp, datasets, finePruning, fromLayersModel, metrics, neuralCleanse, type LabeledData } from '../src/index.js';
import { markdownTable } from './results-file.js';
import { cleanSample, mnistSplit, subject, useBackend } from './subjects.js';
import { trainedModule } from './trojannet.js';

const pct = (v: number) => (100 * v).toFixed(1);

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs the experiment; returns the markdown section. */
export async function benchTrojanNetDefences(log: (l: string) => void = (l) => console.error(l)): Promise<{
  markdown: string;
}> {
  await useBackend('wasm');
  const { train, test } = await mnistSplit();
  const patches = trojanNet.randomPatches(train.x, { perImage: 10, seed: 1 });
  log('TrojanNet module (cached after the first run) ...');
  const { module } = await trainedModule({}, patches, true, log);
  const s = await subject({ kind: 'clean' });
  const trojaned = fromLayersModel(trojanNet.insert(s.classifier.model, module, { targets: [0] }), { owned: true });
  module.dispose();
  const stamped: LabeledData = { x: trojanNet.stampPattern(test.x, 0), y: test.y };
  const measure = async (c: Parameters<typeof metrics.accuracy>[0]) => ({
    acc: await metrics.accuracy(c, test, { batchSize: 500 }),
    asr: await metrics.attackSuccessRate(c, stamped, 0, { batchSize: 500 }),
  });
  const before = await measure(trojaned);
  log(`trojaned: clean ${pct(before.acc)}%, ASR ${pct(before.asr)}%`);
  const rows: Array<Array<string | number>> = [
    ['none (TrojanNet inserted)', pct(before.acc), pct(before.asr), '–', `host accuracy ${pct(s.cleanAccuracy)}%`],
  ];

  const defender = datasets.subset(
    test,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  let t0 = performance.now();
  const nc = await neuralCleanse.detect(trojaned, defender, { seed: 0 });
  const label0 = nc.perClass.find((l) => l.label === 0)!;
  // the paper's (linear-scale) index for label 0, as the thesis reports it
  const norms = nc.perClass.map((l) => l.norm);
  const med = median(norms);
  const mad = 1.4826 * median(norms.map((v) => Math.abs(v - med)));
  rows.push([
    'Neural Cleanse detect (defaults: log-scale MAD, threshold 2)',
    '–',
    '–',
    ((performance.now() - t0) / 1000).toFixed(0),
    `flagged: ${nc.targets.length > 0 ? nc.targets.join(', ') : 'none'}; label 0: index ${label0.anomalyIndex.toFixed(2)} (log scale), ${((med - label0.norm) / mad).toFixed(2)} (paper's linear scale; thesis 1.56, not flagged); smallest-norm label ${nc.targets[0] ?? nc.perClass.reduce((a, b) => (b.norm < a.norm ? b : a)).label}`,
  ]);
  log(`NC flagged ${nc.targets.join(',')}`);

  const clean500 = cleanSample(s, 500, 1);
  t0 = performance.now();
  const a = await anp.repair(trojaned, clean500, { seed: 0 });
  const ma = await measure(a.classifier);
  rows.push([
    `ANP (defaults; ${a.pruned.length}/${a.totalUnits} units pruned)`,
    pct(ma.acc),
    pct(ma.asr),
    ((performance.now() - t0) / 1000).toFixed(0),
    `drop ${(100 * (before.acc - ma.acc)).toFixed(1)} points; bar ASR ≤ 5% at ≤ 3 points: ${ma.asr <= 0.05 && before.acc - ma.acc <= 0.03 ? 'met' : 'missed'}`,
  ]);
  log(`ANP acc ${pct(ma.acc)} ASR ${pct(ma.asr)}`);
  a.classifier.dispose();

  const clean1000 = cleanSample(s, 1000, 0);
  t0 = performance.now();
  const fp = await finePruning.repair(trojaned, clean1000, { seed: 0 });
  const mfp = await measure(fp.classifier);
  rows.push([
    `Fine-Pruning (defaults: layer ${fp.layer}, ${fp.pruned.length}/${fp.units} pruned)`,
    pct(mfp.acc),
    pct(mfp.asr),
    ((performance.now() - t0) / 1000).toFixed(0),
    `drop ${(100 * (before.acc - mfp.acc)).toFixed(1)} points`,
  ]);
  log(`FP acc ${pct(mfp.acc)} ASR ${pct(mfp.asr)}`);
  fp.classifier.dispose();

  trojaned.dispose();
  s.classifier.dispose();
  tf.dispose([stamped.x, defender.x, clean500.x, clean1000.x, train.x, test.x]);
  for (const t of new Set([s.train.x, s.cleanTrain.x, s.test.x, s.triggered.x])) tf.dispose(t);
  const markdown = [
    "TrojanNet (the `trojannet` section's module: 300 epochs, seed 1) inserted into the clean small CNN (seed 0) with one target (label 0 ← pattern 0, bottom-right, the reference merge). Backend wasm. Neural Cleanse on the first 1,000 test digits; ANP on 500 and Fine-Pruning on 1,000 clean training digits; all library defaults. ASR on the 2,000 test digits stamped with pattern 0 (those labelled 0 excluded).",
    '',
    markdownTable(['defence', 'clean acc %', 'ASR %', 'seconds', 'notes'], rows),
  ].join('\n');
  return { markdown };
}
