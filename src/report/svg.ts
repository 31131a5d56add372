/**
 * SVG charts for reports: bar chart, overlaid histograms and a scatter plot.
 * Scales, ticks and paths come from d3-scale and d3-shape (no DOM needed);
 * the output is a standalone SVG document string.
 *
 * @packageDocumentation
 */
import { scaleBand, scaleLinear, type ScaleLinear } from 'd3-scale';
import { area, curveStepAfter } from 'd3-shape';

import { InvalidArgumentError } from '../core/errors.js';

/** Colours used for series/groups, in order. */
export const PALETTE: readonly string[] = Object.freeze([
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
]);

const W = 640;
const H = 360;
const M = { top: 40, right: 20, bottom: 50, left: 60 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : Number(v.toPrecision(3)).toString();

function frame(title: string, body: string[], xLabel: string, yLabel: string, width = W): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${H}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...body,
    `<text x="${(M.left + width - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})">${esc(yLabel)}</text>`,
    '</svg>',
  ].join('\n');
}

function yAxis(y: ScaleLinear<number, number>, x0: number, x1: number): string[] {
  const out = [`<line x1="${x0}" y1="${y.range()[0]}" x2="${x0}" y2="${y.range()[1]}" stroke="#000"/>`];
  for (const t of y.ticks(6)) {
    const py = y(t).toFixed(1);
    out.push(`<line x1="${x0}" y1="${py}" x2="${x1}" y2="${py}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${esc(fmt(t))}</text>`);
  }
  return out;
}

function xAxis(x: ScaleLinear<number, number>, y0: number): string[] {
  const out = [`<line x1="${x.range()[0]}" y1="${y0}" x2="${x.range()[1]}" y2="${y0}" stroke="#000"/>`];
  for (const t of x.ticks(8)) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${y0}" x2="${px}" y2="${y0 + 5}" stroke="#000"/>`);
    out.push(`<text x="${px}" y="${y0 + 18}" text-anchor="middle">${esc(fmt(t))}</text>`);
  }
  return out;
}

function legend(names: readonly string[], colours: readonly string[], width = W): string[] {
  return names.map((n, i) => {
    const x = width - M.right - 170;
    const y = M.top + 6 + 18 * i;
    return `<rect x="${x}" y="${y}" width="12" height="12" fill="${colours[i]}" fill-opacity="0.6"/><text x="${x + 18}" y="${y + 10}">${esc(n)}</text>`;
  });
}

function finiteArray(fn: string, arg: string, v: unknown, min = 1): ArrayLike<number> {
  const a = v as ArrayLike<number> | null;
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number' || a.length < min) {
    throw new InvalidArgumentError({ fn, arg, value: v }, `must be an array of at least ${min} numbers`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) {
      throw new InvalidArgumentError({ fn, arg: `${arg}[${i}]`, value: a[i] }, 'must be a finite number');
    }
  }
  return a;
}

/** Input of {@link barChartSvg}. */
export interface BarChart {
  /** Chart title. */
  readonly title: string;
  /** One category name per bar. */
  readonly categories: readonly string[];
  /** One value per bar. */
  readonly values: ArrayLike<number>;
  /** Bars drawn in the second palette colour. @default none */
  readonly highlight?: ArrayLike<boolean | number>;
  /** A dashed horizontal line at this value. @default none */
  readonly threshold?: number | undefined;
  /** x-axis title. */
  readonly xLabel: string;
  /** y-axis title. */
  readonly yLabel: string;
}

/**
 * A bar chart (e.g. Neural Cleanse's anomaly index per label with the
 * threshold as a dashed line).
 *
 * @param chart - {@link BarChart}.
 * @returns A standalone SVG document.
 * @throws {@link InvalidArgumentError} for empty or mismatched data or a non-finite value.
 * @example
 * ```ts
 * barChartSvg({ title: 'Anomaly index', categories: ['0', '1'], values: [3.1, 0.2], threshold: 2, xLabel: 'label', yLabel: 'index' });
 * ```
 */
