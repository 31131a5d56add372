#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx): one
// suite, run once per backend. Every test file runs on the cpu backend and
// again on the wasm backend (BK_BACKEND=wasm), unless its first lines name
// the one backend it is about with a `@backend cpu` or `@backend wasm` tag
// (tests of one backend's kernels).
// Usage: node scripts/run-tests.mjs [file-or-dir ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

/** The backend a file is limited to (from a `@backend` tag in its first 20 lines), or null for both. */
function onlyBackend(file) {
  const head = readFileSync(file, 'utf8').split('\n').slice(0, 20).join('\n');
  const m = /@backend (cpu|wasm)\b/.exec(head);
  return m === null ? null : m[1];
}

const args = process.argv.slice(2);
const files = (args.length > 0 ? args : ['test']).flatMap((p) => collect(p, []));
const cpu = files.filter((f) => onlyBackend(f) !== 'wasm');
const wasm = files.filter((f) => onlyBackend(f) !== 'cpu');

function run(list, backend) {
  if (list.length === 0) return 0;
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...list],
    { stdio: 'inherit', env: { ...process.env, BK_BACKEND: backend } },
  );
  return res.status ?? 1;
}

const started = Date.now();
const status = run(cpu, 'cpu') || 0;
const status2 = run(wasm, 'wasm') || 0;
console.log(
  `test files: ${cpu.length} on cpu, ${wasm.length} on wasm; ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
process.exit(status !== 0 ? status : status2);
