import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { ready } from '../helpers/backend.js';
import { backdoorFixture, type BackdoorFixture } from '../helpers/backdoor-fixture.js';
import type { LabeledData } from '../../src/core/types.js';
import { saveModel } from '../../src/io/model-io.js';
import { parseArgs, UsageError, type ScanArgs } from '../../src/cli/args.js';
import { runCli, type CliIo } from '../../src/cli/main.js';

let dir: string;
let f: BackdoorFixture;

before(async () => {
  await ready;
  dir = mkdtempSync(join(tmpdir(), 'bk-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `data` as float32 IDX image and uint8 IDX label files into `sub`. */
async function writeIdx(sub: string, d: LabeledData): Promise<string> {
  const out = join(dir, sub);
  mkdirSync(out, { recursive: true });
  const [n, h, w] = d.x.shape;
  const px = await d.x.data();
  const img = Buffer.alloc(4 + 12 + 4 * px.length);
  img.writeUInt32BE(0x00000d03, 0);
  img.writeUInt32BE(n, 4);
  img.writeUInt32BE(h, 8);
  img.writeUInt32BE(w, 12);
  px.forEach((v, i) => img.writeFloatBE(v, 16 + 4 * i));
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(0x00000801, 0);
  lab.writeUInt32BE(n, 4);
  d.y.forEach((v, i) => lab.writeUInt8(v, 8 + i));
  writeFileSync(join(out, 'test-images.idx'), img);
  writeFileSync(join(out, 'test-labels.idx'), lab);
  return out;
}

function capture(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    prepareBackend: async () => {},
    progress: false,
  };
}

describe('parseArgs', () => {
  it('parses a full scan command with defaults', () => {
    const a = parseArgs(['scan', 'm', '--data', 'mnist']) as ScanArgs;
    assert.equal(a.command, 'scan');
    assert.equal(a.modelDir, 'm');
    assert.deepEqual(a.defences, ['nc']);
    assert.equal(a.samples, 1000);
    assert.equal(a.threshold, 2);
    assert.equal(a.backend, 'wasm');
    assert.equal(a.quick, false);
    const b = parseArgs([
      'scan',
      '--data=d',
      'm',
      '--defences',
      'nc,STRIP,fs,nc',
      '--samples',
      '200',
      '--quick',
      '--nc-steps',
      '5',
      '--out',
      'o',
      '--threshold',
      '1.5',
      '--backend',
      'cpu',
      '--json',
    ]) as ScanArgs;
    assert.deepEqual(b.defences, ['nc', 'strip', 'fs']);
    assert.equal(b.data, 'd');
    assert.equal(b.samples, 200);
    assert.equal(b.ncSteps, 5);
    assert.equal(b.out, 'o');
    assert.equal(b.threshold, 1.5);
    assert.equal(b.backend, 'cpu');
    assert.equal(b.json, true);
    assert.equal(b.quick, true);
  });

  it('recognises help and version', () => {
    assert.equal(parseArgs([]).command, 'help');
    assert.equal(parseArgs(['--help']).command, 'help');
    assert.equal(parseArgs(['scan', '-h']).command, 'help');
    assert.equal(parseArgs(['--version']).command, 'version');
  });

  it('rejects malformed command lines with one-line messages', () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['scan', '--data', 'mnist'], /model directory/],
      [['scan', 'a', 'b', '--data', 'mnist'], /one model directory/],
      [['scan', 'm'], /--data is required/],
      [['scan', 'm', '--data'], /--data needs a value/],
      [['scan', 'm', '--data', 'x', '--defences', 'nc,bogus'], /unknown check 'bogus'/],
      [['scan', 'm', '--data', 'x', '--samples', '5'], /--samples must be an integer >= 20/],
      [['scan', 'm', '--data', 'x', '--samples', '1e9.5'], /--samples/],
      [['scan', 'm', '--data', 'x', '--threshold', '-1'], /--threshold/],
      [['scan', 'm', '--data', 'x', '--input-alarm', '2'], /--input-alarm must be a number in \[0, 1\]/],
      [['scan', 'm', '--data', 'x', '--backend', 'gpu'], /--backend must be wasm or cpu/],
      [['scan', 'm', '--data', 'x', '--wat'], /unknown option '--wat'/],
      [['scan', 'm', '--data', 'x', '--quick=1'], /--quick takes no value/],
      [['scan', 'm', '--data', 'x', '--data', 'y'], /given twice/],
    ];
    for (const [argv, re] of cases) {
      assert.throws(
        () => parseArgs(argv),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'),
        argv.join(' '),
      );
    }
  });
});

