import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { BackdoorKitError } from '../../src/core/errors.js';
import { InvalidArgumentError, NonFiniteError, ShapeError } from '../../src/core/errors.js';
import * as triggers from '../../src/triggers/index.js';
import { ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

/** Asserts `f` throws `cls` whose `arg` equals (or starts with) `arg`. */
function throwsArg(f: () => unknown, cls: new (...a: never[]) => BackdoorKitError, arg: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok(e.arg?.startsWith(arg), `expected arg ${arg}, got ${e.arg}`);
    assert.ok(e.message.includes(arg), `message should name ${arg}: ${e.message}`);
    return true;
  });
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

describe('triggers.square', () => {
  it('defaults to an opaque 4×4 white square', () => {
    const t = triggers.square();
    assert.equal(t.kind, 'mask');
    assert.equal(t.name, 'square');
    assert.deepEqual([t.height, t.width, t.channels], [4, 4, 1]);
    assert.deepEqual(Array.from(t.pattern), new Array(16).fill(1));
    assert.deepEqual(Array.from(t.mask), new Array(16).fill(1));
    assert.equal(t.fullImage, false);
    assert.ok(Object.isFrozen(t));
  });

  it('takes a per-channel colour and rectangles', () => {
    const t = triggers.square({ size: [1, 2], value: [1, 0.5, 0] });
    assert.deepEqual([t.height, t.width, t.channels], [1, 2, 3]);
    assert.deepEqual(Array.from(t.pattern), [1, 0.5, 0, 1, 0.5, 0]);
    const grey3 = triggers.square({ size: 1, value: 0.25, channels: 3 });
    assert.deepEqual(Array.from(grey3.pattern), [0.25, 0.25, 0.25]);
  });

  it('rejects bad sizes, values and options', () => {
    throwsArg(() => triggers.square({ size: 0 }), InvalidArgumentError, 'options.size');
    throwsArg(() => triggers.square({ size: 2.5 }), InvalidArgumentError, 'options.size');
    throwsArg(() => triggers.square({ value: 1.5 }), InvalidArgumentError, 'options.value');
    throwsArg(() => triggers.square({ value: Number.NaN }), InvalidArgumentError, 'options.value');
    throwsArg(() => triggers.square({ value: [1, 0], channels: 3 }), ShapeError, 'options.value');
    throwsArg(() => triggers.square({ sise: 3 } as never), InvalidArgumentError, 'options.sise');
  });
});

