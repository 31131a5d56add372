/**
 * The geometry and array types the typed-array loops share.
 *
 * @packageDocumentation
 */

/**
 * Geometry of a 2-D convolution or pooling window in NHWC layout. Padding is
 * given as the rows/columns of zeros before the first input row/column;
 * the output size fixes the rest.
 */
export interface ConvGeometry {
  /** Batch size. */
  readonly batch: number;
  /** Input height. */
  readonly inHeight: number;
  /** Input width. */
  readonly inWidth: number;
  /** Input channels. */
  readonly inChannels: number;
  /** Output height. */
  readonly outHeight: number;
  /** Output width. */
  readonly outWidth: number;
  /** Output channels (equal to `inChannels` for pooling). */
  readonly outChannels: number;
  /** Filter (window) height. */
  readonly filterHeight: number;
  /** Filter (window) width. */
  readonly filterWidth: number;
  /** Vertical stride. */
  readonly strideHeight: number;
  /** Horizontal stride. */
  readonly strideWidth: number;
  /** Vertical dilation. */
  readonly dilationHeight: number;
  /** Horizontal dilation. */
  readonly dilationWidth: number;
  /** Zero rows above the input. */
  readonly padTop: number;
  /** Zero columns left of the input. */
  readonly padLeft: number;
}

/** Numeric input accepted by the loops. */
export type Values = Float32Array | Int32Array | Uint8Array | Float64Array;
