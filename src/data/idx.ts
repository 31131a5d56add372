/**
 * Reader for the IDX format of the original MNIST / Fashion-MNIST / EMNIST
 * files (`train-images-idx3-ubyte[.gz]`, ...), gzip-compressed or not.
 * Node-only (`node:zlib`, `node:fs`).
 *
 * Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
 * 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, each
 * dimension as a big-endian uint32, then the values, big-endian, row-major.
 *
 * @packageDocumentation
 */

import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError, FormatError, InvalidArgumentError } from '../core/errors.js';
import type { LabeledData } from '../core/types.js';
import { assertInRange, assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertPath, oneLine, readFileOrThrow } from '../io/files.js';
import { nodeBuiltin } from '../io/node-builtins.js';

/** Element type of an IDX file. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Typed array holding IDX values. */
export type IdxTypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX array. */
export interface IdxArray {
  /** Dimensions, outermost first (e.g. `[60000, 28, 28]`). */
  readonly shape: number[];
  /** Element type named by the file's type code. */
  readonly dtype: IdxDtype;
  /** Values in row-major order (a fresh array, not a view of the input). */
  readonly data: IdxTypedArray;
}

const TYPES: Readonly<Record<number, { dtype: IdxDtype; size: number }>> = Object.freeze({
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
});

/** Where a buffer came from, for error messages. */
interface Source {
  readonly fn: string;
  readonly arg: string;
  /** What to show as the offending value (a path, or the buffer itself). */
  readonly value: unknown;
}

function hex(bytes: Uint8Array, n: number): string {
  return `0x${Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Largest IDX file accepted after decompression: 1 GiB. */
const MAX_IDX_BYTES = 2 ** 30;

/** Bytes an IDX header declares (header included), from its first bytes, or undefined when too short to tell. */
function declaredIdxBytes(head: Uint8Array): number | undefined {
  if (head.length < 4) return undefined;
  const type = TYPES[head[2]!];
  const rank = head[3]!;
  if (type === undefined || head[0] !== 0 || head[1] !== 0 || rank === 0) return undefined;
  const headerBytes = 4 + 4 * rank;
  if (head.length < headerBytes) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let d = 0; d < rank; d++) count *= view.getUint32(4 + 4 * d, false);
  return headerBytes + count * type.size;
}

/**
 * Gunzips an IDX file without trusting it: the header is decompressed first
 * (from a prefix of the stream) and the whole file is then inflated with an
 * output cap of the size that header declares, so a gzip bomb stops at the
 * cap instead of filling memory.
 */
function gunzipIdx(src: Source, bytes: Uint8Array): Uint8Array {
  const zlib = nodeBuiltin(src.fn, 'node:zlib');
  let head: Uint8Array;
  try {
    const out = zlib.gunzipSync(bytes.subarray(0, Math.min(bytes.length, 1024)), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    head = new Uint8Array(out.buffer, out.byteOffset, Math.min(out.byteLength, 4 + 4 * 255));
  } catch (error) {
    throw new FormatError(src, `starts with the gzip magic but could not be decompressed (${oneLine(error)})`);
  }
  // a malformed header is reported by the parser on these first bytes, before inflating the rest
  const declared = declaredIdxBytes(head);
  if (declared === undefined) return head;
  if (declared > MAX_IDX_BYTES) {
    throw new FormatError(src, `declares ${declared} bytes in its IDX header, more than the ${MAX_IDX_BYTES} accepted`);
  }
  try {
    const out = zlib.gunzipSync(bytes, { maxOutputLength: declared + 1 });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) {
      throw new FormatError(src, `decompresses to more than the ${declared} bytes its IDX header declares`);
    }
    throw new FormatError(src, `starts with the gzip magic but could not be decompressed (${oneLine(error)})`);
  }
}

/** Parses IDX bytes (gunzipping first if they start with the gzip magic). */
function parseIdx(src: Source, input: Uint8Array): IdxArray {
  let bytes = input;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipIdx(src, bytes);
  if (bytes.length < 4) {
    throw new FormatError(src, `is too short for an IDX header (${bytes.length} bytes, need at least 4)`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(src, `does not start with the IDX magic 0x0000 (first 4 bytes ${hex(bytes, 4)})`);
  }
  const type = TYPES[bytes[2]!];
  if (type === undefined) {
    throw new FormatError(
      src,
      `has an unknown IDX type code 0x${bytes[2]!.toString(16).padStart(2, '0')} (known: 08, 09, 0b, 0c, 0d, 0e)`,
    );
  }
  const rank = bytes[3]!;
  if (rank === 0) throw new FormatError(src, 'declares 0 dimensions in its IDX header');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new FormatError(src, `is truncated: its IDX header needs ${headerBytes} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    const dim = view.getUint32(4 + 4 * d, false);
    shape.push(dim);
    count *= dim;
  }
  const expected = headerBytes + count * type.size;
  if (bytes.length < expected) {
    throw new FormatError(
      src,
      `is truncated: shape [${shape.join(',')}] of ${type.dtype} needs ${expected} bytes, got ${bytes.length}`,
    );
  }
  if (bytes.length > expected) {
    throw new FormatError(
      src,
      `has ${bytes.length - expected} trailing bytes after the ${expected} that shape [${shape.join(',')}] of ${type.dtype} needs`,
    );
  }
  return { shape, dtype: type.dtype, data: decodeValues(view, headerBytes, count, type.dtype, bytes) };
}

