/**
 * Hostile files (docs/security.md): a model folder or data file sent by an
 * attacker must give a typed error, quickly, without reading outside the
 * folder, following a device, or inflating a gzip bomb.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { FormatError, InvalidArgumentError, type BackdoorKitError } from '../../src/core/errors.js';
import { loadIdxDataset, idxToLabeledData } from '../../src/data/idx.js';
import { loadJson } from '../../src/io/json.js';
import { loadModel, saveModel } from '../../src/io/model-io.js';
import { ready } from '../helpers/backend.js';
import { tinyConvModel } from '../helpers/fixtures.js';

let root: string;
let good: string;
let modelJson: Record<string, unknown>;

/** A copy of the good model folder whose model.json is `json` (weights.bin copied unless `weights` is false). */
async function variant(name: string, json: unknown, weights = true): Promise<string> {
  const dir = await mkdtemp(join(root, `${name}-`));
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  if (weights) await writeFile(join(dir, 'weights.bin'), await readFile(join(good, 'weights.bin')));
  return dir;
}

function manifestWith(paths: string[]): Record<string, unknown> {
  const m = structuredClone(modelJson) as { weightsManifest: Array<{ paths: string[] }> };
  m.weightsManifest[0]!.paths = paths;
  return m;
}

async function rejectsWith(p: Promise<unknown>, type: typeof FormatError | typeof InvalidArgumentError, re: RegExp) {
  const start = tf.memory().numTensors;
  const t0 = performance.now();
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.match((e as BackdoorKitError).message, re);
    assert.ok(!(e as Error).message.includes('\n'), 'one line');
    assert.ok((e as Error).message.length < 600, 'a bounded message');
    return true;
  });
  assert.ok(performance.now() - t0 < 5000, 'answered within 5 s');
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
}

after(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('hostile model folders', () => {
  before(async () => {
    await ready;
    root = await mkdtemp(join(tmpdir(), 'bk-hostile-'));
    good = join(root, 'good');
    const model = tinyConvModel(1);
    await saveModel(model, good);
    model.dispose();
    modelJson = JSON.parse(await readFile(join(good, 'model.json'), 'utf8')) as Record<string, unknown>;
    await mkdir(join(root, 'secret'));
    await writeFile(join(root, 'secret', 'weights.bin'), await readFile(join(good, 'weights.bin')));
  });

  it('loads the untouched folder', async () => {
    const m = await loadModel(good);
    m.dispose();
  });

  it('refuses weights paths that leave the folder: ../, absolute', async () => {
    for (const p of ['../secret/weights.bin', '../../../../../../../../etc/passwd', '/etc/passwd', 'a/../../x.bin']) {
      const dir = await variant('traversal', manifestWith([p]), false);
      await rejectsWith(loadModel(dir), FormatError, /leaves the model folder/);
    }
  });

  it('refuses a weights file that is a symbolic link out of the folder', async () => {
    const dir = await variant('symlink', modelJson, false);
    await symlink(join(root, 'secret', 'weights.bin'), join(dir, 'weights.bin'));
    await rejectsWith(loadModel(dir), FormatError, /resolves outside the folder/);
  });

  it('refuses a model.json or weights file that is a device (/dev/zero never ends)', async () => {
    const dir = await mkdtemp(join(root, 'devzero-'));
    await symlink('/dev/zero', join(dir, 'model.json'));
    await rejectsWith(loadModel(dir), FormatError, /not a regular file/);
    const dir2 = await variant('devzero-weights', modelJson, false);
    await symlink('/dev/zero', join(dir2, 'weights.bin'));
    await rejectsWith(loadModel(dir2), FormatError, /resolves outside the folder|not a regular file/);
  });

  it('reads each weights file once: a manifest listing one file twice is refused', async () => {
    const dir = await variant('twice', manifestWith(['weights.bin', 'weights.bin']));
    await rejectsWith(loadModel(dir), FormatError, /more than once/);
  });

  it('checks the described size against the cap before reading', async () => {
    const m = structuredClone(modelJson) as {
      weightsManifest: Array<{ weights: Array<{ shape: number[] }> }>;
    };
    m.weightsManifest[0]!.weights[0]!.shape = [50000, 50000];
    const dir = await variant('huge', m);
    await rejectsWith(loadModel(dir), FormatError, /more than options\.maxWeightBytes/);
    await rejectsWith(loadModel(good, { maxWeightBytes: 16 }), FormatError, /more than options\.maxWeightBytes \(16\)/);
    await rejectsWith(loadModel(good, { maxModelJsonBytes: 16 }), FormatError, /more than the 16 allowed/);
  });

  it('refuses a model.json without weights unless asked', async () => {
    const m = structuredClone(modelJson);
    delete m.weightsManifest;
    const dir = await variant('noweights', m, false);
    await rejectsWith(loadModel(dir), FormatError, /has no weights/);
    const untrained = await loadModel(dir, { allowMissingWeights: true });
    untrained.dispose();
    await rejectsWith(
      loadModel(dir, { allowMissingWeights: 'yes' as never }),
      InvalidArgumentError,
      /allowMissingWeights/,
    );
  });
});

describe('hostile data files', () => {
  before(async () => {
    await ready;
    root ??= await mkdtemp(join(tmpdir(), 'bk-hostile-'));
  });

  it('refuses devices for JSON and IDX files', async () => {
    await rejectsWith(loadJson('/dev/zero'), InvalidArgumentError, /not a regular file/);
    await rejectsWith(loadIdxDataset('/dev/zero', '/dev/zero'), InvalidArgumentError, /not a regular file/);
  });

  it('stops a gzip bomb at the size its IDX header declares, and a huge header before inflating', async () => {
    const header = new Uint8Array([0, 0, 0x08, 1, 0, 0, 0, 10]); // uint8, rank 1, 10 values
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]));
    const labels = gzipSync(Buffer.concat([header, Buffer.alloc(10)]));
    const rss = process.memoryUsage().rss;
    assert.throws(
      () => idxToLabeledData(new Uint8Array(bomb), new Uint8Array(labels)),
      (e: unknown) => e instanceof FormatError && /decompresses to more than the 18 bytes/.test(e.message),
    );
    const huge = gzipSync(
      Buffer.concat([new Uint8Array([0, 0, 0x08, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]), Buffer.alloc(100)]),
    );
    assert.throws(
      () => idxToLabeledData(new Uint8Array(huge), new Uint8Array(labels)),
      (e: unknown) => e instanceof FormatError && /declares \d+ bytes in its IDX header, more than/.test(e.message),
    );
    assert.ok(process.memoryUsage().rss - rss < 300 * 2 ** 20, 'memory stays bounded');
    const path = join(root, 'bomb-images.gz');
    await writeFile(path, bomb);
    await writeFile(join(root, 'labels.gz'), labels);
    await rejectsWith(loadIdxDataset(path, join(root, 'labels.gz')), FormatError, /decompresses to more than/);
  });
});
