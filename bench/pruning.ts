/**
 * Pruning defences benchmark: Fine-Pruning (with its pruning-only and
 * fine-tuning-only halves) and ANP on the BadNets all-to-one small CNN of
 * bench/subjects.ts (bundled MNIST, wasm backend).
 *
 * The defender's clean data are drawn (seeded) from the training split's
 * samples that were not poisoned: 1,000 for Fine-Pruning, 500 for ANP (1% of
 * a 50k training set is what Wu & Wang use; 500 is the budget).
 * Clean accuracy and ASR are measured on the held-out test split (2,000
 * digits; ASR on the 1,800 non-target digits with the trigger), which no
 * defence sees.
 *
 * Run: `npx tsx bench/pruning.ts` (prints the markdown), or through
 * `npm run bench -- pruning` (also writes docs/results.md).
 */
import { pathToFileURL } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import * as anp from '../src/defences/model/anp.js';
import * as finePruning from '../src/defences/model/fine-pruning.js';
import { datasets, metrics, type Classifier, type LabeledData } from '../src/index.js';
import { markdownTable } from './results-file.js';
import { cleanSample, subject, useBackend, type Subject } from './subjects.js';

interface Measured {
  acc: number;
  asr: number;
}

async function measure(s: Subject, c: Classifier): Promise<Measured> {
  return {
    acc: await metrics.accuracy(c, s.test, { batchSize: 500 }),
    asr: await metrics.attackSuccessRate(c, s.triggered, 0, { batchSize: 500 }),
  };
}

const pct = (v: number) => (100 * v).toFixed(1);
const drop = (s: Subject, m: Measured) => (100 * (s.cleanAccuracy - m.acc)).toFixed(1);

async function runFp(
  s: Subject,
  clean: LabeledData,
  options: finePruning.FinePruningOptions,
): Promise<{ m: Measured; r: Omit<finePruning.FinePruningRepairResult, 'classifier'>; seconds: number }> {
  const t0 = performance.now();
  const { classifier, ...r } = await finePruning.repair(s.classifier, clean, options);
  const seconds = (performance.now() - t0) / 1000;
  const m = await measure(s, classifier);
  classifier.dispose();
  return { m, r, seconds };
}

