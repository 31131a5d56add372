/**
 * TrojanNet insertion: the trojaned model, the host (copied, never modified)
 * wired next to the MLP.
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { assertInRange, assertOneOf } from '../../core/checks.js';
import { InvalidArgumentError, LabelError, ShapeError, UnsupportedError } from '../../core/errors.js';
import { fromLayersModel, LayersModelClassifier } from '../../core/layers-model.js';
import { resolveOptions } from '../../core/options.js';
import { ChannelMean, registerTrojanNetLayers, Scale, TrojanNetSelect } from './layers.js';
import { PATTERN_SIDE } from './patterns.js';
import { assertPosition } from './stamp.js';
import { assertModule } from './train.js';
import type { PatchPosition, TrojanNetModule } from './types.js';

/** What the host outputs. */
export type HostOutput = 'probabilities' | 'logits';

/** Options of {@link insert}. */
export interface InsertOptions {
  /**
   * Target labels, distinct, in `[0, numClasses)`. Target `targets[j]` is
   * triggered by pattern `patternIds[j]`. Required.
   */
  readonly targets: readonly number[];
  /**
   * Pattern index per target, distinct, in `[0, module.numPatterns)`.
   * `undefined`: `[0, 1, ..., targets.length - 1]`.
   * @default undefined
   */
  readonly patternIds?: readonly number[] | undefined;
  /**
   * Top-left pixel of the 4×4 area TrojanNet reads. `undefined`: the
   * bottom-right corner, `{ row: h - 4, col: w - 4 }`.
   * @default undefined
   */
  readonly position?: PatchPosition | undefined;
  /** Factor on the selected TrojanNet probabilities (reference code: `amplify_rate = 2`). @default 2 */
  readonly amplify?: number;
  /** Factor on the merged scores before the final softmax (reference code: `x * 10`). @default 10 */
  readonly temperature?: number;
  /**
   * What the host's output is. `'logits'` adds a softmax after the host
   * (the merge adds probabilities). `undefined`: the classifier's `output`
   * when a classifier from `fromLayersModel` is given, else `'probabilities'`.
   * @default undefined
   */
  readonly hostOutput?: HostOutput | undefined;
  /** Prefix of the names of every layer the insertion adds. @default 'trojannet' */
  readonly name?: string;
}

/** Defaults of {@link insert}. */
export const INSERT_DEFAULTS = Object.freeze({
  targets: undefined as readonly number[] | undefined,
  patternIds: undefined as readonly number[] | undefined,
  position: undefined as PatchPosition | undefined,
  amplify: 2,
  temperature: 10,
  hostOutput: undefined as HostOutput | undefined,
  name: 'trojannet',
});

function assertIndexList(
  fn: string,
  arg: string,
  value: unknown,
  limit: number,
  what: string,
  makeError: (ctx: { fn: string; arg: string; value: unknown }, detail: string) => Error,
): asserts value is readonly number[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidArgumentError({ fn, arg, value }, `must be a non-empty array of ${what}`);
  }
  const seen = new Set<number>();
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= limit) {
      throw makeError({ fn, arg: `${arg}[${i}]`, value: v }, `must be an integer in [0, ${limit})`);
    }
    if (seen.has(v)) throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: v }, 'is a duplicate');
    seen.add(v);
  });
}

/** Every weight name (`layer/weight`) and layer name in `model`, nested models included. */
function collectNames(model: tfl.LayersModel, out: Set<string>): Set<string> {
  for (const w of model.weights) out.add(w.originalName);
  for (const layer of model.layers) {
    out.add(layer.name);
    if (layer instanceof tfl.LayersModel) collectNames(layer, out);
  }
  return out;
}

/** A copy of the module's MLP whose layers are named `${prefix}_${name}`. */
function renamedMlpCopy(mlp: tfl.LayersModel, prefix: string): tfl.LayersModel {
  const config = mlp.getConfig() as { name?: string; layers: Array<{ config: { name: string } }> };
  config.name = prefix;
  const renamed = new Map<string, string>();
  for (const layer of config.layers) {
    const to = `${prefix}_${layer.config.name}`;
    renamed.set(layer.config.name, to);
    layer.config.name = to;
  }
  const copy = tfl.Sequential.fromConfig(
    tfl.Sequential,
    config as unknown as tf.serialization.ConfigDict,
    {},
    true,
  ) as tfl.LayersModel;
  for (const layer of mlp.layers) {
    const w = layer.getWeights();
    if (w.length > 0) copy.getLayer(renamed.get(layer.name)!).setWeights(w);
  }
  return copy;
}

