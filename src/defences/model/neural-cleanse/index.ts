/**
 * Neural Cleanse (Wang et al., "Neural Cleanse: Identifying and Mitigating
 * Backdoor Attacks in Neural Networks", IEEE S&P 2019): a model-level
 * backdoor detector and repair.
 *
 * {@link detect} reverse-engineers, for every label, the smallest trigger
 * (a mask shared across channels and a pattern) that sends clean inputs to
 * that label, then flags labels whose trigger is abnormally small by the
 * median absolute deviation (MAD) of the mask L1 norms. Unlike the reference
 * code, which optimises one label after the other, every label is optimised
 * at once in one batched program (K masks, one forward pass over K × batch
 * images), with the same per-label arithmetic, schedule and early stop.
 *
 * {@link repair} removes the backdoor found by {@link detect}: unlearning
 * (fine-tuning on clean data of which a share carries the reversed trigger,
 * labels kept) or neuron pruning (units ranked by how much more the reversed
 * trigger activates them, pruned until the reversed trigger stops working).
 * It also derives the paper's input filter from those neurons; apply it with
 * {@link filter}.
 *
 * One file per part: `reverse.ts` (the batched reverse engineering),
 * `cost-schedule.ts`, `detect.ts`, `unlearning.ts`, `repair.ts`,
 * `filter.ts`; the anomaly index is `stats.outlierDetection`.
 *
 *
 * @packageDocumentation
 */
export { detect } from './detect.js';
export { repair } from './repair.js';
export { chooseSchedule } from './unlearning.js';
export { filter } from './filter.js';
export { COST_SCHEDULE_DEFAULTS, type CostScheduleOptions, type CostScheduleDecision } from './cost-schedule.js';
export {
  MAD_CONSISTENCY,
  OUTLIER_DETECTION_DEFAULTS,
  outlierDetection,
  type OutlierDetectionOptions,
  type OutlierDetectionReport,
} from '../../../stats/outliers.js';
export {
  NEURAL_CLEANSE_DEFAULTS,
  NEURAL_CLEANSE_REPAIR_DEFAULTS,
  UNLEARNING_SCHEDULES,
  FILTER_DEFAULTS,
  type NeuralCleanseOptions,
  type NeuralCleanseLabel,
  type NeuralCleanseReport,
  type InputFilter,
  type UnlearningSchedule,
  type UnlearningCandidate,
  type NeuralCleanseRepairOptions,
  type PruningStep,
  type NeuralCleanseRepairResult,
  type FilterOptions,
  type FilterReport,
} from './types.js';
