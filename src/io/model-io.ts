/**
 * Saving and loading tfjs layers models to and from a directory without
 * tfjs-node (whose native addon cannot be installed everywhere):
 * `dir/model.json` + `dir/weights.bin` in the standard TensorFlow.js
 * `layers-model` format, readable by `tf.loadLayersModel` elsewhere.
 * Node-only (`node:fs`).
 *
 * @packageDocumentation
 */

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { FormatError, InvalidArgumentError, UnsupportedError } from '../core/errors.js';
import { registerCustomLayers } from '../core/unit-mask-layer.js';
import { assertBoolean, assertPositiveInteger } from '../core/checks.js';
import { resolveOptions } from '../core/options.js';
import { assertPath, isDirectoryOrThrow, oneLine, readFileOrThrow } from './files.js';
import { nodeBuiltin } from './node-builtins.js';

/** File name of the model topology and manifest inside a model directory. */
export const MODEL_JSON = 'model.json';
/** File name of the weights written by {@link saveModel}. */
export const WEIGHTS_BIN = 'weights.bin';

function assertLayersModel(fn: string, model: unknown): asserts model is tfl.LayersModel {
  const m = model as { save?: unknown; getWeights?: unknown; layers?: unknown } | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.save !== 'function' ||
    typeof m.getWeights !== 'function' ||
    !Array.isArray(m.layers)
  ) {
    throw new InvalidArgumentError({ fn, arg: 'model', value: model }, 'must be a tf.LayersModel');
  }
}

/** Writes `data` to `path` through a temporary file and a rename. */
async function writeAtomic(fn: string, path: string, data: Uint8Array | string): Promise<void> {
  const { rename, rm, writeFile } = nodeBuiltin(fn, 'node:fs/promises');
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new InvalidArgumentError({ fn, arg: 'dir', value: path }, `could not be written (${oneLine(error)})`);
  }
}

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /**
   * Also save the training configuration (loss, metrics, optimizer) and the
   * optimizer's state, as tfjs `save(..., { includeOptimizer: true })` does,
   * so that the loaded model comes back compiled. Only for compiled models.
   * @default false
   */
  readonly includeOptimizer?: boolean;
}

/** Defaults of {@link SaveModelOptions}. */
export const SAVE_MODEL_DEFAULTS: Readonly<Required<SaveModelOptions>> = Object.freeze({ includeOptimizer: false });

/**
 * Saves a layers model as `dir/model.json` + `dir/weights.bin` (standard
 * TensorFlow.js `layers-model` format; the optimizer state only on request).
 * Creates `dir` (recursively) if needed and overwrites an existing model there.
 *
 * Custom layers are saved by their registered class name; register the class
 * with `tf.serialization.registerClass` before {@link loadModel}.
 *
 * @param model - The model to save (left untouched).
 * @param dir - Directory to write into.
 * @param options - {@link SaveModelOptions}.
 * @returns Resolves once both files are written.
 * @throws {@link InvalidArgumentError} when `model` is not a LayersModel,
 *   `dir` is not a path or cannot be created / written, or an option is bad.
 * @throws {@link UnsupportedError} when tfjs cannot serialise the model
 *   (e.g. a custom layer without `getConfig` / `className`).
 * @example
 * ```ts
 * await saveModel(model, './models/badnet');
 * const again = await loadModel('./models/badnet');
 * ```
 */
export async function saveModel(model: tfl.LayersModel, dir: string, options?: SaveModelOptions): Promise<void> {
  const fn = 'saveModel';
  assertLayersModel(fn, model);
  assertPath(fn, 'dir', dir);
  const o = resolveOptions(fn, SAVE_MODEL_DEFAULTS, options);
  if (typeof o.includeOptimizer !== 'boolean') {
    throw new InvalidArgumentError(
      { fn, arg: 'options.includeOptimizer', value: o.includeOptimizer },
      'must be a boolean',
    );
  }
  if (o.includeOptimizer && model.optimizer == null) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.includeOptimizer', value: true },
      'needs a compiled model (model.compile(...)) to save an optimizer',
    );
  }
  const { mkdir } = nodeBuiltin(fn, 'node:fs/promises');
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new InvalidArgumentError({ fn, arg: 'dir', value: dir }, `could not be created (${oneLine(error)})`);
  }
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return {
          modelArtifactsInfo: {
            dateSaved: new Date(),
            modelTopologyType: 'JSON',
          },
        };
      }),
      { includeOptimizer: o.includeOptimizer },
    );
  } catch (error) {
    throw new UnsupportedError({ fn, arg: 'model' }, `could not be serialised by tfjs (${oneLine(error)})`);
  }
  if (
    artifacts === undefined ||
    artifacts.modelTopology === undefined ||
    artifacts.modelTopology instanceof ArrayBuffer
  ) {
    throw new UnsupportedError({ fn, arg: 'model' }, 'produced no JSON model topology when saved');
  }
  const weights =
    artifacts.weightData === undefined
      ? new Uint8Array(0)
      : new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const modelJson: Record<string, unknown> = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  // Weights first, topology last: a model.json never points at missing weights.
  const { join } = nodeBuiltin(fn, 'node:path');
  await writeAtomic(fn, join(dir, WEIGHTS_BIN), weights);
  await writeAtomic(fn, join(dir, MODEL_JSON), JSON.stringify(modelJson));
}

