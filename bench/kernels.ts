/**
 * Benchmark of backdoor-kit's fast convolution kernels (`registerFastKernels`)
 * against tfjs's own kernels, on the cpu and wasm backends, plus one training
 * epoch of the small MNIST CNN (Conv16-Pool-Conv32-Pool-Dense64-Dense10) on
 * 8,000 random 28x28x1 images at batch 128 with a custom training loop.
 *
 * Run: `npx tsx bench/kernels.ts` (prints markdown; `--write` also stores it
 * in docs/results.md). `benchKernels()` is exported for `npm run bench`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Rng } from '../src/core/rng.js';
import { registerFastKernels, unregisterFastKernels } from '../src/kernels/index.js';
import { markdownTable, writeSection } from './results-file.js';

/** Backends benchmarked. */
export type BenchBackend = 'cpu' | 'wasm';

/** One kernel timing: tfjs's kernel (reference) against backdoor-kit's. */
export interface KernelBenchRow {
  readonly backend: BenchBackend;
  readonly kernel: string;
  readonly shape: string;
  /** Milliseconds per call of tfjs's kernel, or null when not run (see `note`). */
  readonly referenceMs: number | null;
  /** Milliseconds per call with `registerFastKernels`. */
  readonly fastMs: number;
  /** `referenceMs / fastMs` (estimated when the reference was extrapolated). */
  readonly speedup: number | null;
  readonly note: string;
}

/** One training-epoch timing. */
export interface EpochBenchRow {
  readonly backend: BenchBackend;
  /** Seconds per epoch with tfjs's kernels, or null when not measurable (see `note`). */
  readonly referenceSeconds: number | null;
  /** Seconds per epoch with `registerFastKernels`. */
  readonly fastSeconds: number;
  /** Mean training loss of the first and of the last batch of the timed epoch. */
  readonly firstLoss: number;
  readonly lastLoss: number;
  readonly note: string;
}

/** Options of {@link benchKernels}. */
export interface BenchKernelsOptions {
  /** Backends to run. @default ['cpu', 'wasm'] */
  readonly backends?: readonly BenchBackend[];
  /** Also time a training epoch of the small CNN. @default true */
  readonly epoch?: boolean;
  /** References estimated to take longer than this (seconds per call) are skipped. @default 60 */
  readonly referenceLimitSeconds?: number;
  /** Called with a line of progress text. @default undefined */
  readonly log?: (line: string) => void;
}

/** Everything {@link benchKernels} measured. */
export interface KernelBenchResult {
  readonly markdown: string;
  readonly kernels: KernelBenchRow[];
  readonly epochs: EpochBenchRow[];
}

interface KernelCase {
  readonly kernel: string;
  readonly label: string;
  /** Builds inputs (batch may be reduced for a probe) and returns the call and a cleanup. */
  readonly make: (batch: number) => { run: () => tf.Tensor; dispose: () => void };
  readonly batch: number;
  /** Backends on which backdoor-kit replaces this kernel. */
  readonly fastOn: readonly BenchBackend[];
}

const CONV_SHAPES: ReadonlyArray<{
  label: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
}> = [
  { label: 'x [128,26,26,32], f 3x3x32x32', x: [128, 26, 26, 32], f: [3, 3, 32, 32] },
  { label: 'x [128,28,28,1], f 3x3x1x16 (CNN conv1)', x: [128, 28, 28, 1], f: [3, 3, 1, 16] },
  { label: 'x [128,13,13,16], f 3x3x16x32 (CNN conv2)', x: [128, 13, 13, 16], f: [3, 3, 16, 32] },
];

function randomTensor(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return tf.tensor(v, shape);
}