/** Fine-Pruning tables. */
async function benchFinePruning(s: Subject, clean: LabeledData): Promise<string> {
  const out: string[] = [];
  const FP_BAR = (m: Measured) => (m.asr <= 0.2 && s.cleanAccuracy - m.acc <= 0.04 ? 'yes' : 'no');

  // 1. the three modes, our defaults and the calibration schedule
  const rows: Array<Array<string | number>> = [
    ['none (backdoored model)', '–', '–', pct(s.cleanAccuracy), '0.0', pct(s.asr), '–', '–'],
  ];
  const schedules = [
    { label: 'defaults: Adam 1e-2, 10 epochs', options: {} },
    { label: 'calibration: Adam 1e-3, 5 epochs', options: { learningRate: 1e-3, epochs: 5 } },
  ];
  for (const sched of schedules) {
    for (const mode of ['pruning', 'fine-tuning', 'fine-pruning'] as const) {
      if (mode === 'pruning' && sched !== schedules[0]) continue;
      const { m, r, seconds } = await runFp(s, clean, { mode, ...sched.options });
      rows.push([
        mode === 'pruning' ? 'pruning only (conv2, 4% rule)' : `${mode} (${sched.label})`,
        r.layer ?? '–',
        mode === 'fine-tuning' ? '–' : `${r.pruned.length}/${r.units}`,
        pct(m.acc),
        drop(s, m),
        pct(m.asr),
        seconds.toFixed(0),
        FP_BAR(m),
      ]);
    }
  }
  out.push(
    '### Fine-Pruning: the three defences (1,000 clean training digits)\n',
    markdownTable(
      [
        'defence',
        'layer',
        'pruned',
        'clean acc %',
        'acc drop (points)',
        'ASR %',
        'seconds',
        'bar met (ASR ≤ 20%, drop ≤ 4)',
      ],
      rows,
    ),
  );

  // 2. which layer, which threshold (fine-pruning, default schedule)
  const grid: Array<Array<string | number>> = [];
  for (const layer of ['conv1', 'conv2', 'dense1']) {
    for (const maxAccuracyDrop of [0.02, 0.04, 0.06]) {
      const { m, r } = await runFp(s, clean, { layer, maxAccuracyDrop });
      const pr = await runFp(s, clean, { layer, maxAccuracyDrop, mode: 'pruning' });
      grid.push([
        layer,
        `${100 * maxAccuracyDrop}%`,
        `${r.pruned.length}/${r.units}`,
        pct(pr.m.acc),
        pct(pr.m.asr),
        pct(m.acc),
        drop(s, m),
        pct(m.asr),
      ]);
    }
  }
  out.push(
    '\n### Fine-Pruning: layer × pruning threshold (Milakovic & Mayer Fig. 3), default fine-tuning\n',
    markdownTable(
      [
        'layer',
        'max acc drop',
        'pruned',
        'after pruning: acc %',
        'after pruning: ASR %',
        'after fine-tuning: acc %',
        'acc drop (points)',
        'after fine-tuning: ASR %',
      ],
      grid,
    ),
  );

  // 3. the fine-tuning schedule (conv2, 4% rule), fine-pruning vs fine-tuning only
  const sched: Array<Array<string | number>> = [];
  const settings: Array<{ learningRate: number; epochs: number }> = [
    { learningRate: 1e-3, epochs: 10 },
    { learningRate: 3e-3, epochs: 10 },
    { learningRate: 1e-2, epochs: 5 },
    { learningRate: 1e-2, epochs: 10 },
    { learningRate: 1e-2, epochs: 20 },
    { learningRate: 3e-2, epochs: 10 },
  ];
  for (const st of settings) {
    const fp = await runFp(s, clean, st);
    const ft = await runFp(s, clean, { ...st, mode: 'fine-tuning' });
    sched.push([
      `Adam ${st.learningRate}`,
      st.epochs,
      pct(fp.m.acc),
      drop(s, fp.m),
      pct(fp.m.asr),
      pct(ft.m.acc),
      drop(s, ft.m),
      pct(ft.m.asr),
    ]);
  }
  out.push(
    '\n### Fine-tuning schedule (conv2, 4% rule; batch 32)\n',
    markdownTable(
      [
        'optimiser, step',
        'epochs',
        'fine-pruning: acc %',
        'drop',
        'fine-pruning: ASR %',
        'fine-tuning only: acc %',
        'drop',
        'fine-tuning only: ASR %',
      ],
      sched,
    ),
  );

  // 4. choosing the step size from clean data only: fine-prune on 800 of the 1,000 clean digits,
  //    read the accuracy on the other 200 (the defender can), keep the largest step within 4 points
  const tune = datasets.subset(
    clean,
    Array.from({ length: 800 }, (_, i) => i),
  );
  const held = datasets.subset(
    clean,
    Array.from({ length: 200 }, (_, i) => 800 + i),
  );
  const heldBefore = await metrics.accuracy(s.classifier, held);
  const pick: Array<Array<string | number>> = [];
  let chosen = '';
  for (const learningRate of [1e-3, 3e-3, 1e-2, 3e-2]) {
    const t = await finePruning.repair(s.classifier, tune, { learningRate });
    const heldAcc = await metrics.accuracy(t.classifier, held);
    const m = await measure(s, t.classifier);
    t.classifier.dispose();
    if (heldBefore - heldAcc <= 0.04) chosen = `Adam ${learningRate}`;
    pick.push([
      `Adam ${learningRate}`,
      pct(heldAcc),
      (100 * (heldBefore - heldAcc)).toFixed(1),
      pct(m.acc),
      pct(m.asr),
    ]);
  }
  tune.x.dispose();
  held.x.dispose();
  out.push(
    `\n### Choosing the fine-tuning step from clean data only (fine-pruning on 800 clean digits, 200 held out; held-out accuracy before repair ${pct(heldBefore)}%)\n`,
    markdownTable(['step', 'held-out acc %', 'held-out drop (points)', 'test acc %', 'test ASR %'], pick),
    `\nRule "largest step whose held-out drop is at most 4 points" picks: ${chosen || 'none'}.`,
  );

  // 5. pruning curve: conv2 channels pruned in increasing mean activation, no fine-tuning
  const ranked = await finePruning.repair(s.classifier, clean, { mode: 'pruning', maxAccuracyDrop: 1 });
  ranked.classifier.dispose();
  const curve: Array<Array<string | number>> = [];
  const keep = new Float32Array(ranked.units).fill(1);
  for (let k = 0; k < ranked.units; k++) {
    if (k > 0) keep[ranked.order[k - 1]!] = 0;
    if (k % 2 !== 0 && k < ranked.units - 1) continue;
    const masked = s.classifier.withUnitMask('conv2', keep);
    const m = await measure(s, masked);
    masked.dispose();
    curve.push([k, pct(ranked.accuracyCurve[k] ?? NaN), pct(m.acc), pct(m.asr)]);
  }
  out.push(
    '\n### Pruning curve (conv2, channels in increasing mean clean activation, no fine-tuning)\n',
    markdownTable(['channels pruned', 'acc on the 1,000 clean digits %', 'test acc %', 'ASR %'], curve),
  );
  return out.join('\n');
}