const ELEMENT_BYTES: Readonly<Record<string, number>> = Object.freeze({
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
});

/** Bytes the weight specs describe, or undefined when not computable (strings). */
function expectedWeightBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = ELEMENT_BYTES[dtype];
    if (size === undefined) return undefined;
    total += size * spec.shape.reduce((p, d) => p * d, 1);
  }
  return total;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Validates the parsed model.json enough that tfjs gets a well-formed input. */
function checkModelJson(fn: string, path: string, json: unknown): tf.io.ModelJSON {
  const bad = (detail: string): FormatError => new FormatError({ fn, arg: 'dir', value: path }, detail);
  if (!isObject(json)) throw bad('must hold a JSON object');
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new UnsupportedError(
      { fn, arg: 'dir', value: path },
      `holds a '${String(json.format)}' model; loadModel reads layers models only (format 'layers-model')`,
    );
  }
  if (!isObject(json.modelTopology)) throw bad("must have a 'modelTopology' object");
  const manifest = json.weightsManifest;
  if (manifest !== undefined) {
    if (!Array.isArray(manifest)) throw bad("must have a 'weightsManifest' array");
    for (const group of manifest) {
      if (
        !isObject(group) ||
        !Array.isArray(group.paths) ||
        !group.paths.every((p) => typeof p === 'string' && p.length > 0) ||
        !Array.isArray(group.weights)
      ) {
        throw bad("must have 'weightsManifest' groups of the form { paths: string[], weights: [...] }");
      }
      for (const w of group.weights as unknown[]) {
        if (
          !isObject(w) ||
          typeof w.name !== 'string' ||
          typeof w.dtype !== 'string' ||
          !Array.isArray(w.shape) ||
          !w.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)
        ) {
          throw bad("must describe each weight as { name, shape: integer[], dtype } in 'weightsManifest'");
        }
      }
    }
  }
  return json as unknown as tf.io.ModelJSON;
}

/** Options of {@link loadModel}: the caps that make reading an untrusted model safe. */
export interface LoadModelOptions {
  /** Largest `model.json` read, in bytes. @default 67108864 (64 MiB) */
  readonly maxModelJsonBytes?: number;
  /** Largest total of weight bytes the manifest may describe, checked before any file is read. @default 1073741824 (1 GiB) */
  readonly maxWeightBytes?: number;
  /** Accept a `model.json` without weights (the model then has freshly initialised weights). @default false */
  readonly allowMissingWeights?: boolean;
}

/** Defaults of {@link loadModel}. */
export const LOAD_MODEL_DEFAULTS: Readonly<Required<LoadModelOptions>> = Object.freeze({
  maxModelJsonBytes: 64 * 2 ** 20,
  maxWeightBytes: 2 ** 30,
  allowMissingWeights: false,
});

/** A weights path of a manifest: relative, inside the model folder, no `..` segment. */
function checkManifestPath(fn: string, jsonPath: string, p: string): void {
  const segments = p.split(/[\\/]/);
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.includes('\0') || segments.includes('..')) {
    throw new FormatError(
      { fn, arg: 'dir', value: jsonPath },
      `lists the weights path '${p.slice(0, 80)}', which leaves the model folder (paths must be relative, without '..')`,
    );
  }
}

