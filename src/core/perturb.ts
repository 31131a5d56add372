/**
 * The perturbed forward pass of a tfjs-layers model: the model re-computed
 * with tf ops from its layers' weights, with per-unit coefficients on chosen
 * conv/dense layers (ANP's neuron masks and perturbations, Wu & Wang, NeurIPS
 * 2021), and weight scaling per unit. Reached through
 * `LayersModelClassifier.perturbedForward` and `withScaledKernels`; defences
 * never read the model itself.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import type { PerturbedForward, UnitCoefficients } from './classifier.js';
import { UnsupportedError } from './errors.js';

/** tfjs-layers classes the perturbed forward pass re-implements (ANP's perturbations run on these). */
export const PERTURBABLE_LAYER_CLASSES: readonly string[] = Object.freeze([
  'InputLayer',
  'Conv2D',
  'Dense',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalMaxPooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Reshape',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Softmax',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'BatchNormalization',
  'BackdoorKitUnitMask',
]);

type Activation = (x: tf.Tensor) => tf.Tensor;

const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  softmax: (x) => tf.softmax(x),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
  softplus: (x) => tf.softplus(x),
  softsign: (x) => tf.div(x, tf.add(1, tf.abs(x))),
  swish: (x) => tf.mul(x, tf.sigmoid(x)),
};

/** One step of the chain. Affine steps carry the perturbable units. */
interface Step {
  readonly name: string;
  readonly className: string;
  /** For conv/dense: the linear map without bias. */
  readonly linear?: (x: tf.Tensor) => tf.Tensor;
  readonly bias?: tf.Tensor1D | null;
  readonly activation?: string;
  readonly units?: number;
  /** For every other layer: the whole computation. */
  readonly apply?: (x: tf.Tensor) => tf.Tensor;
}

function weightOf(layer: tfl.layers.Layer, suffix: string): tf.Tensor | null {
  const v = layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`) || w.originalName === suffix);
  return v === undefined ? null : v.read();
}

function activationOf(fn: string, layer: tfl.layers.Layer, name: unknown): string {
  const key = typeof name === 'string' ? name : 'linear';
  if (!(key in ACTIVATIONS)) {
    throw new UnsupportedError(
      { fn, arg: 'classifier', value: `${layer.getClassName()} '${layer.name}' activation '${key}'` },
      `uses an activation the perturbed forward pass cannot re-compute (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return key;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0] ?? fallback), Number(v[1] ?? v[0] ?? fallback)];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

function unsupported(fn: string, layer: tfl.layers.Layer, detail: string): never {
  throw new UnsupportedError(
    { fn, arg: 'classifier', value: `${layer.getClassName()} '${layer.name}'` },
    `has a layer the perturbed forward pass cannot re-compute: ${detail}`,
  );
}

