/**
 * Test backend set-up: the cpu backend by default, wasm when BK_BACKEND=wasm.
 * Tests import `ready` and await it before touching tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

export const backendName = process.env.BK_BACKEND === 'wasm' ? 'wasm' : 'cpu';

async function init(): Promise<string> {
  tf.enableProdMode();
  const ok = await tf.setBackend(backendName);
  if (!ok) throw new Error(`could not set backend ${backendName}`);
  await tf.ready();
  return backendName;
}

/** Resolves once the backend is ready. */
export const ready: Promise<string> = init();
