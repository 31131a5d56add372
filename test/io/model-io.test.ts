import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { ready } from '../helpers/backend.js';
import { FormatError, InvalidArgumentError, UnsupportedError } from '../../src/core/errors.js';
import { loadModel, saveModel } from '../../src/io/model-io.js';

type Kwargs = Parameters<tfl.layers.Layer['call']>[1];

/** A tiny custom layer: y = x * alpha + offset, alpha trainable, offset from the config. */
class TestAffine extends tfl.layers.Layer {
  static readonly className = 'BkTestAffine';
  readonly offset: number;
  private alpha: tfl.LayerVariable | undefined;

  constructor(args: { offset: number; name?: string }) {
    super({ name: args.name });
    this.offset = args.offset;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = inputShape as tfl.Shape;
    this.alpha = this.addWeight(
      'alpha',
      [shape[shape.length - 1]!],
      'float32',
      tfl.initializers.randomNormal({ seed: 3 }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.add(tf.mul(x, this.alpha!.read()), this.offset);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), offset: this.offset };
  }
}
tf.serialization.registerClass(TestAffine);

/** A custom layer that is never registered, so its saved model cannot load. */
class Unregistered extends tfl.layers.Layer {
  static readonly className = 'BkNeverRegistered';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.clone(Array.isArray(inputs) ? inputs[0]! : inputs);
  }
}

function sequentialModel(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(
    tfl.layers.conv2d({
      inputShape: [6, 6, 1],
      filters: 3,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(
    tfl.layers.dense({
      units: 4,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
      biasInitializer: tfl.initializers.randomNormal({ seed: 4 }),
    }),
  );
  return m;
}

function functionalModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [5] });
  const h = tfl.layers
    .dense({ units: 6, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) })
    .apply(input) as tfl.SymbolicTensor;
  const a = new TestAffine({ offset: 0.25, name: 'affine' }).apply(h) as tfl.SymbolicTensor;
  const skip = tfl.layers.add().apply([a, h]) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) })
    .apply(skip) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'func' });
}

async function weightValues(m: tfl.LayersModel): Promise<Array<{ name: string; shape: number[]; bits: number[] }>> {
  const out = [];
  for (const w of m.weights) {
    const v = (await w.read().data()) as Float32Array;
    out.push({
      name: w.originalName,
      shape: w.shape as number[],
      bits: Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)),
    });
  }
  return out;
}

async function predictBits(m: tfl.LayersModel, x: tf.Tensor): Promise<number[]> {
  const y = m.predict(x) as tf.Tensor;
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
}

