/**
 * Parsing of the images and colours trigger constructors take.
 *
 * @packageDocumentation
 */
import { assertFiniteNumber, assertPositiveInteger } from '../core/checks.js';
import { InvalidArgumentError, ShapeError } from '../core/errors.js';
import { assertUnitValues } from './trigger.js';

/**
 * An image given to a constructor: a grey 2-D array `[height][width]`, a
 * colour 3-D array `[height][width][channels]`, or a row-major HWC
 * `Float32Array` (then `height` and `width` must be given). Values in [0, 1].
 */
export type ImageInput = Float32Array | readonly (readonly number[])[] | readonly (readonly (readonly number[])[])[];

/** Every option key present, with its (possibly undefined) default. */
export type OptionDefaults<T> = { readonly [K in keyof Required<T>]: T[K] };

/** A parsed image: HWC values and dimensions. */
export interface ParsedImage {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * Parses an {@link ImageInput} into a fresh HWC Float32Array, checking the
 * dimensions against the optional `height`, `width`, `channels`. A grey 2-D
 * array with `channels > 1` is replicated over the channels.
 */
export function parseImage(
  fn: string,
  arg: string,
  image: unknown,
  height: number | undefined,
  width: number | undefined,
  channels: number | undefined,
): ParsedImage {
  if (height !== undefined) assertPositiveInteger(fn, 'options.height', height);
  if (width !== undefined) assertPositiveInteger(fn, 'options.width', width);
  if (channels !== undefined) assertPositiveInteger(fn, 'options.channels', channels);
  if (image instanceof Float32Array) {
    if (height === undefined || width === undefined) {
      throw new InvalidArgumentError(
        { fn, arg: height === undefined ? 'options.height' : 'options.width', value: undefined },
        `is required when ${arg} is a Float32Array`,
      );
    }
    const c = channels ?? image.length / (height * width);
    if (!Number.isInteger(c) || c < 1 || image.length !== height * width * c) {
      throw new ShapeError(
        { fn, arg, value: image },
        `must hold height * width * channels values (height ${height}, width ${width}${channels === undefined ? '' : `, channels ${channels}`})`,
      );
    }
    assertUnitValues(fn, arg, image);
    return { data: Float32Array.from(image), height, width, channels: c };
  }
  if (!Array.isArray(image) || image.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg, value: image },
      'must be a non-empty 2-D array [height][width], a 3-D array [height][width][channels] or a Float32Array',
    );
  }
  const rows = image as readonly unknown[];
  const h = rows.length;
  const first = rows[0];
  if (!Array.isArray(first) || first.length === 0) {
    throw new InvalidArgumentError({ fn, arg: `${arg}[0]`, value: first }, 'must be a non-empty array (one image row)');
  }
  const w = first.length;
  const colour = Array.isArray(first[0]);
  const c0 = colour ? (first[0] as unknown[]).length : 1;
  if (colour && c0 === 0) {
    throw new InvalidArgumentError(
      { fn, arg: `${arg}[0][0]`, value: first[0] },
      'must be a non-empty array of channel values',
    );
  }
  const outC = colour ? c0 : (channels ?? 1);
  if (colour && channels !== undefined && channels !== c0) {
    throw new ShapeError({ fn, arg, value: image }, `has ${c0} channels but options.channels is ${channels}`);
  }
  if (height !== undefined && height !== h) {
    throw new ShapeError({ fn, arg, value: image }, `has ${h} rows but options.height is ${height}`);
  }
  if (width !== undefined && width !== w) {
    throw new ShapeError({ fn, arg, value: image }, `has ${w} columns but options.width is ${width}`);
  }
  const data = new Float32Array(h * w * outC);
  for (let r = 0; r < h; r++) {
    const row = rows[r];
    if (!Array.isArray(row) || row.length !== w) {
      throw new ShapeError(
        { fn, arg: `${arg}[${r}]`, value: row },
        `must be an array of ${w} values (rows must be equally long)`,
      );
    }
    for (let col = 0; col < w; col++) {
      const cell: unknown = row[col];
      if (colour) {
        if (!Array.isArray(cell) || cell.length !== c0) {
          throw new ShapeError(
            { fn, arg: `${arg}[${r}][${col}]`, value: cell },
            `must be an array of ${c0} channel values`,
          );
        }
        for (let ch = 0; ch < c0; ch++) {
          const v: unknown = cell[ch];
          checkUnit(fn, `${arg}[${r}][${col}][${ch}]`, v);
          data[(r * w + col) * outC + ch] = v;
        }
      } else {
        checkUnit(fn, `${arg}[${r}][${col}]`, cell);
        for (let ch = 0; ch < outC; ch++) data[(r * w + col) * outC + ch] = cell;
      }
    }
  }
  return { data, height: h, width: w, channels: outC };
}

export function checkUnit(fn: string, arg: string, v: unknown): asserts v is number {
  assertFiniteNumber(fn, arg, v);
  if (v < 0 || v > 1) throw new InvalidArgumentError({ fn, arg, value: v }, 'must be in [0, 1]');
}

/** Resolves a grey value or per-channel colour into one value per channel. */
export function resolveColour(fn: string, arg: string, value: unknown, channels: number | undefined): number[] {
  if (channels !== undefined) assertPositiveInteger(fn, 'options.channels', channels);
  if (typeof value === 'number') {
    checkUnit(fn, arg, value);
    return new Array<number>(channels ?? 1).fill(value);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError(
      { fn, arg, value },
      'must be a number in [0, 1] or a non-empty array with one per channel',
    );
  }
  if (channels !== undefined && value.length !== channels) {
    throw new ShapeError({ fn, arg, value }, `must have one value per channel (options.channels is ${channels})`);
  }
  return (value as unknown[]).map((v, i) => {
    checkUnit(fn, `${arg}[${i}]`, v);
    return v;
  });
}

/** Resolves `size` (a number or `[height, width]`). */
export function resolveSize(fn: string, arg: string, size: unknown): [number, number] {
  if (Array.isArray(size)) {
    if (size.length !== 2)
      throw new InvalidArgumentError({ fn, arg, value: size }, 'must be a number or [height, width]');
    assertPositiveInteger(fn, `${arg}[0]`, size[0]);
    assertPositiveInteger(fn, `${arg}[1]`, size[1]);
    return [size[0], size[1]];
  }
  assertPositiveInteger(fn, arg, size);
  return [size, size];
}
