import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { EmptyDataError, FormatError, InvalidArgumentError } from '../../src/core/errors.js';
import { CIFAR_RECORD_BYTES, loadCifar10, readCifar10Batch } from '../../src/data/cifar.js';

/** Byte value of channel `ch` at (r, c) in record `rec`: distinct, deterministic. */
function byteAt(rec: number, ch: number, r: number, c: number): number {
  return (rec * 89 + ch * 71 + r * 7 + c * 3) % 256;
}

/** A synthetic batch: labels given, pixels from byteAt, channel-planar as the format says. */
function makeBatch(labels: number[], recOffset = 0): Uint8Array {
  const buf = new Uint8Array(labels.length * CIFAR_RECORD_BYTES);
  labels.forEach((label, i) => {
    const base = i * CIFAR_RECORD_BYTES;
    buf[base] = label;
    for (let ch = 0; ch < 3; ch++) {
      for (let r = 0; r < 32; r++) {
        for (let c = 0; c < 32; c++) buf[base + 1 + ch * 1024 + r * 32 + c] = byteAt(i + recOffset, ch, r, c);
      }
    }
  });
  return buf;
}

describe('readCifar10Batch', () => {
  before(async () => {
    await ready;
  });

  it('places channel-planar bytes at the right NHWC positions, exactly', async () => {
    const bytes = makeBatch([3, 0, 9]);
    const copy = bytes.slice();
    const before = tf.memory().numTensors;
    const data = readCifar10Batch(bytes);
    assert.equal(tf.memory().numTensors, before + 1);
    assert.deepEqual(data.x.shape, [3, 32, 32, 3]);
    assert.equal(data.x.dtype, 'float32');
    assert.deepEqual(Array.from(data.y), [3, 0, 9]);
    const px = await data.x.data();
    let mismatches = 0;
    for (let rec = 0; rec < 3; rec++) {
      for (let r = 0; r < 32; r++) {
        for (let c = 0; c < 32; c++) {
          for (let ch = 0; ch < 3; ch++) {
            const got = px[((rec * 32 + r) * 32 + c) * 3 + ch];
            if (got !== Math.fround(byteAt(rec, ch, r, c) / 255)) mismatches++;
          }
        }
      }
    }
    assert.equal(mismatches, 0);
    // Spot checks written out by hand: record 1, row 2, column 5.
    assert.equal(px[((1 * 32 + 2) * 32 + 5) * 3 + 0], Math.fround(((89 + 14 + 15) % 256) / 255));
    assert.equal(px[((1 * 32 + 2) * 32 + 5) * 3 + 2], Math.fround(((89 + 142 + 14 + 15) % 256) / 255));
    assert.deepEqual(bytes, copy);
    data.x.dispose();
  });

  it('honours limit', () => {
    const data = readCifar10Batch(makeBatch([1, 2, 3]), { limit: 2 });
    assert.deepEqual(data.x.shape, [2, 32, 32, 3]);
    assert.deepEqual(Array.from(data.y), [1, 2]);
    data.x.dispose();
  });

  it('rejects bad lengths, bad labels, empty input and bad arguments', () => {
    const before = tf.memory().numTensors;
    const good = makeBatch([1, 2]);
    assert.throws(
      () => readCifar10Batch(good.subarray(0, good.length - 1)),
      (e: unknown) =>
        e instanceof FormatError && e.arg === 'bytes' && /multiple of the CIFAR-10 record size 3073/.test(e.message),
    );
    const badLabel = makeBatch([1, 10]);
    assert.throws(
      () => readCifar10Batch(badLabel),
      (e: unknown) => e instanceof FormatError && e.arg === 'bytes' && /label 10 in record 1/.test(e.message),
    );
    assert.throws(
      () => readCifar10Batch(new Uint8Array(0)),
      (e: unknown) => e instanceof EmptyDataError && e.arg === 'bytes',
    );
    assert.throws(
      () => readCifar10Batch([1, 2] as unknown as Uint8Array),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'bytes',
    );
    assert.throws(
      () => readCifar10Batch(good, { limit: 0 }),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.limit',
    );
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('loadCifar10', () => {
  let dir = '';
  before(async () => {
    await ready;
    dir = await mkdtemp(join(tmpdir(), 'bk-cifar-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and concatenates batch files in order', async () => {
    const a = join(dir, 'data_batch_1.bin');
    const b = join(dir, 'data_batch_2.bin');
    await writeFile(a, makeBatch([4, 5]));
    await writeFile(b, makeBatch([6], 2));
    const data = await loadCifar10([a, b]);
    const ref = readCifar10Batch(makeBatch([4, 5, 6]));
    assert.deepEqual(data.x.shape, [3, 32, 32, 3]);
    assert.deepEqual(Array.from(data.y), [4, 5, 6]);
    assert.deepEqual(Array.from(await data.x.data()), Array.from(await ref.x.data()));
    const single = await loadCifar10(b);
    assert.deepEqual(Array.from(single.y), [6]);
    const limited = await loadCifar10([a, join(dir, 'missing-but-not-read.bin')], { limit: 2 });
    assert.deepEqual(Array.from(limited.y), [4, 5]);
    tf.dispose([data.x, ref.x, single.x, limited.x]);
  });

  it('names the failing path element', async () => {
    const good = join(dir, 'good.bin');
    const bad = join(dir, 'bad.bin');
    await writeFile(good, makeBatch([1]));
    await writeFile(bad, new Uint8Array(100));
    const before = tf.memory().numTensors;
    await assert.rejects(loadCifar10([good, bad]), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.arg, 'paths[1]');
      assert.ok(e.message.includes(bad));
      return true;
    });
    const missing = join(dir, 'nope.bin');
    await assert.rejects(loadCifar10(missing), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.arg, 'paths');
      assert.ok(e.message.includes(missing));
      return true;
    });
    await assert.rejects(loadCifar10([]), (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'paths');
    await assert.rejects(
      loadCifar10([good, 3 as unknown as string]),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'paths[1]',
    );
    assert.equal(tf.memory().numTensors, before);
  });
});
