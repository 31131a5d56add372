import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { FormatError, InvalidArgumentError } from '../../src/core/errors.js';
import { loadJson, saveJson, toJsonValue } from '../../src/io/json.js';

describe('saveJson / loadJson / toJsonValue', () => {
  let dir = '';
  before(async () => {
    await ready;
    dir = await mkdtemp(join(tmpdir(), 'bk-json-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const report = {
    suspicious: new Uint8Array([0, 1, 1]),
    scores: new Float32Array([0.5, -1.25, NaN]),
    threshold: Infinity,
    perClass: [{ label: 0, sizes: new Int32Array([3, 4]) }],
    nested: { when: new Date(Date.UTC(2024, 0, 2)), tags: new Set(['a', 'b']), map: new Map([['k', 1]]) },
    skipped: undefined,
  };

  it('converts typed arrays, non-finite numbers, dates, sets and maps; leaves the input untouched', () => {
    const copy = structuredClone(report);
    assert.deepEqual(toJsonValue(report), {
      suspicious: [0, 1, 1],
      scores: [0.5, -1.25, null],
      threshold: null,
      perClass: [{ label: 0, sizes: [3, 4] }],
      nested: { when: '2024-01-02T00:00:00.000Z', tags: ['a', 'b'], map: { k: 1 } },
    });
    assert.deepEqual(report, copy);
  });

  it('writes (creating directories) and reads back', async () => {
    const path = join(dir, 'a', 'b', 'report.json');
    await saveJson(path, report);
    const text = await readFile(path, 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.match(text, /\n {2}"suspicious"/);
    assert.deepEqual(await loadJson(path), toJsonValue(report));
    await saveJson(path, [1, 2], { indent: 0 });
    assert.equal(await readFile(path, 'utf8'), '[1,2]\n');
    assert.deepEqual(await loadJson(path), [1, 2]);
  });

  it('rejects values JSON cannot hold, naming the path inside the value', async () => {
    const t = tf.scalar(1);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: Array<[unknown, string, RegExp]> = [
      [{ x: t }, 'value.x', /tf\.Tensor/],
      [{ list: [1, 2n] }, 'value.list[1]', /bigint/],
      [{ f: () => 1 }, 'value.f', /function/],
      [cyclic, 'value.self', /cycle/],
      [new BigInt64Array(2), 'value', /BigInt/],
    ];
    for (const [value, arg, pattern] of cases) {
      await assert.rejects(
        saveJson(join(dir, 'bad.json'), value),
        (e: unknown) =>
          e instanceof InvalidArgumentError && e.arg === arg && pattern.test(e.message) && /'saveJson'/.test(e.message),
        arg,
      );
    }
    t.dispose();
    // A shared (non-cyclic) object is fine.
    const shared = { v: 1 };
    assert.deepEqual(toJsonValue({ a: shared, b: shared }), { a: { v: 1 }, b: { v: 1 } });
  });

  it('rejects bad paths and options, and reports corrupt files in one line', async () => {
    await assert.rejects(saveJson('', {}), (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'path');
    await assert.rejects(
      saveJson(join(dir, 'x.json'), {}, { indent: 11 }),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.indent',
    );
    await assert.rejects(
      saveJson(join(dir, 'x.json'), {}, { pretty: true } as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.pretty',
    );
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    await assert.rejects(
      saveJson(join(file, 'child.json'), {}),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'path',
    );
    const missing = join(dir, 'missing.json');
    await assert.rejects(
      loadJson(missing),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(missing),
    );
    const corrupt = join(dir, 'corrupt.json');
    await writeFile(corrupt, '{\n  "a": [1, 2,\n');
    await assert.rejects(loadJson(corrupt), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.ok(e.message.includes(corrupt));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});
