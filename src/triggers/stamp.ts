/**
 * Stamping triggers onto image batches: {@link stamp} (tensors, vectorised)
 * and {@link stampArray} (plain Float32Arrays, same arithmetic).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { makeRng } from '../core/rng.js';
import { assertFiniteNumber, assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertImages } from '../core/validate.js';
import { assertTrigger, type Trigger } from './trigger.js';

/** The four corners, in the order `'random-corner'` draws them (0..3). */
export const CORNERS = Object.freeze(['top-left', 'top-right', 'bottom-left', 'bottom-right'] as const);

/** One of the four image corners. */
export type Corner = (typeof CORNERS)[number];

/**
 * Where a (non full-image) trigger goes:
 *
 * - a corner, `options.margin` pixels from both edges;
 * - `'center'`: top-left at `floor((H − h) / 2), floor((W − w) / 2)`;
 * - `{ row, col }`: the trigger's top-left pixel, explicitly;
 * - `'random-corner'`: one of the four corners per sample, drawn from
 *   `options.seed` (the de-trigger autoencoder paper's training triggers);
 * - `'random'`: any position where the trigger fits, per sample, seeded
 *   (ART `insert_image(random=True)`); `margin` is not applied.
 */
export type Placement = Corner | 'center' | 'random-corner' | 'random' | { readonly row: number; readonly col: number };

