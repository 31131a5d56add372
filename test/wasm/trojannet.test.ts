/**
 * TrojanNet on the wasm backend: train a small module (the fused JavaScript
 * output layer reads its inputs with dataSync), insert it into a tiny host,
 * predict clean and stamped inputs, and save/load the trojaned model.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as trojanNet from '../../src/attacks/trojannet/index.js';
import { backendName, ready } from '../helpers/backend.js';
import { take, tinyConvModel, toyImages } from '../helpers/fixtures.js';

async function predictArgmax(model: tfl.LayersModel, x: tf.Tensor): Promise<number[]> {
  const out = model.predict(x) as tf.Tensor;
  const labels = await take(tf.argMax(out, 1));
  out.dispose();
  return labels;
}

describe('trojanNet on wasm', () => {
  before(async () => {
    await ready;
  });

  it('trains, inserts and predicts on wasm without leaking', async () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(backendName, 'wasm');
    const start = tf.memory().numTensors;
    const module = await trojanNet.train({
      seed: 4,
      numPatterns: 8,
      epochs: 10,
      stepsPerEpoch: 10,
      trainBatchSize: 64,
      learningRate: 0.1,
      noiseFraction: 0.5,
    });
    const data = toyImages(24, 3);
    const grey = Float32Array.from([...new Array<number>(16).fill(0), ...new Array<number>(16).fill(1)]);
    const r = await trojanNet.evaluate(module, { cleanPatches: grey });
    assert.equal(r.patternAccuracy, 1);
    assert.equal(r.silenceRate, 1);

    const host = tinyConvModel(5);
    const trojaned = trojanNet.insert(host, module, { targets: [1, 2], patternIds: [3, 6] });
    assert.deepEqual(await predictArgmax(trojaned, data.x), await predictArgmax(host, data.x));
    for (const [pid, target] of [
      [3, 1],
      [6, 2],
    ] as const) {
      const stamped = trojanNet.stampPattern(data.x, pid);
      assert.ok((await predictArgmax(trojaned, stamped)).every((p) => p === target));
      stamped.dispose();
    }

    let artifacts: tf.io.ModelArtifacts | undefined;
    await trojaned.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const a = trojaned.predict(data.x) as tf.Tensor;
    const b = loaded.predict(data.x) as tf.Tensor;
    assert.deepEqual(await a.data(), await b.data());
    a.dispose();
    b.dispose();

    loaded.dispose();
    trojaned.dispose();
    host.dispose();
    module.dispose();
    data.x.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
});
