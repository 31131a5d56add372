/**
 * Activation Clustering detect (Chen et al., Algorithm 1): flags poisoned
 * training samples.
 *
 * @packageDocumentation
 */
import { argmaxRows, predictProbabilities } from '../../../core/batching.js';
import { assertOneOf } from '../../../core/checks.js';
import {
  findLayer,
  lastHiddenLayer,
  requireCapabilities,
  type Classifier,
  type LayeredClassifier,
  type LayerInfo,
  type TrainableClassifier,
} from '../../../core/classifier.js';
import { ShapeError } from '../../../core/errors.js';
import { resolveOptions } from '../../../core/options.js';
import { report, throwIfAborted, yieldToEventLoop } from '../../../core/progress.js';
import { makeRng } from '../../../core/rng.js';
import type { AnyLabeledData } from '../../../core/types.js';
import { assertLabeledData } from '../../../core/validate.js';
import { layerActivations, retrainAndProbe } from '../shared.js';
import { exReOf, validateOptions } from './analysis.js';
import { type ClassClustering, clusterClass, euclid, medianRow, membersOf } from './clustering.js';
import {
  ACTIVATION_CLUSTERING_DEFAULTS,
  type ActivationClusteringClassReport,
  type ActivationClusteringOptions,
  type ActivationClusteringReport,
  type ExReResult,
} from './types.js';

/**
 * Activation Clustering (Chen et al. 2019): flags poisoned training samples.
 *
 * Clusters the activations of the last hidden layer class by class (FastICA
 * to `dims` components, 2-means) and decides which clusters are poison with
 * the chosen analysis:
 * - `'exclusionary-reclassification'` (default, the paper's recommendation):
 *   a model of the same architecture is retrained without the tested
 *   clusters and classifies them; a cluster whose members go mostly to
 *   another class (score `l / p` below `exReThreshold`) is poison, and that
 *   class is its suspected source. Tested are the classes whose clusters are
 *   well separated (`separationThreshold`); in a class split into two
 *   comparable halves (smaller cluster ≥ `sizeThreshold`) both clusters are
 *   tested (a second retraining), and if both fail the one the retrained
 *   model classifies more confidently is poison (poison is made of ordinary
 *   samples of its source classes; a clean cluster removed whole leaves its
 *   class without examples). Needs the `'train'` capability.
 * - `'relative-size'`: a cluster holding at most `sizeThreshold` of its class.
 * - `'silhouette'`: the smaller cluster of each class whose silhouette score
 *   is at least `silhouetteThreshold`.
 * - `'distance'` (ART): a cluster whose median activation is closer to
 *   another class's median than to its own class's (while the other cluster
 *   is not), measured in the layer's activation space.
 * - `'smaller'` (ART): the smaller cluster of every class.
 *
 * @param classifier - A classifier with the `'layers'` capability (and
 *   `'train'` for exclusionary reclassification), trained on `data`. Not
 *   modified.
 * @param data - The (possibly poisoned) training data. Not modified.
 * @param options - {@link ActivationClusteringOptions}.
 * @returns Per-sample flags, clusters and suspected sources, and per-class
 *   statistics (plain data).
 * @throws {@link BackdoorKitError} for a missing capability, an unknown
 *   layer or analysis, bad data, `dims` not below the layer's width, or other
 *   bad options; {@link AbortError} when aborted.
 *
 * @example
 * ```ts
 * const report = await activationClustering.detect(clf, poisonedTrain, { seed: 1 });
 * report.suspicious;             // Uint8Array, 1 = poison
 * report.perClass[0].exRe;       // [{ cluster: 0, score: 0.1, source: 3, ... }]
 * ```
 */
