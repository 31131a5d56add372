/**
 * Seeded pseudo-random numbers. All randomness in backdoor-kit flows from an
 * {@link Rng} made from the caller's `seed` option; nothing reads
 * `Math.random` or global state. Generator: sfc32 (Small Fast Counter, Chris
 * Doty-Humphrey, PractRand-tested), seeded through splitmix32.
 *
 * @packageDocumentation
 */

import { InvalidArgumentError } from './errors.js';

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Hashes a string label to 32 bits (FNV-1a), used to derive named sub-streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A seeded random generator (sfc32). Same seed, same sequence, on every
 * platform.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * rng.next();            // 0.1350...
 * rng.permutation(5);    // Int32Array [3, 0, 4, 1, 2] (for instance)
 * const sub = rng.derive('shuffle');   // independent, reproducible stream
 * ```
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;
  /** The seed this generator was made from. */
  readonly seed: number;

  /**
   * @param seed - Any finite number; non-integers are hashed by their bits.
   * @throws {@link InvalidArgumentError} if `seed` is not a finite number.
   */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new InvalidArgumentError({ fn: 'Rng', arg: 'seed', value: seed }, 'must be a finite number');
    }
    this.seed = seed;
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const mix = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2d));
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new InvalidArgumentError({ fn: 'Rng.int', arg: 'n', value: n }, 'must be an integer in [1, 2^32]');
    }
    const limit = 4294967296 - (4294967296 % n);
    let v = this.nextUint32();
    while (v >= limit) v = this.nextUint32();
    return v % n;
  }

  /** Standard normal deviate (Marsaglia polar method). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * s;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return mean + std * u * f;
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffleInPlace<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffleInPlace(p);
  }

  /**
   * `k` distinct indices from 0..n-1, in random order (partial Fisher–Yates
   * on a sparse map: O(k) time and memory, whatever `n`).
   */
  sample(n: number, k: number): Int32Array {
    const out = new Int32Array(Number.isInteger(k) && k > 0 ? k : 0);
    this.sampleInto(n, k, out);
    return out;
  }

  /**
   * Writes `k` distinct indices from 0..n-1 into `out[offset .. offset+k)`,
   * drawing exactly as {@link Rng.sample} does.
   */
  sampleInto(n: number, k: number, out: Int32Array, offset = 0): void {
    if (!Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError({ fn: 'Rng.sample', arg: 'n', value: n }, 'must be a non-negative integer');
    }
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new InvalidArgumentError({ fn: 'Rng.sample', arg: 'k', value: k }, `must be an integer in [0, ${n}]`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + k > out.length) {
      throw new InvalidArgumentError(
        { fn: 'Rng.sampleInto', arg: 'offset', value: offset },
        `must leave room for ${k} values in an array of length ${out.length}`,
      );
    }
    const swapped = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const vj = swapped.get(j) ?? j;
      const vi = swapped.get(i) ?? i;
      swapped.set(j, vi);
      out[offset + i] = vj;
    }
  }

  /** A seed for a tf initialiser or another generator, in [0, 2^31). */
  nextSeed(): number {
    return this.nextUint32() >>> 1;
  }

  /**
   * An independent generator for a named purpose. Deriving does not advance
   * this generator, so adding a new derived stream never changes old ones.
   */
  derive(label: string): Rng {
    const h = hashLabel(label);
    const base = Math.floor(this.seed) >>> 0;
    return new Rng(((base ^ h) >>> 0) + 4294967296 * (hashLabel(`${label}#${this.seed}`) & 0xfffff));
  }
}

/** Makes an {@link Rng} from a `seed` option. */
export function makeRng(seed: number, fn = 'makeRng'): Rng {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new InvalidArgumentError({ fn, arg: 'seed', value: seed }, 'must be a finite number');
  }
  return new Rng(seed);
}
