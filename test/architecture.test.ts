/**
 * The house rules of the source tree (docs/architecture.md), checked on the
 * files themselves: no import cycles, defence families independent of each
 * other, core and stats below everything, no backend import in the library,
 * no file over 700 lines, no setImmediate, and one face per family.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

import * as pkg from '../src/index.js';
import type {
  activationClustering,
  anp,
  detriggerAutoencoder,
  featureSqueezing,
  finePruning,
  neuralCleanse,
  spectralSignatures,
  strip,
} from '../src/index.js';

/** `true` when `T` has every key in `K` (a compile-time check: a missing field fails typecheck). */
type HasAll<T, K extends PropertyKey> = [K] extends [keyof T] ? true : false;

/**
 * The result fields each family promises. Each entry must be `true`; renaming
 * or dropping a field makes this file fail to compile.
 */
const RESULT_FIELDS = {
  acReport: true as HasAll<activationClustering.ActivationClusteringReport, 'suspicious' | 'perClass' | 'timing'>,
  ssReport: true as HasAll<spectralSignatures.SpectralSignaturesReport, 'suspicious' | 'scores'>,
  acRepair: true as HasAll<
    activationClustering.ActivationClusteringRepairResult<pkg.Classifier>,
    'classifier' | 'data'
  >,
  ssRepair: true as HasAll<spectralSignatures.SpectralSignaturesRepairResult<pkg.Classifier>, 'classifier' | 'data'>,
  ncReport: true as HasAll<
    neuralCleanse.NeuralCleanseReport,
    'backdoored' | 'targets' | 'anomalyIndex' | 'perClass' | 'timing'
  >,
  ncRepair: true as HasAll<neuralCleanse.NeuralCleanseRepairResult, 'classifier'>,
  fpRepair: true as HasAll<finePruning.FinePruningRepairResult, 'classifier'>,
  anpRepair: true as HasAll<anp.AnpRepairResult, 'classifier' | 'masks'>,
  stripReport: true as HasAll<strip.StripReport, 'suspicious' | 'scores' | 'threshold'>,
  fsReport: true as HasAll<featureSqueezing.FeatureSqueezingReport, 'suspicious' | 'scores' | 'threshold'>,
  aeReport: true as HasAll<detriggerAutoencoder.DetriggerReport, 'suspicious' | 'scores' | 'threshold'>,
} satisfies Record<string, true>;

const SRC = normalize(join(import.meta.dirname, '..', 'src'));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const FILES = sources(SRC);
const TEXT = new Map(FILES.map((f) => [f, readFileSync(f, 'utf8')]));

