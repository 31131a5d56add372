/**
 * Training-data defences benchmark (issue 4): Activation Clustering and
 * Spectral Signatures on the bundled MNIST digits and the small CNN, BadNets
 * with a 4×4 white square: all-to-all (10% of each class appended, Chen et
 * al.'s setting) and all-to-one → 0 (10% of the training set, about half of
 * class 0), plus the model trained without poison.
 *
 * Reports: detection F1 of every cluster analysis; how the reduction and the
 * number of k-means restarts change how well the clusters isolate the poison;
 * the raw-pixel baseline; both repairs (ASR, clean accuracy, epochs to
 * converge); Spectral Signatures (ε sweep, repair); AC's own time against
 * scikit-learn's FastICA + KMeans on the same activation matrices
 * (bench/peer/sklearn_ica_kmeans.py, run in the same script); the
 * activation pass over 80,000 samples (peak tensor memory).
 *
 * Run: `npx tsx bench/data-defences.ts` (prints the tables) or
 * `npx tsx bench/data-defences.ts --write` (also writes them into
 * docs/results.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import { activationsData } from '../src/core/layers-model.js';
import type { LayerInfo } from '../src/core/classifier.js';
import { AbortError } from '../src/core/errors.js';
import * as activationClustering from '../src/defences/data/activation-clustering/index.js';
import * as spectralSignatures from '../src/defences/data/spectral-signatures.js';
import { metrics, type LabeledData } from '../src/index.js';
import { formatNumber, markdownTable, writeSection } from './results-file.js';
import { subject, useBackend, type Subject } from './subjects.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PEER = join(ROOT, 'bench', 'peer', 'sklearn_ica_kmeans.py');
const PYTHON = '/usr/bin/python3';
const TARGET = 0;

function log(msg: string): void {
  console.error(`[data-defences] ${msg}`);
}

type Kind = 'all-to-all' | 'all-to-one';

interface Scored {
  f1: number;
  precision: number;
  recall: number;
  /** Largest share of a class's clean samples flagged. */
  worstCleanLoss: number;
}

function score(flags: Uint8Array, s: Subject): Scored {
  const d = metrics.detection(flags, s.poisoned);
  const cleanIn = new Array<number>(10).fill(0);
  const lost = new Array<number>(10).fill(0);
  s.train.y.forEach((c, i) => {
    if (s.poisoned[i] === 1) return;
    cleanIn[c]!++;
    if (flags[i] === 1) lost[c]!++;
  });
  return {
    f1: d.f1,
    precision: d.precision,
    recall: d.recall,
    worstCleanLoss: Math.max(...lost.map((l, c) => l / Math.max(1, cleanIn[c]!))),
  };
}

/** Flags, in each poisoned class, the cluster holding the larger share of poison: how well the clustering alone isolates it. */
function oracleFlags(r: activationClustering.ActivationClusteringReport, s: Subject): Uint8Array {
  const flags = new Uint8Array(s.poisoned.length);
  for (let c = 0; c < 10; c++) {
    const n = [0, 0];
    const p = [0, 0];
    s.train.y.forEach((y, i) => {
      const k = r.clusters[i]!;
      if (y !== c || k < 0) return;
      n[k]!++;
      p[k]! += s.poisoned[i]!;
    });
    if (p[0]! + p[1]! === 0) continue;
    const k = p[0]! / Math.max(1, n[0]!) >= p[1]! / Math.max(1, n[1]!) ? 0 : 1;
    s.train.y.forEach((y, i) => {
      if (y === c && r.clusters[i] === k) flags[i] = 1;
    });
  }
  return flags;
}

/** The subject's classifier, but its "last hidden layer" is the raw pixels (the paper's baseline). */
function pixelView(s: Subject): Parameters<typeof activationClustering.detect>[0] {
  const c = s.classifier;
  const width = c.inputShape.reduce((a, b) => a * b, 1);
  const layers: LayerInfo[] = [
    { name: 'pixels', kind: 'dense', className: 'Pixels', outputShape: [width], units: width, index: 0 },
    { name: 'output', kind: 'dense', className: 'Dense', outputShape: [10], units: 10, index: 1 },
  ];
  return {
    inputShape: c.inputShape,
    numClasses: c.numClasses,
    layers,
    predict: (x: tf.Tensor) => c.predict(x),
    activations: (x: tf.Tensor) => tf.reshape(x, [x.shape[0]!, width]) as tf.Tensor2D,
    clone: () => c.clone(),
    reinitialized: (seed: number) => c.reinitialized(seed),
    fit: (d: LabeledData, o?: Parameters<typeof c.fit>[1]) => c.fit(d, o),
    dispose: () => undefined,
  } as unknown as Parameters<typeof activationClustering.detect>[0];
}