/** Options of {@link stamp} and {@link stampArray}. */
export interface StampOptions {
  /** Where the trigger goes (see {@link Placement}). Ignored for full-image triggers. @default 'bottom-right' */
  readonly placement?: Placement;
  /**
   * Gap in pixels between the trigger and the two nearest image edges for
   * corner placements. 1 reproduces ART's `add_pattern_bd`/`add_single_bd`
   * default `distance=2` (BadNets' bottom-right MNIST trigger). @default 1
   */
  readonly margin?: number;
  /** Seed for `'random-corner'` and `'random'`. @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link stamp}: bottom-right, 1 pixel from the edges (ART / BadNets). */
export const STAMP_DEFAULTS: Readonly<{ placement: Placement; margin: number; seed: number }> = Object.freeze({
  placement: 'bottom-right',
  margin: 1,
  seed: 0,
});

const NAMED: readonly string[] = [...CORNERS, 'center', 'random-corner', 'random'];

/** Resolved placement: one position for the batch, or one per sample. */
export interface PlacementPlan {
  /** Top-left row and column for every sample, or `undefined` when per-sample. */
  readonly fixed: readonly [number, number] | undefined;
  /** Per-sample top-left rows (when `fixed` is undefined); −1 leaves the sample unchanged. */
  readonly rows: Int32Array | undefined;
  /** Per-sample top-left columns (when `fixed` is undefined). */
  readonly cols: Int32Array | undefined;
}

/**
 * Validates stamp options against a trigger and an image shape and resolves
 * the placement. Shared by {@link stamp}, {@link stampArray} and the
 * poisoning builders (`triggerArg` and `optionsPrefix` name their arguments).
 *
 * @throws {@link ShapeError} when the trigger is larger than the images, has
 *   incompatible channels, or does not fit at the placement;
 *   {@link InvalidArgumentError} for a malformed placement, margin or seed.
 */
export function planPlacement(
  fn: string,
  trigger: Trigger,
  imageShape: readonly [number, number, number],
  n: number,
  opts: { placement: Placement; margin: number; seed: number },
  triggerArg = 'trigger',
  optionsPrefix = 'options',
): PlacementPlan {
  const [H, W, C] = imageShape;
  const { height: h, width: w, channels: c } = trigger;
  const placementArg = `${optionsPrefix}.placement`;
  const p = opts.placement as unknown;
  const named = typeof p === 'string';
  if (named && !NAMED.includes(p)) {
    throw new InvalidArgumentError(
      { fn, arg: placementArg, value: p },
      `must be one of ${NAMED.map((s) => `'${s}'`).join(', ')} or { row, col }`,
    );
  }
  if (!named) {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) {
      throw new InvalidArgumentError({ fn, arg: placementArg, value: p }, 'must be a named placement or { row, col }');
    }
    const keys = Object.keys(p);
    if (keys.some((k) => k !== 'row' && k !== 'col')) {
      throw new InvalidArgumentError({ fn, arg: placementArg, value: keys }, 'must have only the keys row and col');
    }
    assertInteger(fn, `${placementArg}.row`, (p as { row?: unknown }).row, 0);
    assertInteger(fn, `${placementArg}.col`, (p as { col?: unknown }).col, 0);
  }
  assertInteger(fn, `${optionsPrefix}.margin`, opts.margin, 0);
  assertFiniteNumber(fn, `${optionsPrefix}.seed`, opts.seed);
  if (c !== 1 && c !== C) {
    throw new ShapeError(
      { fn, arg: triggerArg, value: `${h}x${w}x${c}` },
      `has ${c} channels but the images have ${C} (a trigger must have 1 channel, broadcast to all, or the images' ${C})`,
    );
  }
  if (h > H || w > W) {
    throw new ShapeError(
      { fn, arg: triggerArg, value: `${h}x${w}` },
      `(${h}×${w}) is larger than the images (${H}×${W})`,
    );
  }
  if (trigger.fullImage) {
    if (h !== H || w !== W) {
      throw new ShapeError(
        { fn, arg: triggerArg, value: `${h}x${w}` },
        `is a full-image trigger of ${h}×${w} but the images are ${H}×${W}`,
      );
    }
    return { fixed: [0, 0], rows: undefined, cols: undefined };
  }
  const m = opts.margin;
  const corner = (name: Corner): [number, number] => [
    name.startsWith('top') ? m : H - h - m,
    name.endsWith('left') ? m : W - w - m,
  ];
  if (named) {
    if ((CORNERS as readonly string[]).includes(p) || p === 'random-corner') {
      if (h + m > H || w + m > W) {
        throw new ShapeError(
          { fn, arg: `${optionsPrefix}.margin`, value: m },
          `leaves no room for the ${h}×${w} trigger in ${H}×${W} images at a corner`,
        );
      }
    }
    if ((CORNERS as readonly string[]).includes(p))
      return { fixed: corner(p as Corner), rows: undefined, cols: undefined };
    if (p === 'center') {
      return { fixed: [Math.floor((H - h) / 2), Math.floor((W - w) / 2)], rows: undefined, cols: undefined };
    }
    const rng = makeRng(opts.seed, fn);
    const rows = new Int32Array(n);
    const cols = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (p === 'random-corner') {
        const [r, col] = corner(CORNERS[rng.int(4)]!);
        rows[i] = r;
        cols[i] = col;
      } else {
        rows[i] = rng.int(H - h + 1);
        cols[i] = rng.int(W - w + 1);
      }
    }
    return { fixed: undefined, rows, cols };
  }
  const { row, col } = p as { row: number; col: number };
  if (row + h > H || col + w > W) {
    throw new ShapeError(
      { fn, arg: placementArg, value: `{ row: ${row}, col: ${col} }` },
      `puts the ${h}×${w} trigger outside the ${H}×${W} images (need row <= ${H - h}, col <= ${W - w})`,
    );
  }
  return { fixed: [row, col], rows: undefined, cols: undefined };
}

/**
 * Writes the trigger window at (row, col) into frame arrays of one image:
 * `keep` gets `1 − m`, `add` gets `m · p` (mask kind) — or just `m · p`
 * (additive kind; `keep` is undefined). Channel broadcast for 1-channel
 * triggers.
 */
function writeWindow(
  keep: Float32Array | undefined,
  add: Float32Array,
  base: number,
  W: number,
  C: number,
  t: Trigger,
  row: number,
  col: number,
): void {
  const { height: h, width: w, channels: c } = t;
  for (let r = 0; r < h; r++) {
    for (let cc = 0; cc < w; cc++) {
      const src = (r * w + cc) * c;
      const dst = base + ((row + r) * W + (col + cc)) * C;
      for (let ch = 0; ch < C; ch++) {
        const ti = src + (c === 1 ? 0 : ch);
        const m = t.mask[ti]!;
        add[dst + ch] = m * t.pattern[ti]!;
        if (keep !== undefined) keep[dst + ch] = 1 - m;
      }
    }
  }
}