export async function detect(
  classifier: Classifier,
  data: AnyLabeledData,
  options: ActivationClusteringOptions = {},
): Promise<ActivationClusteringReport> {
  const fn = 'activationClustering.detect';
  const base = resolveOptions(fn, ACTIVATION_CLUSTERING_DEFAULTS, options);
  assertOneOf(fn, 'options.analysis', base.analysis, [
    'exclusionary-reclassification',
    'relative-size',
    'silhouette',
    'distance',
    'smaller',
  ] as const);
  const needsTraining = base.analysis === 'exclusionary-reclassification';
  requireCapabilities(fn, 'classifier', classifier, needsTraining ? ['layers', 'train'] : ['layers']);
  const clf = classifier as LayeredClassifier;
  const info: LayerInfo =
    base.layer === undefined ? lastHiddenLayer(fn, clf) : findLayer(fn, 'options.layer', clf, base.layer);
  const width = info.outputShape.reduce((a, b) => a * b, 1);
  // a layer no wider than the default `dims` is clustered as it is: there is nothing to reduce
  const o =
    options.dims === undefined && base.reduction !== 'none' && width <= base.dims
      ? { ...base, reduction: 'none' as const }
      : base;
  validateOptions(fn, o, width);
  const K = clf.numClasses;
  assertLabeledData(fn, 'data', data, { inputShape: clf.inputShape, numClasses: K });
  throwIfAborted(o.signal, fn);
  const n = data.y.length;
  const rng = makeRng(o.seed, fn);

  // 1. activations
  const tStart = performance.now();
  let t0 = tStart;
  const acts = await layerActivations(
    fn,
    clf,
    data.x,
    info.name,
    o.batchSize,
    o.onProgress,
    o.signal,
    'activation-clustering:activations',
  );
  if (acts.cols !== width) {
    throw new ShapeError(
      { fn, arg: 'options.layer', value: info.name },
      `gave ${acts.cols} activations, expected ${width}`,
    );
  }
  const segments =
    o.segmentBy === 'label'
      ? Int32Array.from(data.y)
      : argmaxRows(await predictProbabilities(clf, data.x, o.batchSize), K);
  const secondsActivations = (performance.now() - t0) / 1000;

  // 2–4. per-class reduction, clustering and statistics
  t0 = performance.now();
  const members: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < n; i++) members[segments[i]!]!.push(i);
  const classes: ClassClustering[] = [];
  for (let c = 0; c < K; c++) {
    throwIfAborted(o.signal, fn);
    classes.push(clusterClass(fn, acts, Int32Array.from(members[c]!), o, rng.derive(`class ${c}`).nextSeed()));
    report(o.onProgress, { stage: 'activation-clustering:cluster', done: c + 1, total: K });
    if (o.onProgress !== undefined || o.signal !== undefined) await yieldToEventLoop();
  }
  const clusters = new Int8Array(n).fill(-1);
  for (const cl of classes) if (cl.labels !== undefined) cl.indices.forEach((i, r) => (clusters[i] = cl.labels![r]!));
  const secondsClustering = (performance.now() - t0) / 1000;

  // 5. analysis
  t0 = performance.now();
  const suspiciousClusters: number[][] = Array.from({ length: K }, () => []);
  const exRe: ExReResult[][] = Array.from({ length: K }, () => []);
  const suspectedSources = new Int32Array(n).fill(-1);
  const classSource = new Int32Array(K).fill(-1);
  const twoClusters = (cl: ClassClustering): boolean => cl.labels !== undefined && cl.sizes[0]! > 0;
  let retrainings = 0;

  if (o.analysis === 'smaller') {
    classes.forEach((cl, c) => {
      if (twoClusters(cl)) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'relative-size') {
    classes.forEach((cl, c) => {
      if (!twoClusters(cl)) return;
      const share = cl.sizes[0]! / (cl.sizes[0]! + cl.sizes[1]!);
      if (share <= o.sizeThreshold) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'silhouette') {
    classes.forEach((cl, c) => {
      if (twoClusters(cl) && cl.silhouette >= o.silhouetteThreshold) suspiciousClusters[c]!.push(0);
    });
  } else if (o.analysis === 'distance') {
    const classMedian = classes.map((cl) => (cl.indices.length > 0 ? medianRow(acts, cl.indices) : undefined));
    classes.forEach((cl, c) => {
      if (!twoClusters(cl)) return;
      const own = classMedian[c]!;
      const med = [medianRow(acts, membersOf(cl, 0)), medianRow(acts, membersOf(cl, 1))];
      const dOwn = med.map((m) => euclid(m, own));
      let nearest = -1;
      let nearestDist = Infinity;
      const poison = [false, false];
      for (let j = 0; j < K; j++) {
        const other = classMedian[j];
        if (j === c || other === undefined) continue;
        const d = med.map((m) => euclid(m, other));
        for (const k of [0, 1]) {
          if (d[k]! < dOwn[k]! && d[1 - k]! > dOwn[1 - k]!) {
            poison[k] = true;
            if (d[k]! < nearestDist) {
              nearestDist = d[k]!;
              nearest = j;
            }
          }
        }
      }
      for (const k of [0, 1]) if (poison[k]) suspiciousClusters[c]!.push(k);
      if (nearest >= 0) classSource[c] = nearest;
    });
  } else {
    const trainable = classifier as TrainableClassifier & LayeredClassifier;
    // classes worth testing, and which of their clusters
    const tested: number[][] = classes.map((cl) => {
      if (!twoClusters(cl) || cl.separation < o.separationThreshold) return [];
      const share = cl.sizes[0]! / (cl.sizes[0]! + cl.sizes[1]!);
      return share >= o.sizeThreshold ? [0, 1] : [0];
    });
    // world 1 excludes cluster 0 of every tested class; world 2 excludes cluster 1 of the
    // ambiguous classes (and cluster 0 of the others, so that no known suspect trains it)
    const worlds: Array<{ exclude: Array<[number, number]>; probe: Array<[number, number]> }> = [];
    const w1: Array<[number, number]> = [];
    tested.forEach((ks, c) => ks.length > 0 && w1.push([c, 0]));
    if (w1.length > 0) worlds.push({ exclude: w1, probe: w1 });
    const ambiguous = tested.flatMap((ks, c) => (ks.length === 2 ? [c] : []));
    if (ambiguous.length > 0) {
      const exclude: Array<[number, number]> = tested.flatMap((ks, c): Array<[number, number]> => {
        if (ks.length === 0) return [];
        return ks.length === 2 ? [[c, 1]] : [[c, 0]];
      });
      worlds.push({ exclude, probe: ambiguous.map((c): [number, number] => [c, 1]) });
    }
    const sourcesOf = new Map<string, Int32Array>();
    for (let w = 0; w < worlds.length; w++) {
      throwIfAborted(o.signal, fn);
      const world = worlds[w]!;
      const excluded = new Uint8Array(n);
      for (const [c, k] of world.exclude) for (const i of membersOf(classes[c]!, k)) excluded[i] = 1;
      const probeLists = world.probe.map(([c, k]) => membersOf(classes[c]!, k));
      const probe = Int32Array.from(probeLists.flatMap((l) => Array.from(l)));
      const probs = await retrainAndProbe(
        fn,
        trainable,
        data,
        excluded,
        probe,
        {
          epochs: o.retrainEpochs,
          trainBatchSize: o.trainBatchSize,
          learningRate: o.retrainLearningRate,
          batchSize: o.batchSize,
          onProgress: o.onProgress,
          signal: o.signal,
        },
        rng.derive(`retrain ${w}`).nextSeed(),
        `activation-clustering:retrain ${w + 1}/${worlds.length}`,
      );
      retrainings++;
      let offset = 0;
      world.probe.forEach(([c, k], p) => {
        const rows = Int32Array.from({ length: probeLists[p]!.length }, (_, r) => offset + r);
        offset += rows.length;
        const { result, sources } = exReOf(k, c, rows, probs, K);
        exRe[c]!.push(result);
        sourcesOf.set(`${c}:${k}`, sources);
      });
    }
    exRe.forEach((results, c) => {
      results.sort((a, b) => a.cluster - b.cluster);
      const failing = results.filter((r) => r.score < o.exReThreshold);
      if (failing.length === 0) return;
      const pick = failing.reduce((a, b) => (b.confidence > a.confidence ? b : a));
      suspiciousClusters[c]!.push(pick.cluster);
      const idx = membersOf(classes[c]!, pick.cluster);
      const src = sourcesOf.get(`${c}:${pick.cluster}`)!;
      idx.forEach((i, r) => (suspectedSources[i] = src[r]!));
    });
  }

  const suspicious = new Uint8Array(n);
  const perClass: ActivationClusteringClassReport[] = classes.map((cl, c) => {
    const flagged = suspiciousClusters[c]!;
    for (const k of flagged) for (const i of membersOf(cl, k)) suspicious[i] = 1;
    let source = classSource[c]!;
    if (o.analysis === 'exclusionary-reclassification' && flagged.length > 0) {
      const counts = new Int32Array(K);
      for (const k of flagged)
        for (const i of membersOf(cl, k)) if (suspectedSources[i]! >= 0) counts[suspectedSources[i]!]!++;
      let best = 0;
      for (let j = 0; j < K; j++) {
        if (counts[j]! > best) {
          best = counts[j]!;
          source = j;
        }
      }
    }
    return {
      label: c,
      size: cl.indices.length,
      clustered: cl.labels !== undefined,
      dims: cl.dims,
      clusterSizes: cl.sizes,
      silhouette: cl.silhouette,
      separation: cl.separation,
      suspiciousClusters: flagged.slice().sort(),
      exRe: exRe[c]!,
      suspectedSource: flagged.length > 0 ? source : -1,
    };
  });
  const secondsAnalysis = (performance.now() - t0) / 1000;
  return {
    suspicious,
    clusters,
    segments,
    suspectedSources,
    perClass,
    analysis: o.analysis,
    layer: info.name,
    segmentBy: o.segmentBy,
    reduction: o.reduction,
    retrainings,
    timing: {
      totalSeconds: (performance.now() - tStart) / 1000,
      stages: { activations: secondsActivations, clustering: secondsClustering, analysis: secondsAnalysis },
    },
  };
}
