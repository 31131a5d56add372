import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import type { BackdoorKitError } from '../../src/core/errors.js';
import { EmptyDataError, InvalidArgumentError, NonFiniteError, ShapeError } from '../../src/core/errors.js';
import * as triggers from '../../src/triggers/index.js';
import { stamp, stampArray, type Placement, type Trigger } from '../../src/triggers/index.js';
import { ready } from '../helpers/backend.js';

before(async () => {
  await ready;
});

function throwsArg(f: () => unknown, cls: new (...a: never[]) => BackdoorKitError, arg: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok(e.arg?.startsWith(arg), `expected arg ${arg}, got ${e.arg}`);
    assert.ok(e.message.includes(`'${arg}`), `message should name ${arg}: ${e.message}`);
    return true;
  });
}

/** Deterministic values in {0, 0.1, ..., 0.9} (never 1, so a stamped 1 is visible). */
function ramp(n: number, h: number, w: number, c: number): Float32Array {
  const a = new Float32Array(n * h * w * c);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 7) % 10) / 10;
  return a;
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

/** Expected result of an opaque square of `value` at (row, col) of size s, by hand. */
function expectSquare(
  src: Float32Array,
  [n, H, W, C]: [number, number, number, number],
  s: number,
  at: (i: number) => [number, number],
  value: (ch: number) => number,
): Float32Array {
  const out = Float32Array.from(src);
  for (let i = 0; i < n; i++) {
    const [row, col] = at(i);
    for (let r = row; r < row + s; r++) {
      for (let c = col; c < col + s; c++)
        for (let ch = 0; ch < C; ch++) out[((i * H + r) * W + c) * C + ch] = value(ch);
    }
  }
  return out;
}

function run(
  src: Float32Array,
  shape: [number, number, number, number],
  t: Trigger,
  opts?: Parameters<typeof stamp>[2],
) {
  const x = tf.tensor4d(src, shape);
  const before = tf.memory().numTensors;
  const y = stamp(x, t, opts);
  assert.equal(tf.memory().numTensors, before + 1, 'only the result tensor is new');
  assert.deepEqual(y.shape, shape);
  assert.equal(y.dtype, 'float32');
  const out = y.dataSync<'float32'>().slice();
  assert.deepEqual(x.dataSync(), src, 'input untouched');
  y.dispose();
  x.dispose();
  return out;
}

describe('stamp: placements, pixel-exact on 6×6', () => {
  const shape: [number, number, number, number] = [2, 6, 6, 1];
  const src = ramp(...shape);
  const sq = triggers.square({ size: 2 });
  const cases: [Placement, number | undefined, [number, number]][] = [
    ['bottom-right', undefined, [3, 3]],
    ['bottom-left', undefined, [3, 1]],
    ['top-right', undefined, [1, 3]],
    ['top-left', undefined, [1, 1]],
    ['bottom-right', 0, [4, 4]],
    ['top-left', 0, [0, 0]],
    ['top-right', 2, [2, 2]],
    ['center', undefined, [2, 2]],
    [{ row: 0, col: 3 }, undefined, [0, 3]],
    [{ row: 4, col: 0 }, 3, [4, 0]],
  ];
  for (const [placement, margin, at] of cases) {
    it(`${JSON.stringify(placement)} margin ${margin ?? 'default'} → top-left ${at.join(',')}`, () => {
      const out = run(src, shape, sq, margin === undefined ? { placement } : { placement, margin });
      assert.deepEqual(
        out,
        expectSquare(
          src,
          shape,
          2,
          () => at,
          () => 1,
        ),
      );
    });
  }

  it('defaults to bottom-right with a 1-pixel margin', () => {
    assert.deepEqual(
      run(src, shape, sq),
      expectSquare(
        src,
        shape,
        2,
        () => [3, 3],
        () => 1,
      ),
    );
  });

  it('center rounds down on odd slack', () => {
    const t3 = triggers.square({ size: 3, value: 0.5 });
    assert.deepEqual(
      run(src, shape, t3, { placement: 'center' }),
      expectSquare(
        src,
        shape,
        3,
        () => [1, 1],
        () => 0.5,
      ),
    );
  });

  it('a trigger as large as the image replaces it at top-left/center', () => {
    const full = triggers.square({ size: 6, value: 0.25 });
    assert.deepEqual(Array.from(run(src, shape, full, { placement: 'center' })), new Array(72).fill(0.25));
    assert.deepEqual(Array.from(run(src, shape, full, { placement: 'top-left', margin: 0 })), new Array(72).fill(0.25));
  });

  it('works on non-square images', () => {
    const s2: [number, number, number, number] = [1, 4, 7, 1];
    const x = ramp(...s2);
    assert.deepEqual(
      run(x, s2, sq, { placement: 'bottom-right' }),
      expectSquare(
        x,
        s2,
        2,
        () => [1, 4],
        () => 1,
      ),
    );
  });
});

