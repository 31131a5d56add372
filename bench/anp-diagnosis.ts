/**
 * ANP diagnosis (docs/defences/anp.md, "Why ANP misses here"): ranks the
 * small CNN's units by how much more they fire on triggered than on clean
 * TRAINING digits, runs `anp.repair` with the defaults on the bench's 500
 * clean digits and prints the masks of the ranked units; with `oracle`, prunes
 * the top-k ranked units directly. The test split only reports accuracy/ASR.
 *
 * Run: `npx tsx bench/anp-diagnosis.ts [iterations=500] [clip|''] [oracle]`.
 */
import type * as tf from '@tensorflow/tfjs-core';

import { makeRng } from '../src/core/rng.js';
import { activationsData } from '../src/core/layers-model.js';
import * as anpRef from '../src/defences/model/anp.js';
import { datasets, metrics, poisoning } from '../src/index.js';
import { cleanSample, subject, useBackend } from './subjects.js';

const ITERS = Number(process.argv[2] ?? 500);
const which = (process.argv[3] ?? 'clip').split(',').filter((w) => w === 'clip');
await useBackend('wasm');
const s = await subject({ kind: 'all-to-one' });
console.log('layers', s.classifier.layers.map((l) => `${l.name}:${l.className}:${l.units}`).join(' '));
const clean500 = cleanSample(s, 500, 102);
// backdoor units from TRAINING data: 1000 clean non-target training digits, with and without trigger
const pool: number[] = [];
for (let i = 0; i < s.poisoned.length; i++) if (s.poisoned[i] === 0 && s.cleanTrain.y[i] !== 0) pool.push(i);
const pick = makeRng(55).sample(pool.length, 1000);
const cl = datasets.subset(
  s.cleanTrain,
  Array.from(pick, (j) => pool[j]!),
);
const tr = poisoning.triggeredTestSet(cl, { trigger: s.trigger, target: 0, placement: 'bottom-right' }).data;
const perturbed = s.classifier.layers.filter((l) => l.className === 'Conv2D' || l.className === 'Dense').slice(0, -1);
interface U {
  layer: string;
  unit: number;
  clean: number;
  trig: number;
  diff: number;
  z: number;
}
const units: U[] = [];
for (const L of perturbed) {
  const C = L.units;
  const stat = async (x: tf.Tensor4D) => {
    const a = await activationsData(s.classifier, x, L.name, 256);
    const mean = new Float64Array(C),
      sq = new Float64Array(C),
      cnt = new Float64Array(C);
    for (let r = 0; r < a.rows; r++)
      for (let c = 0; c < a.cols; c++) {
        const v = a.values[r * a.cols + c]!;
        const u = c % C;
        mean[u] = mean[u]! + v;
        sq[u] = sq[u]! + v * v;
        cnt[u] = cnt[u]! + 1;
      }
    for (let u = 0; u < C; u++) {
      mean[u] = mean[u]! / cnt[u]!;
      sq[u] = Math.sqrt(Math.max(0, sq[u]! / cnt[u]! - mean[u]! ** 2));
    }
    return { mean, sd: sq };
  };
  const a = await stat(cl.x),
    b = await stat(tr.x);
  for (let u = 0; u < C; u++)
    units.push({
      layer: L.name,
      unit: u,
      clean: a.mean[u]!,
      trig: b.mean[u]!,
      diff: b.mean[u]! - a.mean[u]!,
      z: (b.mean[u]! - a.mean[u]!) / (a.sd[u]! + 1e-6),
    });
}
const ranked = [...units].sort((p, q) => q.z - p.z);
console.log('top 15 units by (trig-clean)/sd_clean on training digits:');
for (const u of ranked.slice(0, 15))
  console.log(
    `  ${u.layer}[${u.unit}] clean ${u.clean.toFixed(3)} trig ${u.trig.toFixed(3)} diff ${u.diff.toFixed(3)} z ${u.z.toFixed(2)}`,
  );
