/**
 * FastICA (Hyvärinen & Oja 2000) on ml-matrix: PCA whitening, then the
 * fixed-point iteration with the logcosh contrast, symmetric (parallel) or
 * deflation, from a seeded initial unmixing matrix. Follows scikit-learn's
 * `FastICA` step by step (same whitening, update, decorrelation and
 * convergence test), so results agree with it up to the order and sign of the
 * components, which ICA leaves undetermined.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError } from '../core/errors.js';
import { makeRng } from '../core/rng.js';
import { assertFiniteNumber, assertInRange, assertInteger, assertOneOf } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { centred, columnMeans, toRowMatrix, type MatrixInput, type RowMatrix } from './matrix.js';
import { principalAxes } from './pca.js';

/** Options of {@link fastIca}. */
export interface FastIcaOptions {
  /** Independent components to extract, in `[1, rank of the data]`. @default min(rows, cols) */
  readonly components?: number | undefined;
  /** `'parallel'` (symmetric decorrelation, all components at once) or `'deflation'` (one by one, Gram–Schmidt). @default 'parallel' */
  readonly algorithm?: 'parallel' | 'deflation';
  /** Contrast function G; `'logcosh'` is G(u) = log cosh(αu) / α. @default 'logcosh' */
  readonly fun?: 'logcosh';
  /** α of the logcosh contrast, in [1, 2]. @default 1 */
  readonly alpha?: number;
  /** Maximum fixed-point iterations (per component for deflation). @default 200 */
  readonly maxIterations?: number;
  /** Convergence tolerance on `max |(|⟨wₙₑw, w⟩| − 1)|`. @default 1e-4 */
  readonly tolerance?: number;
  /** Seed of the initial unmixing matrix (standard normal entries). @default 0 */
  readonly seed?: number;
}

/** Defaults of {@link fastIca} (scikit-learn's `FastICA` defaults). */
export const FAST_ICA_DEFAULTS: Readonly<{
  components: number | undefined;
  algorithm: 'parallel' | 'deflation';
  fun: 'logcosh';
  alpha: number;
  maxIterations: number;
  tolerance: number;
  seed: number;
}> = Object.freeze({
  components: undefined,
  algorithm: 'parallel',
  fun: 'logcosh',
  alpha: 1,
  maxIterations: 200,
  tolerance: 1e-4,
  seed: 0,
});

/** Result of {@link fastIca}. */
export interface FastIcaResult {
  /** Estimated sources, `rows × components`, each with zero mean and unit variance. */
  readonly sources: RowMatrix;
  /** Unmixing matrix `components × cols`: `sources = (x − mean) · unmixingᵀ`. */
  readonly unmixing: RowMatrix;
  /** Mixing matrix `cols × components` (pseudo-inverse of the unmixing): `x ≈ sources · mixingᵀ + mean`. */
  readonly mixing: RowMatrix;
  /** Whitening matrix `components × cols` (PCA axes scaled to unit variance). */
  readonly whitening: RowMatrix;
  /** Column means that were subtracted. */
  readonly mean: Float64Array;
  /** Fixed-point iterations run (the largest over components for deflation). */
  readonly iterations: number;
  /** Whether the tolerance was reached within `maxIterations` (every component, for deflation). */
  readonly converged: boolean;
}

/** Whitened data (`k × n`, unit second moment per row) and its whitening matrix (`k × cols`). */
export interface Whitened {
  readonly z: Float64Array;
  readonly k: number;
  readonly n: number;
  readonly whitening: Float64Array;
  readonly mean: Float64Array;
  readonly rank: number;
}

/**
 * PCA whitening as FastICA does it: centre, keep the `k` leading axes, scale
 * so that each whitened row has unit mean square (divisor `n`). Throws if the
 * data has fewer than `k` directions with non-zero variance.
 *
 * @internal
 */