/** Compiles one layer into a {@link Step}, or throws UnsupportedError naming its class. */
function compileLayer(fn: string, layer: tfl.layers.Layer): Step | null {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') {
    unsupported(fn, layer, `dataFormat '${String(cfg.dataFormat)}' (only channelsLast)`);
  }
  switch (cls) {
    case 'InputLayer':
      return null;
    case 'Conv2D': {
      const kernel = weightOf(layer, 'kernel') as tf.Tensor4D;
      const padding = cfg.padding as string;
      if (padding !== 'valid' && padding !== 'same') unsupported(fn, layer, `padding '${padding}'`);
      const strides = pair(cfg.strides, 1);
      const dilations = pair(cfg.dilationRate, 1);
      return {
        name,
        className: cls,
        linear: (x) => tf.conv2d(x as tf.Tensor4D, kernel, strides, padding as 'valid' | 'same', 'NHWC', dilations),
        bias: cfg.useBias === false ? null : (weightOf(layer, 'bias') as tf.Tensor1D),
        activation: activationOf(fn, layer, cfg.activation),
        units: kernel.shape[3],
      };
    }
    case 'Dense': {
      const kernel = weightOf(layer, 'kernel') as tf.Tensor2D;
      const [inDim, units] = kernel.shape;
      return {
        name,
        className: cls,
        linear: (x) => {
          if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, kernel);
          const flat = tf.matMul(tf.reshape(x, [-1, inDim]), kernel);
          return tf.reshape(flat, [...x.shape.slice(0, -1), units]);
        },
        bias: cfg.useBias === false ? null : (weightOf(layer, 'bias') as tf.Tensor1D),
        activation: activationOf(fn, layer, cfg.activation),
        units,
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const size = pair(cfg.poolSize, 2);
      const strides = cfg.strides === null || cfg.strides === undefined ? size : pair(cfg.strides, 1);
      const padding = cfg.padding as 'valid' | 'same';
      const pool = cls === 'MaxPooling2D' ? tf.maxPool : tf.avgPool;
      return { name, className: cls, apply: (x) => pool(x as tf.Tensor4D, size, strides, padding) };
    }
    case 'GlobalMaxPooling2D':
      return { name, className: cls, apply: (x) => tf.max(x, [1, 2]) };
    case 'GlobalAveragePooling2D':
      return { name, className: cls, apply: (x) => tf.mean(x, [1, 2]) };
    case 'Flatten':
      return { name, className: cls, apply: (x) => tf.reshape(x, [x.shape[0]!, -1]) };
    case 'Reshape': {
      const target = cfg.targetShape as number[];
      return { name, className: cls, apply: (x) => tf.reshape(x, [x.shape[0]!, ...target]) };
    }
    case 'Activation': {
      const act = ACTIVATIONS[activationOf(fn, layer, cfg.activation)]!;
      return { name, className: cls, activation: cfg.activation as string, apply: act };
    }
    case 'ReLU': {
      const max = cfg.maxValue;
      return {
        name,
        className: cls,
        apply: (x) => (typeof max === 'number' ? tf.clipByValue(x, 0, max) : tf.relu(x)),
      };
    }
    case 'LeakyReLU': {
      const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 0.3;
      return { name, className: cls, apply: (x) => tf.leakyRelu(x, alpha) };
    }
    case 'ELU': {
      const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 1;
      if (alpha !== 1) unsupported(fn, layer, `ELU alpha ${alpha} (only 1)`);
      return { name, className: cls, apply: (x) => tf.elu(x) };
    }
    case 'Softmax': {
      const axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
      return { name, className: cls, activation: 'softmax', apply: (x) => tf.softmax(x, axis) };
    }
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      return { name, className: cls, apply: (x) => x };
    case 'BatchNormalization': {
      const axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
      const rank = (layer.outputShape as Array<number | null>).length;
      if (axis !== -1 && axis !== rank - 1) unsupported(fn, layer, `BatchNormalization axis ${axis} (only the last)`);
      const eps = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-3;
      const gamma = weightOf(layer, 'gamma');
      const beta = weightOf(layer, 'beta');
      const mean = weightOf(layer, 'moving_mean');
      const variance = weightOf(layer, 'moving_variance');
      if (mean === null || variance === null) unsupported(fn, layer, 'BatchNormalization without moving statistics');
      return {
        name,
        className: cls,
        apply: (x) => tf.batchNorm(x, mean, variance, beta ?? undefined, gamma ?? undefined, eps),
      };
    }
    case 'BackdoorKitUnitMask': {
      const mask = weightOf(layer, 'mask');
      if (mask === null) unsupported(fn, layer, 'UnitMask without its mask weight');
      return { name, className: cls, apply: (x) => tf.mul(x, mask) };
    }
    default:
      return unsupported(fn, layer, `class ${cls} (supported: ${PERTURBABLE_LAYER_CLASSES.join(', ')})`);
  }
}

/** The model as a chain of steps; checks the topology is linear. */
function compileModel(fn: string, model: tfl.LayersModel): Step[] {
  const layers = model.layers;
  const steps: Step[] = [];
  let previous: tfl.layers.Layer | null = null;
  for (const layer of layers) {
    const isInput = layer.getClassName() === 'InputLayer';
    if (!isInput) {
      const nodes = layer.inboundNodes;
      const inbound = nodes.length === 1 ? nodes[0]!.inboundLayers : [];
      const ok =
        nodes.length === 1 &&
        inbound.length === 1 &&
        (previous === null ? inbound[0]!.getClassName() === 'InputLayer' : inbound[0] === previous);
      if (!ok) {
        throw new UnsupportedError(
          { fn, arg: 'classifier', value: `${layer.getClassName()} '${layer.name}'` },
          'must be a linear chain of layers (each layer fed by the one before it, used once); the perturbed forward pass cannot run branching models',
        );
      }
      previous = layer;
    }
    const step = compileLayer(fn, layer);
    if (step !== null) steps.push(step);
  }
  const last = previous;
  if (last === null || model.outputs[0]!.sourceLayer !== last) {
    throw new UnsupportedError({ fn, arg: 'classifier' }, 'must output the last layer of its chain');
  }
  return steps;
}

