/**
 * Test backend set-up: the cpu backend by default, wasm when BK_BACKEND=wasm,
 * with backdoor-kit's fast convolution kernels registered.
 * Tests import `ready` and await it before touching tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import { registerFastKernels } from '../../src/kernels/index.js';

export const backendName = process.env.BK_BACKEND === 'wasm' ? 'wasm' : 'cpu';

async function init(): Promise<string> {
  tf.enableProdMode();
  const ok = await tf.setBackend(backendName);
  if (!ok) throw new Error(`could not set backend ${backendName}`);
  await tf.ready();
  // stock tfjs cannot train a conv net on wasm and is very slow on cpu
  registerFastKernels(backendName);
  return backendName;
}

/** Resolves once the backend is ready. */
export const ready: Promise<string> = init();
