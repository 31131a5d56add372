/**
 * Data sets and readers, exposed as `datasets.*` from the package root:
 * the bundled real MNIST digits, IDX and CIFAR-10 binary readers, and
 * split / subset / concatenation helpers. The readers use `node:fs` /
 * `node:zlib` (Node-only); the helpers in `split` work everywhere.
 *
 * @packageDocumentation
 */
export { mnist, MNIST_DEFAULTS, MNIST_SIZE, MNIST_TOTAL } from './mnist.js';
export type { MnistOptions } from './mnist.js';
export { readIdx, idxToLabeledData, loadIdxDataset, IDX_DATASET_DEFAULTS } from './idx.js';
export type { IdxArray, IdxDtype, IdxTypedArray, IdxDatasetOptions } from './idx.js';
export {
  readCifar10Batch,
  loadCifar10,
  CIFAR_DEFAULTS,
  CIFAR10_CLASSES,
  CIFAR_RECORD_BYTES,
  CIFAR_SIZE,
} from './cifar.js';
export type { CifarOptions } from './cifar.js';
export { stratifiedSplit, stratifiedSplitIndices, subset, concatData, SPLIT_DEFAULTS } from './split.js';
export type { SplitOptions, SplitIndices, TrainTest } from './split.js';
