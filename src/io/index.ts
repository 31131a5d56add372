/**
 * Saving and loading models and reports without tfjs-node. Node-only
 * (`node:fs`).
 *
 * @packageDocumentation
 */
export { saveModel, loadModel, SAVE_MODEL_DEFAULTS, LOAD_MODEL_DEFAULTS, MODEL_JSON, WEIGHTS_BIN } from './model-io.js';
export type { SaveModelOptions, LoadModelOptions } from './model-io.js';
export { DEFAULT_MAX_FILE_BYTES } from './files.js';
export { saveJson, loadJson, toJsonValue, SAVE_JSON_DEFAULTS } from './json.js';
export type { SaveJsonOptions } from './json.js';