function decodeValues(
  view: DataView,
  offset: number,
  count: number,
  dtype: IdxDtype,
  bytes: Uint8Array,
): IdxTypedArray {
  switch (dtype) {
    case 'uint8':
      return bytes.slice(offset, offset + count);
    case 'int8':
      return new Int8Array(bytes.slice(offset, offset + count).buffer);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

function assertBytes(fn: string, arg: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidArgumentError({ fn, arg, value }, 'must be a Uint8Array (or Node Buffer)');
  }
}

/**
 * Decodes an IDX file's bytes; gzip-compressed bytes (`.gz` files) are
 * decompressed first.
 *
 * @param bytes - The file's contents (left untouched).
 * @returns The shape, element type and values (a fresh typed array).
 * @throws {@link InvalidArgumentError} when `bytes` is not a Uint8Array.
 * @throws {@link FormatError} naming `bytes` for a bad gzip stream, a bad
 *   magic or type code, a truncated file or trailing bytes.
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const { shape, dtype, data } = datasets.readIdx(readFileSync('t10k-labels-idx1-ubyte.gz'));
 * // shape [10000], dtype 'uint8'
 * ```
 */
export function readIdx(bytes: Uint8Array): IdxArray {
  const fn = 'readIdx';
  assertBytes(fn, 'bytes', bytes);
  return parseIdx({ fn, arg: 'bytes', value: bytes }, bytes);
}

/** Options of {@link idxToLabeledData} and {@link loadIdxDataset}. */
export interface IdxDatasetOptions {
  /**
   * Divisor that maps the stored image values to [0, 1]. `undefined` picks
   * 255 for uint8 images and 1 for float32/float64 images; int8/int16/int32
   * images need it. Scaled values outside [0, 1] are a {@link FormatError}.
   * @default undefined
   */
  readonly scale?: number | undefined;
  /** Keep only the first `limit` samples (an integer ≥ 1). `undefined` keeps all. @default undefined */
  readonly limit?: number | undefined;
}

/** Defaults of {@link IdxDatasetOptions}. */
export const IDX_DATASET_DEFAULTS: Readonly<IdxDatasetOptions> = Object.freeze({ scale: undefined, limit: undefined });

function toLabeledData(
  fn: string,
  images: IdxArray,
  labels: IdxArray,
  imagesSrc: Source,
  labelsSrc: Source,
  o: IdxDatasetOptions,
): LabeledData {
  if (images.shape.length !== 3 && images.shape.length !== 4) {
    throw new FormatError(
      imagesSrc,
      `must hold images of rank 3 [n, h, w] or 4 [n, h, w, c], got shape [${images.shape.join(',')}]`,
    );
  }
  if (labels.shape.length !== 1) {
    throw new FormatError(labelsSrc, `must hold labels of rank 1 [n], got shape [${labels.shape.join(',')}]`);
  }
  if (labels.dtype === 'float32' || labels.dtype === 'float64') {
    throw new FormatError(labelsSrc, `must hold integer labels, got ${labels.dtype}`);
  }
  const nImages = images.shape[0]!;
  if (labels.shape[0] !== nImages) {
    throw new FormatError(
      labelsSrc,
      `holds ${labels.shape[0]} labels but the images hold ${nImages} samples (they must match)`,
    );
  }
  if (nImages === 0 || images.data.length === 0) throw new EmptyDataError(imagesSrc, 'holds no image data');
  let scale = o.scale;
  if (scale === undefined) {
    if (images.dtype === 'uint8') scale = 255;
    else if (images.dtype === 'float32' || images.dtype === 'float64') scale = 1;
    else {
      throw new InvalidArgumentError(
        { fn, arg: 'options.scale', value: scale },
        `must be given for ${images.dtype} images (the divisor that maps them to [0, 1])`,
      );
    }
  }
  const n = o.limit === undefined ? nImages : Math.min(o.limit, nImages);
  const h = images.shape[1]!;
  const w = images.shape[2]!;
  const c = images.shape.length === 4 ? images.shape[3]! : 1;
  const size = h * w * c;
  const pixels = new Float32Array(n * size);
  for (let i = 0; i < n * size; i++) {
    const v = images.data[i]! / scale;
    if (!(v >= 0 && v <= 1)) {
      throw new FormatError(
        imagesSrc,
        `holds value ${images.data[i]} at flat index ${i}, outside [0, 1] after dividing by scale ${scale}`,
      );
    }
    pixels[i] = v;
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i]!;
    if (v < 0) throw new FormatError(labelsSrc, `holds a negative label ${v} at index ${i}`);
    y[i] = v;
  }
  return { x: tf.tensor4d(pixels, [n, h, w, c], 'float32'), y };
}

