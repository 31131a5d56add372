/**
 * Neural Cleanse benchmark (issue 6): detection on the BadNets small CNN
 * (4×4 white square, all-to-one → 0, 10% poison) and on three models trained
 * on clean data, with the paper's full schedule (1000 steps of ~1,000 inputs,
 * early stop); the reversed mask's overlap with the true trigger; the
 * batched-vs-sequential speed ratio (same settings, same seed, shortened
 * schedule); unlearning and pruning repairs and the input filter.
 *
 * The defender holds 1,000 digits of the test split (the first half); every
 * accuracy and attack success rate is measured on the other 1,000 (and
 * their triggered copies), which the defence never sees.
 *
 * Run: `npx tsx bench/neural-cleanse.ts` (prints the tables; `--write` also
 * writes them into docs/results.md; `--all-seeds` adds the BadNets models of
 * seeds 1 and 2; `--unlearning-sweep` runs the unlearning-settings sweep
 * instead, chosen on the defender's own digits; `--seeds` runs the held-out
 * check of the log-scale threshold instead, section `neural-cleanse-seeds`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import { datasets, metrics, poisoning, type LabeledData } from '../src/index.js';
import * as neuralCleanse from '../src/defences/neural-cleanse.js';
import { formatNumber, markdownTable, writeSection } from './results-file.js';
import { subject, useBackend, type Subject, type SubjectOptions } from './subjects.js';

const CACHE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '.bench-cache');
const TARGET = 0;
const DEFENDER = 1000;
/** Steps of the batched-vs-sequential timing (the same work in both modes). */
const SHORT_STEPS = 10;

function log(msg: string): void {
  console.error(`[neural-cleanse] ${msg}`);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** The 4×4 trigger's pixels in a 28×28 image (bottom-right, 1 px margin). */
function triggerRegion(h: number, w: number, size = 4, margin = 1): Set<number> {
  const out = new Set<number>();
  for (let r = h - margin - size; r < h - margin; r++)
    for (let c = w - margin - size; c < w - margin; c++) out.add(r * w + c);
  return out;
}

/** Share of the mask's L1 mass inside the true trigger, and IoU of its top-|trigger| pixels with it. */
function overlap(mask: readonly number[], region: Set<number>): { massShare: number; topIoU: number } {
  const total = mask.reduce((s, v) => s + v, 0);
  let inside = 0;
  for (const i of region) inside += mask[i]!;
  const top = mask
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, region.size)
    .map(([, i]) => i);
  const hit = top.filter((i) => region.has(i)).length;
  return { massShare: inside / total, topIoU: hit / (2 * region.size - hit) };
}

interface Split {
  defender: LabeledData;
  held: LabeledData;
  heldTriggered: LabeledData;
}

function split(s: Subject): Split {
  const n = s.test.y.length;
  const defender = datasets.subset(s.test, range(0, DEFENDER));
  const held = datasets.subset(s.test, range(DEFENDER, n));
  const heldTriggered = poisoning.triggeredTestSet(held, { trigger: s.trigger, target: TARGET }).data;
  return { defender, held, heldTriggered };
}

function disposeSplit(d: Split): void {
  tf.dispose([d.defender.x, d.held.x, d.heldTriggered.x]);
}

