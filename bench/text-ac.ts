/**
 * Activation Clustering on a synthetic text task (no real text corpus is
 * reachable offline): the zoo text CNN trained on `textFixture` (400
 * sequences of 12 token ids, 10% poison: a trigger word inserted into
 * class-0 sequences relabelled 1), five seeds, wasm. Reports AC's F1 with
 * the default analysis and the size-based ones, and Spectral Signatures'
 * precision. `npm run bench -- text-ac` (also writes docs/results.md).
 */
import * as tf from '@tensorflow/tfjs-core';

import { activationClustering, fromLayersModel, spectralSignatures } from '../src/index.js';
import { markdownTable } from './results-file.js';
import { useBackend } from './subjects.js';
import { f1 } from './zoo.js';
import { textCnn, textFixture } from '../test/helpers/zoo.js';

/** Runs the text benchmark; returns the markdown section. */
export async function benchTextAc(): Promise<{ markdown: string }> {
  await useBackend('wasm');
  const rows: Array<Array<string | number>> = [];
  for (const seed of [0, 1, 2, 3, 4]) {
    const d = textFixture(400, seed);
    const data = { x: d.x, y: d.y };
    const clf = fromLayersModel(textCnn(seed + 1), { owned: true });
    const h = await clf.fit(data, { epochs: 15, batchSize: 32, learningRate: 0.01, seed });
    const exre = await activationClustering.detect(clf, data, { seed: 0 });
    const size = await activationClustering.detect(clf, data, { seed: 0, analysis: 'relative-size' });
    const ss = await spectralSignatures.detect(clf, data);
    let ssTp = 0;
    let ssFlagged = 0;
    for (let i = 0; i < d.y.length; i++) {
      if (ss.suspicious[i]) ssFlagged++;
      if (ss.suspicious[i] && d.poisoned[i]) ssTp++;
    }
    rows.push([
      seed,
      d.poisoned.reduce((a, b) => a + b, 0),
      h.accuracy.at(-1)!.toFixed(3),
      f1(exre.suspicious, d.poisoned).f1.toFixed(3),
      f1(size.suspicious, d.poisoned).f1.toFixed(3),
      `${ssTp} of ${ssFlagged}`,
    ]);
    clf.dispose();
    tf.dispose(d.x);
  }
  const markdown = [
    'Synthetic text task (`textFixture`, `test/helpers/zoo.ts`): class 1 holds a "positive" word, class 0 a "negative" one among filler words; 10% poison inserts a trigger word into class-0 sequences relabelled 1. Zoo text CNN (embedding 16 → conv1d 16 → global max pool → dense 16 → 2), 15 epochs, Adam 1e-2, batch 32, wasm. AC and SS with library defaults on the last hidden layer.',
    '',
    markdownTable(
      [
        'seed',
        'poisoned',
        'train acc',
        'AC F1 (defaults: exclusionary reclassification)',
        'AC F1 (relative size)',
        'SS: poison among flagged',
      ],
      rows,
    ),
  ].join('\n');
  return { markdown };
}