describe('triggers.pattern and artPixelPattern', () => {
  it('is opaque by default (TrojanNet-style 0/1 pattern)', () => {
    const t = triggers.pattern({
      pattern: [
        [1, 0],
        [0.5, 1],
      ],
    });
    assert.deepEqual(Array.from(t.pattern), [1, 0, 0.5, 1]);
    assert.deepEqual(Array.from(t.mask), [1, 1, 1, 1]);
  });

  it('makes zeros transparent and colours cells when asked', () => {
    const t = triggers.pattern({
      pattern: [
        [1, 0],
        [0, 1],
      ],
      color: [1, 1, 0],
      transparentZeros: true,
    });
    assert.equal(t.channels, 3);
    assert.deepEqual(Array.from(t.pattern), [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]);
    assert.deepEqual(Array.from(t.mask), [1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  });

  it('artPixelPattern is the 3×3 four-pixel pattern of ART add_pattern_bd', () => {
    const t = triggers.artPixelPattern();
    assert.deepEqual([t.height, t.width, t.channels], [3, 3, 1]);
    assert.deepEqual(Array.from(t.mask), [0, 0, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(Array.from(t.pattern), [0, 0, 1, 0, 1, 0, 1, 0, 1]);
    const rgb = triggers.artPixelPattern({ value: [1, 1, 0] });
    assert.equal(rgb.channels, 3);
  });

  it('rejects missing, ragged and out-of-range patterns', () => {
    throwsArg(() => triggers.pattern({}), InvalidArgumentError, 'options.pattern');
    throwsArg(() => triggers.pattern({ pattern: [[1, 0], [1]] }), ShapeError, 'options.pattern[1]');
    throwsArg(() => triggers.pattern({ pattern: [[1, 2]] }), InvalidArgumentError, 'options.pattern[0][1]');
    throwsArg(() => triggers.pattern({ pattern: [] }), InvalidArgumentError, 'options.pattern');
    throwsArg(
      () => triggers.pattern({ pattern: [[0, 1]], transparentZeros: 1 as never }),
      InvalidArgumentError,
      'options.transparentZeros',
    );
  });
});

describe('triggers.checkerboard', () => {
  it('alternates values by cell, top-left first', () => {
    const t = triggers.checkerboard({ size: 4, cellSize: 2, values: [1, 0.2] });
    const a = 1;
    const b = 0.2;
    close(t.pattern, [a, a, b, b, a, a, b, b, b, b, a, a, b, b, a, a]);
    assert.deepEqual(Array.from(t.mask), new Array(16).fill(1));
    const small = triggers.checkerboard({ size: 3 });
    assert.deepEqual(Array.from(small.pattern), [1, 0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('rejects bad cells and values', () => {
    throwsArg(() => triggers.checkerboard({ cellSize: 0 }), InvalidArgumentError, 'options.cellSize');
    throwsArg(() => triggers.checkerboard({ values: [1, -1] }), InvalidArgumentError, 'options.values[1]');
  });
});

describe('triggers.imagePatch', () => {
  it('takes grey, colour and Float32Array images with a mask and alpha', () => {
    const grey = triggers.imagePatch({
      image: [
        [0.1, 0.2],
        [0.3, 0.4],
      ],
      mask: [
        [1, 0],
        [0.5, 1],
      ],
      alpha: 0.5,
    });
    close(grey.pattern, [0.1, 0.2, 0.3, 0.4]);
    close(grey.mask, [0.5, 0, 0.25, 0.5]);
    const colour = triggers.imagePatch({ image: [[[0.1, 0.2, 0.3]], [[0.4, 0.5, 0.6]]] });
    assert.deepEqual([colour.height, colour.width, colour.channels], [2, 1, 3]);
    close(colour.pattern, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    const flat = triggers.imagePatch({ image: new Float32Array([0, 1, 0, 1, 0, 1]), height: 1, width: 2 });
    assert.equal(flat.channels, 3);
  });

  it('copies its input', () => {
    const img = new Float32Array([0.5, 0.5]);
    const t = triggers.imagePatch({ image: img, height: 1, width: 2 });
    img[0] = 0;
    assert.equal(t.pattern[0], 0.5);
  });

  it('rejects bad images, masks and alpha', () => {
    throwsArg(() => triggers.imagePatch({}), InvalidArgumentError, 'options.image');
    throwsArg(() => triggers.imagePatch({ image: new Float32Array(4) }), InvalidArgumentError, 'options.height');
    throwsArg(
      () => triggers.imagePatch({ image: new Float32Array(5), height: 2, width: 2 }),
      ShapeError,
      'options.image',
    );
    throwsArg(() => triggers.imagePatch({ image: [[0.5]], alpha: 1.2 }), InvalidArgumentError, 'options.alpha');
    throwsArg(() => triggers.imagePatch({ image: [[0.5, 0.5]], mask: [[1]] }), ShapeError, 'options.mask');
    throwsArg(
      () => triggers.imagePatch({ image: new Float32Array([Number.NaN]), height: 1, width: 1 }),
      NonFiniteError,
      'options.image',
    );
  });
});

describe('triggers.blend and noiseImage', () => {
  it('blend is full-image with a constant alpha mask (default 0.2)', () => {
    const t = triggers.blend({
      image: [
        [0, 1],
        [1, 0],
      ],
    });
    assert.equal(t.fullImage, true);
    close(t.mask, [0.2, 0.2, 0.2, 0.2]);
    assert.equal(t.params.alpha, 0.2);
  });

  it('noiseImage is seeded and in [0, 1)', () => {
    const a = triggers.noiseImage({ height: 4, width: 4, channels: 3, seed: 9 });
    const b = triggers.noiseImage({ height: 4, width: 4, channels: 3, seed: 9 });
    const c = triggers.noiseImage({ height: 4, width: 4, channels: 3, seed: 10 });
    assert.equal(a.length, 48);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.every((v) => v >= 0 && v < 1));
  });

  it('rejects bad alpha and sizes', () => {
    throwsArg(() => triggers.blend({ image: [[0.5]], alpha: -0.1 }), InvalidArgumentError, 'options.alpha');
    throwsArg(() => triggers.noiseImage({ height: 0, width: 2 }), InvalidArgumentError, 'options.height');
    throwsArg(() => triggers.noiseImage({ height: 2, width: 2, seed: Number.NaN }), InvalidArgumentError, 'seed');
  });
});

describe('triggers.reflection', () => {
  it('in-focus: R = alpha · x_R', () => {
    const t = triggers.reflection({
      image: [
        [0.2, 0.4],
        [0.6, 1],
      ],
      model: 'in-focus',
      alpha: 0.5,
      offset: [1, 1],
    });
    assert.equal(t.kind, 'additive');
    assert.equal(t.fullImage, true);
    close(t.pattern, [0.1, 0.2, 0.3, 0.5]);
    assert.deepEqual(Array.from(t.mask), [1, 1, 1, 1]);
  });

  it('out-of-focus: Gaussian kernel of size 2·ceil(2σ)+1 with mirrored borders', () => {
    // One row, so the vertical pass is the identity; sigma 0.5 -> radius 1.
    const t = triggers.reflection({
      image: [[1, 0, 0, 0, 0]],
      model: 'out-of-focus',
      sigma: 0.5,
      alpha: 1,
      offset: [0, 0],
    });
    const g = Math.exp(-1 / (2 * 0.25));
    const s = 1 + 2 * g;
    const [a, b] = [g / s, 1 / s];
    // reflect-101: index -1 mirrors to 1 (value 0), so pixel 0 = b·1.
    close(t.pattern, [b, a, 0, 0, 0]);
    const k = triggers.gaussianKernel1d(3);
    assert.equal(k.length, 2 * Math.ceil(6) + 1);
    close([k.reduce((p, v) => p + v, 0)], [1], 1e-12);
  });

  it('out-of-focus on a centred impulse equals the outer product of the kernel', () => {
    const n = 9;
    const img = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (r === 4 && c === 4 ? 1 : 0)));
    const t = triggers.reflection({ image: img, sigma: 1, alpha: 0.5 });
    const k = triggers.gaussianKernel1d(1); // radius 2
    const want = new Float32Array(n * n);
    for (let r = 2; r <= 6; r++) for (let c = 2; c <= 6; c++) want[r * n + c] = 0.5 * k[r - 2]! * k[c - 2]!;
    close(t.pattern, want, 1e-7);
  });

  it('ghost: ghostAlpha·x_R + (1 − ghostAlpha)·x_R shifted by offset', () => {
    const img = [
      [1, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ];
    const t = triggers.reflection({ image: img, model: 'ghost', offset: [1, 2], ghostAlpha: 0.3, alpha: 1 });
    const want = new Float32Array(12);
    want[0] = 0.3;
    want[1 * 4 + 2] = 0.7;
    close(t.pattern, want);
    const scaled = triggers.reflection({ image: img, model: 'ghost', offset: [1, 2], ghostAlpha: 0.3, alpha: 0.5 });
    close(
      scaled.pattern,
      Array.from(want, (v) => v * 0.5),
    );
  });

  it('rejects bad models and parameters', () => {
    const image = [
      [0.5, 0.5],
      [0.5, 0.5],
    ];
    throwsArg(() => triggers.reflection({ image, model: 'mirror' as never }), InvalidArgumentError, 'options.model');
    throwsArg(() => triggers.reflection({ image, offset: [0, 0], alpha: 2 }), InvalidArgumentError, 'options.alpha');
    throwsArg(() => triggers.reflection({ image, offset: [0, 0], sigma: 0 }), InvalidArgumentError, 'options.sigma');
    throwsArg(() => triggers.reflection({ image, offset: [2, 0] }), InvalidArgumentError, 'options.offset[0]');
    throwsArg(
      () => triggers.reflection({ image, offset: [0, 0], ghostAlpha: -1 }),
      InvalidArgumentError,
      'options.ghostAlpha',
    );
    throwsArg(() => triggers.reflection({}), InvalidArgumentError, 'options.image');
  });
});

describe('triggers.custom and assertTrigger', () => {
  it('copies arrays and broadcasts a plane mask over channels', () => {
    const t = triggers.custom({ pattern: [1, 0, 0.5, 0.5, 0, 1], mask: [1, 0.5], height: 1, width: 2, channels: 3 });
    assert.deepEqual(Array.from(t.mask), [1, 1, 1, 0.5, 0.5, 0.5]);
    assert.equal(t.kind, 'mask');
    triggers.assertTrigger('test', 'trigger', t);
  });

  it('rejects malformed triggers', () => {
    throwsArg(() => triggers.custom({ pattern: [1], mask: [1, 1], height: 1, width: 1 }), ShapeError, 'options.mask');
    throwsArg(
      () => triggers.custom({ pattern: [2], mask: [1], height: 1, width: 1 }),
      InvalidArgumentError,
      'options.pattern',
    );
    throwsArg(
      () => triggers.custom({ pattern: [1], mask: [1], height: 1, width: 1, kind: 'xor' as never }),
      InvalidArgumentError,
      'options.kind',
    );
    const good = triggers.square({ size: 2 });
    throwsArg(() => triggers.assertTrigger('f', 'trigger', null), InvalidArgumentError, 'trigger');
    throwsArg(
      () => triggers.assertTrigger('f', 'trigger', { ...good, kind: 'other' }),
      InvalidArgumentError,
      'trigger.kind',
    );
    throwsArg(
      () => triggers.assertTrigger('f', 'trigger', { ...good, mask: new Float32Array(3) }),
      ShapeError,
      'trigger.mask',
    );
    throwsArg(
      () => triggers.assertTrigger('f', 'trigger', { ...good, pattern: new Float32Array(4).fill(Number.NaN) }),
      NonFiniteError,
      'trigger.pattern',
    );
    throwsArg(
      () => triggers.assertTrigger('f', 'trigger', { ...good, height: 0 }),
      InvalidArgumentError,
      'trigger.height',
    );
  });
});