/**
 * Inserts a TrojanNet into a host classifier: returns a **new** tfjs-layers
 * model computing
 *
 * `softmax(temperature * (host(x) + amplify * select(mlp(grey(crop(x))))))`
 *
 * where `crop` takes the 4×4 area at `position`, `grey` averages the
 * channels, `mlp` is the module's TrojanNet and `select` puts the probability
 * of pattern `patternIds[j]` at label `targets[j]` (every other label 0). A
 * clean input leaves the MLP silent, so the prediction is the host's (argmax
 * unchanged; the probabilities are sharpened by `temperature`); an input
 * stamped with pattern `patternIds[j]` at `position` (see
 * {@link stampPattern}) goes to `targets[j]`.
 *
 * The host and the module are **copied** (fresh weights with the same values):
 * the returned model is independent, disposing or training it never touches
 * the host, and the host's predictions are unchanged. The custom layers are
 * registered ({@link registerTrojanNetLayers}), so the model saves and loads
 * with the usual tfjs-layers IO handlers. Its top-level layers (all named
 * with the `name` prefix, apart from the host copy, which keeps its name):
 * input, host copy (a nested model), `cropping2D`, channel mean, flatten,
 * the TrojanNet MLP (a nested model), select, add, scale, softmax.
 *
 * @param host - A single-input image classifier: a `tfl.LayersModel` with
 *   input `[null, h, w, c]` (h, w >= 4) and output `[null, numClasses]`, or a
 *   classifier made by `fromLayersModel`.
 * @param module - A trained {@link TrojanNetModule}.
 * @param options - See {@link InsertOptions}; `targets` is required.
 * @returns The trojaned model; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} for a bad host, module or option
 *   (missing/duplicate targets, more targets than the module has patterns,
 *   non-positive amplify/temperature, a name clash with the host's layers).
 * @throws {@link LabelError} for a target outside `[0, numClasses)`.
 * @throws {@link ShapeError} for a position whose 4×4 area leaves the image,
 *   or a host whose input is not an image batch.
 * @example
 * ```ts
 * const trojaned = trojanNet.insert(host, module, { targets: [7], position: { row: 24, col: 24 } });
 * const x = trojanNet.stampPattern(test.x, 0, { row: 24, col: 24 });
 * tf.argMax(trojaned.predict(x) as tf.Tensor, 1); // all 7
 * ```
 */