function kernelCases(): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const s of CONV_SHAPES) {
    const [, h, w, ci] = s.x;
    const [kh, kw, , co] = s.f;
    const oh = h - kh + 1;
    const ow = w - kw + 1;
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] };
    cases.push({
      kernel: tf.Conv2D,
      label: s.label,
      batch: s.x[0],
      fastOn: ['cpu', 'wasm'],
      make: (b) => {
        const rng = new Rng(1);
        const x = randomTensor(rng, [b, h, w, ci]);
        const f = randomTensor(rng, s.f);
        return {
          run: () => tf.engine().runKernel(tf.Conv2D, { x, filter: f }, attrs) as tf.Tensor,
          dispose: () => tf.dispose([x, f]),
        };
      },
    });
    cases.push({
      kernel: tf.Conv2DBackpropFilter,
      label: s.label,
      batch: s.x[0],
      fastOn: ['cpu', 'wasm'],
      make: (b) => {
        const rng = new Rng(2);
        const x = randomTensor(rng, [b, h, w, ci]);
        const dy = randomTensor(rng, [b, oh, ow, co]);
        const a = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: s.f };
        return {
          run: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, a) as tf.Tensor,
          dispose: () => tf.dispose([x, dy]),
        };
      },
    });
    cases.push({
      kernel: tf.Conv2DBackpropInput,
      label: s.label,
      batch: s.x[0],
      fastOn: ['cpu', 'wasm'],
      make: (b) => {
        const rng = new Rng(3);
        const dy = randomTensor(rng, [b, oh, ow, co]);
        const f = randomTensor(rng, s.f);
        const a = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', inputShape: [b, h, w, ci] };
        return {
          run: () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: f }, a) as tf.Tensor,
          dispose: () => tf.dispose([dy, f]),
        };
      },
    });
  }
  for (const kernel of [tf.MaxPoolGrad, tf.AvgPoolGrad]) {
    cases.push({
      kernel,
      label: 'x [128,26,26,16], pool 2x2 (CNN pool1)',
      batch: 128,
      fastOn: kernel === tf.MaxPoolGrad ? ['cpu', 'wasm'] : ['cpu'],
      make: (b) => {
        const rng = new Rng(4);
        const x = randomTensor(rng, [b, 26, 26, 16]) as tf.Tensor4D;
        const y = kernel === tf.MaxPoolGrad ? tf.maxPool(x, 2, 2, 'valid') : tf.avgPool(x, 2, 2, 'valid');
        const dy = randomTensor(rng, y.shape);
        const a = { filterSize: 2, strides: 2, pad: 'valid' };
        const inputs: tf.NamedTensorMap = kernel === tf.MaxPoolGrad ? { dy, input: x, output: y } : { dy, input: x };
        return {
          run: () => tf.engine().runKernel(kernel, inputs, a) as tf.Tensor,
          dispose: () => tf.dispose([x, y, dy]),
        };
      },
    });
  }
  cases.push({
    kernel: tf.MaxPool,
    label: 'x [128,26,26,16], pool 2x2 (CNN pool1)',
    batch: 128,
    fastOn: ['cpu'],
    make: (b) => {
      const x = randomTensor(new Rng(5), [b, 26, 26, 16]);
      const a = { filterSize: 2, strides: 2, pad: 'valid' };
      return { run: () => tf.engine().runKernel(tf.MaxPool, { x }, a) as tf.Tensor, dispose: () => x.dispose() };
    },
  });
  for (const [label, transposeA, transposeB] of [
    ['xᵀ·dy: [128,800]ᵀ x [128,64] (CNN dense1 weight gradient)', true, false],
    ['dy·Wᵀ: [128,64] x [800,64]ᵀ (CNN dense1 input gradient)', false, true],
  ] as const) {
    cases.push({
      kernel: tf.BatchMatMul,
      label,
      batch: 128,
      fastOn: ['cpu', 'wasm'],
      make: (b) => {
        const rng = new Rng(6);
        const a = transposeA ? randomTensor(rng, [b, 800]) : randomTensor(rng, [b, 64]);
        const w = transposeA ? randomTensor(rng, [b, 64]) : randomTensor(rng, [800, 64]);
        return {
          run: () => tf.engine().runKernel(tf.BatchMatMul, { a, b: w }, { transposeA, transposeB }) as tf.Tensor,
          dispose: () => tf.dispose([a, w]),
        };
      },
    });
  }
  return cases;
}

/** Best wall time (ms) of `run` over a few calls after a warm-up, within about `budgetMs`. */
function timeCall(run: () => tf.Tensor, budgetMs = 1500, maxRuns = 20): number {
  const once = (): number => {
    const t0 = performance.now();
    tf.tidy(() => {
      run().dataSync();
    });
    return performance.now() - t0;
  };
  const first = once();
  if (first > budgetMs) return first;
  let best = Infinity;
  const start = performance.now();
  for (let i = 0; i < maxRuns && (i < 2 || performance.now() - start < budgetMs); i++) best = Math.min(best, once());
  return Math.min(best, first);
}