/** Relative imports of a file (value and type imports, re-exports), resolved to source paths. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.{1,2}\/[^']+)\.js'/g;
  for (const m of TEXT.get(file)!.matchAll(re)) out.push(normalize(join(dirname(file), `${m[1]}.ts`)));
  return out;
}

const rel = (f: string) => relative(SRC, f).replaceAll('\\', '/');

describe('architecture', () => {
  it('every relative import resolves to a source file', () => {
    for (const f of FILES) for (const t of importsOf(f)) assert.ok(TEXT.has(t), `${rel(f)} imports ${rel(t)}`);
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        const cycle = stack.slice(stack.indexOf(f)).concat(f).map(rel);
        assert.fail(`import cycle: ${cycle.join(' → ')}`);
      }
      state.set(f, 'open');
      stack.push(f);
      for (const t of importsOf(f)) visit(t);
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of FILES) visit(f);
  });

  it('keeps the layers: core and stats import nothing above them; defence families are independent', () => {
    for (const f of FILES) {
      const from = rel(f);
      for (const t of importsOf(f).map(rel)) {
        if (from.startsWith('core/')) assert.ok(t.startsWith('core/'), `${from} imports ${t}`);
        if (from.startsWith('stats/')) {
          assert.ok(
            t.startsWith('stats/') || /^core\/(checks|errors|options|rng)\.ts$/.test(t),
            `${from} imports ${t}`,
          );
        }
        for (const family of ['data', 'model', 'input']) {
          if (from.startsWith(`defences/${family}/`) && t.startsWith('defences/')) {
            assert.ok(t.startsWith(`defences/${family}/`), `${from} imports ${t}: families stay independent`);
          }
        }
      }
    }
  });

  it('stats is plain numerics: no tfjs', () => {
    for (const f of FILES.filter((x) => rel(x).startsWith('stats/'))) {
      assert.doesNotMatch(TEXT.get(f)!, /@tensorflow\//, rel(f));
    }
  });

  it('only the CLI touches a backend; no setImmediate; no file over 700 lines', () => {
    for (const f of FILES) {
      const text = TEXT.get(f)!;
      const code = text
        .split('\n')
        .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
        .join('\n');
      if (!rel(f).startsWith('cli/')) {
        assert.doesNotMatch(code, /from '@tensorflow\/tfjs-backend-|setBackend\(/, rel(f));
      }
      assert.doesNotMatch(code, /\bsetImmediate\(/, rel(f));
      const lines = text.split('\n').length;
      assert.ok(lines <= 700, `${rel(f)} has ${lines} lines`);
    }
  });

  it('defences ask for capabilities, never for the adapter', () => {
    for (const f of FILES.filter((x) => rel(x).startsWith('defences/'))) {
      assert.doesNotMatch(TEXT.get(f)!, /instanceof LayersModelClassifier|classifier\.model\b/, rel(f));
    }
  });
});

describe('one face per family', () => {
  const has = (ns: object, names: string[]) => {
    for (const n of names) assert.equal(typeof (ns as Record<string, unknown>)[n], 'function', n);
  };

  it('data level: detect + repair', () => {
    for (const ns of [pkg.activationClustering, pkg.spectralSignatures]) has(ns, ['detect', 'repair']);
  });

  it('model level: repair (and detect where the method detects)', () => {
    for (const ns of [pkg.neuralCleanse, pkg.finePruning, pkg.anp]) has(ns, ['repair']);
    has(pkg.neuralCleanse, ['detect']);
    assert.equal((pkg.anp as Record<string, unknown>).prune, undefined);
  });

  it('input level: calibrate + detect (+ repair where the method purifies)', () => {
    for (const ns of [pkg.strip, pkg.featureSqueezing, pkg.detriggerAutoencoder]) has(ns, ['calibrate', 'detect']);
    for (const ns of [pkg.featureSqueezing, pkg.detriggerAutoencoder]) has(ns, ['repair']);
    assert.equal((pkg.detriggerAutoencoder as Record<string, unknown>).train, undefined);
  });

  it('results carry the fields of their family (checked at compile time)', () => {
    assert.ok(Object.values(RESULT_FIELDS).every((v) => v));
  });

  it('batchSize is the forward pass, trainBatchSize the gradient step: no other batch-size names', () => {
    const namespaces: Record<string, object> = {
      activationClustering: pkg.activationClustering,
      spectralSignatures: pkg.spectralSignatures,
      neuralCleanse: pkg.neuralCleanse,
      finePruning: pkg.finePruning,
      anp: pkg.anp,
      strip: pkg.strip,
      featureSqueezing: pkg.featureSqueezing,
      detriggerAutoencoder: pkg.detriggerAutoencoder,
      trojanNet: pkg.trojanNet,
    };
    let checked = 0;
    for (const [name, ns] of Object.entries(namespaces)) {
      for (const [key, value] of Object.entries(ns)) {
        if (!key.endsWith('_DEFAULTS') || value === null || typeof value !== 'object') continue;
        checked++;
        for (const option of Object.keys(value)) {
          assert.ok(
            !/batchsize/i.test(option) || option === 'batchSize' || option === 'trainBatchSize',
            `${name}.${key}.${option}`,
          );
          assert.notEqual(option, 'filterFpr', `${name}.${key}: the rate is frr everywhere`);
        }
      }
    }
    assert.ok(checked >= 15, `${checked} defaults objects`);
  });
});
