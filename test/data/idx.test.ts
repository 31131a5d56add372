import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { BackdoorKitError, EmptyDataError, FormatError, InvalidArgumentError } from '../../src/core/errors.js';
import { idxToLabeledData, loadIdxDataset, readIdx } from '../../src/data/idx.js';

const CODES = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e } as const;
const SIZES = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 } as const;

/** Builds an IDX buffer by hand (big-endian), as the format's spec describes. */
function makeIdx(dtype: keyof typeof CODES, shape: number[], values: number[]): Uint8Array {
  const header = 4 + 4 * shape.length;
  const buf = new Uint8Array(header + values.length * SIZES[dtype]);
  const view = new DataView(buf.buffer);
  buf[2] = CODES[dtype];
  buf[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  values.forEach((v, i) => {
    const o = header + i * SIZES[dtype];
    if (dtype === 'uint8') view.setUint8(o, v);
    else if (dtype === 'int8') view.setInt8(o, v);
    else if (dtype === 'int16') view.setInt16(o, v, false);
    else if (dtype === 'int32') view.setInt32(o, v, false);
    else if (dtype === 'float32') view.setFloat32(o, v, false);
    else view.setFloat64(o, v, false);
  });
  return buf;
}

function assertFormatError(fn: () => unknown, arg: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_FORMAT');
    assert.equal(e.arg, arg);
    assert.match(e.message, new RegExp(`'${arg.replace(/[[\]]/g, '\\$&')}'`));
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  });
}

describe('readIdx', () => {
  before(async () => {
    await ready;
  });

  it('decodes every IDX element type with exact values and shape', () => {
    const cases: Array<[keyof typeof CODES, number[]]> = [
      ['uint8', [0, 1, 127, 128, 254, 255]],
      ['int8', [-128, -1, 0, 1, 100, 127]],
      ['int16', [-32768, -2, 0, 3, 1000, 32767]],
      ['int32', [-2147483648, -5, 0, 7, 123456789, 2147483647]],
      ['float32', [0, 0.5, -1.25, 3.5, 1e-3, 65504]],
      ['float64', [0, 0.1, -1e300, Math.PI, 2 ** -40, 7]],
    ];
    for (const [dtype, values] of cases) {
      const out = readIdx(makeIdx(dtype, [2, 3], values));
      assert.equal(out.dtype, dtype);
      assert.deepEqual(out.shape, [2, 3]);
      const expected = dtype === 'float32' ? Array.from(Float32Array.from(values)) : values;
      assert.deepEqual(Array.from(out.data), expected, dtype);
    }
  });

  it('gunzips gzip-compressed input and gives the same result', () => {
    const raw = makeIdx('uint8', [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const plain = readIdx(raw);
    const zipped = readIdx(gzipSync(raw));
    assert.deepEqual(zipped.shape, plain.shape);
    assert.deepEqual(Array.from(zipped.data), Array.from(plain.data));
  });

  it('returns a fresh array and leaves the input untouched', () => {
    const raw = makeIdx('uint8', [3], [9, 8, 7]);
    const copy = raw.slice();
    const out = readIdx(raw);
    (out.data as Uint8Array)[0] = 0;
    assert.deepEqual(raw, copy);
  });

  it('reads a subarray view (non-zero byteOffset) correctly', () => {
    const raw = makeIdx('int16', [2], [-7, 300]);
    const padded = new Uint8Array(raw.length + 5);
    padded.set(raw, 3);
    const out = readIdx(padded.subarray(3, 3 + raw.length));
    assert.deepEqual(Array.from(out.data), [-7, 300]);
  });

  it('rejects malformed buffers with a FormatError naming `bytes`', () => {
    assertFormatError(() => readIdx(new Uint8Array([0, 0, 8])), 'bytes', /too short/);
    assertFormatError(() => readIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0])), 'bytes', /magic/);
    assertFormatError(() => readIdx(new Uint8Array([0, 0, 0x0a, 1, 0, 0, 0, 0])), 'bytes', /type code 0x0a/);
    assertFormatError(() => readIdx(new Uint8Array([0, 0, 8, 0])), 'bytes', /0 dimensions/);
    assertFormatError(() => readIdx(new Uint8Array([0, 0, 8, 2, 0, 0, 0, 1])), 'bytes', /truncated.*header/);
    const good = makeIdx('float32', [2, 2], [1, 2, 3, 4]);
    assertFormatError(() => readIdx(good.subarray(0, good.length - 1)), 'bytes', /truncated.*needs 28 bytes, got 27/);
    const extra = new Uint8Array(good.length + 2);
    extra.set(good);
    assertFormatError(() => readIdx(extra), 'bytes', /2 trailing bytes/);
    assertFormatError(() => readIdx(new Uint8Array([0x1f, 0x8b, 1, 2, 3])), 'bytes', /gzip/);
  });

  it('rejects a non-Uint8Array with an InvalidArgumentError', () => {
    for (const bad of [undefined, 'x', [0, 0, 8, 1], new ArrayBuffer(8)]) {
      assert.throws(
        () => readIdx(bad as unknown as Uint8Array),
        (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'bytes' && /readIdx/.test(e.message),
      );
    }
  });
});

