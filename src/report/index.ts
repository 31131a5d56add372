/**
 * Reports with pictures: PNG images (pngjs), SVG charts (d3-scale /
 * d3-shape) and a `report.md` that links them. Node-only (writes files; PNG
 * encoding uses zlib), so it is **not** re-exported from the browser-safe
 * package barrel: import it from `backdoor-kit/report` (or
 * `src/report/index.js` inside this repository).
 *
 * @packageDocumentation
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { InvalidArgumentError } from '../core/errors.js';
import type { NeuralCleanseReport } from '../defences/model/neural-cleanse/index.js';
import { imageGridPng, type ImageData } from './png.js';
import { barChartSvg, histogramSvg, scatterSvg } from './svg.js';

export { imageGridPng, imagePng, IMAGE_GRID_DEFAULTS, type ImageData, type ImageGridOptions } from './png.js';
export {
  barChartSvg,
  histogramSvg,
  scatterSvg,
  PALETTE,
  type BarChart,
  type Histogram,
  type Scatter,
  type ScatterPanel,
} from './svg.js';

/** A file of a report: a name (no directories) and its bytes or text. */
export interface ReportFile {
  /** File name inside the report directory, e.g. `nc-label-0.png`. */
  readonly name: string;
  /** Content. */
  readonly data: Buffer | Uint8Array | string;
}

/** A figure: its files and the markdown that shows them. */
export interface Figure {
  /** Files to write. */
  readonly files: ReportFile[];
  /** Markdown referencing the files (relative links). */
  readonly markdown: string;
}

/** A report section. */
export interface ReportSection {
  /** Heading (level 2). */
  readonly heading: string;
  /** Markdown body. */
  readonly body: string;
  /** Figures shown after the body. @default [] */
  readonly figures?: readonly Figure[];
}

/** What {@link writeReport} writes. */
export interface ReportContent {
  /** Title (level 1 heading). */
  readonly title: string;
  /** Sections in order. */
  readonly sections: readonly ReportSection[];
}

const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Renders a report as markdown (title, then each section's heading, body and figures).
 *
 * @param content - {@link ReportContent}.
 * @returns The markdown text (ends with a newline).
 * @throws Never for well-typed input.
 * @example
 * ```ts
 * reportMarkdown({ title: 'Scan', sections: [{ heading: 'Verdict', body: 'clean' }] });
 * ```
 */
export function reportMarkdown(content: ReportContent): string {
  const out = [`# ${content.title}`, ''];
  for (const s of content.sections) {
    out.push(`## ${s.heading}`, '', s.body.trim(), '');
    for (const f of s.figures ?? []) out.push(f.markdown.trim(), '');
  }
  return out.join('\n');
}

/**
 * Writes `report.md` and every figure file into `dir` (created if missing).
 *
 * @param dir - Output directory.
 * @param content - {@link ReportContent}.
 * @returns The paths written (report.md first).
 * @throws {@link InvalidArgumentError} for an empty `dir` or a file name with a path separator or odd characters; the file system's errors.
 * @example
 * ```ts
 * await writeReport('demo-report', { title: 'Demo', sections });
 * ```
 */
export async function writeReport(dir: string, content: ReportContent): Promise<string[]> {
  const fn = 'writeReport';
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'dir', value: dir }, 'must be a non-empty path');
  }
  const files = content.sections.flatMap((s) => (s.figures ?? []).flatMap((f) => f.files));
  for (const f of files) {
    if (typeof f.name !== 'string' || !SAFE_NAME.test(f.name) || f.name === 'report.md') {
      throw new InvalidArgumentError(
        { fn, arg: 'content.sections[].figures[].files[].name', value: f.name },
        'must be a plain file name (letters, digits, ".", "_", "-"), not report.md',
      );
    }
  }
  await mkdir(dir, { recursive: true });
  const written = [join(dir, 'report.md')];
  await writeFile(written[0]!, reportMarkdown(content));
  for (const f of files) {
    const p = join(dir, f.name);
    await writeFile(p, f.data);
    written.push(p);
  }
  return written;
}

/** Options of {@link neuralCleanseFigures}. */
export interface NeuralCleanseFigureOptions {
  /** The true trigger as an image of the model's input size (shown first in every row). @default undefined */
  readonly trueTrigger?: ImageData | undefined;
  /** File name prefix. @default 'nc' */
  readonly prefix?: string;
  /** PNG upscaling. @default 4 */
  readonly scale?: number;
}

/**
 * Neural Cleanse pictures: per label a PNG `[true trigger |] mask | pattern |
 * mask × pattern` and an SVG bar chart of the anomaly index per label with
 * the threshold; markdown with a per-label table.
 *
 * @param report - A `neuralCleanse.detect` report.
 * @param options - {@link NeuralCleanseFigureOptions}.
 * @returns A {@link Figure}.
 * @throws {@link InvalidArgumentError} for a report without labels or a true trigger of another size.
 * @example
 * ```ts
 * const fig = neuralCleanseFigures(ncReport, { trueTrigger });
 * ```
 */
