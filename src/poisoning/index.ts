/**
 * Poisoned-dataset builders: `badNets` (all-to-one, all-to-all, label-map,
 * source-specific; replace or append), `cleanLabel`, and `triggeredTestSet`
 * for measuring attack success rate.
 *
 * The package barrel exposes this module as the `poisoning` namespace.
 *
 * @packageDocumentation
 */
export { BADNETS_DEFAULTS, badNets } from './badnets.js';
export type { BadNetsOptions } from './badnets.js';
export { CLEAN_LABEL_DEFAULTS, cleanLabel } from './clean-label.js';
export type { CleanLabelOptions } from './clean-label.js';
export type { Injection, LabelMap, PoisonedData, PoisonMode, RateOf } from './common.js';
export { TRIGGERED_TEST_SET_DEFAULTS, triggeredTestSet } from './test-set.js';
export type { TriggeredTestSet, TriggeredTestSetOptions } from './test-set.js';