function progress(
  name: string,
): (e: { stage: string; done: number; total: number; metrics?: Readonly<Record<string, number>> }) => void {
  let last = 0;
  const t0 = performance.now();
  return (e) => {
    if (e.done - last >= 25 || e.done === e.total) {
      last = e.done;
      log(
        `${name}: ${e.stage} ${e.done}/${e.total} active=${e.metrics?.active ?? '-'} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  };
}

/** Batched-vs-sequential timing and the repairs of the BadNets model; returns markdown lines. */
async function speedAndRepair(b: {
  s: Subject;
  d: Split;
  report: neuralCleanse.NeuralCleanseReport;
}): Promise<string[]> {
  const sections: string[] = [];
  // batched vs sequential, same settings and seed, shortened schedule
  const short = { seed: 0, steps: SHORT_STEPS } as const;
  log(`batched vs sequential (${SHORT_STEPS} steps)`);
  const tb0 = performance.now();
  const rb = await neuralCleanse.detect(b.s.classifier, b.d.defender, { ...short, mode: 'batched' });
  const tb = (performance.now() - tb0) / 1000;
  const ts0 = performance.now();
  const rs = await neuralCleanse.detect(b.s.classifier, b.d.defender, { ...short, mode: 'sequential' });
  const ts = (performance.now() - ts0) / 1000;
  log(`batched ${tb.toFixed(1)} s, sequential ${ts.toFixed(1)} s, ratio ${(ts / tb).toFixed(2)}`);
  let maxRel = 0;
  let sameSteps = true;
  rb.perClass.forEach((p, i) => {
    const q = rs.perClass[i]!;
    maxRel = Math.max(maxRel, Math.abs(p.norm - q.norm) / Math.max(1e-9, q.norm));
    if (p.steps !== q.steps) sameSteps = false;
  });
  sections.push(
    '',
    `Batched (10 masks in one program) vs sequential (one label after the other), ${SHORT_STEPS} steps × 31 mini-batches of 32 (early stop cannot trigger this early), same seed and data order, same script run:`,
    '',
    markdownTable(
      ['mode', 'seconds', 'speed-up', 'max relative norm difference', 'same per-label step counts'],
      [
        ['sequential', ts, 1, '–', '–'],
        ['batched', tb, ts / tb, maxRel, sameSteps ? 'yes' : 'no'],
      ],
    ),
  );

  // repair
  const repairRows: Array<Array<string | number>> = [];
  const asr0 = await metrics.attackSuccessRate(b.s.classifier, b.d.heldTriggered, TARGET);
  const acc0 = await metrics.accuracy(b.s.classifier, b.d.held);
  repairRows.push(['none', acc0, asr0, '–', '–', '–']);
  const configs: Array<[string, neuralCleanse.NeuralCleanseRepairOptions]> = [
    ['unlearning, defaults (20% stamped, 1 epoch, Adam 1e-3)', { method: 'unlearning' }],
    [
      'unlearning, SGD momentum lr 0.002 × 3 epochs (chosen on the defender’s own digits, see docs)',
      { method: 'unlearning', optimizer: 'momentum', learningRate: 0.002, epochs: 3 },
    ],
    ['pruning dense1 (second to last layer, the default)', { method: 'pruning', layer: 'dense1' }],
    ['pruning conv2 (last conv layer)', { method: 'pruning', layer: 'conv2' }],
  ];
  const filterRows: Array<Array<string | number>> = [];
  for (const [label, opts] of configs) {
    log(`repair ${label}`);
    const t0 = performance.now();
    const rep = await neuralCleanse.repair(b.s.classifier, b.d.defender, b.report, { ...opts, targets: [TARGET] });
    const seconds = (performance.now() - t0) / 1000;
    log(`${label}: ${JSON.stringify({ acc: rep.cleanAccuracyAfter, rev: rep.attackSuccessAfter, seconds })}`);
    repairRows.push([
      label,
      await metrics.accuracy(rep.classifier, b.d.held),
      await metrics.attackSuccessRate(rep.classifier, b.d.heldTriggered, TARGET),
      `${formatNumber(rep.attackSuccessBefore)} → ${formatNumber(rep.attackSuccessAfter)}`,
      rep.pruning === undefined ? '–' : `${rep.pruning.pruned.length} of ${rep.pruning.keep.length}`,
      seconds,
    ]);
    if (rep.filter !== undefined && opts.method === 'pruning') {
      const clean = await neuralCleanse.filter(b.s.classifier, b.d.held.x, rep.filter);
      const trig = await neuralCleanse.filter(b.s.classifier, b.d.heldTriggered.x, rep.filter);
      const rate = (f: Uint8Array) => f.reduce((s, v) => s + v, 0) / f.length;
      filterRows.push([rep.filter.layer, rep.filter.neurons.join(', '), rate(trig.suspicious), rate(clean.suspicious)]);
    }
    rep.classifier.dispose();
  }
  sections.push(
    '',
    'Repair of the BadNets model with the reversed trigger of label 0 (defender data: the same 1,000 digits):',
    '',
    markdownTable(
      [
        'repair',
        'clean acc (held-out)',
        'ASR (held-out, real trigger)',
        'reversed-trigger ASR (defender data)',
        'units pruned',
        'seconds',
      ],
      repairRows,
    ),
    '',
    'Input filter (top 1% of the layer’s units by activation increase under the reversed trigger; threshold at 5% FPR on the defender’s clean digits), on the held-out digits:',
    '',
    markdownTable(['layer', 'units', 'TPR (triggered)', 'FPR (clean)'], filterRows),
  );

  return sections;
}

/** Detection reports are cached (git-ignored) so that a re-run only repeats the repairs and tables. */
function reportPath(opts: SubjectOptions): string {
  return join(CACHE_DIR, `nc-report-v1-${opts.kind}-s${opts.seed ?? 0}-defender${DEFENDER}-ncseed0.json`);
}

function readCachedReport(opts: SubjectOptions): neuralCleanse.NeuralCleanseReport | undefined {
  const p = reportPath(opts);
  if (!existsSync(p)) return undefined;
  log(`using the cached detection report ${p}`);
  return JSON.parse(readFileSync(p, 'utf8')) as neuralCleanse.NeuralCleanseReport;
}

function writeCachedReport(opts: SubjectOptions, report: neuralCleanse.NeuralCleanseReport): void {
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(reportPath(opts), JSON.stringify(report));
}

export interface NeuralCleanseBenchResult {
  markdown: string;
}

/**
 * Runs the Neural Cleanse benchmark.
 *
 * @param allSeeds - Also scan the BadNets models of seeds 1 and 2 (about 10 more minutes each on wasm).
 * @returns The markdown tables.
 */
export async function benchNeuralCleanse(allSeeds = false): Promise<NeuralCleanseBenchResult> {
  await useBackend('wasm');
  const region = triggerRegion(28, 28);
  const subjects: Array<{ name: string; opts: SubjectOptions }> = [
    { name: 'BadNets all-to-one → 0 (seed 0)', opts: { kind: 'all-to-one', seed: 0 } },
    ...(allSeeds
      ? [
          { name: 'BadNets all-to-one → 0 (seed 1)', opts: { kind: 'all-to-one', seed: 1 } as SubjectOptions },
          { name: 'BadNets all-to-one → 0 (seed 2)', opts: { kind: 'all-to-one', seed: 2 } as SubjectOptions },
        ]
      : []),
    { name: 'clean (seed 0)', opts: { kind: 'clean', seed: 0 } },
    { name: 'clean (seed 1)', opts: { kind: 'clean', seed: 1 } },
    { name: 'clean (seed 2)', opts: { kind: 'clean', seed: 2 } },
  ];

  const detectRows: Array<Array<string | number>> = [];
  const normRows: Array<Array<string | number>> = [];
  const sections: string[] = [];
  let backdoored: { s: Subject; d: Split; report: neuralCleanse.NeuralCleanseReport } | undefined;

  const later: string[] = [];
  for (const { name, opts } of subjects) {
    log(`subject ${name}`);
    const s = await subject(opts);
    const d = split(s);
    const cached = readCachedReport(opts);
    const report =
      cached ?? (await neuralCleanse.detect(s.classifier, d.defender, { seed: 0, onProgress: progress(name) }));
    if (cached === undefined) writeCachedReport(opts, report);
    const seconds = report.seconds;
    const l0 = report.perClass.find((p) => p.label === TARGET)!;
    const smallest = [...report.perClass].sort((a, b) => a.norm - b.norm)[0]!;
    const ov = overlap(l0.mask, region);
    const logTest = neuralCleanse.outlierDetection(
      report.perClass.map((p) => p.norm),
      { scale: 'log' },
    );
    const logTargets = logTest.flagged.map((i) => report.perClass[i]!.label);
    detectRows.push([
      name,
      await metrics.accuracy(s.classifier, d.held),
      opts.kind === 'clean' ? '–' : await metrics.attackSuccessRate(s.classifier, d.heldTriggered, TARGET),
      report.targets.length === 0 ? 'none' : report.targets.join(', '),
      report.anomalyIndex,
      logTargets.length === 0 ? 'none' : logTargets.join(', '),
      logTest.anomalyIndex,
      `${smallest.label}`,
      l0.norm,
      l0.anomalyIndex,
      report.median,
      report.mad,
      opts.kind === 'clean' ? '–' : `${formatNumber(ov.massShare)} / ${formatNumber(ov.topIoU)}`,
      Math.max(...report.perClass.map((p) => p.steps)),
      seconds,
    ]);
    normRows.push([name, ...report.perClass.map((p) => `${formatNumber(p.norm)} (${formatNumber(p.anomalyIndex)})`)]);
    log(
      `${name}: targets=${JSON.stringify(report.targets)} index=${report.anomalyIndex.toFixed(2)} ${seconds.toFixed(0)} s`,
    );
    if (opts.kind === 'all-to-one' && opts.seed === 0) {
      backdoored = { s, d, report };
      // the speed and repair measurements come right after the first scan (the bars first)
      later.push(...(await speedAndRepair(backdoored)));
    } else {
      disposeSplit(d);
      s.classifier.dispose();
    }
  }

  sections.push(
    'Detection with the default schedule (the authors’ script: up to 1000 steps × 31 mini-batches of 32, Adam 0.1 β 0.5/0.9, init cost 1e-3, patience 5, ×2 / ÷2^1.5, early stop after 25 steps without progress), all 10 labels batched, NC seed 0. "Paper": MAD test on the L1 norms, flagged if index > 2. "Log scale": the same test on ln(norm) (`scale: \'log\'`), same threshold, computed from the same norms. Defender: 1,000 test digits; accuracy/ASR on the other 1,000.',
    '',
    markdownTable(
      [
        'model',
        'clean acc',
        'ASR',
        'flagged (paper)',
        'anomaly index (paper)',
        'flagged (log scale)',
        'anomaly index (log scale)',
        'smallest-norm label',
        'label-0 norm',
        'label-0 index',
        'median norm',
        'MAD',
        'label-0 mask in trigger: mass share / top-16 IoU',
        'max steps',
        'seconds',
      ],
      detectRows,
    ),
    '',
    'Per-label mask L1 norms (anomaly index in brackets; positive = below the median):',
    '',
    markdownTable(['model', ...range(0, 10).map((i) => `${i}`)], normRows),
  );

  sections.push(...later);

  const b = backdoored!;
  disposeSplit(b.d);
  b.s.classifier.dispose();
  return { markdown: sections.join('\n') };
}

/**
 * The log-scale rule, fixed before the held-out models below were scanned:
 * flag a label if the MAD index of ln(norm) exceeds 4 (picked on the four
 * models of the main run: BadNets seed 0 at 6.14, clean seeds 0–2 at most
 * 2.99).
 */
export const LOG_RULE = Object.freeze({ scale: 'log', threshold: 4 } as const);

/** Models that picked {@link LOG_RULE}, then the held-out ones (seeds never looked at before the rule was fixed). */
const SEED_SUBJECTS: Array<{ opts: SubjectOptions; heldOut: boolean }> = [
  { opts: { kind: 'all-to-one', seed: 0 }, heldOut: false },
  { opts: { kind: 'clean', seed: 0 }, heldOut: false },
  { opts: { kind: 'clean', seed: 1 }, heldOut: false },
  { opts: { kind: 'clean', seed: 2 }, heldOut: false },
  { opts: { kind: 'all-to-one', seed: 1 }, heldOut: true },
  { opts: { kind: 'all-to-one', seed: 2 }, heldOut: true },
  { opts: { kind: 'all-to-one', seed: 3 }, heldOut: true },
  { opts: { kind: 'clean', seed: 3 }, heldOut: true },
  { opts: { kind: 'clean', seed: 4 }, heldOut: true },
  { opts: { kind: 'clean', seed: 5 }, heldOut: true },
];

/** The largest index and its label ("–" if no label is below the median). */
function maxIndex(labels: readonly number[], indices: readonly number[]): [number, string] {
  let best = -1;
  for (let i = 0; i < indices.length; i++) if (best < 0 || indices[i]! > indices[best]!) best = i;
  const v = best < 0 ? 0 : indices[best]!;
  return [Math.max(0, v), v > 0 ? `${labels[best]}` : '–'];
}

/**
 * Held-out check of the log-scale rule (`--seeds`): the paper's linear MAD
 * test at 2 and {@link LOG_RULE} on the default-schedule detection reports
 * of the models that picked the rule and of held-out BadNets and clean
 * seeds. Reports are read from the cache when present, else computed (about
 * 4–8 minutes per model on a loaded 2-core wasm machine).
 *
 * @returns The markdown table and a summary line.
 */
export async function benchNeuralCleanseSeeds(): Promise<NeuralCleanseBenchResult> {
  await useBackend('wasm');
  const rows: Array<Array<string | number>> = [];
  const outcome = { heldTp: 0, heldBad: 0, heldFpLog: 0, heldFpLinear: 0, heldClean: 0, heldTpLinear: 0 };
  for (const { opts, heldOut } of SEED_SUBJECTS) {
    const name = `${opts.kind === 'clean' ? 'clean' : 'BadNets all-to-one → 0'} (seed ${opts.seed ?? 0})`;
    log(`subject ${name}`);
    const s = await subject(opts);
    const d = split(s);
    const cached = readCachedReport(opts);
    const report =
      cached ?? (await neuralCleanse.detect(s.classifier, d.defender, { seed: 0, onProgress: progress(name) }));
    if (cached === undefined) writeCachedReport(opts, report);
    const labels = report.perClass.map((p) => p.label);
    const norms = report.perClass.map((p) => p.norm);
    const lin = neuralCleanse.outlierDetection(norms);
    const lg = neuralCleanse.outlierDetection(norms, LOG_RULE);
    const [linIdx, linLabel] = maxIndex(labels, lin.indices);
    const [logIdx, logLabel] = maxIndex(labels, lg.indices);
    const linFlags = lin.flagged.map((i) => labels[i]!);
    const logFlags = lg.flagged.map((i) => labels[i]!);
    const sorted = [...norms].sort((a, b) => a - b);
    const backdoored = opts.kind !== 'clean';
    if (heldOut) {
      if (backdoored) {
        outcome.heldBad++;
        if (logFlags.length === 1 && logFlags[0] === TARGET) outcome.heldTp++;
        if (linFlags.length === 1 && linFlags[0] === TARGET) outcome.heldTpLinear++;
      } else {
        outcome.heldClean++;
        if (logFlags.length > 0) outcome.heldFpLog++;
        if (linFlags.length > 0) outcome.heldFpLinear++;
      }
    }
    rows.push([
      name,
      heldOut ? 'held out' : 'picked the rule',
      await metrics.accuracy(s.classifier, d.held),
      backdoored ? await metrics.attackSuccessRate(s.classifier, d.heldTriggered, TARGET) : '–',
      `${formatNumber(linIdx)} (${linLabel})`,
      linFlags.length === 0 ? 'none' : linFlags.join(', '),
      `${formatNumber(logIdx)} (${logLabel})`,
      logFlags.length === 0 ? 'none' : logFlags.join(', '),
      sorted[0]! / lin.median,
      Math.max(...report.perClass.map((p) => p.steps)),
      report.seconds,
    ]);
    log(
      `${name}: linear ${linIdx.toFixed(2)} (${linLabel}) flags ${JSON.stringify(linFlags)}; log ${logIdx.toFixed(2)} (${logLabel}) flags ${JSON.stringify(logFlags)}`,
    );
    disposeSplit(d);
    s.classifier.dispose();
  }
  const markdown = [
    `Held-out check of the log-scale rule. The rule (\`{ scale: 'log', threshold: ${LOG_RULE.threshold} }\`: MAD index of ln(norm) > ${LOG_RULE.threshold}) was fixed on the first four models (section \`neural-cleanse\`) before the held-out models were trained or scanned. "Paper": the MAD index of the L1 norms, flagged if > 2. Index columns: the largest index over the 10 labels (its label in brackets). Same detection settings as the main run (default schedule, all 10 labels batched, NC seed 0; defender: 1,000 test digits; accuracy/ASR on the other 1,000).`,
    '',
    markdownTable(
      [
        'model',
        'role',
        'clean acc',
        'ASR',
        'max index, paper (label)',
        'flagged, paper (> 2)',
        'max index, log scale (label)',
        `flagged, log scale (> ${LOG_RULE.threshold})`,
        'smallest norm / median',
        'max steps',
        'seconds',
      ],
      rows,
    ),
    '',
    `Held-out: log-scale rule flags label ${TARGET} alone on ${outcome.heldTp} of ${outcome.heldBad} BadNets models and something on ${outcome.heldFpLog} of ${outcome.heldClean} clean models; the paper's test flags label ${TARGET} alone on ${outcome.heldTpLinear} of ${outcome.heldBad} BadNets models and something on ${outcome.heldFpLinear} of ${outcome.heldClean} clean models.`,
  ].join('\n');
  return { markdown };
}

/** Unlearning settings compared by the sweep (the first is the default). */
const SWEEP: Array<[string, neuralCleanse.NeuralCleanseRepairOptions]> = [
  ['defaults (Adam 1e-3, 1 epoch)', {}],
  ['Adam 1e-3, 3 epochs', { epochs: 3 }],
  ['Adam 1e-3, 5 epochs', { epochs: 5 }],
  ['Adam 3e-3, 2 epochs', { learningRate: 3e-3, epochs: 2 }],
  ['Adam 3e-3, 5 epochs', { learningRate: 3e-3, epochs: 5 }],
  ['Adam 1e-2, 1 epoch', { learningRate: 1e-2 }],
  ['SGD momentum 0.002, 3 epochs', { optimizer: 'momentum', learningRate: 0.002, epochs: 3 }],
  ['SGD momentum 0.005, 3 epochs', { optimizer: 'momentum', learningRate: 0.005, epochs: 3 }],
  ['50% stamped, Adam 1e-3, 3 epochs', { stampFraction: 0.5, epochs: 3 }],
];

/**
 * Unlearning-settings sweep, chosen on the defender's data only: the
 * defender's 1,000 digits are split 800 (fine-tuning) / 200 (validation); a
 * setting is eligible if its validation accuracy is within 1 point of the
 * unrepaired model's, and the eligible one with the lowest reversed-trigger
 * success on the validation digits wins (ties: higher accuracy). The winner
 * is then re-run on all 1,000 digits and measured on the held-out digits
 * with the real trigger. The 10-label detection report of the main run is
 * reused when cached; otherwise labels 0–2 are scanned (seed 0): label 0's
 * reversed trigger is the same as in the 10-label scan (each label's run
 * depends only on the seed, not on the other labels).
 *
 * @returns The markdown tables.
 */
export async function benchUnlearningSweep(): Promise<NeuralCleanseBenchResult> {
  await useBackend('wasm');
  const s = await subject({ kind: 'all-to-one', seed: 0 });
  const d = split(s);
  const fit = datasets.subset(d.defender, range(0, 800));
  const val = datasets.subset(d.defender, range(800, DEFENDER));
  const report =
    readCachedReport({ kind: 'all-to-one', seed: 0 }) ??
    (await neuralCleanse.detect(s.classifier, d.defender, {
      seed: 0,
      labels: [0, 1, 2],
      onProgress: progress('sweep'),
    }));
  const l0 = report.perClass[0]!;
  const [, H, W, C] = val.x.shape;
  const stampedVal = tf.tidy(() => {
    const m = tf.tensor4d(Float32Array.from(l0.mask), [1, H, W, 1]);
    const p = tf.tensor4d(Float32Array.from(l0.pattern), [1, H, W, C]);
    return tf.add(tf.mul(tf.sub(1, m), val.x), tf.mul(m, p)) as tf.Tensor4D;
  });
  const valStamped = { x: stampedVal, y: val.y };
  const base = await metrics.accuracy(s.classifier, val);
  const rows: Array<Array<string | number>> = [
    ['none', base, await metrics.attackSuccessRate(s.classifier, valStamped, TARGET), '–', '–', '–'],
  ];
  let best: { name: string; opts: neuralCleanse.NeuralCleanseRepairOptions; acc: number; rev: number } | undefined;
  for (const [name, opts] of SWEEP) {
    const rep = await neuralCleanse.repair(s.classifier, fit, report, { ...opts, targets: [TARGET], filter: false });
    const acc = await metrics.accuracy(rep.classifier, val);
    const rev = await metrics.attackSuccessRate(rep.classifier, valStamped, TARGET);
    const eligible = acc >= base - 0.01;
    rows.push([
      name,
      acc,
      rev,
      eligible ? 'yes' : 'no',
      await metrics.accuracy(rep.classifier, d.held),
      await metrics.attackSuccessRate(rep.classifier, d.heldTriggered, TARGET),
    ]);
    log(`sweep ${name}: val acc ${acc.toFixed(3)} rev ${rev.toFixed(3)}`);
    rep.classifier.dispose();
    if (eligible && (best === undefined || rev < best.rev || (rev === best.rev && acc > best.acc))) {
      best = { name, opts, acc, rev };
    }
  }
  const out: string[] = [
    `Unlearning settings chosen on the defender’s data only (fine-tune on 800 of its 1,000 digits, validate on the other 200: eligible if validation accuracy is within 1 point of the unrepaired model’s, winner = lowest reversed-trigger success on validation). Label 0’s reversed trigger (norm ${formatNumber(l0.norm)}) is the one of the 10-label scan. Held-out columns (real trigger, 1,000 digits the defender never sees) are for reporting only.`,
    '',
    markdownTable(
      [
        'unlearning setting (20% stamped unless stated)',
        'val acc',
        'val reversed-trigger ASR',
        'eligible',
        'held-out acc',
        'held-out ASR (real trigger)',
      ],
      rows,
    ),
  ];
  if (best !== undefined) {
    const rep = await neuralCleanse.repair(s.classifier, d.defender, report, {
      ...best.opts,
      targets: [TARGET],
      filter: false,
    });
    const acc0 = await metrics.accuracy(s.classifier, d.held);
    const asr0 = await metrics.attackSuccessRate(s.classifier, d.heldTriggered, TARGET);
    const acc1 = await metrics.accuracy(rep.classifier, d.held);
    const asr1 = await metrics.attackSuccessRate(rep.classifier, d.heldTriggered, TARGET);
    rep.classifier.dispose();
    out.push(
      '',
      `Chosen: **${best.name}**, re-run on all 1,000 defender digits. Held-out: clean accuracy ${formatNumber(acc0)} → ${formatNumber(acc1)} (drop ${formatNumber((acc0 - acc1) * 100)} points), ASR ${formatNumber(asr0)} → ${formatNumber(asr1)}.`,
    );
    log(`sweep chosen ${best.name}: acc ${acc0} -> ${acc1}, ASR ${asr0} -> ${asr1}`);
  }
  stampedVal.dispose();
  disposeSplit(d);
  s.classifier.dispose();
  return { markdown: out.join('\n') };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const allSeeds = process.argv.includes('--all-seeds');
  const sweep = process.argv.includes('--unlearning-sweep');
  const seeds = process.argv.includes('--seeds');
  (seeds ? benchNeuralCleanseSeeds() : sweep ? benchUnlearningSweep() : benchNeuralCleanse(allSeeds))
    .then(({ markdown }) => {
      console.log(markdown);
      if (process.argv.includes('--write') && seeds) {
        writeSection(
          'neural-cleanse-seeds',
          'Neural Cleanse: held-out check of the log-scale threshold (issue 6)',
          markdown,
          'npx tsx bench/neural-cleanse.ts --write --seeds',
        );
      } else if (process.argv.includes('--write')) {
        writeSection(
          sweep ? 'neural-cleanse-unlearning' : 'neural-cleanse',
          sweep ? 'Neural Cleanse unlearning settings (issue 6)' : 'Neural Cleanse (issue 6)',
          markdown,
          `npx tsx bench/neural-cleanse.ts --write${sweep ? ' --unlearning-sweep' : allSeeds ? ' --all-seeds' : ''}`,
        );
      }
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : e);
      process.exit(1);
    });
}