async function useBackend(name: BenchBackend): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} is not available`);
  await tf.ready();
}

function benchKernelCase(
  c: KernelCase,
  backend: BenchBackend,
  limitS: number,
  log: (s: string) => void,
): KernelBenchRow {
  // Reference: tfjs's own kernel, if the backend has one.
  unregisterFastKernels(backend);
  let referenceMs: number | null = null;
  let note = '';
  let estimated = false;
  if (tf.getKernel(c.kernel, backend) === undefined) {
    note = 'tfjs has no such kernel on this backend (training fails)';
  } else {
    const probeBatch = Math.max(1, Math.floor(c.batch / 32));
    const probe = c.make(probeBatch);
    const probeMs = timeCall(probe.run, 500, 2);
    probe.dispose();
    const estimateMs = (probeMs * c.batch) / probeBatch;
    if (estimateMs > limitS * 1000) {
      referenceMs = estimateMs;
      estimated = true;
      note = `reference not run: estimated ${(estimateMs / 1000).toFixed(0)} s from batch ${probeBatch}`;
    } else {
      const full = c.make(c.batch);
      referenceMs = timeCall(full.run);
      full.dispose();
    }
  }
  registerFastKernels(backend);
  const fast = c.make(c.batch);
  const fastMs = timeCall(fast.run);
  fast.dispose();
  const speedup = referenceMs === null ? null : referenceMs / fastMs;
  log(
    `${backend} ${c.kernel} ${c.label}: reference ${referenceMs?.toFixed(1) ?? '-'} ms, fast ${fastMs.toFixed(1)} ms`,
  );
  return {
    backend,
    kernel: c.kernel,
    shape: c.label,
    referenceMs: estimated ? null : referenceMs,
    fastMs,
    speedup,
    note,
  };
}

/** The small MNIST CNN of the papers' experiments (57k parameters). */
export function smallCnn(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 64, activation: 'relu' }),
      tfl.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

interface EpochTiming {
  seconds: number;
  losses: number[];
  steps: number;
}

/**
 * Trains `model` on (x, y) for `maxSteps` batches (all when undefined) with
 * Adam and a custom loop; returns wall time and per-batch losses.
 */
function trainSteps(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  batchSize: number,
  maxSteps?: number,
): EpochTiming {
  const n = x.shape[0];
  const losses: number[] = [];
  const t0 = performance.now();
  let steps = 0;
  for (let start = 0; start < n && (maxSteps === undefined || steps < maxSteps); start += batchSize, steps++) {
    const size = Math.min(batchSize, n - start);
    const cost = optimizer.minimize(
      () =>
        tf.tidy(() => {
          const xb = tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]);
          const yb = tf.oneHot(tf.slice(labels, [start], [size]), 10);
          const p = model.apply(xb, { training: true }) as tf.Tensor;
          const logp = tf.log(tf.clipByValue(p, 1e-7, 1));
          return tf.neg(tf.mean(tf.sum(tf.mul(yb, logp), -1))) as tf.Scalar;
        }),
      true,
    );
    if (cost !== null) {
      losses.push(cost.dataSync()[0]!);
      cost.dispose();
    }
  }
  return { seconds: (performance.now() - t0) / 1000, losses, steps };
}

function randomImages(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const rng = new Rng(seed);
  const v = new Float32Array(n * 28 * 28);
  for (let i = 0; i < v.length; i++) v[i] = rng.next();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.int(10);
  return { x: tf.tensor4d(v, [n, 28, 28, 1]), y: tf.tensor1d(labels, 'int32') };
}

function benchEpoch(backend: BenchBackend, limitS: number, log: (s: string) => void): EpochBenchRow {
  const samples = 8000;
  const batchSize = 128;
  const steps = Math.ceil(samples / batchSize);
  const { x, y } = randomImages(samples, 5);
  let referenceSeconds: number | null = null;
  let note = '';
  // Reference: tfjs's own kernels, timed on a few steps first.
  unregisterFastKernels(backend);
  if (tf.getKernel(tf.Conv2DBackpropFilter, backend) === undefined) {
    note = `tfjs alone cannot train it: Kernel 'Conv2DBackpropFilter' not registered for backend '${backend}'`;
  } else {
    const model = smallCnn();
    const opt = tf.train.adam(1e-3);
    trainSteps(model, opt, x, y, batchSize, 1); // warm-up
    const probe = trainSteps(model, opt, x, y, batchSize, 1);
    const estimate = probe.seconds * steps;
    if (estimate > limitS) {
      note = `reference not run: about ${estimate.toFixed(0)} s per epoch (${probe.seconds.toFixed(1)} s per batch)`;
    } else {
      referenceSeconds = trainSteps(model, opt, x, y, batchSize).seconds;
    }
    model.dispose();
    opt.dispose();
  }
  registerFastKernels(backend);
  const model = smallCnn();
  const opt = tf.train.adam(1e-3);
  trainSteps(model, opt, x, y, batchSize, 2); // warm-up
  const timed = trainSteps(model, opt, x, y, batchSize);
  model.dispose();
  opt.dispose();
  tf.dispose([x, y]);
  log(`${backend} epoch: reference ${referenceSeconds?.toFixed(1) ?? '-'} s, fast ${timed.seconds.toFixed(1)} s`);
  return {
    backend,
    referenceSeconds,
    fastSeconds: timed.seconds,
    firstLoss: timed.losses[0] ?? NaN,
    lastLoss: timed.losses.at(-1) ?? NaN,
    note,
  };
}

/**
 * Times tfjs's kernels against backdoor-kit's fast kernels on cpu and wasm,
 * and one training epoch of the small CNN. Leaves the fast kernels registered
 * on every benchmarked backend and the backend set to the last one run.
 *
 * @param options - See {@link BenchKernelsOptions}.
 * @returns Rows and a markdown report.
 */
export async function benchKernels(options: BenchKernelsOptions = {}): Promise<KernelBenchResult> {
  const backends = options.backends ?? ['cpu', 'wasm'];
  const limitS = options.referenceLimitSeconds ?? 60;
  const log = options.log ?? (() => undefined);
  tf.enableProdMode();
  const kernels: KernelBenchRow[] = [];
  const epochs: EpochBenchRow[] = [];
  for (const backend of backends) {
    await useBackend(backend);
    for (const c of kernelCases()) {
      if (c.fastOn.includes(backend)) kernels.push(benchKernelCase(c, backend, limitS, log));
    }
    if (options.epoch ?? true) epochs.push(benchEpoch(backend, limitS, log));
  }
  return { markdown: toMarkdown(kernels, epochs, limitS), kernels, epochs };
}

function toMarkdown(kernels: KernelBenchRow[], epochs: EpochBenchRow[], limitS: number): string {
  const ms = (v: number | null) => (v === null ? '-' : v.toFixed(v >= 100 ? 0 : 1));
  const kTable = markdownTable(
    ['backend', 'kernel', 'shape', 'tfjs (ms)', 'backdoor-kit (ms)', 'speed-up', 'note'],
    kernels.map((r) => [
      r.backend,
      r.kernel,
      r.shape,
      ms(r.referenceMs),
      ms(r.fastMs),
      r.speedup === null
        ? '-'
        : `${r.speedup.toFixed(r.speedup >= 100 ? 0 : 1)}x${r.referenceMs === null ? ' (est.)' : ''}`,
      r.note,
    ]),
  );
  const eTable = markdownTable(
    ['backend', 'tfjs (s/epoch)', 'backdoor-kit (s/epoch)', 'loss first → last batch', 'note'],
    epochs.map((r) => [
      r.backend,
      r.referenceSeconds === null ? '-' : r.referenceSeconds.toFixed(1),
      r.fastSeconds.toFixed(1),
      `${r.firstLoss.toFixed(3)} → ${r.lastLoss.toFixed(3)}`,
      r.note,
    ]),
  );
  return [
    'Kernel timings (best of up to 20 calls within about 1.5 s, one thread). "tfjs" is the stock kernel of',
    `tfjs 4.22; references estimated to exceed ${limitS} s are not run (estimated from batch 4).`,
    '',
    kTable,
    '',
    'One training epoch of the small CNN (Conv16-Pool-Conv32-Pool-Dense64-Dense10,',
    '57k parameters) on 8,000 random 28x28x1 images with random labels (so the loss stays',
    'near ln 10 = 2.303), batch 128, Adam, custom loop:',
    '',
    eTable,
  ].join('\n');
}

async function main(): Promise<void> {
  const write = process.argv.includes('--write');
  const result = await benchKernels({ log: (s) => console.error(s) });
  console.log(result.markdown);
  if (write)
    writeSection('kernels', 'Fast kernels (registerFastKernels)', result.markdown, 'npx tsx bench/kernels.ts --write');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((e: unknown) => {
    // The wasm module prints its whole source on an uncaught error: print the message only.
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  });
}
