/**
 * Property-based fuzzing of the public entry points' options (fast-check):
 * one option replaced by a generated bad value, or an unknown key added
 * (inherited names such as `__proto__`, `constructor`, `toString` among
 * them). Every call must either succeed or reject with a typed
 * `BackdoorKitError` — never a raw tfjs or JavaScript error — and must leave
 * no tensor behind, not mutate its inputs and not change `Object.prototype`.
 * Bounded: a fixed seed, 20 runs per function, tiny models and data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';

import { BackdoorKitError } from '../../src/core/errors.js';
import { fromLayersModel, type LayersModelClassifier, FIT_DEFAULTS } from '../../src/core/layers-model.js';
import type { LabeledData } from '../../src/core/types.js';
import { SPLIT_DEFAULTS, stratifiedSplit } from '../../src/data/split.js';
import * as activationClustering from '../../src/defences/data/activation-clustering/index.js';
import * as spectralSignatures from '../../src/defences/data/spectral-signatures.js';
import * as detriggerAutoencoder from '../../src/defences/input/detrigger-autoencoder.js';
import * as featureSqueezing from '../../src/defences/input/feature-squeezing.js';
import * as strip from '../../src/defences/input/strip.js';
import * as anp from '../../src/defences/model/anp.js';
import * as finePruning from '../../src/defences/model/fine-pruning.js';
import * as neuralCleanse from '../../src/defences/model/neural-cleanse/index.js';
import { ready } from '../helpers/backend.js';
import { tinyConvModel, toyImages } from '../helpers/fixtures.js';

/**
 * Values that are wrong for (almost) every option; the few that are valid
 * somewhere just run. No huge valid numbers: `iterations: 1e12` is a
 * legitimate request for a long run, not a bad input.
 */
const badValue = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 0.5, 2.5, -1e-9, -1e12, '', 'x', null, true, [], {}, [NaN], () => 1),
  fc.constant(Symbol('s')),
  fc.string({ maxLength: 4 }),
  fc.double({ min: -1e6, max: -1e-12, noNaN: true }),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

const INHERITED = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

interface Target {
  /** The option names the function knows. */
  readonly keys: readonly string[];
  /** Cheap valid options the bad one is merged into. */
  readonly base: Record<string, unknown>;
  /** Calls the function; disposes whatever it returns. */
  readonly call: (options: Record<string, unknown>) => Promise<void>;
}

let clf: LayersModelClassifier;
let data: LabeledData;

function disposeResult(r: unknown): void {
  const c = (r as { classifier?: { dispose?: () => void } } | null)?.classifier;
  if (c !== undefined && c !== clf) c.dispose?.();
  (r as { dispose?: () => void } | null)?.dispose?.();
}

const TARGETS: Record<string, Target> = {
  'activationClustering.detect': {
    keys: Object.keys(activationClustering.ACTIVATION_CLUSTERING_DEFAULTS),
    base: { analysis: 'relative-size', nInit: 1 },
    call: async (o) => void (await activationClustering.detect(clf, data, o)),
  },
  'spectralSignatures.detect': {
    keys: Object.keys(spectralSignatures.SPECTRAL_SIGNATURES_DEFAULTS),
    base: {},
    call: async (o) => void (await spectralSignatures.detect(clf, data, o)),
  },
  'finePruning.repair': {
    keys: Object.keys(finePruning.FINE_PRUNING_DEFAULTS),
    base: { mode: 'pruning' },
    call: async (o) => disposeResult(await finePruning.repair(clf, data, o)),
  },
  'anp.repair': {
    keys: Object.keys(anp.ANP_DEFAULTS),
    base: { iterations: 2, trainBatchSize: 8 },
    call: async (o) => disposeResult(await anp.repair(clf, data, o)),
  },
  'neuralCleanse.detect': {
    keys: Object.keys(neuralCleanse.NEURAL_CLEANSE_DEFAULTS),
    base: { steps: 1, samplesPerStep: 8, trainBatchSize: 8 },
    call: async (o) => void (await neuralCleanse.detect(clf, data, o)),
  },
  'strip.calibrate': {
    keys: Object.keys(strip.STRIP_CALIBRATE_DEFAULTS),
    base: { overlays: 2, poolSize: 10 },
    call: async (o) => void (await strip.calibrate(clf, data, o)),
  },
  'featureSqueezing.calibrate': {
    keys: Object.keys(featureSqueezing.FEATURE_SQUEEZING_DEFAULTS),
    base: {},
    call: async (o) => void (await featureSqueezing.calibrate(clf, data, o)),
  },
  'detriggerAutoencoder.calibrate': {
    keys: Object.keys(detriggerAutoencoder.DETRIGGER_CALIBRATE_DEFAULTS),
    base: { epochs: 1 },
    call: async (o) => disposeResult(await detriggerAutoencoder.calibrate(clf, data, o)),
  },
  fit: {
    keys: Object.keys(FIT_DEFAULTS),
    base: { epochs: 1 },
    call: async (o) => {
      const copy = clf.clone();
      try {
        await copy.fit(data, o);
      } finally {
        copy.dispose();
      }
    },
  },
  stratifiedSplit: {
    keys: Object.keys(SPLIT_DEFAULTS),
    base: {},
    call: async (o) => {
      const r = stratifiedSplit(data, o);
      tf.dispose([r.train.x, r.test.x]);
    },
  },
};

/** A bad option: a known key with a generated value, or an unknown / inherited key. */
function badOptions(keys: readonly string[]): fc.Arbitrary<{ key: string; value: unknown }> {
  const unknownKey = fc.oneof(
    fc.constantFrom(...INHERITED),
    fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !keys.includes(k)),
  );
  return fc.oneof(
    fc.record({ key: fc.constantFrom(...keys), value: badValue }),
    fc.record({ key: unknownKey, value: badValue }),
  );
}

describe('fuzzed options: typed errors, no leaks, no mutation, no prototype change', () => {
  let xSum: number;
  before(async () => {
    await ready;
    clf = fromLayersModel(tinyConvModel(2), { owned: true });
    data = toyImages(30, 4);
    xSum = tf.sum(data.x).dataSync()[0]!;
  });
  after(() => {
    clf.dispose();
    data.x.dispose();
  });

  for (const [name, target] of Object.entries(TARGETS)) {
    it(name, async () => {
      const protoKeys = Object.getOwnPropertyNames(Object.prototype).join();
      const labels = Array.from(data.y);
      await fc.assert(
        fc.asyncProperty(badOptions(target.keys), async ({ key, value }) => {
          // JSON-style own property, so `__proto__` is a key, not the prototype
          const options: Record<string, unknown> = { ...target.base };
          Object.defineProperty(options, key, { value, enumerable: true, configurable: true, writable: true });
          const start = tf.memory().numTensors;
          try {
            await target.call(options);
          } catch (e) {
            if (!(e instanceof BackdoorKitError)) {
              throw new Error(
                `${name}({ ${key}: ${String(typeof value === 'symbol' ? 'Symbol' : value)} }) threw ${String(e)}`,
              );
            }
          }
          assert.equal(tf.memory().numTensors, start, `${name}: tensors left behind for option '${key}'`);
        }),
        { numRuns: 100, seed: 42, endOnFailure: true },
      );
      assert.equal(Object.getOwnPropertyNames(Object.prototype).join(), protoKeys, 'Object.prototype unchanged');
      assert.deepEqual(Array.from(data.y), labels, 'labels not mutated');
      assert.ok(Math.abs(tf.sum(data.x).dataSync()[0]! - xSum) < 1e-3, 'images not mutated');
    });
  }
});