export function whiten(fn: string, m: RowMatrix, k: number, arg = 'options.components'): Whitened {
  const mean = columnMeans(m);
  const xc = centred(m, mean);
  const n = m.rows;
  const { axes, variances, rank } = principalAxes(xc, k, n);
  if (k > rank) {
    throw new InvalidArgumentError(
      { fn, arg, value: k },
      `must not exceed the rank of the data (${rank} direction(s) with non-zero variance)`,
    );
  }
  const cols = m.cols;
  const whitening = new Float64Array(k * cols);
  for (let i = 0; i < k; i++) {
    const s = 1 / Math.sqrt(variances[i]!);
    for (let j = 0; j < cols; j++) whitening[i * cols + j] = axes[i * cols + j]! * s;
  }
  // z = whitening · xcᵀ  (k × n)
  const z = new Float64Array(k * n);
  const xv = xc.values;
  for (let r = 0; r < n; r++) {
    const xo = r * cols;
    for (let i = 0; i < k; i++) {
      const wo = i * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += whitening[wo + j]! * xv[xo + j]!;
      z[i * n + r] = s;
    }
  }
  return { z, k, n, whitening, mean, rank };
}

/**
 * Eigenpairs of a small symmetric `k × k` matrix by cyclic Jacobi rotations
 * (in place on a copy): eigenvalues in `values`, eigenvectors as the columns
 * of `vectors`. Used for the `k × k` decorrelation inside the fixed-point loop,
 * where ml-matrix's general routine costs more in set-up than in arithmetic.
 */
function jacobiEigen(sym: Float64Array, k: number, values: Float64Array, vectors: Float64Array): void {
  const a = Float64Array.from(sym);
  vectors.fill(0);
  for (let i = 0; i < k; i++) vectors[i * k + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < k; p++) {
      diag += a[p * k + p]! * a[p * k + p]!;
      for (let q = p + 1; q < k; q++) off += a[p * k + q]! * a[p * k + q]!;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < k - 1; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q]!;
        if (apq === 0) continue;
        const app = a[p * k + p]!;
        const aqq = a[q * k + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p]!;
          const arq = a[r * k + q]!;
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r]!;
          const aqr = a[q * k + r]!;
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = vectors[r * k + p]!;
          const vrq = vectors[r * k + q]!;
          vectors[r * k + p] = c * vrp - s * vrq;
          vectors[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  for (let i = 0; i < k; i++) values[i] = a[i * k + i]!;
}

/** `W ← (W Wᵀ)^(-1/2) W` for a `k × k` matrix, in place (scikit-learn's `_sym_decorrelation`). */
function symmetricDecorrelation(w: Float64Array, k: number): void {
  const wwt = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[a * k + j]! * w[b * k + j]!;
      wwt[a * k + b] = s;
      wwt[b * k + a] = s;
    }
  }
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  jacobiEigen(wwt, k, values, vectors);
  // inverse square root: Σ_i e_i e_iᵀ / sqrt(s_i), e_i = column i of `vectors`
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    const f = 1 / Math.sqrt(Math.max(values[i]!, Number.MIN_VALUE));
    for (let a = 0; a < k; a++) {
      const ea = vectors[a * k + i]! * f;
      for (let b = 0; b < k; b++) inv[a * k + b]! += ea * vectors[b * k + i]!;
    }
  }
  const out = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let b = 0; b < k; b++) s += inv[a * k + b]! * w[b * k + j]!;
      out[a * k + j] = s;
    }
  }
  w.set(out);
}

/** Symmetric FastICA on whitened `z` (`k × n`); returns W (`k × k`). */
function icaParallel(
  z: Float64Array,
  k: number,
  n: number,
  wInit: Float64Array,
  alpha: number,
  maxIterations: number,
  tolerance: number,
): { w: Float64Array; iterations: number; converged: boolean } {
  // sample-major copy (n × k): one pass over the data per iteration, all in cache
  const zt = new Float64Array(n * k);
  for (let j = 0; j < k; j++) for (let t = 0; t < n; t++) zt[t * k + j] = z[j * n + t]!;
  const w = Float64Array.from(wInit);
  symmetricDecorrelation(w, k);
  const y = new Float64Array(k);
  const gPrime = new Float64Array(k);
  const w1 = new Float64Array(k * k);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    w1.fill(0);
    gPrime.fill(0);
    for (let t = 0; t < n; t++) {
      const o = t * k;
      // y = tanh(α W z_t); accumulate g(y) z_tᵀ and g'(y)
      for (let i = 0; i < k; i++) {
        let s = 0;
        const wo = i * k;
        for (let j = 0; j < k; j++) s += w[wo + j]! * zt[o + j]!;
        const g = Math.tanh(alpha * s);
        y[i] = g;
        gPrime[i]! += 1 - g * g;
      }
      for (let i = 0; i < k; i++) {
        const g = y[i]!;
        const wo = i * k;
        for (let j = 0; j < k; j++) w1[wo + j]! += g * zt[o + j]!;
      }
    }
    // W1 = g zᵀ / n − diag(mean g') W
    for (let i = 0; i < k; i++) {
      const d = (alpha * gPrime[i]!) / n;
      for (let j = 0; j < k; j++) w1[i * k + j] = w1[i * k + j]! / n - d * w[i * k + j]!;
    }
    symmetricDecorrelation(w1, k);
    let lim = 0;
    for (let i = 0; i < k; i++) {
      let dot = 0;
      for (let j = 0; j < k; j++) dot += w1[i * k + j]! * w[i * k + j]!;
      lim = Math.max(lim, Math.abs(Math.abs(dot) - 1));
    }
    w.set(w1);
    if (lim < tolerance) {
      converged = true;
      break;
    }
  }
  return { w, iterations, converged };
}

