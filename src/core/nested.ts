/**
 * Nested tfjs-layers models: a backbone used as a layer of another model
 * (transfer learning, TrojanNet's `insert`). Layers inside sub-models get
 * qualified names, `outer/inner` (`small_cnn/conv1`), and can be read,
 * masked and re-weighted like top-level ones.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { UnsupportedError } from './errors.js';
import type { ConfigDict, LayerConfigEntry } from './model-config.js';

/** Separator of qualified layer names. */
export const PATH_SEPARATOR = '/';

/** A layer with the containers it sits in (outermost first, the model itself excluded). */
export interface NestedLayer {
  /** Qualified name: container names and the layer name joined by `/`. */
  readonly name: string;
  readonly layer: tfl.layers.Layer;
  /** The sub-models holding `layer`, outermost first. */
  readonly containers: readonly tfl.LayersModel[];
}

/** Whether a layer is itself a model (a Sequential or functional sub-model). */
export function isContainer(layer: tfl.layers.Layer): layer is tfl.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/**
 * Every layer of `model` in order, sub-models listed (as layers, under their
 * own name) before their own layers (qualified names).
 */
export function flattenLayers(model: tfl.LayersModel): NestedLayer[] {
  const out: NestedLayer[] = [];
  const visit = (layers: readonly tfl.layers.Layer[], prefix: string, containers: tfl.LayersModel[]): void => {
    for (const layer of layers) {
      const name = `${prefix}${layer.name}`;
      out.push({ name, layer, containers });
      if (isContainer(layer)) visit(layer.layers, `${name}${PATH_SEPARATOR}`, [...containers, layer]);
    }
  };
  visit(model.layers, '', []);
  return out;
}

/** The layer with qualified name `name`, or undefined. */
export function resolveNested(model: tfl.LayersModel, name: string): NestedLayer | undefined {
  return flattenLayers(model).find((l) => l.name === name);
}

/**
 * The index of the node through which `layer` takes part in the graph that
 * holds it. A sub-model built with an input shape has a node of its own,
 * reading its own input; that one is skipped. Layers called more than once
 * (shared) are refused.
 */
function graphNode(fn: string, layer: tfl.layers.Layer): number {
  const own = isContainer(layer) ? layer.inputs : [];
  const nodes = layer.inboundNodes
    .map((n, i) => ({ n, i }))
    .filter(({ n }) => own.length === 0 || !n.inputTensors.every((t) => own.includes(t)));
  if (nodes.length !== 1) {
    throw new UnsupportedError(
      { fn, arg: 'layer', value: layer.name },
      'is called more than once (shared); its output or inner layers cannot be addressed',
    );
  }
  return nodes[0]!.i;
}

/** The symbolic input a container receives in the graph it sits in (one input). */
function containerInput(fn: string, container: tfl.LayersModel): tfl.SymbolicTensor {
  const node = container.inboundNodes[graphNode(fn, container)]!;
  if (node.inputTensors.length !== 1) {
    throw new UnsupportedError({ fn, arg: 'layer', value: container.name }, 'is a sub-model with several inputs');
  }
  return node.inputTensors[0]!;
}

/**
 * A function computing the output of a (possibly nested) layer from the
 * model's input, as a chain of functional models: the outer graph up to the
 * first container's input, that container's graph up to the next one, ...,
 * then up to the layer. The models are built once; the caller keeps the result.
 */
export function outputFunction(fn: string, model: tfl.LayersModel, target: NestedLayer): (x: tf.Tensor) => tf.Tensor {
  const stages: tfl.LayersModel[] = [];
  let graph: tfl.LayersModel = model;
  for (const container of target.containers) {
    const input = containerInput(fn, container);
    // identity when the container reads the graph's own input
    if (!graph.inputs.includes(input)) stages.push(tfl.model({ inputs: graph.inputs, outputs: input }));
    graph = container;
  }
  const output = target.layer.getOutputAt(graphNode(fn, target.layer)) as tfl.SymbolicTensor;
  stages.push(tfl.model({ inputs: graph.inputs, outputs: output }));
  return (x) => stages.reduce<tf.Tensor>((a, stage) => stage.apply(a, { training: false }) as tf.Tensor, x);
}

/**
 * Copies weights from `src` to `dst` layer by layer, matched by name and
 * recursing into sub-models (so a sub-model that gained a mask layer still
 * gets its other layers' weights). Copies values, never shares.
 */
export function copyWeightsByName(src: tfl.LayersModel, dst: tfl.LayersModel): void {
  const byName = new Map(src.layers.map((l) => [l.name, l]));
  for (const layer of dst.layers) {
    const from = byName.get(layer.name);
    if (from === undefined) continue;
    if (isContainer(layer) && isContainer(from)) {
      copyWeightsByName(from, layer);
      continue;
    }
    const w = from.getWeights();
    if (w.length > 0) layer.setWeights(w);
  }
}

/**
 * The config holding a (possibly nested) layer's entry: the model's own
 * config, or a sub-model's config inside it, with whether that graph is a
 * Sequential and the layer's name inside it.
 */
export function configOf(
  fn: string,
  config: ConfigDict,
  sequential: boolean,
  qualified: string,
): { config: ConfigDict; sequential: boolean; leaf: string } {
  const parts = qualified.split(PATH_SEPARATOR);
  let current = config;
  let seq = sequential;
  for (const part of parts.slice(0, -1)) {
    const entries = current.layers as unknown as LayerConfigEntry[];
    const entry = entries.find((l) => (l.name ?? (l.config.name as string)) === part);
    if (entry === undefined || !Array.isArray(entry.config.layers)) {
      throw new UnsupportedError({ fn, arg: 'layer', value: qualified }, `'${part}' is not a sub-model in the config`);
    }
    current = entry.config;
    seq = entry.className === 'Sequential';
  }
  return { config: current, sequential: seq, leaf: parts[parts.length - 1]! };
}
