/**
 * TrojanNet's training batches, synthesised on the fly: trigger patterns,
 * noisy near-patterns and clean patches.
 *
 * @packageDocumentation
 */
import type { Rng } from '../../core/rng.js';
import { PATTERN_OFF_PIXELS, PATTERN_PIXELS, distanceToFamily, offPixelTable, writePattern } from './patterns.js';

/** Share of the clean patches, closest to the trigger family, that hard negatives are drawn from. */
const HARD_NEGATIVE_QUANTILE = 0.2;

/** Share of each polish batch's pattern samples drawn from the misclassified patterns. */
const POLISH_FOCUS_PATTERNS = 0.5;

/** Share of each polish epoch's clean negatives drawn from the misclassified clean patches. */
const POLISH_FOCUS_CLEAN = 1 / 3;

/** Synthesises training batches: trigger patterns (each once per pass) and negatives. */
export class BatchSource {
  private order: Int32Array;
  private next = 0;
  private readonly patternKeys: Set<number>;
  private readonly hard: Int32Array;
  private readonly cleanCount: number;
  /** Patterns (polish phase: currently misclassified) given half of the pattern slots. */
  focusPatterns: Int32Array = new Int32Array(0);
  /** Clean patches (polish phase: currently misclassified) given a third of the clean negatives. */
  focusClean: Int32Array = new Int32Array(0);

  constructor(
    private readonly rng: Rng,
    private readonly numPatterns: number,
    private readonly clean: Float32Array | undefined,
    private readonly cleanFraction: number,
  ) {
    this.order = rng.permutation(numPatterns);
    // Bit masks of the trained patterns (bit q set = pixel q on), to keep binary noise off them.
    const table = offPixelTable();
    this.patternKeys = new Set();
    for (let i = 0; i < numPatterns; i++) {
      let key = 0xffff;
      for (let j = 0; j < PATTERN_OFF_PIXELS; j++) key &= ~(1 << table[i * PATTERN_OFF_PIXELS + j]!);
      this.patternKeys.add(key);
    }
    this.cleanCount = clean === undefined ? 0 : clean.length / PATTERN_PIXELS;
    this.hard = new Int32Array(0);
    if (clean !== undefined) {
      const scratch = new Float32Array(PATTERN_PIXELS);
      const dist = new Float64Array(this.cleanCount);
      for (let i = 0; i < this.cleanCount; i++) dist[i] = distanceToFamily(clean, i * PATTERN_PIXELS, scratch);
      const idx = Int32Array.from({ length: this.cleanCount }, (_, i) => i).sort(
        (p, q) => dist[p]! - dist[q]! || p - q,
      );
      this.hard = idx.slice(0, Math.max(1, Math.floor(this.cleanCount * HARD_NEGATIVE_QUANTILE)));
    }
  }

  /** Next pattern of the seeded cyclic order (every pattern once per pass). */
  private nextInOrder(): number {
    if (this.next >= this.numPatterns) {
      this.order = this.rng.permutation(this.numPatterns);
      this.next = 0;
    }
    return this.order[this.next++]!;
  }

  /** Writes one negative sample into `x` at row `row`. */
  negative(x: Float32Array, row: number): void {
    const o = row * PATTERN_PIXELS;
    const rng = this.rng;
    if (this.clean !== undefined && rng.next() < this.cleanFraction) {
      const u = rng.next();
      const focus = this.focusClean;
      const i =
        focus.length > 0 && u < POLISH_FOCUS_CLEAN
          ? focus[rng.int(focus.length)]!
          : u < (focus.length > 0 ? POLISH_FOCUS_CLEAN + (1 - POLISH_FOCUS_CLEAN) / 2 : 0.5)
            ? this.hard[rng.int(this.hard.length)]!
            : rng.int(this.cleanCount);
      x.set(this.clean.subarray(i * PATTERN_PIXELS, (i + 1) * PATTERN_PIXELS), o);
    } else if (rng.next() < 0.5) {
      // Tang et al.: random binary (black/white) noise; never one of the trained patterns.
      let key: number;
      do {
        key = rng.int(0x10000);
      } while (this.patternKeys.has(key));
      for (let q = 0; q < PATTERN_PIXELS; q++) x[o + q] = (key >> q) & 1;
    } else {
      // Reference code: uniform grey noise shifted by a random offset in [-1, 1), clipped to [0, 1].
      const shift = 2 * rng.next() - 1;
      for (let q = 0; q < PATTERN_PIXELS; q++) x[o + q] = Math.min(1, Math.max(0, rng.next() + shift));
    }
  }

  /** A batch of `size` samples of which `negatives` are negatives (labelled `numPatterns`). */
  batch(size: number, negatives: number): { x: Float32Array; y: Int32Array } {
    const x = new Float32Array(size * PATTERN_PIXELS);
    const y = new Int32Array(size);
    const positives = size - negatives;
    const focus = this.focusPatterns;
    const focused = focus.length > 0 ? Math.floor(positives * POLISH_FOCUS_PATTERNS) : 0;
    for (let i = 0; i < positives; i++) {
      const id = i < positives - focused ? this.nextInOrder() : focus[this.rng.int(focus.length)]!;
      writePattern(id, x, i * PATTERN_PIXELS);
      y[i] = id;
    }
    for (let i = positives; i < size; i++) {
      this.negative(x, i);
      y[i] = this.numPatterns;
    }
    return { x, y };
  }
}
