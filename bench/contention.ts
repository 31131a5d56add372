/**
 * How much of the machine other processes used while a benchmark ran: the
 * system's busy CPU time (/proc/stat) minus this process's own and its
 * waited-for children's (/proc/self/stat), as a share of all cores. Linux
 * only; elsewhere it reports `undefined`.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

interface Sample {
  readonly systemBusy: number;
  readonly own: number;
}

/** Clock ticks per second of /proc (USER_HZ; 100 on Linux). */
const TICKS = 100;

function sample(): Sample | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + (cpu[7] ?? 0);
    const self = readFileSync('/proc/self/stat', 'utf8');
    const fields = self
      .slice(self.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // after "pid (comm) ": state=0, ..., utime=11, stime=12, cutime=13, cstime=14
    const own = fields[11]! + fields[12]! + fields[13]! + fields[14]!;
    return { systemBusy: busy / TICKS, own: own / TICKS };
  } catch {
    return undefined;
  }
}

/** Starts measuring; call the returned function at the end. */
export function measureContention(): () => { foreignShare: number; seconds: number } | undefined {
  const start = sample();
  const t0 = performance.now();
  return () => {
    const end = sample();
    if (!start || !end) return undefined;
    const seconds = (performance.now() - t0) / 1000;
    const foreign = Math.max(0, end.systemBusy - start.systemBusy - (end.own - start.own));
    return { foreignShare: foreign / (seconds * os.cpus().length), seconds };
  };
}
