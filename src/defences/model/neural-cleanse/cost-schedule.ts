/**
 * The cost schedule of Neural Cleanse's reverse engineering (Wang et al.'s
 * `visualizer.py`): how the weight of the mask norm moves with the attack's
 * success, and when a label's optimisation stops. Internal: not exported from
 * the package.
 *
 * @packageDocumentation
 */
import { assertInRange, assertPositiveInteger } from '../../../core/checks.js';
import { InvalidArgumentError } from '../../../core/errors.js';
import { resolveOptions } from '../../../core/options.js';

/** Settings of the {@link CostSchedule}. */
export interface CostScheduleOptions {
  /** Cost set once the attack first succeeds for `patience` steps. @default 1e-3 */
  readonly initCost?: number;
  /** Attack success (share of the step's inputs classified as the label) that counts as success. @default 0.99 */
  readonly attackSuccessThreshold?: number;
  /** Steps of success (failure) before the cost goes up (down). @default 5 */
  readonly patience?: number;
  /** Cost multiplier: up ×m, down ÷m^1.5. @default 2 */
  readonly costMultiplier?: number;
  /** Whether to stop early. @default true */
  readonly earlyStop?: boolean;
  /** The best norm must fall below this share of the previous best to count as progress. @default 1 */
  readonly earlyStopThreshold?: number;
  /** Steps without progress (after the cost went both up and down) before stopping. @default 25 */
  readonly earlyStopPatience?: number;
}

/**
 * Defaults of {@link CostSchedule}: the settings of the authors' experiment
 * script (`gtsrb_visualize_example.py`: patience 5, multiplier 2, early stop
 * after 25 steps without any progress). ART uses multiplier 1.5 and early
 * stop after 10 steps without 1% progress; see the docs page.
 */
export const COST_SCHEDULE_DEFAULTS: Readonly<Required<CostScheduleOptions>> = Object.freeze({
  initCost: 1e-3,
  attackSuccessThreshold: 0.99,
  patience: 5,
  costMultiplier: 2,
  earlyStop: true,
  earlyStopThreshold: 1,
  earlyStopPatience: 25,
});

/** What the {@link CostSchedule} decided after one step. */
export interface CostScheduleDecision {
  /** The current mask/pattern are the best so far: keep a copy. */
  readonly saveBest: boolean;
  /** Stop optimising this label (early stop). */
  readonly stop: boolean;
}

/**
 * The dynamic balance between the attack loss and the mask norm, step by
 * step, exactly as in Neural Cleanse's reference code: the cost starts at 0;
 * once the attack succeeds (`≥ attackSuccessThreshold`) for `patience`
 * steps it is set to `initCost`; afterwards `patience` successful steps in a
 * row multiply it by `costMultiplier` and `patience` failing steps divide it
 * by `costMultiplier^1.5`. A step's mask is the best so far when the attack
 * succeeds and its mean norm is below the best. Early stop: once the cost
 * has gone both up and down, `earlyStopPatience` steps in a row without the
 * best norm falling below `earlyStopThreshold ×` its previous value.
 *
 * @example
 * ```ts
 * const s = new neuralCleanse.CostSchedule({ patience: 2 });
 * s.update(1, 40); // { saveBest: true, stop: false }, cost 0 → still 0
 * s.update(1, 39); // second success in a row: cost set to 1e-3
 * ```
 */
export class CostSchedule {
  /** Current cost (weight of the mask norm in the loss). */
  cost = 0;
  /** Best (smallest) mean mask norm of a successful step so far. */
  bestReg = Infinity;
  /** Steps this schedule has seen. */
  steps = 0;
  /** Whether the cost was ever raised / lowered since it was set. */
  costUpFlag = false;
  costDownFlag = false;
  private readonly o: Required<CostScheduleOptions>;
  private costSetCounter = 0;
  private costUpCounter = 0;
  private costDownCounter = 0;
  private earlyStopCounter = 0;
  private earlyStopRegBest = Infinity;

  /**
   * @param options - See {@link CostScheduleOptions}.
   * @throws {@link InvalidArgumentError} for an option out of range.
   */
  constructor(options?: CostScheduleOptions) {
    const fn = 'neuralCleanse.CostSchedule';
    this.o = resolveOptions(fn, COST_SCHEDULE_DEFAULTS, options);
    checkScheduleOptions(fn, 'options', this.o);
  }

  /**
   * Feeds one step's mean attack success and mean mask norm.
   *
   * @param attackSuccess - Share of the step's inputs classified as the label, in [0, 1].
   * @param reg - Mean L1 norm of the mask over the step.
   * @returns Whether to keep the current mask as the best, and whether to stop.
   */
  update(attackSuccess: number, reg: number): CostScheduleDecision {
    const o = this.o;
    this.steps++;
    const success = attackSuccess >= o.attackSuccessThreshold;
    let saveBest = false;
    if (success && reg < this.bestReg) {
      saveBest = true;
      this.bestReg = reg;
    }
    if (o.earlyStop) {
      if (this.bestReg < Infinity) {
        if (this.bestReg >= o.earlyStopThreshold * this.earlyStopRegBest) this.earlyStopCounter++;
        else this.earlyStopCounter = 0;
      }
      this.earlyStopRegBest = Math.min(this.bestReg, this.earlyStopRegBest);
      if (this.costDownFlag && this.costUpFlag && this.earlyStopCounter >= o.earlyStopPatience) {
        return { saveBest, stop: true };
      }
    }
    if (this.cost === 0 && success) {
      this.costSetCounter++;
      if (this.costSetCounter >= o.patience) {
        this.cost = o.initCost;
        this.costUpCounter = 0;
        this.costDownCounter = 0;
        this.costUpFlag = false;
        this.costDownFlag = false;
      }
    } else {
      this.costSetCounter = 0;
    }
    if (success) {
      this.costUpCounter++;
      this.costDownCounter = 0;
    } else {
      this.costUpCounter = 0;
      this.costDownCounter++;
    }
    if (this.costUpCounter >= o.patience) {
      this.costUpCounter = 0;
      this.cost *= o.costMultiplier;
      this.costUpFlag = true;
    } else if (this.costDownCounter >= o.patience) {
      this.costDownCounter = 0;
      this.cost /= o.costMultiplier ** 1.5;
      this.costDownFlag = true;
    }
    return { saveBest, stop: false };
  }
}

export function checkScheduleOptions(fn: string, prefix: string, o: Required<CostScheduleOptions>): void {
  assertInRange(fn, `${prefix}.initCost`, o.initCost, 0, Infinity, { minOpen: true, maxOpen: true });
  assertInRange(fn, `${prefix}.attackSuccessThreshold`, o.attackSuccessThreshold, 0, 1, { minOpen: true });
  assertPositiveInteger(fn, `${prefix}.patience`, o.patience);
  assertInRange(fn, `${prefix}.costMultiplier`, o.costMultiplier, 1, Infinity, { minOpen: true, maxOpen: true });
  if (typeof o.earlyStop !== 'boolean') {
    throw new InvalidArgumentError({ fn, arg: `${prefix}.earlyStop`, value: o.earlyStop }, 'must be a boolean');
  }
  assertInRange(fn, `${prefix}.earlyStopThreshold`, o.earlyStopThreshold, 0, 1, { minOpen: true });
  assertPositiveInteger(fn, `${prefix}.earlyStopPatience`, o.earlyStopPatience);
}

// ---------------------------------------------------------------------------
