/**
 * A small terminal progress bar for the examples and the CLI (one line,
 * redrawn in place on a TTY; a line every 10 % otherwise).
 */
import type { ProgressEvent } from '../src/index.js';

export function progressBar(label: string): (e: ProgressEvent) => void {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  const started = Date.now();
  return (e: ProgressEvent) => {
    const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const extra = e.metrics
      ? ' ' +
        Object.entries(e.metrics)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(' ')
      : '';
    if (tty) {
      const width = 30;
      const filled = Math.round(frac * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${secs}s${extra}   `,
      );
      if (frac >= 1) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${label} ${(frac * 100).toFixed(0)}% ${secs}s${extra}\n`);
      }
    }
  };
}
