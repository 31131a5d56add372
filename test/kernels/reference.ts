/**
 * Naive reference implementations (one nested loop per formula, double
 * precision) of 2-D convolution and its gradients in NHWC, and helpers shared
 * by the kernel tests on cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { Rng } from '../../src/core/rng.js';

/** Convolution set-up with padding spelled out: [top, bottom, left, right]. */
export interface ConvCase {
  readonly x: [number, number, number, number];
  readonly f: [number, number, number, number];
  readonly strides: [number, number];
  readonly dilations: [number, number];
  /** What is passed to tfjs. */
  readonly pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  /** The padding it means. */
  readonly pads: [number, number, number, number];
}

/** Output shape of a convolution case (entries may be <= 0 for impossible cases). */
export function outShape(c: ConvCase): [number, number, number, number] {
  const [b, h, w] = c.x;
  const [kh, kw, , co] = c.f;
  const [pt, pb, pl, pr] = c.pads;
  const eh = (kh - 1) * c.dilations[0] + 1;
  const ew = (kw - 1) * c.dilations[1] + 1;
  return [b, Math.floor((h + pt + pb - eh) / c.strides[0]) + 1, Math.floor((w + pl + pr - ew) / c.strides[1]) + 1, co];
}

type Visit = (xi: number, wi: number, yi: number) => void;

function forEachTap(c: ConvCase, visit: Visit): void {
  const [B, H, W, Ci] = c.x;
  const [KH, KW, , Co] = c.f;
  const [, OH, OW] = outShape(c);
  const [pt, , pl] = c.pads;
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let kh = 0; kh < KH; kh++)
          for (let kw = 0; kw < KW; kw++) {
            const ih = oh * c.strides[0] + kh * c.dilations[0] - pt;
            const iw = ow * c.strides[1] + kw * c.dilations[1] - pl;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (let ci = 0; ci < Ci; ci++)
              for (let co = 0; co < Co; co++)
                visit(
                  ((b * H + ih) * W + iw) * Ci + ci,
                  ((kh * KW + kw) * Ci + ci) * Co + co,
                  ((b * OH + oh) * OW + ow) * Co + co,
                );
          }
}

/** y = conv2d(x, f). */
export function naiveConv(c: ConvCase, x: ArrayLike<number>, f: ArrayLike<number>): Float64Array {
  const y = new Float64Array(outShape(c).reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => {
    y[yi] = y[yi]! + x[xi]! * f[wi]!;
  });
  return y;
}

/** dL/dx for output gradient dy. */
export function naiveConvDx(c: ConvCase, dy: ArrayLike<number>, f: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(c.x.reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => {
    dx[xi] = dx[xi]! + dy[yi]! * f[wi]!;
  });
  return dx;
}

/** dL/df for output gradient dy. */
export function naiveConvDf(c: ConvCase, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const df = new Float64Array(c.f.reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => {
    df[wi] = df[wi]! + dy[yi]! * x[xi]!;
  });
  return df;
}

/** Max |a - b| / max |b| (b is the reference); Infinity if lengths differ. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / (scale === 0 ? 1 : scale);
}

/** Values from a standard normal, seeded. */
export function randomValues(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

/** Random input, filter and output-gradient values for a case (drawn in that order). */
export function caseValues(rng: Rng, c: ConvCase): { xv: Float32Array; fv: Float32Array; dyv: Float32Array } {
  const n = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const xv = randomValues(rng, n(c.x));
  const fv = randomValues(rng, n(c.f));
  const dyv = randomValues(rng, n(outShape(c)));
  return { xv, fv, dyv };
}

/** The padding tfjs derives for `pad` (for 'same'/'valid'/explicit; numbers mean all sides). */
export function padsOf(
  x: ConvCase['x'],
  f: ConvCase['f'],
  strides: [number, number],
  dilations: [number, number],
  pad: ConvCase['pad'],
): [number, number, number, number] {
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  const info = tf.backend_util.computeConv2DInfo(x, f, strides, dilations, pad);
  return [info.padInfo.top, info.padInfo.bottom, info.padInfo.left, info.padInfo.right];
}

/**
 * Random convolution cases: batch 1..3, spatial 5..12, channels 1..8, kernel
 * 1..5, the given strides, dilation 1, each padding kind in turn. Cases whose
 * output would be empty are skipped.
 */
export function randomCases(
  rng: Rng,
  count: number,
  pads: ReadonlyArray<'valid' | 'same' | 'number' | 'explicit'>,
  strideChoices: readonly number[] = [1, 2],
  square = false,
): ConvCase[] {
  const cases: ConvCase[] = [];
  const pick = <T>(a: readonly T[]): T => a[rng.int(a.length)]!;
  const between = (lo: number, hi: number) => lo + rng.int(hi - lo + 1);
  for (let i = 0; cases.length < count; i++) {
    const ci = between(1, 8);
    const kh = between(1, 5);
    const kw = square ? kh : between(1, 5);
    const x: ConvCase['x'] = [between(1, 3), between(5, 12), between(5, 12), ci];
    const f: ConvCase['f'] = [kh, kw, ci, between(1, 8)];
    const s = pick(strideChoices);
    const strides: [number, number] = square ? [s, s] : [s, pick(strideChoices)];
    const kind = pads[i % pads.length]!;
    const pad: ConvCase['pad'] =
      kind === 'number'
        ? between(0, 2)
        : kind === 'explicit'
          ? [
              [0, 0],
              [between(0, 3), between(0, 3)],
              [between(0, 3), between(0, 3)],
              [0, 0],
            ]
          : kind;
    const c: ConvCase = { x, f, strides, dilations: [1, 1], pad, pads: padsOf(x, f, strides, [1, 1], pad) };
    if (outShape(c).every((n) => n > 0)) cases.push(c);
  }
  return cases;
}

/** Short label of a case for assertion messages. */
export function label(c: ConvCase): string {
  return JSON.stringify({ x: c.x, f: c.f, s: c.strides, d: c.dilations, pad: c.pad });
}

/**
 * Max-pool gradient, NHWC, 'valid' or 'same' padding: each output gradient
 * goes to the first (row-major) maximum of its window, as tfjs-backend-cpu does.
 */
export function naiveMaxPoolGrad(
  x: ArrayLike<number>,
  shape: [number, number, number, number],
  dy: ArrayLike<number>,
  k: number,
  s: number,
  pad: 'valid' | 'same',
): Float64Array {
  const [B, H, W, C] = shape;
  const info = tf.backend_util.computePool2DInfo(shape, k, s, 1, pad);
  const { outHeight: OH, outWidth: OW } = info;
  const { top, left } = info.padInfo;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              const h = oh * s + i - top;
              const w = ow * s + j - left;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const idx = ((b * H + h) * W + w) * C + c;
              if (x[idx]! > best) {
                best = x[idx]!;
                at = idx;
              }
            }
          if (at >= 0) dx[at] = dx[at]! + dy[((b * OH + oh) * OW + ow) * C + c]!;
        }
  return dx;
}

/** Values of the forward output and both gradients of sum(conv2d(x, f) * dy), under the kernels registered now. */
export function convGrads(c: ConvCase, xv: Float32Array, fv: Float32Array, dyv: Float32Array) {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const f = tf.tensor4d(fv, c.f);
    const dy = tf.tensor(dyv, outShape(c));
    const loss = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad as 'same'), dy));
    const [gx, gf] = tf.grads(loss)([x, f]);
    const y = tf.conv2d(x, f, c.strides, c.pad as 'same');
    return { y: y.dataSync().slice(), dx: gx!.dataSync().slice(), df: gf!.dataSync().slice(), yShape: y.shape };
  });
}