describe('stamp: channels', () => {
  it('stamps a per-channel colour on 3-channel images', () => {
    const shape: [number, number, number, number] = [1, 6, 6, 3];
    const src = ramp(...shape);
    const t = triggers.square({ size: 2, value: [1, 0.5, 0] });
    assert.deepEqual(
      run(src, shape, t, { placement: 'top-left', margin: 0 }),
      expectSquare(
        src,
        shape,
        2,
        () => [0, 0],
        (ch) => [1, 0.5, 0][ch]!,
      ),
    );
  });

  it('broadcasts a 1-channel trigger to every channel', () => {
    const shape: [number, number, number, number] = [2, 6, 6, 3];
    const src = ramp(...shape);
    assert.deepEqual(
      run(src, shape, triggers.square({ size: 2, value: 0.75 })),
      expectSquare(
        src,
        shape,
        2,
        () => [3, 3],
        () => 0.75,
      ),
    );
  });

  it('rejects a 3-channel trigger on 1-channel images', () => {
    const x = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    throwsArg(() => stamp(x, triggers.square({ size: 2, value: [1, 1, 0] })), ShapeError, 'trigger');
    x.dispose();
  });

  it('casts integer input to float32', () => {
    const x = tf.zeros([1, 6, 6, 1], 'int32') as tf.Tensor4D;
    const y = stamp(x, triggers.square({ size: 1 }), { placement: { row: 0, col: 0 } });
    assert.equal(y.dtype, 'float32');
    assert.equal(y.dataSync()[0], 1);
    tf.dispose([x, y]);
  });
});

describe('stamp: transparency and alpha blending', () => {
  it('ART pattern at bottom-right margin 1 sets exactly ART add_pattern_bd(distance=2) pixels', () => {
    const shape: [number, number, number, number] = [1, 6, 6, 1];
    const src = ramp(...shape);
    const out = run(src, shape, triggers.artPixelPattern());
    const want = Float32Array.from(src);
    const H = 6;
    const W = 6;
    const d = 2;
    for (const [r, c] of [
      [H - d, W - d],
      [H - d - 1, W - d - 1],
      [H - d, W - d - 2],
      [H - d - 2, W - d],
    ] as const) {
      want[r * W + c] = 1;
    }
    assert.deepEqual(out, want);
  });

  it("blend: x' = (1 − α)·x + α·k over the whole image", () => {
    const shape: [number, number, number, number] = [2, 3, 3, 1];
    const src = ramp(...shape);
    const key = Array.from({ length: 3 }, (_, r) => Array.from({ length: 3 }, (_, c) => (r * 3 + c) / 8));
    const t = triggers.blend({ image: key, alpha: 0.25 });
    const out = run(src, shape, t, { placement: 'top-left' }); // placement ignored
    const want = new Float32Array(18);
    for (let i = 0; i < 18; i++) want[i] = 0.75 * src[i]! + 0.25 * ((i % 9) / 8);
    close(out, want);
  });

  it('image patch with a partial mask blends only where the mask is non-zero', () => {
    const shape: [number, number, number, number] = [1, 4, 4, 1];
    const src = new Float32Array(16).fill(0.4);
    const t = triggers.imagePatch({
      image: [
        [1, 1],
        [1, 1],
      ],
      mask: [
        [1, 0],
        [0.5, 0.25],
      ],
    });
    const out = run(src, shape, t, { placement: { row: 1, col: 1 } });
    const want = new Float32Array(16).fill(0.4);
    want[5] = 1;
    want[9] = 0.5 * 0.4 + 0.5;
    want[10] = 0.75 * 0.4 + 0.25;
    close(out, want);
  });

  it('additive reflection: x + R, clipped to [0, 1]', () => {
    const shape: [number, number, number, number] = [1, 2, 2, 1];
    const src = new Float32Array([0.2, 0.8, 0, 1]);
    const t = triggers.reflection({
      image: [
        [0.6, 0.6],
        [0.2, 0.4],
      ],
      model: 'in-focus',
      alpha: 0.5,
      offset: [0, 0],
    });
    close(run(src, shape, t), [0.5, 1, 0.1, 1]);
  });

  it('rejects a full-image trigger of another size', () => {
    const x = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    throwsArg(() => stamp(x, triggers.blend({ image: [[0.5, 0.5]] })), ShapeError, 'trigger');
    x.dispose();
  });
});