describe('saveModel / loadModel', () => {
  let root = '';
  before(async () => {
    await ready;
    root = await mkdtemp(join(tmpdir(), 'bk-io-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('round-trips a Sequential model bit-exactly in the standard layers-model format', async () => {
    const model = sequentialModel();
    const x = tf.randomUniform([3, 6, 6, 1], 0, 1, 'float32', 9);
    const wantWeights = await weightValues(model);
    const wantPred = await predictBits(model, x);
    const dir = join(root, 'seq', 'nested');
    const count = tf.memory().numTensors;
    await saveModel(model, dir);
    assert.equal(tf.memory().numTensors, count, 'saveModel leaks no tensor');

    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json.format, 'layers-model');
    assert.equal(json.convertedBy, null);
    assert.match(String(json.generatedBy), /TensorFlow\.js tfjs-layers/);
    const manifest = json.weightsManifest as Array<{ paths: string[]; weights: Array<{ name: string }> }>;
    assert.deepEqual(
      manifest.map((g) => g.paths),
      [['weights.bin']],
    );
    assert.equal(manifest[0]!.weights.length, 4);
    assert.equal((await stat(join(dir, 'weights.bin'))).size, (3 * 3 * 1 * 3 + 3 + 12 * 4 + 4) * 4);

    const loaded = await loadModel(dir);
    assert.equal(tf.memory().numTensors, count + loaded.weights.length);
    assert.ok(loaded instanceof tfl.Sequential);
    assert.deepEqual(await weightValues(loaded), wantWeights);
    assert.deepEqual(await predictBits(loaded, x), wantPred);
    // The original still works and is unchanged.
    assert.deepEqual(await weightValues(model), wantWeights);
    loaded.dispose();
    assert.equal(tf.memory().numTensors, count);
    model.dispose();
    x.dispose();
  });

  it('round-trips a functional model with a registered custom layer', async () => {
    const model = functionalModel();
    const x = tf.randomNormal([4, 5], 0, 1, 'float32', 11);
    const dir = join(root, 'func');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    const affine = loaded.getLayer('affine');
    assert.ok(affine instanceof TestAffine);
    assert.equal(affine.offset, 0.25);
    assert.deepEqual(await weightValues(loaded), await weightValues(model));
    assert.deepEqual(await predictBits(loaded, x), await predictBits(model, x));
    loaded.dispose();
    model.dispose();
    x.dispose();
  });

  it('keeps the training config, accepts a model.json path, and overwrites an existing save', async () => {
    const model = sequentialModel();
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const dir = join(root, 'compiled');
    await saveModel(sequentialModel(), dir); // an older model in the same place
    await saveModel(model, dir, { includeOptimizer: true });
    const loaded = await loadModel(join(dir, 'model.json'));
    assert.ok(loaded.optimizer !== undefined && loaded.optimizer !== null, 'compiled on load');
    assert.deepEqual(await weightValues(loaded), await weightValues(model));
    loaded.optimizer.dispose();
    loaded.dispose();
    await saveModel(model, dir);
    const plain = await loadModel(dir);
    assert.ok(plain.optimizer == null, 'no optimizer unless asked');
    plain.dispose();
    model.optimizer.dispose();
    model.dispose();
  });

  it('rejects bad arguments to saveModel', async () => {
    const model = sequentialModel();
    await assert.rejects(
      saveModel({} as never, join(root, 'x')),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'model',
    );
    await assert.rejects(saveModel(model, ''), (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'dir');
    await assert.rejects(
      saveModel(model, join(root, 'x'), { includeOptimizer: true }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.arg === 'options.includeOptimizer' && /compiled/.test(e.message),
    );
    await assert.rejects(
      saveModel(model, join(root, 'x'), { includeOptimizer: 1 } as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.includeOptimizer',
    );
    await assert.rejects(
      saveModel(model, join(root, 'x'), { format: 'h5' } as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'options.format',
    );
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(saveModel(model, join(file, 'sub')), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.arg, 'dir');
      assert.ok(e.message.includes(join(file, 'sub')));
      return true;
    });
    model.dispose();
  });

  it('rejects missing or broken model directories with errors that name the path, without leaks', async () => {
    const model = sequentialModel();
    const good = join(root, 'good');
    await saveModel(model, good);
    const weightsBin = await readFile(join(good, 'weights.bin'));
    const modelJson = await readFile(join(good, 'model.json'), 'utf8');
    const count = tf.memory().numTensors;

    const missing = join(root, 'does-not-exist');
    await assert.rejects(loadModel(missing), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.arg, 'dir');
      assert.ok(e.message.includes(missing));
      return true;
    });
    await assert.rejects(loadModel(''), (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'dir');

    const empty = await mkdtemp(join(root, 'empty-'));
    await assert.rejects(loadModel(empty), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.ok(e.message.includes(join(empty, 'model.json')));
      assert.match(e.message, /does not exist/);
      return true;
    });

    const noWeights = await mkdtemp(join(root, 'noweights-'));
    await writeFile(join(noWeights, 'model.json'), modelJson);
    await assert.rejects(loadModel(noWeights), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.ok(e.message.includes(join(noWeights, 'weights.bin')));
      return true;
    });

    const corrupt = await mkdtemp(join(root, 'corrupt-'));
    await writeFile(join(corrupt, 'model.json'), '{"modelTopology": {\n  "class_name": "Sequ\n');
    await assert.rejects(loadModel(corrupt), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /is not valid JSON/);
      assert.ok(e.message.includes(join(corrupt, 'model.json')));
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });

    const notModel = await mkdtemp(join(root, 'notmodel-'));
    await writeFile(join(notModel, 'model.json'), '[1, 2, 3]');
    await assert.rejects(
      loadModel(notModel),
      (e: unknown) => e instanceof FormatError && /JSON object/.test(e.message),
    );
    await writeFile(
      join(notModel, 'model.json'),
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: [3] }] }),
    );
    await assert.rejects(
      loadModel(notModel),
      (e: unknown) => e instanceof FormatError && /weightsManifest/.test(e.message),
    );

    const truncated = await mkdtemp(join(root, 'truncated-'));
    await writeFile(join(truncated, 'model.json'), modelJson);
    await writeFile(join(truncated, 'weights.bin'), weightsBin.subarray(0, weightsBin.length - 4));
    await assert.rejects(loadModel(truncated), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(
        e.message,
        new RegExp(`holds ${weightsBin.length - 4} weight bytes .* describes ${weightsBin.length}`),
      );
      return true;
    });

    // Same byte size, but a weight name the model does not have: built, then rejected and disposed.
    const renamed = await mkdtemp(join(root, 'renamed-'));
    const parsed = JSON.parse(modelJson) as { weightsManifest: Array<{ weights: Array<{ name: string }> }> };
    parsed.weightsManifest[0]!.weights[0]!.name = 'no_such_layer/kernel';
    await writeFile(join(renamed, 'model.json'), JSON.stringify(parsed));
    await writeFile(join(renamed, 'weights.bin'), weightsBin);
    await assert.rejects(loadModel(renamed), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /do not fit its topology/);
      return true;
    });

    const graph = await mkdtemp(join(root, 'graph-'));
    await writeFile(
      join(graph, 'model.json'),
      JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }),
    );
    await assert.rejects(
      loadModel(graph),
      (e: unknown) => e instanceof UnsupportedError && /graph-model/.test(e.message),
    );

    await assert.rejects(
      loadModel(join(good, 'weights.bin')),
      (e: unknown) => e instanceof InvalidArgumentError && e.arg === 'dir',
    );

    assert.equal(tf.memory().numTensors, count);
    model.dispose();
  });

  it('names an unregistered custom layer class', async () => {
    const m = tfl.sequential();
    m.add(tfl.layers.dense({ units: 2, inputShape: [2] }));
    m.add(new Unregistered({} as never));
    m.add(tfl.layers.dense({ units: 2 }));
    const dir = join(root, 'unregistered');
    await saveModel(m, dir);
    const count = tf.memory().numTensors;
    await assert.rejects(loadModel(dir), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError, String(e));
      assert.match(e.message, /BkNeverRegistered/);
      assert.match(e.message, /registerClass/);
      return true;
    });
    assert.equal(tf.memory().numTensors, count);
    m.dispose();
  });
});

describe('loadModel with backdoor-kit layers', () => {
  before(async () => {
    await ready;
  });

  it('round-trips a model holding a UnitMask (pruning mask) exactly', async () => {
    const { UnitMask } = await import('../../src/core/unit-mask-layer.js');
    const input = tfl.input({ shape: [3] });
    const h = tfl.layers
      .dense({ units: 4, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })
      .apply(input) as tfl.SymbolicTensor;
    const maskLayer = new UnitMask({ units: 4, name: 'dense__unit_mask' });
    const out = maskLayer.apply(h) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const keep = tf.tensor1d([1, 0, 1, 0]);
    maskLayer.setWeights([keep]);
    keep.dispose();
    const dir = await mkdtemp(join(tmpdir(), 'bk-io-mask-'));
    try {
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      const x = tf.ones([2, 3]);
      assert.deepEqual(await predictBits(loaded, x), await predictBits(model, x));
      const y = loaded.predict(x) as tf.Tensor;
      const v = await y.data();
      assert.ok(v[1] === 0, `masked unit 1 is ${v[1]}`);
      assert.ok(v[3] === 0, `masked unit 3 is ${v[3]}`);
      tf.dispose([x, y]);
      loaded.dispose();
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