/**
 * Loads a layers model saved by {@link saveModel} (or any TensorFlow.js
 * `layers-model` directory: `model.json` plus the weight files its manifest
 * lists, e.g. converter shards). Bit-exact: the weights are the saved ones.
 *
 * Custom layers must be registered with `tf.serialization.registerClass`
 * before loading; backdoor-kit's own layers (the `UnitMask` that pruning
 * inserts) are registered automatically.
 *
 * The files may be hostile (this is what `backdoor-kit scan` reads): every
 * weights path must stay inside the model folder (no absolute path, no
 * `..`, no symbolic link out of it), every file must be a regular file, each
 * is read once, and the sizes are checked against the manifest and the caps
 * in `options` before anything is read or allocated (docs/security.md).
 *
 * @param dir - Directory holding `model.json` (a path to the `model.json`
 *   file itself is accepted too).
 * @param options - {@link LoadModelOptions}: size caps, and whether a model
 *   without weights is accepted.
 * @returns A new model; the caller owns (disposes) it.
 * @throws {@link InvalidArgumentError} when `dir` is not a string or does not exist.
 * @throws {@link FormatError} naming the path when `model.json` or a weight
 *   file is missing, `model.json` is not valid JSON or not a model, the
 *   weight files are shorter or longer than the manifest says, or tfjs
 *   rejects the topology or weights.
 * @throws {@link UnsupportedError} for a graph model, or a layer class that
 *   is not registered (the message names it).
 * @example
 * ```ts
 * tf.serialization.registerClass(MyLayer); // only for custom layers
 * const model = await loadModel('./models/badnet');
 * ```
 */
