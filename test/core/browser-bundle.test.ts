/**
 * The package barrel must bundle for a browser: no top-level import of a
 * Node built-in (`node:fs`, `node:zlib`, ...) anywhere it reaches. Node-only
 * functions (file readers and writers) reach Node through
 * `process.getBuiltinModule` when called. Bundled with esbuild (tsx's
 * bundler) for `platform: 'browser'`, the peers and dependencies external.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

describe('browser bundle of the barrel', () => {
  it('bundles for the browser without any Node built-in', async () => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
      external: ['@tensorflow/*', 'ml-matrix', 'ml-kmeans', 'mnist'],
    });
    assert.equal(result.errors.length, 0);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((p) => p.endsWith('src/index.ts')));
    const nodeImports = Object.values(result.metafile.inputs).flatMap((input) =>
      input.imports.filter((i) => i.path.startsWith('node:') || i.path === 'fs' || i.path === 'zlib'),
    );
    assert.deepEqual(nodeImports, []);
  });

  it('a Node-only reader called outside Node throws UnsupportedError', async () => {
    const { nodeBuiltin } = await import('../../src/io/node-builtins.js');
    const saved = Object.getOwnPropertyDescriptor(process, 'getBuiltinModule');
    Object.defineProperty(process, 'getBuiltinModule', { value: undefined, configurable: true });
    try {
      assert.throws(
        () => nodeBuiltin('loadModel', 'node:fs/promises'),
        (e: unknown) => (e as { code?: string }).code === 'UNSUPPORTED' && /loadModel/.test(String(e)),
      );
    } finally {
      if (saved) Object.defineProperty(process, 'getBuiltinModule', saved);
    }
    assert.equal(typeof nodeBuiltin('t', 'node:path').join, 'function');
  });
});
