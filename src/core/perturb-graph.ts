/**
 * The perturbed forward pass on any tfjs-layers graph (residual, nested,
 * depthwise-separable): the model runs as itself, and each perturbed layer
 * reads its unit kernel and bias multiplied per output unit by the given
 * coefficients. Scaling a unit's kernel is scaling its weighted input `w·x`,
 * so this is ANP's neuron perturbation (Wu & Wang, NeurIPS 2021) on every
 * layer with a per-unit kernel: Dense, Conv1D, Conv2D, DepthwiseConv2D
 * (units: channels × multiplier) and SeparableConv2D (units: the pointwise
 * filters). A layer whose only consumer is a BatchNormalization has its BN
 * neurons perturbed instead (γ by the weight coefficient, β by the bias
 * one), as ANP's code does for BN networks. Used for every model the chain
 * interpreter of `perturb.ts` does not take (branches, sub-models, other
 * layer classes, BatchNormalization).
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import type { PerturbedForward, UnitCoefficients } from './classifier.js';
import { UnsupportedError } from './errors.js';
import { resolveNested } from './nested.js';

/** Layer classes with a per-unit kernel, and the property holding it. */
export const UNIT_KERNEL: Readonly<Record<string, string>> = Object.freeze({
  Dense: 'kernel',
  Conv1D: 'kernel',
  Conv2D: 'kernel',
  DepthwiseConv2D: 'depthwiseKernel',
  SeparableConv2D: 'pointwiseKernel',
});

/** The part of a tfjs LayerVariable this module touches. */
interface ReadableVariable {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
  readonly shape: number[];
}

interface Site {
  readonly name: string;
  readonly kernel: ReadableVariable;
  readonly bias: ReadableVariable | null;
  readonly units: number;
}

/** The per-unit kernel and bias of a layer, or an UnsupportedError naming it. */
export function unitKernelOf(fn: string, layer: tfl.layers.Layer, name: string): Site {
  const className = layer.getClassName();
  const prop = UNIT_KERNEL[className];
  const holder = layer as unknown as Record<string, ReadableVariable | null | undefined>;
  const kernel = prop === undefined ? undefined : holder[prop];
  if (kernel === undefined || kernel === null) {
    throw new UnsupportedError(
      { fn, arg: 'layers', value: name },
      `must name a layer with a per-unit kernel (${Object.keys(UNIT_KERNEL).join(', ')}); it is a ${className}`,
    );
  }
  const shape = kernel.shape;
  // depthwise kernels are [kh, kw, channels, multiplier]: one unit per (channel, multiplier)
  const units = className === 'DepthwiseConv2D' ? shape[2]! * shape[3]! : shape[shape.length - 1]!;
  const bias = holder['bias'] ?? null;
  return { name, kernel, bias: bias ?? null, units };
}

/**
 * The BatchNormalization layer that is the only consumer of `layer` (on the
 * last axis, with both γ and β), or null.
 */
export function followingBatchNorm(
  layer: tfl.layers.Layer,
): { gamma: ReadableVariable; beta: ReadableVariable } | null {
  const out = layer.outboundNodes;
  if (out.length !== 1) return null;
  const next = out[0]!.outboundLayer;
  if (next.getClassName() !== 'BatchNormalization') return null;
  const axis = (next.getConfig() as { axis?: number }).axis;
  if (axis !== undefined && axis !== -1 && axis !== (layer.outputShape as number[]).length - 1) return null;
  const holder = next as unknown as { gamma?: ReadableVariable | null; beta?: ReadableVariable | null };
  if (holder.gamma == null || holder.beta == null) return null;
  return { gamma: holder.gamma, beta: holder.beta };
}

/** `coeff` (shape `[units]`) shaped to multiply `kernel` per output unit. */
function perUnit(kernel: ReadableVariable, coeff: tf.Tensor, depthwise: boolean): tf.Tensor {
  if (!depthwise) return coeff;
  const s = kernel.shape;
  return tf.reshape(coeff, [s[2]!, s[3]!]);
}

