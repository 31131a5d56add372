/**
 * Reader for the CIFAR-10 binary batches (`data_batch_1.bin` ...
 * `test_batch.bin` from `cifar-10-binary.tar.gz`). Node-only for
 * {@link loadCifar10} (`node:fs`); {@link readCifar10Batch} works on bytes.
 *
 * Each record is 3073 bytes: one label byte (0..9), then 1024 red, 1024
 * green and 1024 blue bytes, each plane a 32×32 image in row-major order.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';

import { EmptyDataError, FormatError, InvalidArgumentError } from '../core/errors.js';
import type { ErrorContext } from '../core/errors.js';
import type { LabeledData } from '../core/types.js';
import { assertInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertPath, readFileOrThrow } from '../io/files.js';

/** Side of a CIFAR-10 image in pixels. */
export const CIFAR_SIZE = 32;
/** Bytes per CIFAR-10 record: 1 label byte + 3 × 1024 pixel bytes. */
export const CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_SIZE * CIFAR_SIZE;
/** CIFAR-10 class names, indexed by label. */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
]);
const PLANE = CIFAR_SIZE * CIFAR_SIZE;

/** Options of {@link readCifar10Batch} and {@link loadCifar10}. */
export interface CifarOptions {
  /** Keep only the first `limit` records (an integer ≥ 1). `undefined` keeps all. @default undefined */
  readonly limit?: number | undefined;
}

/** Defaults of {@link CifarOptions}. */
export const CIFAR_DEFAULTS: Readonly<CifarOptions> = Object.freeze({ limit: undefined });

/** Checks a batch's length and labels; returns its number of records. */
function checkBatch(ctx: ErrorContext, bytes: Uint8Array): number {
  if (bytes.length === 0) throw new EmptyDataError(ctx, 'holds no CIFAR-10 records');
  if (bytes.length % CIFAR_RECORD_BYTES !== 0) {
    throw new FormatError(
      ctx,
      `has ${bytes.length} bytes, not a multiple of the CIFAR-10 record size ${CIFAR_RECORD_BYTES} (1 label + 3072 pixel bytes)`,
    );
  }
  const n = bytes.length / CIFAR_RECORD_BYTES;
  for (let r = 0; r < n; r++) {
    const label = bytes[r * CIFAR_RECORD_BYTES]!;
    if (label > 9) {
      throw new FormatError(ctx, `has label ${label} in record ${r}; CIFAR-10 labels are 0..9`);
    }
  }
  return n;
}

/** Decodes the first `n` records of `bytes` into `pixels` / `y` from record `at`. */
function decodeInto(bytes: Uint8Array, n: number, pixels: Float32Array, y: Int32Array, at: number): void {
  for (let r = 0; r < n; r++) {
    const base = r * CIFAR_RECORD_BYTES;
    y[at + r] = bytes[base]!;
    const out = (at + r) * PLANE * 3;
    for (let p = 0; p < PLANE; p++) {
      const o = out + 3 * p;
      pixels[o] = bytes[base + 1 + p]! / 255;
      pixels[o + 1] = bytes[base + 1 + PLANE + p]! / 255;
      pixels[o + 2] = bytes[base + 1 + 2 * PLANE + p]! / 255;
    }
  }
}

function toData(pixels: Float32Array, y: Int32Array): LabeledData {
  return { x: tf.tensor4d(pixels, [y.length, CIFAR_SIZE, CIFAR_SIZE, 3], 'float32'), y };
}

/**
 * Decodes one CIFAR-10 binary batch (channel-planar records) into NHWC images.
 *
 * @param bytes - The batch file's contents (left untouched).
 * @param options - {@link CifarOptions}.
 * @returns Images `[n, 32, 32, 3]` float32 in [0, 1] (RGB) and labels 0..9;
 *   the caller owns the tensor.
 * @throws {@link InvalidArgumentError} when `bytes` is not a Uint8Array or an option is bad.
 * @throws {@link EmptyDataError} when `bytes` is empty.
 * @throws {@link FormatError} naming `bytes` when its length is not a
 *   multiple of 3073 or a label exceeds 9.
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const batch = datasets.readCifar10Batch(readFileSync('cifar-10-batches-bin/test_batch.bin'));
 * ```
 */
export function readCifar10Batch(bytes: Uint8Array, options?: CifarOptions): LabeledData {
  const fn = 'readCifar10Batch';
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError({ fn, arg: 'bytes', value: bytes }, 'must be a Uint8Array (or Node Buffer)');
  }
  const o = resolveCifarOptions(fn, options);
  const total = checkBatch({ fn, arg: 'bytes', value: bytes }, bytes);
  const n = o.limit === undefined ? total : Math.min(o.limit, total);
  const pixels = new Float32Array(n * PLANE * 3);
  const y = new Int32Array(n);
  decodeInto(bytes, n, pixels, y, 0);
  return toData(pixels, y);
}

/**
 * Reads and concatenates CIFAR-10 binary batch files, in the given order.
 *
 * @param paths - One path or several (e.g. `data_batch_1.bin` ... `data_batch_5.bin`).
 * @param options - {@link CifarOptions}; with `limit`, files past the limit are not read.
 * @returns Images `[n, 32, 32, 3]` float32 in [0, 1] (RGB) and labels 0..9;
 *   the caller owns the tensor.
 * @throws {@link InvalidArgumentError} naming `paths[i]` for a missing or
 *   unreadable file, or for an empty `paths` / bad option.
 * @throws {@link FormatError} naming `paths[i]` for a malformed batch.
 * @example
 * ```ts
 * const train = await datasets.loadCifar10(
 *   [1, 2, 3, 4, 5].map((i) => `cifar-10-batches-bin/data_batch_${i}.bin`),
 *   { limit: 10000 },
 * );
 * ```
 */
export async function loadCifar10(paths: string | readonly string[], options?: CifarOptions): Promise<LabeledData> {
  const fn = 'loadCifar10';
  const list = typeof paths === 'string' ? [paths] : paths;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'paths', value: paths }, 'must be a path or a non-empty array of paths');
  }
  list.forEach((p, i) => assertPath(fn, typeof paths === 'string' ? 'paths' : `paths[${i}]`, p));
  const o = resolveCifarOptions(fn, options);
  const limit = o.limit ?? Infinity;
  const batches: Array<{ bytes: Uint8Array; n: number }> = [];
  let total = 0;
  for (let i = 0; i < list.length && total < limit; i++) {
    const arg = typeof paths === 'string' ? 'paths' : `paths[${i}]`;
    const path = list[i]!;
    const bytes = await readFileOrThrow(fn, arg, path);
    const n = Math.min(checkBatch({ fn, arg, value: path }, bytes), limit - total);
    batches.push({ bytes, n });
    total += n;
  }
  const pixels = new Float32Array(total * PLANE * 3);
  const y = new Int32Array(total);
  let at = 0;
  for (const { bytes, n } of batches) {
    decodeInto(bytes, n, pixels, y, at);
    at += n;
  }
  return toData(pixels, y);
}

function resolveCifarOptions(fn: string, options: unknown): CifarOptions {
  const o = resolveOptions(fn, CIFAR_DEFAULTS, options);
  if (o.limit !== undefined) assertInteger(fn, 'options.limit', o.limit, 1);
  return o;
}