describe('stamp: random placements', () => {
  const shape: [number, number, number, number] = [40, 6, 6, 1];
  const zeros = new Float32Array(40 * 36);
  const sq = triggers.square({ size: 2 });

  function cornersOf(out: Float32Array): string[] {
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const at = (r: number, c: number): number => out[i * 36 + r * 6 + c]!;
      const hits = (
        [
          ['top-left', 1, 1],
          ['top-right', 1, 3],
          ['bottom-left', 3, 1],
          ['bottom-right', 3, 3],
        ] as const
      ).filter(([, r, c]) => at(r, c) === 1 && at(r + 1, c + 1) === 1);
      assert.equal(hits.length, 1, `sample ${i} has the trigger at exactly one corner`);
      let sum = 0;
      for (let j = 0; j < 36; j++) sum += out[i * 36 + j]!;
      assert.equal(sum, 4, `sample ${i} has exactly one 2×2 square`);
      names.push(hits[0]![0]);
    }
    return names;
  }

  it('random-corner: same seed same corners, all four occur', () => {
    const a = run(zeros, shape, sq, { placement: 'random-corner', seed: 5 });
    const b = run(zeros, shape, sq, { placement: 'random-corner', seed: 5 });
    const c = run(zeros, shape, sq, { placement: 'random-corner', seed: 6 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const names = cornersOf(a);
    assert.deepEqual(new Set(names), new Set(triggers.CORNERS));
  });

  it('random: seeded, anywhere the trigger fits', () => {
    const a = run(zeros, shape, sq, { placement: 'random', seed: 1 });
    const b = run(zeros, shape, sq, { placement: 'random', seed: 1 });
    assert.deepEqual(a, b);
    const starts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      let sum = 0;
      let first = -1;
      for (let j = 0; j < 36; j++) {
        sum += a[i * 36 + j]!;
        if (first < 0 && a[i * 36 + j] === 1) first = j;
      }
      assert.equal(sum, 4);
      const r = Math.floor(first / 6);
      const c = first % 6;
      assert.ok(r <= 4 && c <= 4);
      assert.equal(a[i * 36 + (r + 1) * 6 + c + 1], 1);
      starts.add(`${r},${c}`);
    }
    assert.ok(starts.size > 10, `positions vary (${starts.size})`);
  });
});

describe('stamp: large batches are processed in chunks', () => {
  it('gives the same result as the plain-array reference across chunk borders', () => {
    // 300 images of 128×128 = 4.9M values: two chunks of at most 2^22 values (256 and 44 images).
    const shape: [number, number, number, number] = [300, 128, 128, 1];
    const src = new Float32Array(300 * 128 * 128);
    for (let i = 0; i < src.length; i += 97) src[i] = 0.5;
    for (const placement of ['bottom-right', 'random-corner'] as const) {
      const t = triggers.square({ size: 3, value: 0.75 });
      const out = run(src, shape, t, { placement, seed: 1 });
      assert.deepEqual(out, stampArray(src, shape, t, { placement, seed: 1 }));
    }
  });
});