export function neuralCleanseFigures(report: NeuralCleanseReport, options: NeuralCleanseFigureOptions = {}): Figure {
  const fn = 'neuralCleanseFigures';
  if (!report || !Array.isArray(report.perClass) || report.perClass.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'report' }, 'must be a neuralCleanse.detect report with labels');
  }
  const prefix = options.prefix ?? 'nc';
  const [h, w] = report.maskShape;
  const c = report.patternShape[2];
  const t = options.trueTrigger;
  if (t !== undefined && (t.height !== h || t.width !== w)) {
    throw new InvalidArgumentError(
      { fn, arg: 'options.trueTrigger', value: [t.height, t.width] },
      `must be ${h}×${w} like the masks`,
    );
  }
  const files: ReportFile[] = [];
  const rows: string[] = [];
  for (const p of report.perClass) {
    const masked = p.pattern.map((v, i) => v * p.mask[Math.floor(i / c)]!);
    const cells: ImageData[] = [];
    if (t) cells.push(t);
    cells.push(
      { values: p.mask, height: h, width: w, channels: 1 },
      { values: p.pattern, height: h, width: w, channels: c === 3 ? 3 : 1 },
      { values: masked, height: h, width: w, channels: c === 3 ? 3 : 1 },
    );
    const name = `${prefix}-label-${p.label}.png`;
    files.push({ name, data: imageGridPng([cells], { scale: options.scale ?? 4 }) });
    rows.push(
      `| ${p.label} | ${p.norm.toFixed(1)} | ${p.anomalyIndex.toFixed(2)} | ${p.flagged ? '**yes**' : 'no'} | ${(100 * p.attackSuccess).toFixed(1)}% | ![label ${p.label}](${name}) |`,
    );
  }
  const chartName = `${prefix}-anomaly-index.svg`;
  files.push({
    name: chartName,
    data: barChartSvg({
      title: 'Neural Cleanse: anomaly index per label',
      categories: report.perClass.map((p) => String(p.label)),
      values: report.perClass.map((p) => (Number.isFinite(p.anomalyIndex) ? p.anomalyIndex : 0)),
      highlight: report.perClass.map((p) => p.flagged),
      threshold: report.threshold,
      xLabel: 'label',
      yLabel: 'anomaly index (MAD units below the median norm)',
    }),
  });
  const cols = t
    ? 'true trigger | reversed mask | reversed pattern | mask × pattern'
    : 'reversed mask | reversed pattern | mask × pattern';
  const markdown = [
    `![anomaly index per label](${chartName})`,
    '',
    `Each picture: ${cols} (dark red lines separate the panels).`,
    '',
    '| label | mask L1 norm | anomaly index | flagged | reversed trigger success | picture |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
  return { files, markdown };
}

/**
 * STRIP picture: histograms of the mean entropy of clean and triggered inputs with the threshold.
 *
 * @param clean - Entropy scores of clean inputs.
 * @param triggered - Entropy scores of triggered inputs.
 * @param threshold - The decision threshold (bits).
 * @param name - File name. @default 'strip-entropy.svg'
 * @returns A {@link Figure}.
 * @throws {@link InvalidArgumentError} for empty or non-finite scores.
 * @example
 * ```ts
 * stripFigure(cleanReport.scores, trigReport.scores, cleanReport.threshold);
 * ```
 */
export function stripFigure(
  clean: ArrayLike<number>,
  triggered: ArrayLike<number>,
  threshold: number,
  name = 'strip-entropy.svg',
): Figure {
  const svg = histogramSvg({
    title: 'STRIP: entropy under superimposition',
    series: [
      { name: 'clean', values: clean },
      { name: 'triggered', values: triggered },
    ],
    threshold,
    bins: 40,
    xLabel: 'mean prediction entropy (bits); below the threshold = flagged',
  });
  return { files: [{ name, data: svg }], markdown: `![STRIP entropy histograms](${name})` };
}

/**
 * Activation Clustering picture: a 2-D projection of one class's activations,
 * coloured by the cluster AC assigned (left) and by ground truth (right).
 *
 * @param x - First coordinate of each sample.
 * @param y - Second coordinate.
 * @param clusters - AC's cluster of each sample (0 smaller, 1 larger).
 * @param poisoned - 1 for each truly poisoned sample.
 * @param label - The class shown.
 * @param name - File name. @default 'ac-projection.svg'
 * @returns A {@link Figure}.
 * @throws {@link InvalidArgumentError} for mismatched lengths or non-finite coordinates.
 * @example
 * ```ts
 * activationClusteringFigure(pc1, pc2, clusters, poisoned, 0);
 * ```
 */
export function activationClusteringFigure(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  clusters: ArrayLike<number>,
  poisoned: ArrayLike<number>,
  label: number,
  name = 'ac-projection.svg',
): Figure {
  const svg = scatterSvg({
    title: `Activation Clustering: class ${label}, activations projected on 2 principal components`,
    x,
    y,
    panels: [
      { title: 'coloured by AC cluster', groups: clusters, groupNames: ['cluster 0 (smaller)', 'cluster 1 (larger)'] },
      { title: 'coloured by ground truth', groups: poisoned, groupNames: ['clean', 'poisoned'] },
    ],
    xLabel: 'PC 1',
    yLabel: 'PC 2',
  });
  return { files: [{ name, data: svg }], markdown: `![AC projection of class ${label}](${name})` };
}

/**
 * Image-grid picture (e.g. inputs before/after the de-trigger autoencoder), one PNG.
 *
 * @param rows - Rows of images.
 * @param caption - Markdown caption shown above the picture.
 * @param name - File name.
 * @param scale - PNG upscaling. @default 3
 * @returns A {@link Figure}.
 * @throws {@link InvalidArgumentError} for malformed images.
 * @example
 * ```ts
 * imageGridFigure([triggered, purified], 'top: triggered; bottom: after the autoencoder', 'detrigger.png');
 * ```
 */
export function imageGridFigure(
  rows: ReadonlyArray<ReadonlyArray<ImageData | null>>,
  caption: string,
  name: string,
  scale = 3,
): Figure {
  return { files: [{ name, data: imageGridPng(rows, { scale }) }], markdown: `${caption}\n\n![${caption}](${name})` };
}