function resolveIdxOptions(fn: string, options: unknown): IdxDatasetOptions {
  const o = resolveOptions(fn, IDX_DATASET_DEFAULTS, options);
  if (o.scale !== undefined) assertInRange(fn, 'options.scale', o.scale, 0, Infinity, { minOpen: true, maxOpen: true });
  if (o.limit !== undefined) assertInteger(fn, 'options.limit', o.limit, 1);
  return o;
}

/**
 * Builds a {@link LabeledData} from the bytes of an IDX image file and an IDX
 * label file (each plain or gzip-compressed).
 *
 * @param imagesBytes - IDX images `[n, h, w]` or `[n, h, w, c]` (left untouched).
 * @param labelsBytes - IDX integer labels `[n]` (left untouched).
 * @param options - {@link IdxDatasetOptions}.
 * @returns Images `[n, h, w, c]` float32 in [0, 1] and Int32 labels; the caller owns the tensor.
 * @throws {@link FormatError} naming the argument for a malformed buffer, a
 *   wrong rank, float labels, a negative label, values outside [0, 1] after
 *   scaling, or a count mismatch between images and labels.
 * @throws {@link InvalidArgumentError} for a non-Uint8Array argument or a bad option.
 * @throws {@link EmptyDataError} when the files hold no samples.
 * @example
 * ```ts
 * const test = datasets.idxToLabeledData(imagesBuf, labelsBuf, { limit: 1000 });
 * ```
 */
export function idxToLabeledData(
  imagesBytes: Uint8Array,
  labelsBytes: Uint8Array,
  options?: IdxDatasetOptions,
): LabeledData {
  const fn = 'idxToLabeledData';
  assertBytes(fn, 'imagesBytes', imagesBytes);
  assertBytes(fn, 'labelsBytes', labelsBytes);
  const o = resolveIdxOptions(fn, options);
  const imagesSrc: Source = { fn, arg: 'imagesBytes', value: imagesBytes };
  const labelsSrc: Source = { fn, arg: 'labelsBytes', value: labelsBytes };
  return toLabeledData(fn, parseIdx(imagesSrc, imagesBytes), parseIdx(labelsSrc, labelsBytes), imagesSrc, labelsSrc, o);
}

/**
 * Reads an IDX image file and an IDX label file (plain or `.gz`) into a
 * {@link LabeledData}, e.g. the original MNIST or Fashion-MNIST files.
 *
 * @param imagesPath - Path of the image file.
 * @param labelsPath - Path of the label file.
 * @param options - {@link IdxDatasetOptions}.
 * @returns Images `[n, h, w, c]` float32 in [0, 1] and Int32 labels; the caller owns the tensor.
 * @throws {@link InvalidArgumentError} naming the path argument when a file
 *   does not exist or cannot be read, or for a bad option.
 * @throws {@link FormatError} naming the path argument for malformed
 *   contents (see {@link idxToLabeledData}).
 * @example
 * ```ts
 * const train = await datasets.loadIdxDataset('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz');
 * ```
 */
export async function loadIdxDataset(
  imagesPath: string,
  labelsPath: string,
  options?: IdxDatasetOptions,
): Promise<LabeledData> {
  const fn = 'loadIdxDataset';
  assertPath(fn, 'imagesPath', imagesPath);
  assertPath(fn, 'labelsPath', labelsPath);
  const o = resolveIdxOptions(fn, options);
  const imagesSrc: Source = { fn, arg: 'imagesPath', value: imagesPath };
  const labelsSrc: Source = { fn, arg: 'labelsPath', value: labelsPath };
  const images = parseIdx(imagesSrc, await readFileOrThrow(fn, 'imagesPath', imagesPath));
  const labels = parseIdx(labelsSrc, await readFileOrThrow(fn, 'labelsPath', labelsPath));
  return toLabeledData(fn, images, labels, imagesSrc, labelsSrc, o);
}
