/**
 * TrojanNet benchmark (issue 3, item 4): trains the full TrojanNet (all 4,368
 * patterns) and measures, as Tang et al.'s Table 5.4-5.8 do,
 *
 * - trigger recognition (share of the 4,368 patterns classified as
 *   themselves) and silence ("denoising": share of random 4×4 patches of the
 *   clean MNIST test images classified as no-trigger; ten per image);
 * - for a trained MNIST host, the attack success rate with 1, 2, 4 and 8
 *   target labels, and the change of clean accuracy.
 *
 * The host is the caller's (`host` option) or the benchmarks' clean small CNN
 * (bench/subjects.ts: Conv16-Pool-Conv32-Pool-Dense64-Dense10, 8 epochs on
 * the 8,000 training digits with the fast kernels; cached in .bench-cache/).
 *
 * Run: `npx tsx bench/trojannet.ts` (prints markdown; `--write` also stores it
 * in docs/results.md; `--backend=wasm` trains on wasm; `--refine-output-passes=N`
 * overrides that training option).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import * as trojanNet from '../src/attacks/trojannet/index.js';
import { fromLayersModel } from '../src/core/layers-model.js';
import type { LabeledData } from '../src/core/types.js';
import { loadJson, loadModel, saveJson, saveModel } from '../src/io/index.js';
import { accuracy, attackSuccessRate } from '../src/metrics/index.js';
import { markdownTable, writeSection } from './results-file.js';
import { mnistSplit, subject, useBackend } from './subjects.js';

/** Options of {@link benchTrojanNet}. */
export interface BenchTrojanNetOptions {
  /** A trained MNIST host (`[28, 28, 1]` → 10 probabilities). Default: the benchmarks' clean small CNN. */
  readonly host?: tfl.LayersModel;
  /** Backend the TrojanNet is trained and evaluated on. @default 'cpu' */
  readonly backend?: 'cpu' | 'wasm';
  /** Overrides of the training options (defaults: `trojanNet.TRAIN_DEFAULTS`, seed 1). */
  readonly train?: trojanNet.TrainOptions;
  /** Numbers of target labels to insert. @default [1, 2, 4, 8] */
  readonly targetCounts?: readonly number[];
  /** Reuse a TrojanNet trained earlier with the same options (.bench-cache/). @default true */
  readonly cache?: boolean;
  /** Progress lines. @default undefined */
  readonly log?: (line: string) => void;
}

/** One multi-target insertion. */
export interface TrojanNetInsertRow {
  /** Merge setting: the reference code's (amplify 2, temperature 10) or TrojanZoo's (α 0.7, τ 0.1). */
  readonly merge: string;
  readonly targets: number;
  /** Mean over the targets of each target's ASR (true-label-is-target samples excluded). */
  readonly meanAsr: number;
  /** Smallest per-target ASR. */
  readonly minAsr: number;
  readonly hostAccuracy: number;
  readonly trojanedAccuracy: number;
  /** Share of clean test inputs whose predicted label is the host's. */
  readonly agreement: number;
}

/** What {@link benchTrojanNet} returns. */
export interface BenchTrojanNetResult {
  readonly markdown: string;
  readonly evaluation: trojanNet.TrojanNetEvaluation;
  readonly trainSeconds: number;
  readonly rows: readonly TrojanNetInsertRow[];
}

const CACHE = join(dirname(fileURLToPath(import.meta.url)), '..', '.bench-cache');
const pct = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;

async function predictedLabels(model: tfl.LayersModel, x: tf.Tensor): Promise<Int32Array> {
  const out = tf.tidy(() => tf.argMax(model.predict(x, { batchSize: 500 }) as tf.Tensor, 1));
  try {
    return (await out.data()) as Int32Array;
  } finally {
    out.dispose();
  }
}

