/**
 * Typed errors with stable codes. Every public function of backdoor-kit throws
 * one of these (never a bare `Error`, never a crash deep inside tfjs) when its
 * input is bad, naming the function, the argument and the offending value.
 *
 * @packageDocumentation
 */

/** Stable machine-readable error codes. Never renamed once released. */
export type BackdoorKitErrorCode =
  | 'INVALID_ARGUMENT'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE'
  | 'EMPTY_DATA'
  | 'LABEL_OUT_OF_RANGE'
  | 'LAYER_NOT_FOUND'
  | 'MISSING_CAPABILITY'
  | 'UNSUPPORTED'
  | 'INVALID_FORMAT'
  | 'MISSING_DEPENDENCY'
  | 'ABORTED';

/** Where an error arose: the public function and the argument at fault. */
export interface ErrorContext {
  /** Public function that rejected its input, e.g. `'fromLayersModel'`. */
  readonly fn: string;
  /** Argument (or path into it) at fault, e.g. `'data.y'`. */
  readonly arg?: string;
  /** The offending value, summarised for the message. */
  readonly value?: unknown;
}

/** Short, safe textual rendering of any value for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const head = value.slice(0, 6).map(describeValue).join(', ');
    return `[${head}${value.length > 6 ? `, ... (${value.length} items)` : ''}]`;
  }
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name}(${(value as unknown as { length: number }).length})`;
  }
  if (typeof value === 'object') {
    const shape = (value as { shape?: unknown }).shape;
    if (Array.isArray(shape)) return `Tensor[${shape.join(',')}]`;
    return Object.prototype.toString.call(value);
  }
  return typeof value;
}

/**
 * Base class of every error backdoor-kit throws on purpose.
 *
 * @example
 * ```ts
 * try { await activationClustering.detect(clf, data, { dims: 0 }); }
 * catch (e) { if (e instanceof BackdoorKitError) console.log(e.code, e.arg); }
 * ```
 */
export class BackdoorKitError extends Error {
  /** Stable code, safe to branch on. */
  readonly code: BackdoorKitErrorCode;
  /** The public function that threw. */
  readonly fn: string;
  /** The argument at fault, when there is one. */
  readonly arg: string | undefined;
  /** Rendered offending value, when there is one. */
  readonly value: string | undefined;

  constructor(code: BackdoorKitErrorCode, context: ErrorContext, detail: string) {
    const where = context.arg === undefined ? `'${context.fn}'` : `Argument '${context.arg}' passed to '${context.fn}'`;
    const shown = 'value' in context ? ` (got ${describeValue(context.value)})` : '';
    super(`${where} ${detail}${shown}.`);
    this.name = new.target.name;
    this.code = code;
    this.fn = context.fn;
    this.arg = context.arg;
    this.value = 'value' in context ? describeValue(context.value) : undefined;
  }
}

/** A value is of the wrong type or outside its allowed range. Code `INVALID_ARGUMENT`. */
export class InvalidArgumentError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('INVALID_ARGUMENT', context, detail);
  }
}

/** A tensor has the wrong rank or shape, or two inputs disagree. Code `SHAPE_MISMATCH`. */
export class ShapeError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('SHAPE_MISMATCH', context, detail);
  }
}

/** A tensor or array holds NaN or ±Infinity. Code `NON_FINITE`. */
export class NonFiniteError extends BackdoorKitError {
  constructor(context: ErrorContext, detail = 'must hold only finite values') {
    super('NON_FINITE', context, detail);
  }
}

/** A data set or array is empty where samples are needed. Code `EMPTY_DATA`. */
export class EmptyDataError extends BackdoorKitError {
  constructor(context: ErrorContext, detail = 'must not be empty') {
    super('EMPTY_DATA', context, detail);
  }
}

/** A label is not an integer in [0, numClasses). Code `LABEL_OUT_OF_RANGE`. */
export class LabelError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('LABEL_OUT_OF_RANGE', context, detail);
  }
}

/** A layer name that the model does not have. Code `LAYER_NOT_FOUND`. */
export class LayerNotFoundError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('LAYER_NOT_FOUND', context, detail);
  }
}

/** The classifier lacks a capability the function needs. Code `MISSING_CAPABILITY`. */
export class CapabilityError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('MISSING_CAPABILITY', context, detail);
  }
}

/** A model or configuration that the library cannot handle. Code `UNSUPPORTED`. */
export class UnsupportedError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('UNSUPPORTED', context, detail);
  }
}

/** A file or buffer is not in the expected format. Code `INVALID_FORMAT`. */
export class FormatError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('INVALID_FORMAT', context, detail);
  }
}

/** An optional package needed by the function is not installed. Code `MISSING_DEPENDENCY`. */
export class DependencyError extends BackdoorKitError {
  constructor(context: ErrorContext, detail: string) {
    super('MISSING_DEPENDENCY', context, detail);
  }
}

/** Work was stopped through an `AbortSignal`. Code `ABORTED`. */
export class AbortError extends BackdoorKitError {
  constructor(context: ErrorContext, detail = 'was aborted') {
    super('ABORTED', context, detail);
  }
}