describe('runCli exit codes', () => {
  it('--help prints usage and exits 0; a usage error exits 1 with one line', async () => {
    const io = capture();
    assert.equal(await runCli(['--help'], io), 0);
    assert.match(io.out.join(''), /Usage:[\s\S]*Exit codes: 0 no backdoor found, 2 backdoor found, 1 error/);
    const bad = capture();
    assert.equal(await runCli(['scan', 'm'], bad), 1);
    assert.equal(bad.err.length, 1);
    assert.match(bad.err[0]!, /^backdoor-kit: error: --data is required.*\n$/);
    assert.equal(bad.err[0]!.split('\n').length, 2);
  });

  it('missing model, corrupt model.json, missing data: exit 1 with one line', async () => {
    const corrupt = join(dir, 'corrupt');
    mkdirSync(corrupt, { recursive: true });
    writeFileSync(join(corrupt, 'model.json'), '{"modelTopology": ');
    const cases: Array<[string[], RegExp]> = [
      [['scan', join(dir, 'nope'), '--data', 'mnist'], /does not exist|not found|no such/i],
      [['scan', corrupt, '--data', 'mnist'], /not valid JSON/],
    ];
    for (const [argv, re] of cases) {
      const io = capture();
      assert.equal(await runCli(argv, io), 1, argv.join(' '));
      assert.equal(io.err.length, 1);
      assert.match(io.err[0]!, re);
      assert.equal(io.err[0]!.trim().split('\n').length, 1);
    }
  });

  describe('on tiny saved models (the 14×14 planted-backdoor fixture)', () => {
    let bdDir: string;
    let cleanDir: string;
    let dataDir: string;
    before(async () => {
      f = await backdoorFixture();
      bdDir = join(dir, 'backdoored');
      cleanDir = join(dir, 'clean');
      await saveModel(f.backdoored.model, bdDir);
      await saveModel(f.clean.model, cleanDir);
      dataDir = await writeIdx('data', f.test);
    });

    it('a model whose input shape does not match the data: exit 1 naming both shapes', async () => {
      const io = capture();
      assert.equal(await runCli(['scan', bdDir, '--data', 'mnist'], io), 1);
      assert.match(io.err[0]!, /the model expects inputs \[14, 14, 1\] but --data has images \[28, 28, 1\]/);
    });

    it('a missing --data path: exit 1', async () => {
      const io = capture();
      assert.equal(await runCli(['scan', bdDir, '--data', join(dir, 'none')], io), 1);
      assert.match(io.err[0]!, /--data: not found/);
    });

    it('--out naming an existing file and too few --samples for STRIP: exit 1 before loading anything', async () => {
      const file = join(dir, 'a-file');
      writeFileSync(file, 'x');
      let prepared = 0;
      const io = { ...capture(), prepareBackend: async () => void prepared++ };
      assert.equal(await runCli(['scan', bdDir, '--data', dataDir, '--out', file], io), 1);
      assert.match(io.err[0]!, /--out: .* exists and is not a directory/);
      assert.equal(await runCli(['scan', bdDir, '--data', dataDir, '--defences', 'strip', '--samples', '40'], io), 1);
      assert.match(io.err[1]!, /--samples must be at least 202 with --defences strip/);
      assert.doesNotMatch(io.err[1]!, /options\./);
      assert.equal(prepared, 0);
    });

    it('a manifest pointing outside the model folder: exit 1, one line, nothing read', async () => {
      const evil = join(dir, 'evil');
      mkdirSync(evil, { recursive: true });
      const json = JSON.parse(readFileSync(join(bdDir, 'model.json'), 'utf8')) as {
        weightsManifest: { paths: string[] }[];
      };
      json.weightsManifest[0]!.paths = ['../backdoored/weights.bin'];
      writeFileSync(join(evil, 'model.json'), JSON.stringify(json));
      const io = capture();
      assert.equal(await runCli(['scan', evil, '--data', dataDir], io), 1);
      assert.equal(io.err.length, 1);
      assert.match(io.err[0]!, /leaves the model folder/);
    });

    // A short Neural Cleanse schedule for the 14×14 cpu fixture (see docs/cli.md).
    const nc = ['--quick', '--nc-steps', '40', '--samples', '300', '--seed', '1'];

    it('backdoored model, Neural Cleanse: exit 2, names label 0, writes the report, leaks nothing', async () => {
      const out = join(dir, 'report-bd');
      const io = capture();
      const n0 = tf.memory().numTensors;
      const code = await runCli(['scan', bdDir, '--data', dataDir, ...nc, '--out', out, '--json'], io);
      assert.equal(tf.memory().numTensors, n0);
      assert.equal(code, 2, io.out.join('') + io.err.join(''));
      const r = JSON.parse(io.out.join('')) as { backdoored: boolean; targets: number[]; verdict: string };
      assert.equal(r.backdoored, true);
      assert.deepEqual(r.targets, [0]);
      assert.match(r.verdict, /target label 0/);
      assert.ok(existsSync(join(out, 'report.md')));
      assert.ok(existsSync(join(out, 'nc-label-0.png')));
      assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /BACKDOOR FOUND: target label 0/);
    });

    it('STRIP on --inputs: triggered inputs on the backdoored model exit 2, on the clean model exit 0', async () => {
      const trig = await writeIdx('triggered', f.triggered);
      const args = ['--data', dataDir, '--defences', 'strip', '--inputs', trig, '--quick', '--samples', '200'];
      const bd = capture();
      assert.equal(await runCli(['scan', bdDir, ...args], bd), 2, bd.out.join('') + bd.err.join(''));
      assert.match(
        bd.out.join(''),
        /STRIP: flagged \d+ of \d+ inputs .* -> backdoor[\s\S]*BACKDOOR FOUND \(input-level alarm\)/,
      );
      const cl = capture();
      assert.equal(await runCli(['scan', cleanDir, ...args], cl), 0, cl.out.join('') + cl.err.join(''));
      assert.match(cl.out.join(''), /NO BACKDOOR FOUND/);
    });
  });
});

describe('the real executable', () => {
  it('exits 1 with one line on a corrupt model.json and 0 on --help', () => {
    const corrupt = join(dir, 'corrupt2');
    mkdirSync(corrupt, { recursive: true });
    writeFileSync(join(corrupt, 'model.json'), 'not json');
    const bin = ['--import', 'tsx', 'src/cli/index.ts'];
    const r = spawnSync(process.execPath, [...bin, 'scan', corrupt, '--data', 'mnist', '--backend', 'cpu'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^backdoor-kit: error: .*loadModel.*not valid JSON.*model\.json/);
    const h = spawnSync(process.execPath, [...bin, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /backdoor-kit scan <model-dir> --data <data>/);
  });
});
