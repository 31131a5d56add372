/**
 * Fast tfjs kernels for training on the `cpu` and `wasm` backends.
 *
 * @packageDocumentation
 */
export {
  FAST_KERNELS,
  registerFastKernels,
  unregisterFastKernels,
  type FastKernelBackend,
  type FastKernelsInfo,
  type FastKernelsRemoval,
} from './fast-conv.js';