describe('stampArray', () => {
  it('matches stamp for every placement kind and trigger kind', () => {
    const shape: [number, number, number, number] = [5, 6, 6, 3];
    const src = ramp(...shape);
    const ts: Trigger[] = [
      triggers.square({ size: 2, value: [1, 0, 0.5] }),
      triggers.artPixelPattern(),
      triggers.blend({ image: triggers.noiseImage({ height: 6, width: 6, seed: 2 }), height: 6, width: 6, alpha: 0.3 }),
      triggers.reflection({
        image: triggers.noiseImage({ height: 6, width: 6, seed: 3 }),
        height: 6,
        width: 6,
        sigma: 1,
      }),
    ];
    const placements: Placement[] = ['bottom-right', 'center', 'random-corner', 'random', { row: 2, col: 1 }];
    for (const t of ts) {
      for (const placement of placements) {
        const viaTf = run(src, shape, t, { placement, seed: 3 });
        const copy = Float32Array.from(src);
        const viaArray = stampArray(copy, shape, t, { placement, seed: 3 });
        assert.deepEqual(copy, src, 'stampArray does not modify its input');
        close(viaArray, viaTf, 1e-6);
      }
    }
  });

  it('validates its arguments', () => {
    const t = triggers.square({ size: 2 });
    throwsArg(() => stampArray([0] as never, [1, 1, 1, 1], t), InvalidArgumentError, 'images');
    throwsArg(() => stampArray(new Float32Array(4), [1, 2, 2, 1, 1] as never, t), InvalidArgumentError, 'shape');
    throwsArg(() => stampArray(new Float32Array(5), [1, 2, 2, 1], t), ShapeError, 'images');
    throwsArg(() => stampArray(new Float32Array(4), [1, 2, 2, 1], t), ShapeError, 'options.margin');
  });
});

describe('stamp: bad input', () => {
  const sq2 = triggers.square({ size: 2 });
  const good = (): tf.Tensor => tf.zeros([2, 6, 6, 1]);
  const cases: [
    string,
    () => tf.Tensor,
    (x: tf.Tensor4D) => unknown,
    new (...a: never[]) => BackdoorKitError,
    string,
  ][] = [
    ['trigger larger than the image', good, (x) => stamp(x, triggers.square({ size: 7 })), ShapeError, 'trigger'],
    ['trigger wider than the image', good, (x) => stamp(x, triggers.square({ size: [1, 7] })), ShapeError, 'trigger'],
    ['margin leaves no room', good, (x) => stamp(x, triggers.square({ size: 6 })), ShapeError, 'options.margin'],
    [
      'margin too large at a random corner',
      good,
      (x) => stamp(x, triggers.square({ size: 4 }), { placement: 'random-corner', margin: 3 }),
      ShapeError,
      'options.margin',
    ],
    [
      'explicit placement outside',
      good,
      (x) => stamp(x, sq2, { placement: { row: 5, col: 0 } }),
      ShapeError,
      'options.placement',
    ],
    [
      'negative row',
      good,
      (x) => stamp(x, sq2, { placement: { row: -1, col: 0 } }),
      InvalidArgumentError,
      'options.placement.row',
    ],
    [
      'extra placement key',
      good,
      (x) => stamp(x, sq2, { placement: { row: 0, col: 0, z: 1 } as never }),
      InvalidArgumentError,
      'options.placement',
    ],
    [
      'unknown placement',
      good,
      (x) => stamp(x, sq2, { placement: 'middle' as never }),
      InvalidArgumentError,
      'options.placement',
    ],
    ['negative margin', good, (x) => stamp(x, sq2, { margin: -1 }), InvalidArgumentError, 'options.margin'],
    ['NaN seed', good, (x) => stamp(x, sq2, { seed: Number.NaN }), InvalidArgumentError, 'options.seed'],
    ['unknown option', good, (x) => stamp(x, sq2, { alpha: 1 } as never), InvalidArgumentError, 'options.alpha'],
    ['not a trigger', good, (x) => stamp(x, { kind: 'mask' } as never), InvalidArgumentError, 'trigger'],
    ['rank-3 x', () => tf.zeros([6, 6, 1]), (x) => stamp(x, sq2), ShapeError, 'x'],
    ['empty x', () => tf.zeros([0, 6, 6, 1]), (x) => stamp(x, sq2), EmptyDataError, 'x'],
    ['NaN in x', () => tf.fill([1, 6, 6, 1], Number.NaN), (x) => stamp(x, sq2), NonFiniteError, 'x'],
    ['disposed x', () => tf.zeros([1, 6, 6, 1]), (x) => (x.dispose(), stamp(x, sq2)), InvalidArgumentError, 'x'],
  ];
  for (const [name, input, f, cls, arg] of cases) {
    it(name, () => {
      const x = input() as tf.Tensor4D;
      const before = tf.memory().numTensors;
      throwsArg(() => f(x), cls, arg);
      const disposed = x.isDisposed ? 1 : 0;
      assert.equal(tf.memory().numTensors, before - disposed, 'no tensor leaked on error');
      x.dispose();
    });
  }
});