function spearman(a: number[], b: number[]) {
  const rank = (v: number[]) => {
    const o = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array(v.length);
    o.forEach(([, i], k) => (r[i] = k));
    return r as number[];
  };
  const ra = rank(a),
    rb = rank(b);
  const n = a.length;
  const m = (n - 1) / 2;
  let num = 0,
    da = 0,
    db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i]! - m) * (rb[i]! - m);
    da += (ra[i]! - m) ** 2;
    db += (rb[i]! - m) ** 2;
  }
  return num / Math.sqrt(da * db);
}
if (process.argv[4] === 'oracle') {
  for (const k of [5, 10, 15, 20, 30, 40]) {
    const top = new Set(ranked.slice(0, k).map((u) => `${u.layer}[${u.unit}]`));
    const masks = perturbed.map((L) => ({
      layer: L.name,
      values: Float32Array.from({ length: L.units }, (_, u) => (top.has(`${L.name}[${u}]`) ? 0 : 1)),
    }));
    const q = await anpRef.repair(s.classifier, clean500, { masks }, { threshold: 0.2 });
    const acc = await metrics.accuracy(q.classifier, s.test, { batchSize: 500 });
    const asr = await metrics.attackSuccessRate(q.classifier, s.triggered, 0, { batchSize: 500 });
    q.classifier.dispose();
    console.log(`prune top-${k} trigger-responsive units: acc ${(100 * acc).toFixed(1)} ASR ${(100 * asr).toFixed(1)}`);
  }
}
for (const w of which) {
  const mod = anpRef;
  const t0 = Date.now();
  const r = await (mod as typeof anpRef).repair(s.classifier, clean500, { seed: 0, iterations: ITERS });
  const sec = (Date.now() - t0) / 1000;
  const maskOf = new Map<string, number>();
  for (const m of r.masks) m.values.forEach((v, u) => maskOf.set(`${m.layer}[${u}]`, v));
  const acc = await metrics.accuracy(r.classifier, s.test, { batchSize: 500 });
  const asr = await metrics.attackSuccessRate(r.classifier, s.triggered, 0, { batchSize: 500 });
  r.classifier.dispose();
  console.log(
    `\n== ${w} ${ITERS} it, ${sec.toFixed(0)} s: pruned ${r.pruned.length}/${r.totalUnits}, test acc ${(100 * acc).toFixed(1)}, ASR ${(100 * asr).toFixed(1)}; last loss ${r.history.at(-1)?.loss.toFixed(3)} acc ${r.history.at(-1)?.accuracy.toFixed(3)}`,
  );
  for (const m of r.masks) {
    const v = Array.from(m.values);
    console.log(
      `  ${m.layer}: mean ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2)}, <=0.2: ${v.filter((x) => x <= 0.2).length}/${v.length}`,
    );
  }
  console.log(
    '  masks of top-15 backdoor-candidate units:',
    ranked
      .slice(0, 15)
      .map((u) => `${u.layer}[${u.unit}]=${maskOf.get(`${u.layer}[${u.unit}]`)!.toFixed(2)}`)
      .join(' '),
  );
  const zs = ranked.map((u) => u.z),
    ms = ranked.map((u) => maskOf.get(`${u.layer}[${u.unit}]`)!);
  console.log(`  spearman(z, mask) all units: ${spearman(zs, ms).toFixed(3)}`);
  const pr = new Set(r.pruned.map((p) => `${p.layer}[${p.unit}]`));
  console.log(
    '  pruned units with their z:',
    r.pruned
      .map((p) => {
        const u = units.find((q) => q.layer === p.layer && q.unit === p.unit)!;
        return `${p.layer}[${p.unit}] m=${p.mask.toFixed(2)} z=${u.z.toFixed(2)} rank=${ranked.indexOf(u) + 1}`;
      })
      .join('; '),
  );
  console.log(
    `  top-15 candidates pruned: ${ranked.slice(0, 15).filter((u) => pr.has(`${u.layer}[${u.unit}]`)).length}`,
  );
}