export async function loadModel(dir: string, options?: LoadModelOptions): Promise<tfl.LayersModel> {
  const fn = 'loadModel';
  assertPath(fn, 'dir', dir);
  const o = resolveOptions(fn, LOAD_MODEL_DEFAULTS, options);
  assertPositiveInteger(fn, 'options.maxModelJsonBytes', o.maxModelJsonBytes);
  assertPositiveInteger(fn, 'options.maxWeightBytes', o.maxWeightBytes);
  assertBoolean(fn, 'options.allowMissingWeights', o.allowMissingWeights);
  const { basename, join, resolve } = nodeBuiltin(fn, 'node:path');
  const isDir = await isDirectoryOrThrow(fn, 'dir', dir);
  const jsonPath = isDir ? join(dir, MODEL_JSON) : dir;
  const baseDir = isDir ? dir : resolve(dir, '..');
  if (!isDir && !basename(dir).endsWith('.json')) {
    throw new InvalidArgumentError(
      { fn, arg: 'dir', value: dir },
      'must name a model directory or its model.json file',
    );
  }
  const text = new TextDecoder().decode(
    await readFileOrThrow(fn, 'dir', jsonPath, 'content', { maxBytes: o.maxModelJsonBytes }),
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FormatError({ fn, arg: 'dir', value: jsonPath }, `is not valid JSON (${oneLine(error, 100)})`);
  }
  const modelJson = checkModelJson(fn, jsonPath, parsed);

  let specs: tf.io.WeightsManifestEntry[] | undefined;
  let weightData: ArrayBuffer | undefined;
  const manifest = modelJson.weightsManifest ?? [];
  if (manifest.length === 0 && !o.allowMissingWeights) {
    throw new FormatError(
      { fn, arg: 'dir', value: jsonPath },
      'has no weights (no weightsManifest): it would load as an untrained model; pass { allowMissingWeights: true } to accept that',
    );
  }
  if (manifest.length > 0) {
    specs = [];
    const paths: string[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        checkManifestPath(fn, jsonPath, p);
        if (paths.includes(p)) {
          throw new FormatError(
            { fn, arg: 'dir', value: jsonPath },
            `lists the weights file '${p.slice(0, 80)}' more than once`,
          );
        }
        paths.push(p);
      }
    }
    const expected = expectedWeightBytes(specs);
    if (expected !== undefined && expected > o.maxWeightBytes) {
      throw new FormatError(
        { fn, arg: 'dir', value: jsonPath },
        `describes ${expected} weight bytes, more than options.maxWeightBytes (${o.maxWeightBytes})`,
      );
    }
    const buffers: ArrayBuffer[] = [];
    let bytes = 0;
    for (const p of paths) {
      const room = (expected ?? o.maxWeightBytes) - bytes;
      const data = await readFileOrThrow(fn, 'dir', join(baseDir, p), 'content', {
        root: baseDir,
        maxBytes: Math.max(0, Math.min(room, o.maxWeightBytes - bytes)),
      }).catch((error: unknown) => {
        // a file too large for what the manifest describes is a size mismatch, said as such
        if (error instanceof FormatError && /more than the \d+ allowed/.test(error.message) && expected !== undefined) {
          throw new FormatError(
            { fn, arg: 'dir', value: baseDir },
            `holds more weight bytes than its model.json describes (${expected})`,
          );
        }
        throw error;
      });
      buffers.push(data.slice().buffer);
      bytes += data.byteLength;
    }
    if (expected !== undefined && expected !== bytes) {
      const files = paths.join(', ');
      throw new FormatError(
        { fn, arg: 'dir', value: baseDir },
        `holds ${bytes} weight bytes (${files.length > 200 ? `${files.slice(0, 197)}...` : files}) but its model.json describes ${expected}`,
      );
    }
    weightData = tf.io.CompositeArrayBuffer.join(buffers);
  }
  registerCustomLayers(); // backdoor-kit's own layers (e.g. UnitMask) always load
  const unregistered = findUnregisteredLayer(modelJson.modelTopology);
  if (unregistered !== undefined) throw unregisteredError(fn, jsonPath, unregistered);

  // Build the topology first, then load the weights ourselves: if they do not
  // fit, the half-made model is disposed here instead of leaking.
  const topologyOnly: tf.io.ModelArtifacts = {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
  };
  if (modelJson.trainingConfig != null) topologyOnly.trainingConfig = modelJson.trainingConfig;
  if (modelJson.userDefinedMetadata != null) topologyOnly.userDefinedMetadata = modelJson.userDefinedMetadata;
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel({ load: async () => topologyOnly });
  } catch (error) {
    const message = oneLine(error, 200);
    const unknown = /Unknown (layer|constraint|initializer|regularizer|activation|loss|metric)[^:]*:\s*([\w.]+)/i.exec(
      message,
    );
    if (unknown !== null) throw unregisteredError(fn, jsonPath, unknown[2]!);
    throw new FormatError({ fn, arg: 'dir', value: jsonPath }, `could not be loaded by tfjs (${message})`);
  }
  if (specs !== undefined && weightData !== undefined) {
    let decoded: tf.NamedTensorMap | undefined;
    try {
      decoded = tf.io.decodeWeights(weightData, specs);
      const modelWeights: tf.NamedTensorMap = {};
      const optimizerWeights: Array<{ name: string; tensor: tf.Tensor }> = [];
      for (const spec of specs) {
        const tensor = decoded[spec.name]!;
        if (spec.group === 'optimizer') optimizerWeights.push({ name: spec.name, tensor });
        else modelWeights[spec.name] = tensor;
      }
      model.loadWeights(modelWeights, true);
      if (model.optimizer != null && optimizerWeights.length > 0) await model.optimizer.setWeights(optimizerWeights);
    } catch (error) {
      model.optimizer?.dispose();
      model.dispose();
      throw new FormatError(
        { fn, arg: 'dir', value: jsonPath },
        `has weights that do not fit its topology (${oneLine(error, 200)})`,
      );
    } finally {
      if (decoded !== undefined) tf.dispose(Object.values(decoded));
    }
  }
  return model;
}

function unregisteredError(fn: string, jsonPath: string, className: string): UnsupportedError {
  return new UnsupportedError(
    { fn, arg: 'dir', value: jsonPath },
    `uses the layer class '${className}', which is not registered; register it with tf.serialization.registerClass before loading`,
  );
}

/**
 * The first layer class name in a layers-model topology that tfjs does not
 * know (checked before anything is built, so nothing is left half-made).
 * Walks nested models and wrapper layers; ignores anything it does not
 * recognise (tfjs then reports it).
 */
function findUnregisteredLayer(topology: unknown): string | undefined {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const visit = (node: unknown): string | undefined => {
    if (!isObject(node)) return undefined;
    const className = node.class_name;
    if (typeof className === 'string' && !(className in known)) return className;
    const config = node.config;
    if (!isObject(config)) return undefined;
    if (Array.isArray(config.layers)) {
      for (const layer of config.layers) {
        const found = visit(layer);
        if (found !== undefined) return found;
      }
    }
    return isObject(config.layer) ? visit(config.layer) : undefined;
  };
  const root = isObject(topology) && isObject(topology.model_config) ? topology.model_config : topology;
  return visit(root);
}