/** Deflation FastICA on whitened `z` (`k × n`); returns W (`k × k`). */
function icaDeflation(
  z: Float64Array,
  k: number,
  n: number,
  wInit: Float64Array,
  alpha: number,
  maxIterations: number,
  tolerance: number,
): { w: Float64Array; iterations: number; converged: boolean } {
  const w = new Float64Array(k * k);
  const proj = new Float64Array(n);
  let iterations = 0;
  let converged = true;
  for (let c = 0; c < k; c++) {
    let v = Float64Array.from(wInit.subarray(c * k, (c + 1) * k));
    normalise(v);
    let it = 0;
    let done = false;
    while (it < maxIterations) {
      it++;
      // proj = vᵀ z
      proj.fill(0);
      for (let j = 0; j < k; j++) {
        const vj = v[j]!;
        const zo = j * n;
        for (let t = 0; t < n; t++) proj[t]! += vj * z[zo + t]!;
      }
      let d = 0;
      for (let t = 0; t < n; t++) {
        const gv = Math.tanh(alpha * proj[t]!);
        proj[t] = gv;
        d += 1 - gv * gv;
      }
      const gPrime = (alpha * d) / n;
      const v1 = new Float64Array(k);
      for (let j = 0; j < k; j++) {
        const zo = j * n;
        let s = 0;
        for (let t = 0; t < n; t++) s += z[zo + t]! * proj[t]!;
        v1[j] = s / n - gPrime * v[j]!;
      }
      // Gram–Schmidt against the components already found
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let j = 0; j < k; j++) dot += v1[j]! * w[p * k + j]!;
        for (let j = 0; j < k; j++) v1[j]! -= dot * w[p * k + j]!;
      }
      normalise(v1);
      let dot = 0;
      for (let j = 0; j < k; j++) dot += v1[j]! * v[j]!;
      v = v1;
      if (Math.abs(Math.abs(dot) - 1) < tolerance) {
        done = true;
        break;
      }
    }
    if (!done) converged = false;
    iterations = Math.max(iterations, it);
    w.set(v, c * k);
  }
  return { w, iterations, converged };
}

function normalise(v: Float64Array): void {
  let s = 0;
  for (const x of v) s += x * x;
  const f = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i]! *= f;
}

/** Validated FastICA settings. @internal */
export interface IcaSettings {
  readonly algorithm: 'parallel' | 'deflation';
  readonly alpha: number;
  readonly maxIterations: number;
  readonly tolerance: number;
  readonly seed: number;
}

/**
 * FastICA on an already validated matrix: whitening + fixed point. Throws if
 * `k` exceeds the rank (`arg` names the option at fault).
 *
 * @internal
 */