export function barChartSvg(chart: BarChart): string {
  const fn = 'barChartSvg';
  const values = finiteArray(fn, 'chart.values', chart?.values);
  if (!Array.isArray(chart.categories) || chart.categories.length !== values.length) {
    throw new InvalidArgumentError(
      { fn, arg: 'chart.categories', value: chart.categories },
      `must be ${values.length} names (one per value)`,
    );
  }
  const vals = Array.from(values);
  const lo = Math.min(0, ...vals, chart.threshold ?? 0);
  const hi = Math.max(0, ...vals, chart.threshold ?? 0);
  const y = scaleLinear()
    .domain([lo, hi === lo ? lo + 1 : hi])
    .nice()
    .range([H - M.bottom, M.top]);
  const x = scaleBand<string>()
    .domain(chart.categories.map((c, i) => `${i}:${c}`))
    .range([M.left, W - M.right])
    .padding(0.2);
  const body = yAxis(y, M.left, W - M.right);
  vals.forEach((v, i) => {
    const key = `${i}:${chart.categories[i]}`;
    const bx = x(key)!;
    const top = y(Math.max(0, v));
    const h = Math.abs(y(v) - y(0));
    const colour = chart.highlight && chart.highlight[i] ? PALETTE[1] : PALETTE[0];
    body.push(
      `<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${x.bandwidth().toFixed(1)}" height="${h.toFixed(1)}" fill="${colour}"><title>${esc(chart.categories[i]!)}: ${esc(fmt(v))}</title></rect>`,
    );
    body.push(
      `<text x="${(bx + x.bandwidth() / 2).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(chart.categories[i]!)}</text>`,
    );
  });
  body.push(`<line x1="${M.left}" y1="${y(0)}" x2="${W - M.right}" y2="${y(0)}" stroke="#000"/>`);
  if (chart.threshold !== undefined) {
    const ty = y(chart.threshold).toFixed(1);
    body.push(
      `<line x1="${M.left}" y1="${ty}" x2="${W - M.right}" y2="${ty}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    );
    body.push(
      `<text x="${W - M.right - 4}" y="${Number(ty) - 5}" text-anchor="end" fill="#d62728">threshold ${esc(fmt(chart.threshold))}</text>`,
    );
  }
  return frame(chart.title, body, chart.xLabel, chart.yLabel);
}

/** Input of {@link histogramSvg}. */
export interface Histogram {
  /** Chart title. */
  readonly title: string;
  /** Overlaid series (each normalised to a density over the shared bins). */
  readonly series: ReadonlyArray<{ readonly name: string; readonly values: ArrayLike<number> }>;
  /** Number of bins over the common range. @default 30 */
  readonly bins?: number;
  /** A dashed vertical line at this value. @default none */
  readonly threshold?: number | undefined;
  /** x-axis title. */
  readonly xLabel: string;
}

/**
 * Overlaid histograms (share of each series per bin), e.g. STRIP's entropy
 * of clean vs triggered inputs with the decision threshold.
 *
 * @param chart - {@link Histogram}.
 * @returns A standalone SVG document.
 * @throws {@link InvalidArgumentError} for no series, an empty or non-finite series, or bad bins.
 * @example
 * ```ts
 * histogramSvg({ title: 'STRIP', series: [{ name: 'clean', values: a }, { name: 'triggered', values: b }], threshold: 0.4, xLabel: 'entropy' });
 * ```
 */
export function histogramSvg(chart: Histogram): string {
  const fn = 'histogramSvg';
  if (!Array.isArray(chart?.series) || chart.series.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'chart.series', value: chart?.series }, 'must be a non-empty array');
  }
  const bins = chart.bins ?? 30;
  if (!Number.isInteger(bins) || bins < 1 || bins > 1000) {
    throw new InvalidArgumentError({ fn, arg: 'chart.bins', value: bins }, 'must be an integer in [1, 1000]');
  }
  const all = chart.series.map((s, i) => Array.from(finiteArray(fn, `chart.series[${i}].values`, s.values)));
  let lo = Math.min(...all.map((a) => Math.min(...a)));
  let hi = Math.max(...all.map((a) => Math.max(...a)));
  if (chart.threshold !== undefined && Number.isFinite(chart.threshold)) {
    lo = Math.min(lo, chart.threshold);
    hi = Math.max(hi, chart.threshold);
  }
  if (hi === lo) hi = lo + 1;
  const step = (hi - lo) / bins;
  const shares = all.map((a) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of a) c[Math.min(bins - 1, Math.floor((v - lo) / step))]! += 1;
    return c.map((k) => k / a.length);
  });
  const x = scaleLinear()
    .domain([lo, hi])
    .range([M.left, W - M.right]);
  const y = scaleLinear()
    .domain([0, Math.max(...shares.flat())])
    .nice()
    .range([H - M.bottom, M.top]);
  const body = [...yAxis(y, M.left, W - M.right), ...xAxis(x, H - M.bottom)];
  shares.forEach((sh, i) => {
    const pts: Array<[number, number]> = sh.map((v, b) => [lo + b * step, v]);
    pts.push([hi, sh[bins - 1]!]);
    const path = area<[number, number]>()
      .x((d) => x(d[0]))
      .y0(y(0))
      .y1((d) => y(d[1]))
      .curve(curveStepAfter)(pts);
    const c = PALETTE[i % PALETTE.length]!;
    body.push(`<path d="${path ?? ''}" fill="${c}" fill-opacity="0.45" stroke="${c}"/>`);
  });
  if (chart.threshold !== undefined && Number.isFinite(chart.threshold)) {
    const tx = x(chart.threshold).toFixed(1);
    body.push(`<line x1="${tx}" y1="${M.top}" x2="${tx}" y2="${H - M.bottom}" stroke="#000" stroke-dasharray="6 4"/>`);
    body.push(`<text x="${Number(tx) + 4}" y="${M.top + 10}">threshold ${esc(fmt(chart.threshold))}</text>`);
  }
  body.push(
    ...legend(
      chart.series.map((s) => `${s.name} (n = ${s.values.length})`),
      chart.series.map((_, i) => PALETTE[i % PALETTE.length]!),
    ),
  );
  return frame(chart.title, body, chart.xLabel, 'share of inputs');
}

/** One panel of {@link scatterSvg}. */
export interface ScatterPanel {
  /** Panel title. */
  readonly title: string;
  /** Group of each point (index into `groupNames`). */
  readonly groups: ArrayLike<number>;
  /** Legend names of the groups. */
  readonly groupNames: readonly string[];
}

/** Input of {@link scatterSvg}. */
export interface Scatter {
  /** Chart title. */
  readonly title: string;
  /** x of each point. */
  readonly x: ArrayLike<number>;
  /** y of each point. */
  readonly y: ArrayLike<number>;
  /** Side-by-side panels sharing the points, each colouring them by its own groups. */
  readonly panels: readonly ScatterPanel[];
  /** x-axis title. */
  readonly xLabel: string;
  /** y-axis title. */
  readonly yLabel: string;
}

/**
 * Scatter plot of the same points in one or more side-by-side panels, each
 * coloured by its own grouping (e.g. AC's 2-D projection coloured by
 * cluster and by ground truth).
 *
 * @param chart - {@link Scatter}.
 * @returns A standalone SVG document.
 * @throws {@link InvalidArgumentError} for mismatched lengths, non-finite coordinates or bad groups.
 * @example
 * ```ts
 * scatterSvg({ title: 'AC, class 0', x, y, panels: [{ title: 'cluster', groups: clusters, groupNames: ['0', '1'] }], xLabel: 'PC1', yLabel: 'PC2' });
 * ```
 */
export function scatterSvg(chart: Scatter): string {
  const fn = 'scatterSvg';
  const xs = finiteArray(fn, 'chart.x', chart?.x);
  const ys = finiteArray(fn, 'chart.y', chart.y);
  if (ys.length !== xs.length) {
    throw new InvalidArgumentError(
      { fn, arg: 'chart.y', value: ys.length },
      `must have ${xs.length} values like chart.x`,
    );
  }
  if (!Array.isArray(chart.panels) || chart.panels.length === 0) {
    throw new InvalidArgumentError({ fn, arg: 'chart.panels', value: chart.panels }, 'must be a non-empty array');
  }
  chart.panels.forEach((p: ScatterPanel, i: number) => {
    if (p.groups?.length !== xs.length) {
      throw new InvalidArgumentError(
        { fn, arg: `chart.panels[${i}].groups`, value: p.groups },
        `must have ${xs.length} entries`,
      );
    }
    for (let k = 0; k < xs.length; k++) {
      const g = p.groups[k]!;
      if (!Number.isInteger(g) || g < 0 || g >= p.groupNames.length) {
        throw new InvalidArgumentError(
          { fn, arg: `chart.panels[${i}].groups[${k}]`, value: g },
          `must be an integer in [0, ${p.groupNames.length})`,
        );
      }
    }
  });
  const panelW = 480;
  const width = panelW * chart.panels.length;
  const xv = Array.from(xs);
  const yv = Array.from(ys);
  const body: string[] = [];
  chart.panels.forEach((p: ScatterPanel, i: number) => {
    const off = i * panelW;
    const x = scaleLinear()
      .domain([Math.min(...xv), Math.max(...xv)])
      .nice()
      .range([off + M.left, off + panelW - M.right]);
    const y = scaleLinear()
      .domain([Math.min(...yv), Math.max(...yv)])
      .nice()
      .range([H - M.bottom, M.top + 16]);
    body.push(...yAxis(y, off + M.left, off + panelW - M.right), ...xAxis(x, H - M.bottom));
    body.push(
      `<text x="${off + panelW / 2}" y="${M.top + 4}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
    );
    // draw larger groups first so small ones stay visible
    const order = Array.from(xv.keys()).sort((a, b) =>
      p.groups[a]! === p.groups[b]! ? a - b : p.groups[a]! - p.groups[b]!,
    );
    for (const k of order) {
      const c = PALETTE[p.groups[k]! % PALETTE.length]!;
      body.push(
        `<circle cx="${x(xv[k]!).toFixed(1)}" cy="${y(yv[k]!).toFixed(1)}" r="2.2" fill="${c}" fill-opacity="0.6"/>`,
      );
    }
    p.groupNames.forEach((n: string, gi: number) => {
      const lx = off + panelW - M.right - 150;
      const ly = M.top + 22 + 18 * gi;
      body.push(
        `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${PALETTE[gi % PALETTE.length]}"/><text x="${lx + 18}" y="${ly + 10}">${esc(n)}</text>`,
      );
    });
  });
  return frame(chart.title, body, chart.xLabel, chart.yLabel, width);
}