/** Full-size frames for `count` consecutive samples: `x' = x·keep + add` (or `clip(x + add)`). */
interface Frames {
  readonly keep: Float32Array | undefined;
  readonly add: Float32Array;
}

/**
 * Builds the frames of samples `start .. start + count − 1` of a plan. A
 * per-sample row of −1 means "leave this sample as it is" (used by the
 * poisoning builders to stamp a subset in place).
 */
function buildFrames(
  t: Trigger,
  imageShape: readonly [number, number, number],
  plan: PlacementPlan,
  start: number,
  count: number,
): Frames {
  const [H, W, C] = imageShape;
  const per = H * W * C;
  const add = new Float32Array(count * per);
  const keep = t.kind === 'mask' ? new Float32Array(count * per).fill(1) : undefined;
  if (plan.fixed !== undefined) {
    writeWindow(keep, add, 0, W, C, t, plan.fixed[0], plan.fixed[1]);
    for (let i = 1; i < count; i++) {
      add.copyWithin(i * per, 0, per);
      keep?.copyWithin(i * per, 0, per);
    }
  } else {
    for (let i = 0; i < count; i++) {
      const row = plan.rows![start + i]!;
      if (row >= 0) writeWindow(keep, add, i * per, W, C, t, row, plan.cols![start + i]!);
    }
  }
  return { keep, add };
}

/**
 * Values per chunk of {@link stampPlanned}: frames are built and applied for
 * at most this many values at a time (16 MB per frame array), which bounds
 * the extra memory whatever the batch size.
 */
const CHUNK_VALUES = 1 << 22;

/**
 * Stamps a trigger on every image of a batch, vectorised (the trigger window
 * is laid out once as full-size frames, then one multiply-add runs over the
 * whole batch; per-sample placements build one frame per sample, still a
 * single tensor op).
 *
 * - `'mask'` triggers: `x' = (1 − m)·x + m·p` in the window, `x` elsewhere;
 * - `'additive'` triggers: `x' = clip(x + m·p, 0, 1)`.
 *
 * A 1-channel trigger on 3-channel images is applied to every channel.
 * Integer input is cast to float32. The input is not modified.
 *
 * @param x - Images `[n, height, width, channels]`, values in [0, 1].
 * @param trigger - A {@link Trigger} (see the `triggers` constructors).
 * @param options - {@link StampOptions}.
 * @returns A new float32 tensor of `x`'s shape; the caller owns (disposes) it.
 * @throws {@link ShapeError} when the trigger is larger than the images, its
 *   channels do not match, or it does not fit at the placement;
 *   {@link InvalidArgumentError} for a malformed trigger or options;
 *   {@link EmptyDataError} / {@link NonFiniteError} for bad `x`.
 * @example
 * ```ts
 * const poisoned = stamp(x, triggers.square({ size: 3 }), { placement: 'bottom-right', margin: 1 });
 * // ... use poisoned, then
 * poisoned.dispose();
 * ```
 */
export function stamp(x: tf.Tensor4D, trigger: Trigger, options?: StampOptions): tf.Tensor4D {
  const fn = 'stamp';
  assertImages(fn, 'x', x);
  assertTrigger(fn, 'trigger', trigger);
  const opts = resolveOptions(fn, STAMP_DEFAULTS, options);
  const [n, H, W, C] = x.shape;
  const plan = planPlacement(fn, trigger, [H, W, C], n, opts);
  return stampPlanned(x, trigger, plan);
}

/**
 * Stamps with an already validated trigger and resolved plan (internal; used
 * by the poisoning builders). Frames are full-size — no broadcasting, which
 * the cpu backend runs several times slower than same-shape ops — and built
 * chunk by chunk (see {@link CHUNK_VALUES}). A per-sample row of −1 leaves
 * that sample unchanged. Returns a new float32 tensor.
 */
