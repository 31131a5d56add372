/**
 * `npm run demo`: the main job. On the bundled MNIST digits (wasm backend,
 * fast kernels), train a clean and a BadNets-backdoored small CNN (4×4 white
 * square bottom-right, all-to-one target 0, 10% poison), run every defence
 * of the library with a progress bar, print one table (clean accuracy, ASR,
 * detection, time per defence) plus Milakovic & Mayer's combinations
 * (AC → FP, FP → AC), and write demo-report/ (report.md and pictures).
 *
 * Usage: npm run demo [-- --quick] [-- --backend wasm|cpu] [-- --seed N] [-- --out DIR]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import {
  Rng,
  activationsData,
  datasets,
  detriggerAutoencoder,
  featureSqueezing,
  fromLayersModel,
  metrics,
  models,
  neuralCleanse,
  poisoning,
  registerFastKernels,
  spectralSignatures,
  stamp,
  stats,
  strip,
  anp,
  triggers,
  type Classifier,
  type LabeledData,
  type LayersModelClassifier,
} from '../src/index.js';
import { evaluate, evaluationTable, type Evaluation } from '../src/evaluation/index.js';
import {
  activationClusteringStep,
  disposePipelineResult,
  evaluationStep,
  finePruningStep,
  runPipeline,
} from '../src/pipeline/index.js';
import {
  activationClusteringFigure,
  imageGridFigure,
  neuralCleanseFigures,
  stripFigure,
  writeReport,
  type Figure,
  type ImageData,
  type ReportSection,
} from '../src/report/index.js';
import { progressBar } from './progress-bar.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const quick = process.argv.includes('--quick');
const seed = Number(arg('seed', '1'));
const outDir = arg('out', 'demo-report');
const TARGET = 0;

/** Demo settings: the full run stays under 15 minutes, --quick under 3 on 2 cores. */
const S = quick
  ? {
      limit: 4000,
      epochs: 4,
      defenderClean: 500,
      acDetect: { nInit: 5, retrainEpochs: 2 },
      retrainEpochs: 4,
      nc: { steps: 30, samplesPerStep: 128, trainBatchSize: 32, patience: 3, earlyStopPatience: 10 },
      anpIterations: 100,
      stripOverlays: 20,
      aeEpochs: 40,
      screened: 300,
    }
  : {
      limit: undefined,
      epochs: 8,
      defenderClean: 1000,
      acDetect: { nInit: 10, retrainEpochs: 4 },
      retrainEpochs: 8,
      nc: { steps: 150, samplesPerStep: 512, trainBatchSize: 32, patience: 5, earlyStopPatience: 15 },
      anpIterations: 500,
      stripOverlays: 100,
      aeEpochs: 60,
      screened: 1000,
    };

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const took = (t0: number) => (performance.now() - t0) / 1000;

/** `k` samples of `d` at seeded random positions among `pool`. */
function pick(d: LabeledData, pool: number[], k: number, s: number): LabeledData {
  const rng = new Rng(s);
  const order = rng.permutation(pool.length);
  return datasets.subset(
    d,
    Array.from(order.subarray(0, Math.min(k, pool.length)), (j) => pool[j]!),
  );
}

/** A classifier that purifies (or squeezes) inputs before predicting. */
function preprocessed(clf: Classifier, transform: (x: tf.Tensor) => tf.Tensor): Classifier {
  return {
    inputShape: clf.inputShape,
    numClasses: clf.numClasses,
    predict: (x) => tf.tidy(() => clf.predict(transform(x))),
  };
}

async function imagesOf(x: tf.Tensor4D, n: number): Promise<ImageData[]> {
  const [, h, w, c] = x.shape;
  const v = await x.data();
  const out: ImageData[] = [];
  for (let i = 0; i < Math.min(n, x.shape[0]); i++) {
    out.push({ values: v.subarray(i * h * w * c, (i + 1) * h * w * c), height: h, width: w, channels: c as 1 | 3 });
  }
  return out;
}

