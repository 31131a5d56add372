/**
 * PNG pictures (encoded with pngjs): single images and grids of images with
 * values in [0, 1]. Node-only (pngjs uses Node's zlib); not part of the
 * browser-safe package barrel.
 *
 * @packageDocumentation
 */
import pngjs from 'pngjs';

import { InvalidArgumentError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';

/** One image: `height × width × channels` values in [0, 1], HWC row-major (1 = grey, 3 = RGB). */
export interface ImageData {
  /** Pixel values. */
  readonly values: ArrayLike<number>;
  /** Height in pixels. */
  readonly height: number;
  /** Width in pixels. */
  readonly width: number;
  /** 1 (grey) or 3 (RGB). */
  readonly channels: 1 | 3;
}

/** Options of {@link imageGridPng}. */
export interface ImageGridOptions {
  /** Each source pixel becomes `scale × scale` output pixels (nearest neighbour). @default 4 */
  readonly scale?: number;
  /** Gap between cells, in output pixels. @default 2 */
  readonly gap?: number;
  /** Gap colour, RGB in [0, 1]. @default [0.5, 0.1, 0.1] (dark red, distinct from black/white pixels) */
  readonly background?: readonly [number, number, number];
}

/** Defaults of {@link imageGridPng}. */
export const IMAGE_GRID_DEFAULTS = Object.freeze({
  scale: 4,
  gap: 2,
  background: Object.freeze([0.5, 0.1, 0.1]) as readonly [number, number, number],
});

function checkImage(fn: string, arg: string, img: ImageData): void {
  const ok =
    img !== null &&
    typeof img === 'object' &&
    Number.isInteger(img.height) &&
    img.height > 0 &&
    Number.isInteger(img.width) &&
    img.width > 0 &&
    (img.channels === 1 || img.channels === 3) &&
    img.values !== undefined &&
    img.values.length === img.height * img.width * img.channels;
  if (!ok) {
    throw new InvalidArgumentError(
      { fn, arg, value: img },
      'must be { values, height, width, channels: 1 | 3 } with height × width × channels values',
    );
  }
}

const byte = (v: number) => (Number.isFinite(v) ? Math.round(255 * Math.min(1, Math.max(0, v))) : 0);

/**
 * Encodes a grid of images (rows × columns; a missing cell stays background)
 * as an RGBA PNG, nearest-neighbour upscaled by `scale`.
 *
 * @param rows - Rows of images; cells may differ in size (each column is as wide as its widest cell).
 * @param options - {@link ImageGridOptions}.
 * @returns The PNG file bytes.
 * @throws {@link InvalidArgumentError} for an empty grid, a malformed image or bad options.
 * @example
 * ```ts
 * writeFileSync('trigger.png', imageGridPng([[{ values: mask, height: 28, width: 28, channels: 1 }]]));
 * ```
 */
export function imageGridPng(rows: ReadonlyArray<ReadonlyArray<ImageData | null>>, options?: ImageGridOptions): Buffer {
  const fn = 'imageGridPng';
  const o = resolveOptions(fn, IMAGE_GRID_DEFAULTS, options);
  if (!Number.isInteger(o.scale) || o.scale < 1 || o.scale > 64) {
    throw new InvalidArgumentError({ fn, arg: 'options.scale', value: o.scale }, 'must be an integer in [1, 64]');
  }
  if (!Number.isInteger(o.gap) || o.gap < 0 || o.gap > 64) {
    throw new InvalidArgumentError({ fn, arg: 'options.gap', value: o.gap }, 'must be an integer in [0, 64]');
  }
  if (!Array.isArray(rows) || rows.length === 0 || rows.every((r) => !Array.isArray(r) || r.length === 0)) {
    throw new InvalidArgumentError({ fn, arg: 'rows', value: rows }, 'must be a non-empty array of non-empty rows');
  }
  const cols = Math.max(...rows.map((r) => r.length));
  const colW = new Array<number>(cols).fill(1);
  const rowH = new Array<number>(rows.length).fill(1);
  rows.forEach((r, i) => {
    if (!Array.isArray(r)) throw new InvalidArgumentError({ fn, arg: `rows[${i}]`, value: r }, 'must be an array');
    r.forEach((img, j) => {
      if (img === null) return;
      checkImage(fn, `rows[${i}][${j}]`, img);
      colW[j] = Math.max(colW[j]!, img.width);
      rowH[i] = Math.max(rowH[i]!, img.height);
    });
  });
  const s = o.scale;
  const g = o.gap;
  const width = g + colW.reduce((a, w) => a + w * s + g, 0);
  const height = g + rowH.reduce((a, h) => a + h * s + g, 0);
  const png = new pngjs.PNG({ width, height, colorType: 6 });
  const bg = o.background.map(byte);
  for (let p = 0; p < width * height; p++) {
    png.data[4 * p] = bg[0]!;
    png.data[4 * p + 1] = bg[1]!;
    png.data[4 * p + 2] = bg[2]!;
    png.data[4 * p + 3] = 255;
  }
  let top = g;
  rows.forEach((r, i) => {
    let left = g;
    for (let j = 0; j < cols; j++) {
      const img = r[j];
      if (img) {
        for (let y = 0; y < img.height * s; y++) {
          for (let x = 0; x < img.width * s; x++) {
            const src = (Math.floor(y / s) * img.width + Math.floor(x / s)) * img.channels;
            const dst = 4 * ((top + y) * width + left + x);
            for (let c = 0; c < 3; c++) png.data[dst + c] = byte(img.values[src + (img.channels === 3 ? c : 0)]!);
            png.data[dst + 3] = 255;
          }
        }
      }
      left += colW[j]! * s + g;
    }
    top += rowH[i]! * s + g;
  });
  return pngjs.PNG.sync.write(png);
}

/**
 * Encodes one image as a PNG (a one-cell grid without gap).
 *
 * @param image - The {@link ImageData}.
 * @param scale - Upscaling factor. @default 4
 * @returns The PNG file bytes.
 * @throws {@link InvalidArgumentError} for a malformed image or scale.
 * @example
 * ```ts
 * writeFileSync('x.png', imagePng({ values, height: 28, width: 28, channels: 1 }));
 * ```
 */
export function imagePng(image: ImageData, scale = 4): Buffer {
  return imageGridPng([[image]], { scale, gap: 0 });
}