/**
 * A {@link PerturbedForward} that runs the model itself with scaled kernel
 * and bias reads. `forward` returns the model's output (probabilities, or
 * logits for a logits model).
 */
export class GraphPerturbedForward implements PerturbedForward {
  readonly layers: readonly string[];
  readonly units: readonly number[];
  readonly hasBias: readonly boolean[];
  readonly outputsLogits: boolean;
  private readonly sites: readonly (Site & { readonly depthwise: boolean })[];

  constructor(
    private readonly model: tfl.LayersModel,
    outputsLogits: boolean,
    perturbed: readonly string[],
    fn: string,
  ) {
    this.sites = perturbed.map((name) => {
      const found = resolveNested(model, name);
      if (found === undefined)
        throw new UnsupportedError({ fn, arg: 'layers', value: name }, 'is not a layer of the model');
      const site = unitKernelOf(fn, found.layer, name);
      const bn = followingBatchNorm(found.layer);
      // conv → BN: the neuron is the BN's (ANP perturbs BN neurons in BN networks: γ as weight, β as bias)
      if (bn !== null) return { name, kernel: bn.gamma, bias: bn.beta, units: site.units, depthwise: false };
      return { ...site, depthwise: found.layer.getClassName() === 'DepthwiseConv2D' };
    });
    this.layers = Object.freeze([...perturbed]);
    this.units = Object.freeze(this.sites.map((s) => s.units));
    this.hasBias = Object.freeze(this.sites.map((s) => s.bias !== null));
    this.outputsLogits = outputsLogits;
  }

  forward(x: tf.Tensor, coeffs: ReadonlyArray<UnitCoefficients | null>): tf.Tensor2D {
    const restore: Array<() => void> = [];
    const patch = (v: ReadableVariable, scale: (t: tf.Tensor) => tf.Tensor): void => {
      const own = Object.prototype.hasOwnProperty.call(v, 'read');
      const original = v.read;
      v.read = () => scale(original.call(v));
      restore.push(() => {
        if (own) v.read = original;
        else delete (v as Partial<ReadableVariable>).read;
      });
    };
    try {
      this.sites.forEach((site, j) => {
        const c = coeffs[j];
        if (c === undefined || c === null) return;
        const w = perUnit(site.kernel, c.weight, site.depthwise);
        patch(site.kernel, (k) => tf.mul(k, w));
        const b = c.bias;
        if (site.bias !== null && b !== null) patch(site.bias, (t) => tf.mul(t, b));
      });
      return this.model.apply(x, { training: false }) as tf.Tensor2D;
    } finally {
      for (const r of restore.reverse()) r();
    }
  }
}

/**
 * Multiplies, in place, what each named layer's units are perturbed through
 * (see {@link GraphPerturbedForward}) by `scales[layer]`: the following
 * BatchNormalization's γ for a conv → BN, else the unit kernel (biases kept).
 * A factor of 0 gives exactly the model a mask of 0 stood for while ANP
 * optimised. The chain interpreter's models (no BN) get their kernels
 * scaled, as before.
 */
export function scaleUnitsInPlace(fn: string, model: tfl.LayersModel, scales: ReadonlyMap<string, Float32Array>): void {
  for (const [name, keep] of scales) {
    const found = resolveNested(model, name);
    if (found === undefined)
      throw new UnsupportedError({ fn, arg: 'scales', value: name }, 'is not a layer of the model');
    const bn = followingBatchNorm(found.layer);
    const variable = bn !== null ? bn.gamma : unitKernelOf(fn, found.layer, name).kernel;
    const depthwise = bn === null && found.layer.getClassName() === 'DepthwiseConv2D';
    tf.tidy(() => {
      variable.write(tf.mul(variable.read(), perUnit(variable, tf.tensor1d(keep, 'float32'), depthwise)));
    });
  }
}