/**
 * The compiled chain: `forward(x, coeffs)` runs it with per-unit
 * coefficients on the perturbable steps and returns the pre-softmax scores
 * when the model ends in a softmax (`outputsLogits` true), else the model's
 * raw output.
 */
class LayersPerturbedForward implements PerturbedForward {
  private readonly steps: Step[];
  /** Index into `steps` of each perturbable step. */
  private readonly perturbable: number[];
  readonly layers: readonly string[];
  readonly units: readonly number[];
  readonly hasBias: readonly boolean[];
  readonly outputsLogits: boolean;
  private readonly dropFinalSoftmax: 'layer' | 'activation' | null;

  constructor(model: tfl.LayersModel, outputsLogits: boolean, perturbed: readonly string[], fn: string) {
    this.steps = compileModel(fn, model);
    this.layers = Object.freeze([...perturbed]);
    this.perturbable = perturbed.map((n) => {
      const i = this.steps.findIndex((s) => s.name === n);
      if (i < 0 || this.steps[i]!.linear === undefined) {
        throw new UnsupportedError({ fn, arg: 'layers', value: n }, 'must name a Conv2D or Dense layer of the chain');
      }
      return i;
    });
    this.units = this.perturbable.map((i) => this.steps[i]!.units!);
    this.hasBias = this.perturbable.map((i) => {
      const b = this.steps[i]!.bias;
      return b !== null && b !== undefined;
    });
    const last = this.steps[this.steps.length - 1]!;
    if (outputsLogits) {
      this.dropFinalSoftmax = null;
      this.outputsLogits = true;
    } else if (last.apply !== undefined && last.activation === 'softmax') {
      this.dropFinalSoftmax = 'layer';
      this.outputsLogits = true;
    } else if (last.linear !== undefined && last.activation === 'softmax') {
      this.dropFinalSoftmax = 'activation';
      this.outputsLogits = true;
    } else {
      this.dropFinalSoftmax = null;
      this.outputsLogits = false;
    }
  }

  /** Runs the chain; `coeffs[j]` applies to `steps[perturbable[j]]` (null: unperturbed). */
  forward(x: tf.Tensor, coeffs: ReadonlyArray<UnitCoefficients | null>): tf.Tensor2D {
    let h = x;
    const n = this.steps.length;
    const coeffAt = new Map<number, UnitCoefficients | null>();
    this.perturbable.forEach((s, j) => coeffAt.set(s, coeffs[j] ?? null));
    for (let i = 0; i < n; i++) {
      const step = this.steps[i]!;
      const isLast = i === n - 1;
      if (step.apply !== undefined) {
        if (isLast && this.dropFinalSoftmax === 'layer') continue;
        h = step.apply(h);
        continue;
      }
      let z = step.linear!(h);
      const c = coeffAt.get(i) ?? null;
      if (c !== null) z = tf.mul(z, c.weight);
      if (step.bias !== null && step.bias !== undefined) {
        z = tf.add(z, c !== null && c.bias !== null ? tf.mul(step.bias, c.bias) : step.bias);
      }
      h = isLast && this.dropFinalSoftmax === 'activation' ? z : ACTIVATIONS[step.activation!]!(z);
    }
    return h as tf.Tensor2D;
  }
}

/**
 * Compiles `model` (a linear chain of supported layers) into a
 * {@link PerturbedForward} whose `perturbed` layers take per-unit
 * coefficients.
 *
 * @throws {@link UnsupportedError} naming the first layer (or topology) it cannot re-compute.
 */
export function perturbedForwardOf(
  model: tfl.LayersModel,
  outputsLogits: boolean,
  perturbed: readonly string[],
  fn: string,
): PerturbedForward {
  return new LayersPerturbedForward(model, outputsLogits, perturbed, fn);
}
