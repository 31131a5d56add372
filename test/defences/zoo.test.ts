/**
 * Every defence on every zoo model (BN, depthwise-separable, residual,
 * nested, text CNN, tabular MLP): it runs where the model allows and
 * refuses with a typed error where it does not — never an untyped tfjs
 * error — and leaves no tensor behind either way. Effectiveness is measured
 * on planted backdoors elsewhere (and in `npm run bench`); this suite is
 * about reach.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { BackdoorKitError } from '../../src/core/errors.js';
import { fromLayersModel, type LayersModelClassifier } from '../../src/core/layers-model.js';
import type { AnyLabeledData } from '../../src/core/types.js';
import * as activationClustering from '../../src/defences/data/activation-clustering/index.js';
import * as spectralSignatures from '../../src/defences/data/spectral-signatures.js';
import * as detriggerAutoencoder from '../../src/defences/input/detrigger-autoencoder.js';
import * as featureSqueezing from '../../src/defences/input/feature-squeezing.js';
import * as strip from '../../src/defences/input/strip.js';
import * as anp from '../../src/defences/model/anp.js';
import * as finePruning from '../../src/defences/model/fine-pruning.js';
import * as neuralCleanse from '../../src/defences/model/neural-cleanse/index.js';
import * as trojanNet from '../../src/attacks/trojannet/index.js';
import { Rng } from '../../src/core/rng.js';
import { backendName, ready } from '../helpers/backend.js';
import { toyImages } from '../helpers/fixtures.js';
import {
  bnCnn,
  nestedNet,
  residualNet,
  separableNet,
  SMALL_TROJANNET,
  tabularMlp,
  textCnn,
  textFixture,
} from '../helpers/zoo.js';

type Outcome = 'ran' | `refused ${string}`;

interface ZooCase {
  readonly build: () => tfl.LayersModel;
  readonly data: () => AnyLabeledData;
  /** Applied to the trained model (TrojanNet's insert); the result is what the defences get. */
  readonly after?: (trained: tfl.LayersModel) => Promise<tfl.LayersModel>;
  /** Defences expected to refuse, with the error code. */
  readonly refuses: Readonly<Record<string, string | undefined>>;
}

function tabular(n: number, seed: number): AnyLabeledData {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 6);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < 6; j++) x[i * 6 + j] = rng.uniform() + (j === y[i]! ? 1 : 0);
  }
  return { x: tf.tensor2d(x, [n, 6]), y };
}

const images = (): AnyLabeledData => toyImages(48, 3, 8);

const IMAGE_ONLY = {
  'neural-cleanse': 'UNSUPPORTED',
  strip: 'UNSUPPORTED',
  'feature-squeezing': 'SHAPE_MISMATCH',
  'detrigger-autoencoder': 'SHAPE_MISMATCH',
};

const ZOO: Record<string, ZooCase> = {
  'BN CNN': { build: () => bnCnn(1), data: images, refuses: {} },
  'depthwise-separable': { build: () => separableNet(1), data: images, refuses: {} },
  residual: { build: () => residualNet(1), data: images, refuses: {} },
  nested: { build: () => nestedNet(1), data: images, refuses: {} },
  // host and TrojanNet MLP nested as sub-models, a gather-based select layer
  'TrojanNet-inserted BN CNN': {
    build: () => bnCnn(1),
    data: images,
    after: async (host) => {
      const module = await trojanNet.train(SMALL_TROJANNET);
      try {
        return trojanNet.insert(host, module, { targets: [0] });
      } finally {
        module.dispose();
      }
    },
    refuses: {},
  },
  'text CNN': {
    build: () => textCnn(1),
    data: () => {
      const d = textFixture(48, 1);
      return { x: d.x, y: d.y };
    },
    refuses: IMAGE_ONLY,
  },
  'tabular MLP': {
    build: () => tabularMlp(1),
    data: () => tabular(48, 1),
    // STRIP blends feature rows as it blends images; the others need pixels
    refuses: { ...IMAGE_ONLY, strip: undefined },
  },
};

const DEFENCES: Record<string, (c: LayersModelClassifier, d: AnyLabeledData) => Promise<unknown>> = {
  'activation-clustering': async (c, d) => activationClustering.detect(c, d, { retrainEpochs: 1, nInit: 2 }),
  'spectral-signatures': async (c, d) => spectralSignatures.detect(c, d),
  'fine-pruning': async (c, d) => {
    const r = await finePruning.repair(c, d, { epochs: 1 });
    r.classifier.dispose();
  },
  anp: async (c, d) => {
    const r = await anp.repair(c, d, { iterations: 5, trainBatchSize: 16 });
    r.classifier.dispose();
  },
  'neural-cleanse': async (c, d) =>
    neuralCleanse.detect(c, d as never, { steps: 2, samplesPerStep: 16, trainBatchSize: 16, labels: [0, 1, 2] }),
  strip: async (c, d) => {
    const calibration = await strip.calibrate(c, d.x, { overlays: 4, poolSize: 20 });
    await strip.detect(c, d.x, { calibration });
  },
  'feature-squeezing': async (c, d) => {
    const calibration = await featureSqueezing.calibrate(c, d.x);
    await featureSqueezing.detect(c, d.x, { calibration });
  },
  'detrigger-autoencoder': async (c, d) => {
    const calibration = await detriggerAutoencoder.calibrate(c, d.x, { epochs: 1 });
    calibration.dispose?.();
  },
};

describe(`every defence on every zoo model (${backendName})`, () => {
  before(async () => {
    await ready;
  });

  for (const [model, zc] of Object.entries(ZOO)) {
    describe(model, () => {
      let clf: LayersModelClassifier;
      let data: AnyLabeledData;
      before(async () => {
        clf = fromLayersModel(zc.build(), { owned: true });
        data = zc.data();
        await clf.fit(data, { epochs: 2, batchSize: 16, learningRate: 0.01 });
        if (zc.after !== undefined) {
          const host = clf;
          clf = fromLayersModel(await zc.after(host.model), { owned: true });
          host.dispose();
        }
      });
      after(() => {
        clf.dispose();
        data.x.dispose();
      });

      for (const [defence, run] of Object.entries(DEFENCES)) {
        const expected = zc.refuses[defence];
        it(`${defence}: ${expected === undefined ? 'runs' : `refuses (${expected})`}, leaks nothing`, async () => {
          const start = tf.memory().numTensors;
          let outcome: Outcome = 'ran';
          try {
            await run(clf, data);
          } catch (e) {
            if (!(e instanceof BackdoorKitError)) throw e;
            outcome = `refused ${e.code}`;
            assert.ok(!/\n/.test(e.message), 'one-line message');
            if (expected === undefined) throw e;
          }
          assert.equal(outcome, expected === undefined ? 'ran' : `refused ${expected}`);
          assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
        });
      }
    });
  }
});