/** ANP tables. */
async function benchAnp(s: Subject, clean: LabeledData): Promise<string> {
  const out: string[] = [];
  const rows: Array<Array<string | number>> = [];
  const t0 = performance.now();
  const r = await anp.repair(s.classifier, clean, { seed: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const m = await measure(s, r.classifier);
  r.classifier.dispose();
  rows.push([
    'ANP defaults (ε 0.4, α 0.2, mask lr 0.2, 2,000 iterations, threshold 0.2)',
    `${r.pruned.length}/${r.totalUnits}`,
    pct(m.acc),
    drop(s, m),
    pct(m.asr),
    seconds.toFixed(0),
    m.asr <= 0.05 && s.cleanAccuracy - m.acc <= 0.03 ? 'yes' : 'no',
  ]);
  out.push(
    '### ANP (500 clean training digits)\n',
    markdownTable(
      [
        'defence',
        'pruned units',
        'clean acc %',
        'acc drop (points)',
        'ASR %',
        'seconds',
        'bar met (ASR ≤ 5%, drop ≤ 3)',
      ],
      rows,
    ),
  );
  const curve: Array<Array<string | number>> = [];
  for (const threshold of [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) {
    const q = await anp.repair(s.classifier, clean, r, { threshold });
    const mq = await measure(s, q.classifier);
    q.classifier.dispose();
    curve.push([threshold, q.pruned.length, pct(mq.acc), drop(s, mq), pct(mq.asr)]);
  }
  out.push(
    '\n### ANP pruning by threshold (same masks)\n',
    markdownTable(['threshold', 'pruned units', 'clean acc %', 'acc drop (points)', 'ASR %'], curve),
  );
  const perLayer = r.masks.map((mk) => [
    mk.layer,
    mk.values.length,
    Array.from(mk.values).filter((v) => v <= 0.2).length,
    (Array.from(mk.values).reduce((a, v) => a + v, 0) / mk.values.length).toFixed(2),
  ]);
  out.push('\n### ANP masks per layer\n', markdownTable(['layer', 'units', 'mask ≤ 0.2', 'mean mask'], perLayer));
  return out.join('\n');
}

/** Runs both benchmarks and returns their markdown. */
export async function benchPruning(): Promise<{ markdown: string }> {
  await useBackend('wasm');
  const s = await subject({ kind: 'all-to-one' });
  const clean1000 = cleanSample(s, 1000, 101);
  const clean500 = cleanSample(s, 500, 102);
  const header = [
    `Subject: small CNN, BadNets all-to-one (4×4 white square, bottom-right, target 0, 10% poison), `,
    `clean accuracy ${pct(s.cleanAccuracy)}%, ASR ${pct(s.asr)}%. Backend ${tf.getBackend()}.`,
  ].join('');
  const fp = await benchFinePruning(s, clean1000);
  const an = await benchAnp(s, clean500);
  clean1000.x.dispose();
  clean500.x.dispose();
  return { markdown: `${header}\n\n${fp}\n\n${an}` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchPruning()
    .then(({ markdown }) => console.log(markdown))
    .catch((e: unknown) => {
      console.error(e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : e);
      process.exit(1);
    });
}
