import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BackdoorKitError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    const sb = Array.from({ length: 8 }, () => b.nextUint32());
    const sc = Array.from({ length: 8 }, () => c.nextUint32());
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
  });

  it('produces uniform floats with the right mean and variance', () => {
    const r = new Rng(7);
    const n = 100000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.next();
      assert.ok(v >= 0 && v < 1);
      s += v;
      s2 += v * v;
    }
    const mean = s / n;
    assert.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`);
    assert.ok(Math.abs(s2 / n - mean * mean - 1 / 12) < 0.002);
  });

  it('produces standard normals', () => {
    const r = new Rng(3);
    const n = 50000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    assert.ok(Math.abs(s / n) < 0.02);
    assert.ok(Math.abs(s2 / n - 1) < 0.03);
  });

  it('int is unbiased over a small range and permutation is a permutation', () => {
    const r = new Rng(11);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
    for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `count ${c}`);
    const p = r.permutation(100);
    assert.deepEqual(
      Array.from(p).sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
    const s = r.sample(50, 10);
    assert.equal(new Set(s).size, 10);
    for (const v of s) assert.ok(v >= 0 && v < 50);
  });

  it('sample draws as a dense partial Fisher–Yates does, in O(k) memory; sampleInto writes at an offset', () => {
    for (const [n, k] of [
      [10, 10],
      [1000, 7],
      [5, 0],
      [1, 1],
    ] as const) {
      const dense = new Rng(3);
      const p = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = i + dense.int(n - i);
        [p[i], p[j]] = [p[j]!, p[i]!];
      }
      assert.deepEqual(Array.from(new Rng(3).sample(n, k)), p.slice(0, k));
    }
    const out = new Int32Array(8).fill(-1);
    new Rng(3).sampleInto(1000, 7, out, 1);
    assert.equal(out[0], -1);
    assert.deepEqual(Array.from(out.subarray(1)), Array.from(new Rng(3).sample(1000, 7)));
    assert.throws(() => new Rng(3).sampleInto(10, 11, new Int32Array(11)), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => new Rng(3).sampleInto(10, 3, new Int32Array(3), 1), { code: 'INVALID_ARGUMENT' });
  });

  it('derive gives reproducible independent streams without advancing the parent', () => {
    const a = new Rng(5);
    const d1 = a.derive('x').nextUint32();
    const first = a.nextUint32();
    const b = new Rng(5);
    assert.equal(b.nextUint32(), first);
    assert.equal(new Rng(5).derive('x').nextUint32(), d1);
    assert.notEqual(new Rng(5).derive('y').nextUint32(), d1);
  });

  it('rejects a bad seed with a typed error', () => {
    assert.throws(
      () => new Rng(Number.NaN),
      (e: unknown) => e instanceof BackdoorKitError && e.code === 'INVALID_ARGUMENT' && /seed/.test(e.message),
    );
    assert.throws(() => new Rng(1).int(0), BackdoorKitError);
  });
});