export function stampPlanned(x: tf.Tensor4D, trigger: Trigger, plan: PlacementPlan): tf.Tensor4D {
  const [n, H, W, C] = x.shape;
  const per = H * W * C;
  const chunk = Math.max(1, Math.min(n, Math.floor(CHUNK_VALUES / per)));
  const fixed = plan.fixed !== undefined ? buildFrames(trigger, [H, W, C], plan, 0, chunk) : undefined;
  const parts: tf.Tensor4D[] = [];
  try {
    for (let start = 0; start < n; start += chunk) {
      const b = Math.min(chunk, n - start);
      const frames = fixed ?? buildFrames(trigger, [H, W, C], plan, start, b);
      parts.push(
        tf.tidy(() => {
          const xs = b === n ? x : tf.slice(x, [start, 0, 0, 0], [b, H, W, C]);
          const xf = xs.dtype === 'float32' ? xs : tf.cast(xs, 'float32');
          const addT = tf.tensor4d(frames.add.subarray(0, b * per), [b, H, W, C]);
          if (frames.keep === undefined) return tf.clipByValue(tf.add(xf, addT), 0, 1) as tf.Tensor4D;
          const keepT = tf.tensor4d(frames.keep.subarray(0, b * per), [b, H, W, C]);
          return tf.add(tf.mul(xf, keepT), addT) as tf.Tensor4D;
        }),
      );
    }
    if (parts.length === 1) return parts.pop()!;
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

/**
 * Widens a plan made for `indices.length` chosen samples to all `n` samples:
 * chosen sample `indices[j]` gets the j-th position, the others −1 (left
 * unchanged by {@link stampPlanned}).
 */
export function widenPlan(plan: PlacementPlan, indices: Int32Array, n: number): PlacementPlan {
  const rows = new Int32Array(n).fill(-1);
  const cols = new Int32Array(n).fill(-1);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    rows[i] = plan.fixed !== undefined ? plan.fixed[0] : plan.rows![j]!;
    cols[i] = plan.fixed !== undefined ? plan.fixed[1] : plan.cols![j]!;
  }
  return { fixed: undefined, rows, cols };
}

/**
 * Plain-array twin of {@link stamp}: stamps a trigger on a row-major NHWC
 * Float32Array and returns a new array (same arithmetic, float32 results).
 *
 * @param images - NHWC values, `n * height * width * channels` long.
 * @param shape - `[n, height, width, channels]`.
 * @param trigger - A {@link Trigger}.
 * @param options - {@link StampOptions}.
 * @returns A new Float32Array; `images` is not modified.
 * @throws Same errors as {@link stamp}.
 * @example
 * ```ts
 * const out = stampArray(new Float32Array(36), [1, 6, 6, 1], triggers.square({ size: 2 }));
 * ```
 */
export function stampArray(
  images: Float32Array,
  shape: readonly [number, number, number, number],
  trigger: Trigger,
  options?: StampOptions,
): Float32Array {
  const fn = 'stampArray';
  if (!(images instanceof Float32Array)) {
    throw new InvalidArgumentError({ fn, arg: 'images', value: images }, 'must be a Float32Array');
  }
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new InvalidArgumentError({ fn, arg: 'shape', value: shape }, 'must be [n, height, width, channels]');
  }
  shape.forEach((d, i) => assertInteger(fn, `shape[${i}]`, d, 1));
  const [n, H, W, C] = shape;
  if (images.length !== n * H * W * C) {
    throw new ShapeError(
      { fn, arg: 'images', value: images },
      `must hold n * height * width * channels = ${n * H * W * C} values`,
    );
  }
  assertTrigger(fn, 'trigger', trigger);
  const opts = resolveOptions(fn, STAMP_DEFAULTS, options);
  const plan = planPlacement(fn, trigger, [H, W, C], n, opts);
  const { keep, add } = buildFrames(trigger, [H, W, C], plan, 0, plan.fixed !== undefined ? 1 : n);
  const per = H * W * C;
  const out = new Float32Array(images.length);
  for (let i = 0; i < n; i++) {
    const f = plan.fixed !== undefined ? 0 : i * per;
    const b = i * per;
    for (let j = 0; j < per; j++) {
      const v = images[b + j]!;
      if (keep === undefined) {
        out[b + j] = Math.min(1, Math.max(0, Math.fround(v + add[f + j]!)));
      } else {
        out[b + j] = Math.fround(Math.fround(v * keep[f + j]!) + add[f + j]!);
      }
    }
  }
  return out;
}