function pct(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

/** scikit-learn FastICA(10) + KMeans(2, n_init=10) per class, timed inside Python (seconds summed over classes). */
function sklearnSeconds(values: Float32Array, cols: number, y: Int32Array): number | string {
  if (!existsSync(PYTHON) || !existsSync(PEER)) return 'peer script or /usr/bin/python3 missing';
  const dir = mkdtempSync(join(tmpdir(), 'ac-bench-'));
  try {
    let total = 0;
    for (let c = 0; c < 10; c++) {
      const rows: number[] = [];
      y.forEach((l, i) => l === c && rows.push(i));
      const m = new Float32Array(rows.length * cols);
      rows.forEach((i, r) => m.set(values.subarray(i * cols, (i + 1) * cols), r * cols));
      const file = join(dir, `class${c}.f32`);
      writeFileSync(file, Buffer.from(m.buffer));
      const out = execFileSync(PYTHON, [PEER, file, String(rows.length), String(cols), '10', '2'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      total += (JSON.parse(out.trim().split('\n').pop()!) as { total_s: number }).total_s;
    }
    return total;
  } catch (e) {
    return `scikit-learn failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchDataDefences(): Promise<{ markdown: string }> {
  await useBackend('wasm');
  const out: string[] = [];
  // each part is logged as soon as it is measured, so a long run shows its numbers as it goes
  const emit = (...lines: string[]): void => {
    out.push(...lines);
    console.error(lines.join('\n'));
  };
  log('subjects');
  const subjects: Record<Kind, Subject> = {
    'all-to-all': await subject({ kind: 'all-to-all' }),
    'all-to-one': await subject({ kind: 'all-to-one' }),
  };
  const clean = await subject({ kind: 'clean' });
  emit(
    'Subjects (small CNN trained 8 epochs, all-to-all 20 (its ten backdoors need longer), bundled MNIST 8,000 train / 2,000 test, 4×4 white square bottom-right, 1 px margin):',
    '',
    markdownTable(
      ['model', 'training samples', 'poison', 'clean acc', 'ASR'],
      [
        ['clean', clean.train.y.length, 0, clean.cleanAccuracy, clean.asr],
        ...(['all-to-all', 'all-to-one'] as Kind[]).map((k) => [
          k,
          subjects[k].train.y.length,
          subjects[k].poisoned.reduce((a, b) => a + b, 0),
          subjects[k].cleanAccuracy,
          subjects[k].asr,
        ]),
      ],
    ),
  );

  // 1. Activation Clustering: every analysis
  const rows: Array<Array<string | number>> = [];
  const defaults: Partial<Record<Kind, activationClustering.ActivationClusteringReport>> = {};
  for (const kind of ['all-to-all', 'all-to-one'] as Kind[]) {
    const s = subjects[kind];
    for (const analysis of [
      'exclusionary-reclassification',
      'relative-size',
      'silhouette',
      'distance',
      'smaller',
    ] as const) {
      log(`AC ${kind} ${analysis}`);
      const t0 = performance.now();
      const r = await activationClustering.detect(s.classifier, s.train, { analysis });
      const sec = (performance.now() - t0) / 1000;
      if (analysis === 'exclusionary-reclassification') defaults[kind] = r;
      const sc = score(r.suspicious, s);
      rows.push([kind, analysis, sc.f1, sc.precision, sc.recall, pct(sc.worstCleanLoss), r.retrainings, sec]);
    }
  }
  log('AC clean model');
  const onClean = await activationClustering.detect(clean.classifier, clean.train);
  const cleanFlagged = onClean.suspicious.reduce((a, b) => a + b, 0);
  emit(
    '',
    '### Activation Clustering',
    '',
    'Default settings (FastICA to 10 components, 2-means with 50 seeded restarts, segmentation by label); the default analysis is exclusionary reclassification (retraining: 8 epochs, batch 128, Adam 0.001). "worst clean loss" is the largest share of any class’s clean samples flagged.',
    '',
    markdownTable(
      ['setting', 'analysis', 'F1', 'precision', 'recall', 'worst clean loss', 'retrainings', 'seconds'],
      rows,
    ),
    '',
    `On the model trained without poison, the default analysis flags ${cleanFlagged} of ${clean.train.y.length} samples (${onClean.retrainings} retrainings).`,
  );
  const perClass = (kind: Kind) =>
    defaults[kind]!.perClass.map((c) => [
      c.label,
      c.clusterSizes.join(' / '),
      c.silhouette,
      c.separation,
      c.exRe.length === 0
        ? '–'
        : c.exRe
            .map(
              (e) =>
                `c${e.cluster}: ${e.labelCount}/${e.sourceCount} = ${formatNumber(e.score)} (conf ${formatNumber(e.confidence)})`,
            )
            .join('; '),
      c.suspiciousClusters.length === 0 ? '–' : c.suspiciousClusters.join(','),
      c.suspectedSource < 0 ? '–' : c.suspectedSource,
    ]);
  const onCleanSep = onClean.perClass.map((c) => c.separation);
  for (const kind of ['all-to-one', 'all-to-all'] as Kind[]) {
    emit(
      '',
      `Per class, ${kind} (cluster 0 is the smaller; ExRe: l / p = score, conf = mean top probability of the retrained model):`,
      '',
      markdownTable(
        ['class', 'cluster sizes', 'silhouette', 'separation', 'ExRe', 'flagged', 'source'],
        perClass(kind),
      ),
    );
  }
  emit(
    '',
    `Separation on the clean model's classes: ${onCleanSep.map((v) => formatNumber(v)).join(', ')} (threshold ${activationClustering.ACTIVATION_CLUSTERING_DEFAULTS.separationThreshold}).`,
  );

  // 2. Reduction, dimensions, restarts, segmentation: how well the clusters isolate the poison
  const variants: Array<[string, activationClustering.ActivationClusteringOptions]> = [
    ['ICA 10, 50 restarts (default)', {}],
    ['ICA 10, 10 restarts', { nInit: 10 }],
    ['ICA 10, 1 restart', { nInit: 1 }],
    ['ICA 6, 50 restarts', { dims: 6 }],
    ['ICA 14, 50 restarts', { dims: 14 }],
    ['PCA 10, 50 restarts', { reduction: 'pca' }],
    ['no reduction (64 units)', { reduction: 'none' }],
    ['ICA 10, segment by prediction', { segmentBy: 'prediction' }],
  ];
  const varRows: Array<Array<string | number>> = [];
  for (const [name, opts] of variants) {
    const row: Array<string | number> = [name];
    for (const kind of ['all-to-all', 'all-to-one'] as Kind[]) {
      log(`clusters ${kind} ${name}`);
      const s = subjects[kind];
      const r = await activationClustering.detect(s.classifier, s.train, { ...opts, analysis: 'smaller' });
      row.push(score(oracleFlags(r, s), s).f1);
      if (kind === 'all-to-all') row.push(r.timing.stages.clustering);
    }
    varRows.push(row);
  }
  emit(
    '',
    'How well the clusters alone isolate the poison: F1 when, in each poisoned class, the cluster with the larger poison share is flagged (an oracle decision; it measures the reduction and clustering, not the analysis). Segmenting by prediction hides the poison the model did not learn (it is predicted as its source class).',
    '',
    markdownTable(
      ['reduction / clustering', 'all-to-all oracle F1', 'clustering s (all-to-all)', 'all-to-one oracle F1'],
      varRows,
    ),
  );

  // 3. Raw pixels (the paper's baseline)
  const pixRows: Array<Array<string | number>> = [];
  for (const kind of ['all-to-all', 'all-to-one'] as Kind[]) {
    log(`pixels ${kind}`);
    const s = subjects[kind];
    const r = await activationClustering.detect(pixelView(s), s.train, { analysis: 'smaller' });
    const sm = metrics.detection(r.suspicious, s.poisoned);
    const or = metrics.detection(oracleFlags(r, s), s.poisoned);
    pixRows.push([kind, sm.f1, sm.accuracy, or.f1]);
  }
  emit(
    '',
    'Clustering the raw pixels instead of activations (the paper’s baseline: FastICA 10 + 2-means per class on the 784 pixels; the paper reports 58.6% accuracy and 15.8% F1 at 10% poison):',
    '',
    markdownTable(['setting', 'F1 (smaller cluster)', 'accuracy (smaller cluster)', 'oracle F1'], pixRows),
  );

  // 4. Repair
  const repRows: Array<Array<string | number>> = [];
  for (const kind of ['all-to-all', 'all-to-one'] as Kind[]) {
    const s = subjects[kind];
    for (const mode of ['relabel', 'retrain'] as const) {
      log(`repair ${kind} ${mode}`);
      const t0 = performance.now();
      const r = await activationClustering.repair(s.classifier, s.train, defaults[kind]!, { mode });
      const sec = (performance.now() - t0) / 1000;
      const targets = kind === 'all-to-all' ? s.targets : TARGET;
      const acc = await metrics.accuracy(r.classifier, s.test);
      const asr = await metrics.attackSuccessRate(r.classifier, s.triggered, targets);
      repRows.push([
        kind,
        mode,
        mode === 'relabel' ? r.relabelled : r.removed,
        `${formatNumber(s.asr)} → ${formatNumber(asr)}`,
        acc,
        formatNumber(acc - clean.cleanAccuracy),
        `${r.epochs}${r.converged ? '' : ' (max)'}`,
        sec,
      ]);
      r.classifier.dispose();
      r.data.x.dispose();
    }
  }
  emit(
    '',
    `Repair from the default analysis' report (Adam 0.001, batch 128, stop when an epoch lowers the training loss by less than 5%, at most 30 epochs). The model trained without poison has clean accuracy ${formatNumber(clean.cleanAccuracy)}.`,
    '',
    markdownTable(
      [
        'setting',
        'repair',
        'samples relabelled / removed',
        'ASR before → after',
        'clean acc',
        'vs clean model',
        'epochs to converge',
        'seconds',
      ],
      repRows,
    ),
  );

  // 5. Spectral Signatures
  const ssRows: Array<Array<string | number>> = [];
  let ssDefault: spectralSignatures.SpectralSignaturesReport | undefined;
  for (const kind of ['all-to-one', 'all-to-all'] as Kind[]) {
    const s = subjects[kind];
    for (const eps of [0.05, 0.1, 0.33, 0.5, 0.6]) {
      log(`SS ${kind} ε=${eps}`);
      const r = await spectralSignatures.detect(s.classifier, s.train, { expectedPoisonFraction: eps });
      if (kind === 'all-to-one' && eps === 0.33) ssDefault = r;
      const sc = score(r.suspicious, s);
      const idx: number[] = [];
      s.train.y.forEach((c, i) => c === TARGET && idx.push(i));
      const auc0 = metrics.auroc(
        idx.map((i) => r.scores[i]!),
        idx.map((i) => s.poisoned[i]!),
      );
      ssRows.push([
        kind,
        eps === 0.33 ? `${eps} (default)` : eps,
        sc.recall,
        sc.precision,
        sc.f1,
        pct(sc.worstCleanLoss),
        auc0,
      ]);
    }
  }
  log('SS repair');
  const s1 = subjects['all-to-one'];
  const ssRep = await spectralSignatures.repair(s1.classifier, s1.train, ssDefault!);
  const ssAsr = await metrics.attackSuccessRate(ssRep.classifier, s1.triggered, TARGET);
  const ssAcc = await metrics.accuracy(ssRep.classifier, s1.test);
  const ssRemoved = ssRep.removed;
  ssRep.classifier.dispose();
  ssRep.data.x.dispose();
  emit(
    '',
    '### Spectral Signatures',
    '',
    'Last hidden layer (64 units), per class: centred representations, top right-singular vector, score = squared projection; the top 1.5·ε of each class are flagged. "class-0 AUROC" ranks class 0’s samples by score (0.5 = chance).',
    '',
    markdownTable(['setting', 'ε', 'recall', 'precision', 'F1', 'worst clean loss', 'class-0 AUROC'], ssRows),
    '',
    `Repair (all-to-one, default ε = 0.33: ${ssRemoved} samples removed, retrained from scratch): ASR ${formatNumber(s1.asr)} → ${formatNumber(ssAsr)}, clean accuracy ${formatNumber(ssAcc)} (model trained without poison: ${formatNumber(clean.cleanAccuracy)}), ${ssRep.epochs} epochs.`,
  );

  // 6. Speed against scikit-learn on the same activation matrices
  const speedRows: Array<Array<string | number>> = [];
  for (const kind of ['all-to-all', 'all-to-one'] as Kind[]) {
    const s = subjects[kind];
    log(`speed ${kind}`);
    const acts = await activationsData(s.classifier, s.train.x, 'dense1', 500);
    let oursDefault = Infinity;
    let oursLikeSk = Infinity;
    let sk = Infinity;
    let skNote = '';
    for (let rep = 0; rep < 2; rep++) {
      const a = await activationClustering.detect(s.classifier, s.train, { analysis: 'relative-size' });
      oursDefault = Math.min(oursDefault, a.timing.stages.clustering + a.timing.stages.analysis);
      const b = await activationClustering.detect(s.classifier, s.train, {
        analysis: 'relative-size',
        nInit: 10,
        icaMaxIterations: 1000,
      });
      oursLikeSk = Math.min(oursLikeSk, b.timing.stages.clustering + b.timing.stages.analysis);
      const t = sklearnSeconds(acts.values, acts.cols, s.train.y);
      if (typeof t === 'number') sk = Math.min(sk, t);
      else skNote = t;
    }
    const ratio = (v: number) => (Number.isFinite(sk) ? formatNumber(v / sk) : skNote);
    speedRows.push([
      kind,
      Number.isFinite(sk) ? sk : skNote,
      oursDefault,
      ratio(oursDefault),
      oursLikeSk,
      ratio(oursLikeSk),
    ]);
  }
  emit(
    '',
    '### Speed',
    '',
    'AC’s own work (reduction + 2-means + silhouette/separation + a size analysis; the forward pass excluded) against scikit-learn 1.2 `FastICA(10, max_iter=1000, tol=0.005)` + `KMeans(2, n_init=10)` timed inside Python by bench/peer/sklearn_ica_kmeans.py on the same per-class activation matrices, in the same script run (best of two runs each; the machine is shared, so only the ratio means anything).',
    '',
    markdownTable(
      [
        'setting',
        'scikit-learn s',
        'AC default s (ICA ≤ 200 it., 50 restarts)',
        'ratio',
        'AC with ICA ≤ 1000 it., 10 restarts',
        'ratio',
      ],
      speedRows,
    ),
  );

  // 7. Activation pass over 80,000 samples
  log('80,000 samples');
  const s = subjects['all-to-one'];
  const big = {
    x: tf.tile(s.train.x, [10, 1, 1, 1]) as tf.Tensor4D,
    y: Int32Array.from({ length: s.train.y.length * 10 }, (_, i) => s.train.y[i % s.train.y.length]!),
  };
  const inputBytes = big.x.size * 4;
  const base = tf.memory().numBytes;
  let peak = base;
  const ctl = new AbortController();
  const t0 = performance.now();
  let actSeconds = 0;
  try {
    await activationClustering.detect(s.classifier, big, {
      analysis: 'relative-size',
      batchSize: 256,
      signal: ctl.signal,
      onProgress: (e) => {
        peak = Math.max(peak, tf.memory().numBytes);
        if (e.stage === 'activation-clustering:cluster' && actSeconds === 0) {
          actSeconds = (performance.now() - t0) / 1000;
          ctl.abort();
        }
      },
    });
  } catch (e) {
    if (!(e instanceof AbortError)) throw e;
  }
  big.x.dispose();
  emit(
    '',
    `Activations of 80,000 samples (the 8,000 training digits tiled ten times, one ${formatNumber(inputBytes / 2 ** 20)} MiB input tensor) in batches of 256: peak tensor memory ${formatNumber((peak - base) / 2 ** 20)} MiB above what was allocated before the call (the input is sliced batch by batch, never copied whole); the activation pass, segmentation and the clustering of the first class (16,000 rows) took ${formatNumber(actSeconds)} s, after which the run was aborted.`,
  );

  for (const x of [...Object.values(subjects), clean]) {
    x.classifier.dispose();
    x.train.x.dispose();
    x.test.x.dispose();
    x.triggered.x.dispose();
    if (x.cleanTrain.x !== x.train.x) x.cleanTrain.x.dispose();
  }
  return { markdown: out.join('\n') };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchDataDefences()
    .then(({ markdown }) => {
      console.log(markdown);
      if (!process.argv.includes('--write')) return;
      writeSection(
        'data-defences',
        'Training-data defences: Activation Clustering and Spectral Signatures',
        markdown,
        'npx tsx bench/data-defences.ts --write',
      );
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : e);
      process.exit(1);
    });
}