async function main(): Promise<void> {
  const tStart = performance.now();
  tf.enableProdMode();
  await tf.setBackend(arg('backend', 'wasm'));
  await tf.ready();
  registerFastKernels();
  console.log(`backend ${tf.getBackend()}${quick ? ' (quick mode)' : ''}; seed ${seed}`);

  // --- data and the attack -------------------------------------------------
  const { train: cleanTrain, test } = await datasets.mnist({ testFraction: 0.2, seed, limit: S.limit });
  const trigger = triggers.square({ size: 4, value: 1, channels: 1 });
  const poisoned = poisoning.badNets(cleanTrain, {
    trigger,
    mode: 'all-to-one',
    target: TARGET,
    rate: 0.1,
    placement: 'bottom-right',
    seed,
  });
  const triggered = poisoning.triggeredTestSet(test, { trigger, target: TARGET, placement: 'bottom-right' }).data;
  const notPoisoned: number[] = [];
  poisoned.poisoned.forEach((p, i) => p === 0 && notPoisoned.push(i));
  // the defender's clean data: unpoisoned training digits (never the test split)
  const defender = pick(cleanTrain, notPoisoned, S.defenderClean, seed + 7);
  console.log(
    `bundled MNIST: ${cleanTrain.y.length} train (${poisoned.poisoned.reduce((a, b) => a + b, 0)} poisoned) / ${test.y.length} test; defender holds ${defender.y.length} clean digits`,
  );

  // --- train a clean and a backdoored model ---------------------------------
  const train = async (name: string, data: LabeledData): Promise<LayersModelClassifier> => {
    const clf = fromLayersModel(models.smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed }), { owned: true });
    await clf.fit(data, { epochs: S.epochs, batchSize: 128, learningRate: 1e-3, seed, onProgress: progressBar(name) });
    return clf;
  };
  let t0 = performance.now();
  const cleanModel = await train('training clean CNN', cleanTrain);
  const cleanSeconds = took(t0);
  t0 = performance.now();
  const backdoored = await train('training backdoored CNN', poisoned.data);
  const bdSeconds = took(t0);

  const rows: Evaluation[] = [];
  const on = { clean: test, triggered, target: TARGET };
  const baseline = await evaluate(
    { ...on, before: cleanModel },
    { name: 'clean model (no attack)', seconds: cleanSeconds },
  );
  const attacked = await evaluate(
    { ...on, before: backdoored },
    { name: 'BadNets model (no defence)', seconds: bdSeconds },
  );
  rows.push(baseline, attacked);
  console.log(`clean model: acc ${pct(baseline.before.cleanAccuracy)}, ASR ${pct(baseline.before.asr)}`);
  console.log(`backdoored model: acc ${pct(attacked.before.cleanAccuracy)}, ASR ${pct(attacked.before.asr)}`);

  const figures: Record<string, Figure[]> = {};
  const notes: Record<string, string> = {};

  // --- combinations (and AC / FP alone): two pipelines ----------------------
  const evalOn = { ...on, before: backdoored };
  const acStep = () =>
    activationClusteringStep({
      detect: { ...S.acDetect, seed, onProgress: progressBar('AC detect') },
      repair: { mode: 'retrain', maxEpochs: S.retrainEpochs, seed, onProgress: progressBar('AC retrain') },
    });
  const fpStep = () => finePruningStep({ seed, onProgress: progressBar('Fine-Pruning') });
  const state = { classifier: backdoored, train: poisoned.data, clean: defender };
  const acFp = await runPipeline(
    [acStep(), evaluationStep('Activation Clustering (AC)', evalOn), fpStep(), evaluationStep('AC → FP', evalOn)],
    state,
  );
  const fpAc = await runPipeline(
    [fpStep(), evaluationStep('Fine-Pruning (FP)', evalOn), acStep(), evaluationStep('FP → AC', evalOn)],
    state,
  );
  const acReport = acFp.steps[0].report.detection;
  const acDet = metrics.detection(acReport.suspicious, poisoned.poisoned);
  const withTime = (e: Evaluation, seconds: number, detection: Evaluation['detection'] = null): Evaluation => ({
    ...e,
    seconds,
    detection,
  });
  const acRow = withTime(acFp.steps[1].report, acFp.steps[0].seconds, acDet);
  const fpRow = withTime(fpAc.steps[1].report, fpAc.steps[0].seconds);
  const acFpRow = withTime(acFp.steps[3].report, acFp.steps[0].seconds + acFp.steps[2].seconds, acDet);
  const fpAcRow = withTime(
    fpAc.steps[3].report,
    fpAc.steps[0].seconds + fpAc.steps[2].seconds,
    metrics.detection(fpAc.steps[2].report.detection.suspicious, poisoned.poisoned),
  );
  rows.push(acRow, fpRow);

  // AC's picture: the target class's activations projected on 2 principal components
  {
    const idx: number[] = [];
    poisoned.data.y.forEach((y, i) => y === TARGET && idx.push(i));
    const cls = datasets.subset(poisoned.data, idx);
    const acts = await activationsData(backdoored, cls.x, acReport.layer);
    cls.x.dispose();
    const p = stats.pca(acts, { components: 2 });
    const xs = idx.map((_, k) => p.scores.values[2 * k]!);
    const ys = idx.map((_, k) => p.scores.values[2 * k + 1]!);
    const clusters = idx.map((i) => Math.max(0, acReport.clusters[i]!));
    const truth = idx.map((i) => poisoned.poisoned[i]!);
    figures['ac'] = [activationClusteringFigure(xs, ys, clusters, truth, TARGET)];
    const c0 = acReport.perClass[TARGET]!;
    notes['ac'] =
      `Layer \`${acReport.layer}\`; ${idx.length} training samples labelled ${TARGET}, ${truth.reduce((a, b) => a + b, 0)} of them poisoned; ` +
      `cluster sizes ${c0.clusterSizes.join(' / ')}, silhouette ${c0.silhouette.toFixed(2)}, separation ${c0.separation.toFixed(1)} (ExRe tests classes above 6). ` +
      `AC flagged ${acDet.tp + acDet.fp} samples overall (TPR ${pct(acDet.tpr)}, FPR ${pct(acDet.fpr)}).`;
  }

  // --- Spectral Signatures --------------------------------------------------
  t0 = performance.now();
  {
    const r = await spectralSignatures.detect(backdoored, poisoned.data, {
      onProgress: progressBar('Spectral Signatures'),
    });
    const rep = await spectralSignatures.repair(backdoored, poisoned.data, r, {
      maxEpochs: S.retrainEpochs,
      seed,
      onProgress: progressBar('SS retrain'),
    });
    const seconds = took(t0);
    rows.push(
      await evaluate(
        { ...on, before: backdoored, after: rep.classifier },
        {
          name: 'Spectral Signatures',
          seconds,
          detection: { flags: r.suspicious, truth: poisoned.poisoned, scores: r.scores },
        },
      ),
    );
    rep.classifier.dispose();
    rep.data.x.dispose();
  }

  // --- Neural Cleanse -------------------------------------------------------
  t0 = performance.now();
  {
    const r = await neuralCleanse.detect(backdoored, defender, {
      ...S.nc,
      seed,
      onProgress: progressBar('Neural Cleanse'),
    });
    const verdict = { backdoored: r.backdoored, targets: r.targets };
    let after: Classifier | undefined;
    let repaired: { dispose(): void } | undefined;
    if (r.backdoored) {
      const rep = await neuralCleanse.repair(backdoored, defender, r, { onProgress: progressBar('NC unlearning') });
      after = rep.classifier;
      repaired = rep.classifier as unknown as { dispose(): void };
    }
    const seconds = took(t0);
    rows.push(await evaluate({ ...on, before: backdoored, after }, { name: 'Neural Cleanse', seconds, verdict }));
    repaired?.dispose();
    const zero = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
    const stamped = stamp(zero, trigger, { placement: 'bottom-right' });
    const [trueTrigger] = await imagesOf(stamped, 1);
    zero.dispose();
    stamped.dispose();
    figures['nc'] = [neuralCleanseFigures(r, { trueTrigger: trueTrigger! })];
    // is the target's reversed mask where the trigger is?
    const m0 = r.perClass.find((p) => p.label === TARGET)!.mask;
    let inside = 0;
    let total = 0;
    m0.forEach((v, i) => {
      total += v;
      if ((trueTrigger!.values[i] ?? 0) > 0) inside += v;
    });
    notes['nc'] =
      `${r.backdoored ? `Flagged label(s) ${r.targets.join(', ')}` : 'No label flagged'} (anomaly index ${r.anomalyIndex.toFixed(2)}, threshold ${r.threshold}). ` +
      `${pct(inside / Math.max(total, 1e-12))} of label ${TARGET}'s reversed mask lies on the true 4×4 trigger (which covers 2.0% of the image). ` +
      `Repair: unlearning${r.backdoored ? '' : ' skipped (nothing flagged)'}.`;
  }

  // --- ANP ------------------------------------------------------------------
  t0 = performance.now();
  {
    const rep = await anp.repair(backdoored, pick(defender, [...defender.y.keys()], 500, seed), {
      iterations: S.anpIterations,
      seed,
      onProgress: progressBar('ANP'),
    });
    const seconds = took(t0);
    rows.push(await evaluate({ ...on, before: backdoored, after: rep.classifier }, { name: 'ANP', seconds }));
    rep.classifier.dispose();
  }

  // --- input-level: STRIP, Feature Squeezing, de-trigger autoencoder --------
  // screened inputs: half clean test digits, half triggered test digits
  const k = Math.min(S.screened / 2, triggered.y.length);
  const cleanPart = datasets.subset(test, [...Array(k).keys()]);
  const trigPart = datasets.subset(triggered, [...Array(k).keys()]);
  const screened = datasets.concatData(cleanPart, trigPart);
  const truth = new Uint8Array(2 * k).fill(1, k);

  t0 = performance.now();
  {
    const r = await strip.detect(backdoored, screened.x, {
      cleanData: defender,
      overlays: S.stripOverlays,
      seed,
      onProgress: progressBar('STRIP'),
    });
    const seconds = took(t0);
    rows.push(
      await evaluate(
        { ...on, before: backdoored },
        {
          name: 'STRIP (detects inputs)',
          seconds,
          detection: { flags: r.suspicious, truth, scores: r.scores.map((s) => -s) },
        },
      ),
    );
    figures['strip'] = [stripFigure(r.scores.subarray(0, k), r.scores.subarray(k), r.threshold)];
    notes['strip'] =
      `${k} clean and ${k} triggered test digits, ${S.stripOverlays} overlays each; threshold ${r.threshold.toFixed(3)} bits (1% FRR on the defender's digits).`;
  }
  t0 = performance.now();
  {
    const r = await featureSqueezing.detect(backdoored, screened.x, {
      cleanData: defender,
      onProgress: progressBar('Feature Squeezing'),
    });
    const seconds = took(t0);
    const squeezed = preprocessed(backdoored, (x) =>
      featureSqueezing.squeeze(x, [featureSqueezing.bitDepth(1), featureSqueezing.median(2)]),
    );
    rows.push(
      await evaluate(
        { ...on, before: backdoored, after: squeezed },
        {
          name: 'Feature Squeezing (detect; after = squeezed inputs)',
          seconds,
          detection: { flags: r.suspicious, truth, scores: r.scores },
        },
      ),
    );
  }
  t0 = performance.now();
  {
    const ae = await detriggerAutoencoder.calibrate(backdoored, defender, {
      epochs: S.aeEpochs,
      seed,
      onProgress: progressBar('de-trigger AE'),
    });
    const r = await detriggerAutoencoder.detect(backdoored, screened.x, { calibration: ae });
    const seconds = took(t0);
    const purified = preprocessed(backdoored, (x) => ae.model.predict(x) as tf.Tensor);
    rows.push(
      await evaluate(
        { ...on, before: backdoored, after: purified },
        {
          name: 'De-trigger autoencoder (after = purified inputs)',
          seconds,
          detection: { flags: r.suspicious, truth, scores: r.scores },
        },
      ),
    );
    const shown = 8;
    const tx = datasets.subset(triggered, [...Array(shown).keys()]);
    const cx = datasets.subset(test, [...Array(shown).keys()]);
    const tOut = detriggerAutoencoder.repair(backdoored, tx.x, { calibration: ae }) as tf.Tensor4D;
    const cOut = detriggerAutoencoder.repair(backdoored, cx.x, { calibration: ae }) as tf.Tensor4D;
    figures['ae'] = [
      imageGridFigure(
        [
          await imagesOf(tx.x, shown),
          await imagesOf(tOut, shown),
          await imagesOf(cx.x, shown),
          await imagesOf(cOut, shown),
        ],
        'Rows: triggered test digits; the same after the de-trigger autoencoder; clean test digits; the same after the autoencoder.',
        'detrigger-examples.png',
      ),
    ];
    tf.dispose([tx.x, cx.x, tOut, cOut]);
    ae.dispose();
  }
  tf.dispose([cleanPart.x, trigPart.x, screened.x]);

  // --- tables ---------------------------------------------------------------
  const table = evaluationTable(rows);
  const combos = evaluationTable([acRow, fpRow, acFpRow, fpAcRow]);
  console.log(
    '\nDefences on the BadNets all-to-one model (clean acc / ASR / robust acc on the held-out test split):\n',
  );
  console.log(table);
  console.log(`\n${notes['ac']}`);
  console.log('\nCombinations (Milakovic & Mayer): AC → FP vs FP → AC:\n');
  console.log(combos);
  const better = Math.min(acRow.after!.asr, fpRow.after!.asr);
  console.log(
    `\nAC → FP ASR ${pct(acFpRow.after!.asr)} vs min(AC, FP) ${pct(better)}: ${acFpRow.after!.asr <= better ? 'not worse' : 'WORSE'}; ` +
      `clean-accuracy drop ${(100 * -acFpRow.delta!.cleanAccuracy).toFixed(1)} points.`,
  );

  // --- report ---------------------------------------------------------------
  const totalSeconds = took(tStart);
  const sections: ReportSection[] = [
    {
      heading: 'Setting',
      body:
        `Bundled MNIST (${cleanTrain.y.length} train / ${test.y.length} test digits, seed ${seed}); small CNN trained ${S.epochs} epochs; ` +
        `BadNets all-to-one: 4×4 white square at the bottom-right, target ${TARGET}, 10% of the training set poisoned. ` +
        `The defender holds ${defender.y.length} clean training digits; clean accuracy and ASR are measured on the held-out test split ` +
        `(ASR on the ${triggered.y.length} triggered test digits whose true label is not ${TARGET}). ` +
        `Backend ${tf.getBackend()}${quick ? ', --quick settings' : ''}; whole demo ${totalSeconds.toFixed(0)} s. Command: \`npm run demo${quick ? ' -- --quick' : ''}\`.`,
    },
    { heading: 'Every defence', body: table },
    {
      heading: 'Combinations: AC → FP vs FP → AC',
      body: `${combos}\n\nFP → AC detection: AC run on the fine-pruned model (Milakovic & Mayer found AC → FP better).`,
    },
    { heading: 'Neural Cleanse: reversed triggers', body: notes['nc']!, figures: figures['nc']! },
    { heading: 'STRIP: entropy of clean vs triggered inputs', body: notes['strip']!, figures: figures['strip']! },
    { heading: `Activation Clustering: class ${TARGET}`, body: notes['ac']!, figures: figures['ac']! },
    { heading: 'De-trigger autoencoder', body: 'Inputs before and after purification.', figures: figures['ae']! },
  ];
  const written = await writeReport(outDir, { title: 'backdoor-kit demo report', sections });
  console.log(
    `\nwrote ${written.length} files to ${outDir}/ (report.md and pictures); total ${totalSeconds.toFixed(0)} s`,
  );

  disposePipelineResult(acFp);
  disposePipelineResult(fpAc);
  cleanModel.dispose();
  backdoored.dispose();
  tf.dispose([cleanTrain.x, test.x, poisoned.data.x, triggered.x, defender.x]);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
});
