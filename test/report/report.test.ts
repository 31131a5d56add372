import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import pngjs from 'pngjs';

import { ready } from '../helpers/backend.js';
import type { NeuralCleanseReport } from '../../src/defences/model/neural-cleanse/index.js';
import {
  activationClusteringFigure,
  barChartSvg,
  histogramSvg,
  imageGridFigure,
  imageGridPng,
  imagePng,
  neuralCleanseFigures,
  reportMarkdown,
  scatterSvg,
  stripFigure,
  writeReport,
} from '../../src/report/index.js';

let dir: string;
before(async () => {
  await ready;
  dir = mkdtempSync(join(tmpdir(), 'bk-report-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Checks the signature and the IHDR chunk; returns width and height. */
function ihdr(buf: Buffer): { width: number; height: number; bitDepth: number; colorType: number } {
  assert.deepEqual(buf.subarray(0, 8), PNG_SIGNATURE);
  assert.equal(buf.readUInt32BE(8), 13); // IHDR length
  assert.equal(buf.subarray(12, 16).toString('ascii'), 'IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), bitDepth: buf[24]!, colorType: buf[25]! };
}

function assertSvg(svg: string): Record<string, unknown> {
  assert.equal(XMLValidator.validate(svg), true);
  const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as Record<string, Record<string, unknown>>;
  assert.ok(doc['svg'], 'root element is <svg>');
  assert.equal(doc['svg']!['@_xmlns'], 'http://www.w3.org/2000/svg');
  return doc['svg']!;
}

describe('PNG pictures', () => {
  it('encodes a grid with exact size, a valid IHDR and the right pixels', () => {
    const a = { values: [0, 1, 1, 0], height: 2, width: 2, channels: 1 as const };
    const b = { values: [1, 0, 0, 0, 1, 0, 0, 0, 1], height: 1, width: 3, channels: 3 as const };
    const buf = imageGridPng([[a, b]], { scale: 2, gap: 1 });
    // width = 1 + (2·2 + 1) + (3·2 + 1) = 13; height = 1 + 2·2 + 1 = 6
    assert.deepEqual(ihdr(buf), { width: 13, height: 6, bitDepth: 8, colorType: 6 });
    const png = pngjs.PNG.sync.read(buf);
    const px = (x: number, y: number) => Array.from(png.data.subarray(4 * (y * 13 + x), 4 * (y * 13 + x) + 4));
    assert.deepEqual(px(1, 1), [0, 0, 0, 255]); // a[0,0] = 0
    assert.deepEqual(px(3, 1), [255, 255, 255, 255]); // a[0,1] = 1
    assert.deepEqual(px(6, 1), [255, 0, 0, 255]); // b pixel 0 = red
    assert.deepEqual(px(0, 0), [128, 26, 26, 255]); // gap colour
    const one = imagePng(a, 1);
    assert.deepEqual(ihdr(one), { width: 2, height: 2, bitDepth: 8, colorType: 6 });
  });

  it('rejects malformed images and options naming the argument', () => {
    const a = { values: [0, 1, 1], height: 2, width: 2, channels: 1 as const };
    assert.throws(() => imageGridPng([[a]]), { code: 'INVALID_ARGUMENT', message: /rows\[0\]\[0\]/ });
    assert.throws(() => imageGridPng([]), { message: /rows/ });
    const ok = { values: [0], height: 1, width: 1, channels: 1 as const };
    assert.throws(() => imageGridPng([[ok]], { scale: 0 }), { message: /options\.scale/ });
    assert.throws(() => imageGridPng([[ok]], { bogus: 1 } as never), { message: /options\.bogus/ });
  });
});

describe('SVG charts', () => {
  it('bar chart, histogram and scatter parse as SVG and carry their content', () => {
    const bar = barChartSvg({
      title: 'A <&> B',
      categories: ['0', '1', '2'],
      values: [3, -1, 0.5],
      highlight: [true, false, false],
      threshold: 2,
      xLabel: 'label',
      yLabel: 'index',
    });
    const root = assertSvg(bar);
    assert.ok(bar.includes('A &lt;&amp;&gt; B'));
    const rects = root['rect'] as unknown[];
    assert.equal(rects.length, 4); // background + 3 bars
    assert.match(bar, /threshold 2/);
    const hist = histogramSvg({
      title: 'h',
      series: [
        { name: 'clean', values: [1, 1.2, 1.5, 2] },
        { name: 'triggered', values: [0.1, 0.2] },
      ],
      threshold: 0.5,
      xLabel: 'entropy',
    });
    assertSvg(hist);
    assert.match(hist, /clean \(n = 4\)/);
    assert.match(hist, /triggered \(n = 2\)/);
    const sc = scatterSvg({
      title: 's',
      x: [0, 1, 2],
      y: [1, 0, 2],
      panels: [
        { title: 'p1', groups: [0, 1, 0], groupNames: ['a', 'b'] },
        { title: 'p2', groups: [1, 1, 0], groupNames: ['c', 'd'] },
      ],
      xLabel: 'x',
      yLabel: 'y',
    });
    const sroot = assertSvg(sc);
    assert.equal((sroot['circle'] as unknown[]).length, 6);
    assert.equal(sroot['@_width'], '960');
  });

  it('rejects bad chart data naming the argument', () => {
    const base = { title: 't', categories: ['a'], values: [1], xLabel: 'x', yLabel: 'y' };
    assert.throws(() => barChartSvg({ ...base, values: [NaN] }), { message: /chart\.values\[0\]/ });
    assert.throws(() => barChartSvg({ ...base, categories: ['a', 'b'] }), { message: /chart\.categories/ });
    assert.throws(() => histogramSvg({ title: 't', series: [], xLabel: 'x' }), { message: /chart\.series/ });
    assert.throws(() => histogramSvg({ title: 't', series: [{ name: 'a', values: [1] }], bins: 0, xLabel: 'x' }), {
      message: /chart\.bins/,
    });
    assert.throws(
      () =>
        scatterSvg({
          title: 't',
          x: [0],
          y: [0],
          panels: [{ title: 'p', groups: [2], groupNames: ['a'] }],
          xLabel: 'x',
          yLabel: 'y',
        }),
      { message: /chart\.panels\[0\]\.groups\[0\]/ },
    );
  });
});

function fakeNcReport(): NeuralCleanseReport {
  const mask = (hot: number) => Array.from({ length: 16 }, (_, i) => (i === hot ? 1 : 0.05));
  return {
    backdoored: true,
    targets: [0],
    anomalyIndex: 3,
    threshold: 2,
    scale: 'linear',
    median: 2,
    mad: 0.5,
    maskShape: [4, 4],
    patternShape: [4, 4, 1],
    perClass: [0, 1, 2].map((label) => ({
      label,
      norm: label === 0 ? 1 : 2,
      anomalyIndex: label === 0 ? 3 : 0,
      flagged: label === 0,
      attackSuccess: 0.99,
      converged: true,
      steps: 10,
      cost: 0.001,
      mask: mask(15 - label),
      pattern: Array.from({ length: 16 }, () => 0.5),
    })),
    timing: { totalSeconds: 1, stages: { reverse: 1 } },
  };
}

describe('figures and writeReport', () => {
  it('writes report.md and every picture; all files are valid', async () => {
    const trueTrigger = {
      values: Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)),
      height: 4,
      width: 4,
      channels: 1 as const,
    };
    const nc = neuralCleanseFigures(fakeNcReport(), { trueTrigger });
    assert.deepEqual(
      nc.files.map((f) => f.name),
      ['nc-label-0.png', 'nc-label-1.png', 'nc-label-2.png', 'nc-anomaly-index.svg'],
    );
    // 4 panels of 4×4 at scale 4 with 2-px gaps: width 2 + 4·(16 + 2) = 74, height 2 + 16 + 2 = 20
    assert.deepEqual(ihdr(nc.files[0]!.data as Buffer), { width: 74, height: 20, bitDepth: 8, colorType: 6 });
    const st = stripFigure([1, 1.1, 1.3], [0.1, 0.05], 0.5);
    const ac = activationClusteringFigure([0, 1, 2, 3], [0, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0], 0);
    const grid = imageGridFigure([[trueTrigger], [trueTrigger]], 'before / after', 'detrigger.png');
    const content = {
      title: 'Test report',
      sections: [
        { heading: 'NC', body: 'nc text', figures: [nc] },
        { heading: 'Others', body: 'more', figures: [st, ac, grid] },
      ],
    };
    const written = await writeReport(join(dir, 'r'), content);
    assert.equal(written[0], join(dir, 'r', 'report.md'));
    assert.equal(written.length, 1 + 4 + 3);
    const md = readFileSync(written[0]!, 'utf8');
    assert.equal(md, reportMarkdown(content));
    assert.match(md, /^# Test report\n/);
    for (const name of [
      'nc-label-0.png',
      'nc-anomaly-index.svg',
      'strip-entropy.svg',
      'ac-projection.svg',
      'detrigger.png',
    ]) {
      assert.ok(md.includes(`(${name})`), `report.md links ${name}`);
      const bytes = readFileSync(join(dir, 'r', name));
      if (name.endsWith('.png')) ihdr(bytes);
      else assertSvg(bytes.toString('utf8'));
    }
    assert.match(md, /\| 0 \| 1\.0 \| 3\.00 \| \*\*yes\*\* \|/);
  });

  it('rejects unsafe file names and mismatched true triggers', async () => {
    await assert.rejects(
      writeReport(join(dir, 'bad'), {
        title: 't',
        sections: [{ heading: 'h', body: 'b', figures: [{ files: [{ name: '../x.png', data: 'x' }], markdown: '' }] }],
      }),
      { code: 'INVALID_ARGUMENT', message: /name/ },
    );
    await assert.rejects(writeReport('', { title: 't', sections: [] }), { message: /dir/ });
    const wrong = { values: [0], height: 1, width: 1, channels: 1 as const };
    assert.throws(() => neuralCleanseFigures(fakeNcReport(), { trueTrigger: wrong }), {
      message: /options\.trueTrigger/,
    });
  });
});
