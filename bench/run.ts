/**
 * `npm run bench [-- section ...]`: runs the benchmarks, prints each table and
 * writes it into docs/results.md with the command that produced it.
 */
import * as tf from '@tensorflow/tfjs-core';

import { benchAttacks } from './attacks.js';
import { benchCombinations } from './combinations.js';
import { benchDataDefences } from './data-defences.js';
import { INPUT_DEFENCE_SECTIONS } from './input-defences.js';
import { benchKernels } from './kernels.js';
import {
  benchNeuralCleanse,
  benchNeuralCleanseRounding,
  benchNeuralCleanseSeeds,
  benchUnlearningSweep,
} from './neural-cleanse.js';
import { benchPruning } from './pruning.js';
import { writeSection } from './results-file.js';
import { benchTraining } from './training.js';
import { benchTrojanNet } from './trojannet.js';
import { benchZoo } from './zoo.js';
import { benchTrojanNetDefences } from './trojannet-defences.js';
import { benchTextAc } from './text-ac.js';

interface Section {
  title: string;
  run: () => Promise<{ markdown: string }>;
}

const SECTIONS: Record<string, Section> = {
  training: { title: 'Training and inference speed (foundation)', run: () => benchTraining() },
  attacks: { title: 'Attacks: BadNets, blended, reflection (issue 3)', run: () => benchAttacks() },
  trojannet: { title: 'TrojanNet', run: () => benchTrojanNet() },
  'data-defences': {
    title: 'Training-data defences: Activation Clustering and Spectral Signatures',
    run: () => benchDataDefences(),
  },
  ...Object.fromEntries(
    Object.entries(INPUT_DEFENCE_SECTIONS).map(([name, section]) => [`input-defences-${name}`, section]),
  ),
  'neural-cleanse': { title: 'Neural Cleanse (issue 6)', run: () => benchNeuralCleanse() },
  'neural-cleanse-unlearning': {
    title: 'Neural Cleanse unlearning settings (issue 6)',
    run: () => benchUnlearningSweep(),
  },
  'neural-cleanse-seeds': {
    title: 'Neural Cleanse: held-out check of the log-scale threshold (issue 6)',
    run: () => benchNeuralCleanseSeeds(),
  },
  'neural-cleanse-rounding': {
    title: 'Neural Cleanse: how far float rounding moves the anomaly index (issue 6)',
    run: () => benchNeuralCleanseRounding(),
  },
  pruning: { title: 'Fine-Pruning and ANP (issue 6)', run: () => benchPruning() },
  'text-ac': { title: 'Activation Clustering on a synthetic text task (issue 14)', run: () => benchTextAc() },
  'trojannet-defences': {
    title: 'Defending the TrojanNet-inserted small CNN: the thesis experiment (issue 14)',
    run: () => benchTrojanNetDefences(),
  },
  zoo: { title: 'Defences on the model zoo: BatchNorm and residual networks (issue 14)', run: () => benchZoo() },
  combinations: { title: 'Combining defences: AC → FP vs FP → AC (issue 7)', run: () => benchCombinations() },
  kernels: {
    title: 'Convolution kernels: stock tfjs vs registerFastKernels',
    run: () => benchKernels({ epoch: false, log: (l) => console.error(l) }),
  },
};

async function main(): Promise<void> {
  tf.enableProdMode();
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = asked.length > 0 ? asked : Object.keys(SECTIONS);
  for (const name of names) {
    const section = SECTIONS[name];
    if (section === undefined) {
      console.error(`unknown section '${name}' (known: ${Object.keys(SECTIONS).join(', ')})`);
      process.exit(1);
    }
    console.error(`running ${name} ...`);
    const t0 = performance.now();
    const { markdown } = await section.run();
    const command = `npm run bench -- ${name}`;
    console.log(`\n## ${section.title}\n\n${markdown}\n\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    writeSection(name, section.title, markdown, command);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : e);
  process.exit(1);
});