describe('idxToLabeledData / loadIdxDataset', () => {
  let dir = '';
  before(async () => {
    await ready;
    dir = await mkdtemp(join(tmpdir(), 'bk-idx-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const images = makeIdx('uint8', [3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0]);
  const labels = makeIdx('uint8', [3], [7, 0, 9]);

  it('builds [n,h,w,1] float32 images in [0,1] and Int32 labels, exactly', async () => {
    const before = tf.memory().numTensors;
    const data = idxToLabeledData(images, labels);
    assert.deepEqual(data.x.shape, [3, 2, 2, 1]);
    assert.equal(data.x.dtype, 'float32');
    assert.ok(data.y instanceof Int32Array);
    assert.deepEqual(Array.from(data.y), [7, 0, 9]);
    const expected = Array.from(Float32Array.from([0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0].map((v) => v / 255)));
    assert.deepEqual(Array.from(await data.x.data()), expected);
    assert.equal(tf.memory().numTensors, before + 1);
    data.x.dispose();
  });

  it('keeps a 4-D image file as [n,h,w,c] and applies limit and scale', async () => {
    const rgb = makeIdx('int16', [2, 1, 1, 3], [0, 500, 1000, 1000, 0, 250]);
    const lab = makeIdx('int32', [2], [1, 2]);
    const data = idxToLabeledData(rgb, lab, { scale: 1000, limit: 1 });
    assert.deepEqual(data.x.shape, [1, 1, 1, 3]);
    assert.deepEqual(Array.from(await data.x.data()), [0, 0.5, 1]);
    assert.deepEqual(Array.from(data.y), [1]);
    data.x.dispose();
  });

  it('accepts float32 images already in [0,1] without a scale', async () => {
    const data = idxToLabeledData(makeIdx('float32', [1, 1, 2], [0.25, 1]), makeIdx('uint8', [1], [3]));
    assert.deepEqual(Array.from(await data.x.data()), [0.25, 1]);
    data.x.dispose();
  });

  it('reads plain and gzipped files from disk identically', async () => {
    const paths = {
      img: join(dir, 'img-idx3-ubyte'),
      lab: join(dir, 'lab-idx1-ubyte'),
      imgGz: join(dir, 'img-idx3-ubyte.gz'),
      labGz: join(dir, 'lab-idx1-ubyte.gz'),
    };
    await writeFile(paths.img, images);
    await writeFile(paths.lab, labels);
    await writeFile(paths.imgGz, gzipSync(images));
    await writeFile(paths.labGz, gzipSync(labels));
    const before = tf.memory().numTensors;
    const a = await loadIdxDataset(paths.img, paths.lab);
    const b = await loadIdxDataset(paths.imgGz, paths.labGz);
    assert.deepEqual(Array.from(await a.x.data()), Array.from(await b.x.data()));
    assert.deepEqual(Array.from(a.y), Array.from(b.y));
    assert.deepEqual(b.x.shape, [3, 2, 2, 1]);
    a.x.dispose();
    b.x.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects a count mismatch, naming the labels argument', () => {
    const before = tf.memory().numTensors;
    assertFormatError(
      () => idxToLabeledData(images, makeIdx('uint8', [2], [1, 2])),
      'labelsBytes',
      /2 labels but the images hold 3/,
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects wrong ranks, float labels, negative labels and out-of-range values', () => {
    assertFormatError(() => idxToLabeledData(makeIdx('uint8', [4], [1, 2, 3, 4]), labels), 'imagesBytes', /rank 3/);
    assertFormatError(() => idxToLabeledData(images, makeIdx('uint8', [3, 1], [1, 2, 3])), 'labelsBytes', /rank 1/);
    assertFormatError(() => idxToLabeledData(images, makeIdx('float32', [3], [1, 2, 3])), 'labelsBytes', /integer/);
    assertFormatError(
      () => idxToLabeledData(images, makeIdx('int8', [3], [1, -2, 3])),
      'labelsBytes',
      /negative label -2/,
    );
    assertFormatError(
      () => idxToLabeledData(makeIdx('float32', [1, 1, 2], [0.5, 2]), makeIdx('uint8', [1], [0])),
      'imagesBytes',
      /outside \[0, 1\]/,
    );
    assertFormatError(
      () => idxToLabeledData(makeIdx('float32', [1, 1, 2], [0.5, NaN]), makeIdx('uint8', [1], [0])),
      'imagesBytes',
    );
    assertFormatError(() => idxToLabeledData(new Uint8Array([9, 9, 9, 9]), labels), 'imagesBytes', /magic/);
  });

  it('rejects empty files and bad options', () => {
    assert.throws(
      () => idxToLabeledData(makeIdx('uint8', [0, 28, 28], []), makeIdx('uint8', [0], [])),
      (e: unknown) => e instanceof EmptyDataError && e.arg === 'imagesBytes',
    );
    assert.throws(
      () => idxToLabeledData(makeIdx('int16', [1, 1, 1], [3]), makeIdx('uint8', [1], [0])),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.scale' && /int16/.test(e.message),
    );
    for (const [options, arg] of [
      [{ scale: 0 }, 'options.scale'],
      [{ scale: NaN }, 'options.scale'],
      [{ limit: 0 }, 'options.limit'],
      [{ limit: 1.5 }, 'options.limit'],
      [{ bogus: 1 }, 'options.bogus'],
    ] as const) {
      assert.throws(
        () => idxToLabeledData(images, labels, options as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.arg === arg && e.message.includes(`'${arg}'`),
        arg,
      );
    }
    assert.throws(
      () => idxToLabeledData(images, 'x' as unknown as Uint8Array),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'labelsBytes',
    );
  });

  it('names the path argument for missing files and malformed contents', async () => {
    const missing = join(dir, 'nope.gz');
    await assert.rejects(loadIdxDataset(missing, join(dir, 'lab')), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.arg, 'imagesPath');
      assert.ok(e.message.includes(missing));
      assert.match(e.message, /does not exist/);
      return true;
    });
    const bad = join(dir, 'bad-labels');
    await writeFile(bad, new Uint8Array([0, 0, 8, 1, 0, 0, 0, 9, 1]));
    await writeFile(join(dir, 'img'), images);
    await assert.rejects(loadIdxDataset(join(dir, 'img'), bad), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.arg, 'labelsPath');
      assert.ok(e.message.includes(bad));
      assert.match(e.message, /truncated/);
      return true;
    });
    await assert.rejects(
      loadIdxDataset('', bad),
      (e: unknown) => e instanceof BackdoorKitError && e.arg === 'imagesPath',
    );
  });
});
