import type { HookCallInfo } from '@plugward/types';

/**
 * One plugin's per-call budget shared by all its handlers on a hook ("a whole hook call, not just each handler"):
 * every handler of the plugin that one execution calls draws on the same `budgetMs`, so a plugin holding several
 * handlers, each answering just under the budget, can't hold the host's call for a multiple of it. Executions are told
 * apart by `HookCallInfo.execution`; a handler called without one gets the whole budget.
 */
export class CallBudget {
  readonly #spent = new WeakMap<object, number>();

  constructor(readonly budgetMs: number) {}

  /** What is left of the budget in the execution `info` belongs to, ms (≤ 0: spent). */
  remaining(info: HookCallInfo): number {
    const key = info.execution;
    return key === undefined ? this.budgetMs : this.budgetMs - (this.#spent.get(key) ?? 0);
  }

  /** Charges `ms` to the execution `info` belongs to. */
  charge(info: HookCallInfo, ms: number): void {
    const key = info.execution;
    if (key !== undefined) this.#spent.set(key, (this.#spent.get(key) ?? 0) + ms);
  }
}
