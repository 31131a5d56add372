/**
 * Model builders for the papers' architectures, exported as the `models`
 * namespace. Each returns a new, uncompiled `tf.LayersModel` with fixed,
 * documented layer names and seeded weights (same seed, bit-identical
 * weights).
 *
 * @packageDocumentation
 */
export { smallCnn, SMALL_CNN_DEFAULTS, type SmallCnnOptions } from './small-cnn.js';
export { kwonCnn, KWON_CNN_DEFAULTS, type KwonCnnOptions } from './kwon-cnn.js';
export { gtsrbCnn, GTSRB_CNN_DEFAULTS, type GtsrbCnnOptions } from './gtsrb-cnn.js';
export {
  denseAutoencoder,
  DENSE_AUTOENCODER_DEFAULTS,
  type DenseAutoencoderOptions,
  convAutoencoder,
  CONV_AUTOENCODER_DEFAULTS,
  type ConvAutoencoderOptions,
} from './autoencoders.js';
export type { ClassifierBuilderOptions } from './common.js';