export function fastIcaOn(
  fn: string,
  m: RowMatrix,
  k: number,
  s: IcaSettings,
  arg = 'options.components',
): FastIcaResult {
  const wh = whiten(fn, m, k, arg);
  const rng = makeRng(s.seed, fn);
  const wInit = new Float64Array(k * k);
  for (let i = 0; i < wInit.length; i++) wInit[i] = rng.normal();
  const run = s.algorithm === 'parallel' ? icaParallel : icaDeflation;
  const { w, iterations, converged } = run(wh.z, k, wh.n, wInit, s.alpha, s.maxIterations, s.tolerance);
  const cols = m.cols;
  const n = wh.n;
  // sources = W z (k × n) transposed to n × k; W is orthogonal, so each has unit mean square.
  const sources = new Float64Array(n * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const wij = w[i * k + j]!;
      if (wij === 0) continue;
      const zo = j * n;
      for (let t = 0; t < n; t++) sources[t * k + i]! += wij * wh.z[zo + t]!;
    }
  }
  // unmixing = W · whitening (k × cols)
  const unmixing = new Float64Array(k * cols);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const wij = w[i * k + j]!;
      for (let c = 0; c < cols; c++) unmixing[i * cols + c]! += wij * wh.whitening[j * cols + c]!;
    }
  }
  // mixing = pinv(unmixing) = whiteningᵀ·(whitening whiteningᵀ)^-1 · Wᵀ; whitening rows are
  // orthogonal axes scaled by 1/σ, so pinv(whitening) = axes ᵀ·diag(σ) = whiteningᵀ · diag(σ²).
  const mixing = new Float64Array(cols * k);
  for (let j = 0; j < k; j++) {
    let norm2 = 0;
    for (let c = 0; c < cols; c++) norm2 += wh.whitening[j * cols + c]! ** 2;
    // pinv(whitening)[:, j] = whitening[j, :]ᵀ / |whitening[j, :]|²
    for (let i = 0; i < k; i++) {
      const f = w[i * k + j]! / norm2; // (Wᵀ)[j, i] = W[i, j]
      for (let c = 0; c < cols; c++) mixing[c * k + i]! += wh.whitening[j * cols + c]! * f;
    }
  }
  return {
    sources: { values: sources, rows: n, cols: k },
    unmixing: { values: unmixing, rows: k, cols },
    mixing: { values: mixing, rows: cols, cols: k },
    whitening: { values: wh.whitening, rows: k, cols },
    mean: wh.mean,
    iterations,
    converged,
  };
}

/**
 * Validates FastICA options shared by {@link fastIca} and Activation
 * Clustering.
 *
 * @internal
 */
export function checkIcaSettings(
  fn: string,
  o: { algorithm: unknown; alpha: unknown; maxIterations: unknown; tolerance: unknown; seed: unknown },
  prefix = 'options.',
): void {
  assertOneOf(fn, `${prefix}algorithm`, o.algorithm, ['parallel', 'deflation'] as const);
  assertInRange(fn, `${prefix}alpha`, o.alpha, 1, 2);
  assertInteger(fn, `${prefix}maxIterations`, o.maxIterations, 1);
  assertInRange(fn, `${prefix}tolerance`, o.tolerance, 0, Infinity, { minOpen: true });
  assertFiniteNumber(fn, `${prefix}seed`, o.seed);
}

/**
 * FastICA: estimates `components` statistically independent, non-Gaussian
 * sources whose linear mixture is `x` (one sample per row). Whitens by PCA
 * (ml-matrix symmetric eigendecomposition), then runs the fixed-point
 * iteration with the logcosh contrast from a seeded normal initial matrix.
 * Same seed, same result.
 *
 * @param x - Observations, one sample per row.
 * @param options - {@link FastIcaOptions}.
 * @returns Sources (unit variance), unmixing/mixing/whitening matrices, the
 *   mean and convergence information.
 * @throws {@link BackdoorKitError} for a bad matrix, options out of range, or
 *   more components than the data's rank.
 *
 * @example
 * ```ts
 * // two mixed signals → two sources, each matching one original up to sign and scale
 * const { sources } = stats.fastIca(mixed, { components: 2, seed: 0 });
 * ```
 */
export function fastIca(x: MatrixInput, options: FastIcaOptions = {}): FastIcaResult {
  const fn = 'stats.fastIca';
  const o = resolveOptions(fn, FAST_ICA_DEFAULTS, options);
  const m = toRowMatrix(fn, 'x', x);
  const k = o.components ?? Math.min(m.rows, m.cols);
  assertInteger(fn, 'options.components', k, 1, Math.min(m.rows, m.cols));
  assertOneOf(fn, 'options.fun', o.fun, ['logcosh'] as const);
  checkIcaSettings(fn, o);
  return fastIcaOn(fn, m, k, o);
}