/** The patterns the module does not classify as themselves, with what it predicts instead. */
async function missedPatterns(
  module: trojanNet.TrojanNetModule,
): Promise<Array<{ pattern: number; predicted: number }>> {
  const all = trojanNet.patterns().slice(0, module.numPatterns);
  const x = tf.tensor2d(all.flat(), [all.length, 16]);
  try {
    const predicted = await predictedLabels(module.model, x);
    const missed: Array<{ pattern: number; predicted: number }> = [];
    predicted.forEach((v, i) => {
      if (v !== i) missed.push({ pattern: i, predicted: v });
    });
    return missed;
  } finally {
    x.dispose();
  }
}

/** The MLP's probability of pattern `i` on pattern `i`, for the first `count` patterns. */
async function ownProbabilities(module: trojanNet.TrojanNetModule, count: number): Promise<number[]> {
  const n = Math.min(count, module.numPatterns);
  const x = tf.tensor2d(trojanNet.patterns().slice(0, n).flat(), [n, 16]);
  const p = module.model.predict(x) as tf.Tensor;
  try {
    const values = await p.data();
    return Array.from({ length: n }, (_, i) => values[i * (module.numPatterns + 1) + i]!);
  } finally {
    x.dispose();
    p.dispose();
  }
}

/** Trains (or loads) the full TrojanNet with the bench's clean patches. */
export async function trainedModule(
  options: trojanNet.TrainOptions,
  cleanPatches: Float32Array,
  cache: boolean,
  log: (line: string) => void,
): Promise<{
  module: trojanNet.TrojanNetModule;
  seconds: number;
  cached: boolean;
  trainedWith: Readonly<Record<string, number | boolean>>;
}> {
  const resolved = { ...trojanNet.TRAIN_DEFAULTS, seed: 1, ...options };
  const key = [
    'trojannet',
    `s${resolved.seed}`,
    `p${resolved.numPatterns}`,
    `e${resolved.epochs}`,
    `spe${resolved.stepsPerEpoch ?? 'pass'}`,
    `b${resolved.trainBatchSize}`,
    `lr${resolved.learningRate}`,
    `nf${resolved.noiseFraction}`,
    `cf${resolved.cleanFraction}`,
    `pe${resolved.polishEpochs}`,
    `cnb${resolved.calibrateNoiseBias ? 1 : 0}`,
    // Only when used, so that caches made before this option existed stay valid.
    ...(resolved.refineOutputPasses > 0 ? [`ro${resolved.refineOutputPasses}`] : []),
    `tf${tf.version_core}`,
  ].join('-');
  const dir = join(CACHE, key);
  if (cache) {
    try {
      const meta = (await loadJson(join(dir, 'meta.json'))) as {
        seconds: number;
        trainedWith: Record<string, number | boolean>;
      };
      const mlp = await loadModel(dir);
      const module = trojanNet.fromModel(mlp);
      mlp.dispose();
      return { module, seconds: meta.seconds, cached: true, trainedWith: meta.trainedWith };
    } catch {
      // not cached yet
    }
  }
  const t0 = performance.now();
  const module = await trojanNet.train({
    ...resolved,
    cleanPatches,
    onProgress: (e) => {
      if (e.stage === 'trojannet:epoch' && (e.done % 10 === 0 || e.done === e.total)) {
        log(
          `  epoch ${e.done}/${e.total} loss ${e.metrics?.loss?.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (cache) {
    await saveModel(module.model, dir);
    await saveJson(join(dir, 'meta.json'), { seconds, trainedWith: module.trainedWith });
  }
  return { module, seconds, cached: false, trainedWith: module.trainedWith };
}

/**
 * Runs the TrojanNet benchmark and returns a markdown section (also the raw
 * numbers). Sets the backend (and registers the fast kernels, for the host).
 */
export async function benchTrojanNet(opts: BenchTrojanNetOptions = {}): Promise<BenchTrojanNetResult> {
  const log = opts.log ?? (() => undefined);
  const backend = opts.backend ?? 'cpu';
  await useBackend(backend);
  const { train, test } = await mnistSplit();
  const cleanTrain = trojanNet.randomPatches(train.x, { perImage: 10, seed: 1 });
  const cleanTest = trojanNet.randomPatches(test.x, { perImage: 10, seed: 2 });

  log(`training TrojanNet on ${backend} ...`);
  const { module, seconds, cached, trainedWith } = await trainedModule(
    opts.train ?? {},
    cleanTrain,
    opts.cache ?? true,
    log,
  );
  const evaluation = await trojanNet.evaluate(module, { cleanPatches: cleanTest });
  const evalTrain = await trojanNet.evaluate(module, { cleanPatches: cleanTrain });
  const missed = await missedPatterns(module);
  const selfProbabilities = await ownProbabilities(module, 8);
  if (missed.length > 0) log(`  missed patterns: ${missed.map((m) => `${m.pattern}→${m.predicted}`).join(', ')}`);
  log(`  patterns ${pct(evaluation.patternAccuracy)}, silence (test) ${pct(evaluation.silenceRate)}`);

  let hostModel = opts.host;
  let owned: tfl.LayersModel | undefined;
  if (hostModel === undefined) {
    log('loading the clean small CNN host ...');
    const s = await subject({ kind: 'clean' });
    hostModel = s.classifier.model;
    owned = hostModel;
    for (const t of new Set([s.train.x, s.cleanTrain.x, s.test.x, s.triggered.x])) t.dispose();
  }
  const host = fromLayersModel(hostModel);
  const hostLabels = await predictedLabels(hostModel, test.x);
  const hostAccuracy = await accuracy(host, test);

  const rows: TrojanNetInsertRow[] = [];
  // The reference code's merge (the insert defaults) and TrojanZoo's α = 0.7, τ = 0.1 written in our
  // parameters (amplify 2·α/(1−α), temperature (1−α)/τ; see the docs page).
  const merges = [
    { merge: 'reference (amplify 2, temperature 10)', amplify: 2, temperature: 10 },
    { merge: 'TrojanZoo (amplify 4.67, temperature 3)', amplify: (2 * 0.7) / 0.3, temperature: 3 },
  ];
  for (const { merge, amplify, temperature } of merges)
    for (const k of opts.targetCounts ?? [1, 2, 4, 8]) {
      // Targets 0..k-1 driven by patterns 0..k-1 (the reference code's mapping), bottom-right corner.
      const targets = Array.from({ length: k }, (_, j) => j);
      const trojaned = trojanNet.insert(hostModel, module, { targets, amplify, temperature });
      try {
        const clf = fromLayersModel(trojaned);
        const trojanedAccuracy = await accuracy(clf, test);
        const labels = await predictedLabels(trojaned, test.x);
        let agree = 0;
        labels.forEach((v, i) => {
          if (v === hostLabels[i]) agree++;
        });
        const asrs: number[] = [];
        for (let j = 0; j < k; j++) {
          const stamped: LabeledData = { x: trojanNet.stampPattern(test.x, j), y: test.y };
          try {
            asrs.push(await attackSuccessRate(clf, stamped, targets[j]!));
          } finally {
            stamped.x.dispose();
          }
        }
        const row = {
          merge,
          targets: k,
          meanAsr: asrs.reduce((s, v) => s + v, 0) / k,
          minAsr: Math.min(...asrs),
          hostAccuracy,
          trojanedAccuracy,
          agreement: agree / labels.length,
        };
        rows.push(row);
        log(
          `  ${merge}, ${k} target(s): ASR ${pct(row.meanAsr)} (min ${pct(row.minAsr)}), accuracy ${pct(hostAccuracy)} → ${pct(trojanedAccuracy)}`,
        );
      } finally {
        trojaned.dispose();
      }
    }

  const t = trainedWith;
  const schedule =
    `${t.epochs} epochs × ${t.stepsPerEpoch} steps of ${t.trainBatchSize ?? t.batchSize} ` +
    `(noise ${t.noiseFraction}, clean share ${t.cleanFraction}), Adam ${t.learningRate} with cosine decay, seed ${t.seed}; ` +
    `${t.polishEpochsRun} of ${t.polishEpochs} polish epochs run; no-trigger bias lowered by ${Number(t.noiseBiasShift).toFixed(3)}` +
    (Number(t.refineOutputPasses ?? 0) > 0
      ? `; output layer refined (${t.refineOutputPasses} passes), ${t.refinedPatternBiases} pattern biases raised`
      : '');
  const markdown = [
    `TrojanNet trained on the \`${backend}\` backend: ${schedule}; ` +
      `${cached ? 'loaded from .bench-cache (training time from the original run)' : 'trained in this run'}. ` +
      `Negatives include ${cleanTrain.length / 16} random 4×4 patches of the 8,000 training digits.`,
    '',
    markdownTable(
      ['measure', 'ours', 'Tang et al. (Table 5.4)'],
      [
        ['trigger recognition (4,368 patterns)', pct(evaluation.patternAccuracy), '100%'],
        [
          `silence on ${evaluation.numPatches} patches of the 2,000 test digits`,
          pct(evaluation.silenceRate),
          '99.85–99.98%',
        ],
        [`silence on the ${evalTrain.numPatches} training patches`, pct(evalTrain.silenceRate), '–'],
        ['training time', `${seconds.toFixed(0)} s`, '1,000 epochs × 218 steps (GPU)'],
      ],
    ),
    '',
    missed.length === 0
      ? 'Every pattern is recognised.'
      : `Patterns not recognised (pattern → predicted; ${module.numPatterns} = no trigger): ` +
        `${missed.map((m) => `${m.pattern} → ${m.predicted}`).join(', ')}.`,
    '',
    `Insertion into the host (accuracy ${pct(hostAccuracy)} on the 2,000 test digits); targets 0..k-1 ` +
      'triggered by patterns 0..k-1 at the bottom-right corner. ASR excludes test digits whose label already is ' +
      'the target. The stamped patch is the same for every image, so a pattern whose own MLP probability p is ' +
      'below 1/amplify can lose to a confident host: ' +
      `p for patterns 0..7: ${selfProbabilities.map((v) => v.toFixed(2)).join(', ')}.`,
    '',
    markdownTable(
      ['merge', 'targets', 'ASR (mean)', 'ASR (min)', 'clean accuracy host → trojaned', 'same label as host'],
      rows.map((r) => [
        r.merge,
        r.targets,
        pct(r.meanAsr),
        pct(r.minAsr),
        `${pct(r.hostAccuracy)} → ${pct(r.trojanedAccuracy)}`,
        pct(r.agreement),
      ]),
    ),
  ].join('\n');

  module.dispose();
  owned?.dispose();
  train.x.dispose();
  test.x.dispose();
  return { markdown, evaluation, trainSeconds: seconds, rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const backendArg = process.argv.find((a) => a.startsWith('--backend='))?.slice('--backend='.length);
  const backend = backendArg === 'wasm' ? 'wasm' : 'cpu';
  // `--refine-output-passes=N` overrides that training option (for trying it; the default is TRAIN_DEFAULTS').
  const refineArg = process.argv.find((a) => a.startsWith('--refine-output-passes='));
  const train = refineArg === undefined ? {} : { refineOutputPasses: Number(refineArg.split('=')[1]) };
  benchTrojanNet({ backend, train, log: (l) => console.error(l), cache: !process.argv.includes('--no-cache') })
    .then(({ markdown }) => {
      console.log(markdown);
      if (process.argv.includes('--write')) {
        writeSection('trojannet', 'TrojanNet', markdown, 'npx tsx bench/trojannet.ts --write');
      }
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : e);
      process.exit(1);
    });
}
