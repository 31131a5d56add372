#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx).
// Every test file runs on the cpu backend; the files under test/wasm/ run on
// the wasm backend (BK_BACKEND=wasm), so each module is exercised once there.
// Usage: node scripts/run-tests.mjs [file-or-dir ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length > 0 ? args : ['test']).flatMap((p) => collect(p, []));
const wasm = files.filter((f) => f.split(/[\\/]/).includes('wasm'));
const cpu = files.filter((f) => !wasm.includes(f));

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