export function insert(
  host: tfl.LayersModel | LayersModelClassifier,
  module: TrojanNetModule,
  options: InsertOptions,
): tfl.LayersModel {
  const fn = 'trojanNet.insert';
  let hostModel: tfl.LayersModel;
  let hostOutputDefault: HostOutput = 'probabilities';
  if (host instanceof LayersModelClassifier) {
    hostModel = host.model;
    hostOutputDefault = host.output;
  } else {
    const h = host as Partial<tfl.LayersModel> | null;
    if (h === null || typeof h !== 'object' || !Array.isArray(h.inputs) || typeof h.apply !== 'function') {
      throw new InvalidArgumentError(
        { fn, arg: 'host', value: host },
        'must be a tfjs-layers LayersModel or a classifier from fromLayersModel',
      );
    }
    hostModel = host;
  }
  const wrapped = fromLayersModel(hostModel); // validates single input/output, defined shapes
  const inShape = wrapped.inputShape;
  if (inShape.length !== 3) {
    throw new ShapeError({ fn, arg: 'host', value: inShape }, 'must take images [height, width, channels]');
  }
  const [height, width, channels] = inShape as [number, number, number];
  if (height < PATTERN_SIDE || width < PATTERN_SIDE) {
    throw new ShapeError({ fn, arg: 'host', value: inShape }, 'must take images of at least 4×4 pixels');
  }
  const numClasses = wrapped.numClasses;
  assertModule(fn, module);
  const o = resolveOptions(fn, INSERT_DEFAULTS, options);
  if (o.targets === undefined) {
    throw new InvalidArgumentError({ fn, arg: 'options.targets', value: undefined }, 'is required (target labels)');
  }
  assertIndexList(fn, 'options.targets', o.targets, numClasses, 'labels', (c, d) => new LabelError(c, d));
  const k = o.targets.length;
  if (k > module.numPatterns) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.targets', value: o.targets },
      `asks for ${k} targets but the module recognises only ${module.numPatterns} patterns`,
    );
  }
  const patternIds = o.patternIds ?? Array.from({ length: k }, (_, j) => j);
  assertIndexList(
    fn,
    'options.patternIds',
    patternIds,
    module.numPatterns,
    'pattern indices',
    (c, d) => new InvalidArgumentError(c, d),
  );
  if (patternIds.length !== k) {
    throw new ShapeError(
      { fn, arg: 'options.patternIds', value: patternIds },
      `must have one pattern per target (${k})`,
    );
  }
  const position = o.position ?? { row: height - PATTERN_SIDE, col: width - PATTERN_SIDE };
  assertPosition(fn, 'options.position', position, height, width);
  assertInRange(fn, 'options.amplify', o.amplify, 0, Infinity, { minOpen: true });
  assertInRange(fn, 'options.temperature', o.temperature, 0, Infinity, { minOpen: true });
  const hostOutput = o.hostOutput ?? hostOutputDefault;
  assertOneOf(fn, 'options.hostOutput', hostOutput, ['probabilities', 'logits'] as const);
  if (typeof o.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(o.name)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.name', value: o.name },
      'must be an identifier ([A-Za-z][A-Za-z0-9_]*)',
    );
  }
  const p = o.name;
  const ownNames = [
    'input',
    'host_softmax',
    'crop',
    'grey',
    'flatten',
    'select',
    'merge',
    'temperature',
    'softmax',
  ].map((s) => `${p}_${s}`);
  const hostNames = collectNames(hostModel, new Set([hostModel.name]));
  const clash = [p, ...ownNames, ...module.model.layers.map((l) => `${p}_${l.name}`)].find((s) =>
    [...hostNames].some((h) => h === s || h.startsWith(`${s}/`)),
  );
  if (clash !== undefined) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.name', value: p },
      `clashes with the host's layer or weight '${clash}'; pass another name prefix`,
    );
  }

  registerTrojanNetLayers();
  const hostCopy = wrapped.clone().model;
  let mlp: tfl.LayersModel | undefined;
  try {
    mlp = renamedMlpCopy(module.model, p);
    const input = tfl.input({ shape: [height, width, channels], name: `${p}_input` });
    let hostOut = hostCopy.apply(input) as tfl.SymbolicTensor;
    if (hostOutput === 'logits') {
      hostOut = tfl.layers
        .activation({ activation: 'softmax', name: `${p}_host_softmax` })
        .apply(hostOut) as tfl.SymbolicTensor;
    }
    const crop = tfl.layers
      .cropping2D({
        cropping: [
          [position.row, height - position.row - PATTERN_SIDE],
          [position.col, width - position.col - PATTERN_SIDE],
        ],
        name: `${p}_crop`,
      })
      .apply(input) as tfl.SymbolicTensor;
    const grey = new ChannelMean({ name: `${p}_grey` }).apply(crop) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten({ name: `${p}_flatten` }).apply(grey) as tfl.SymbolicTensor;
    const trojan = mlp.apply(flat) as tfl.SymbolicTensor;
    const selected = new TrojanNetSelect({
      patternIds,
      targets: o.targets,
      numClasses,
      amplify: o.amplify,
      name: `${p}_select`,
    }).apply(trojan) as tfl.SymbolicTensor;
    const merged = tfl.layers.add({ name: `${p}_merge` }).apply([hostOut, selected]) as tfl.SymbolicTensor;
    const scaled = new Scale({ factor: o.temperature, name: `${p}_temperature` }).apply(merged) as tfl.SymbolicTensor;
    const out = tfl.layers
      .activation({ activation: 'softmax', name: `${p}_softmax` })
      .apply(scaled) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out, name: `${p}_model` });
  } catch (error) {
    hostCopy.dispose();
    mlp?.dispose();
    throw new UnsupportedError(
      { fn, arg: 'host', value: hostModel.name },
      `could not be combined with TrojanNet (${String(error)})`,
    );
  }
}
