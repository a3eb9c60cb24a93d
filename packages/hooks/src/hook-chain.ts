import type { HookCallInfo, HookHandler } from '@plugward/types';

/** One registered handler. Internal: the public view is `RegisteredHook`. */
export interface HookEntry {
  readonly id: number;
  readonly name: string;
  readonly priority: number;
  readonly handler: HookHandler;
  readonly owner: string | undefined;
  readonly timeoutMs: number | undefined;
}

/**
 * The handlers of one hook, sorted by priority then registration id (ids only grow, so equal priorities keep
 * registration order). Mutations are copy-on-write once an execution holds the array, which gives executions a
 * snapshot without copying on every call.
 */
export class HookChain {
  /** Sorted handlers. An execution reads this array and never sees later mutations. */
  entries: HookEntry[] = [];
  /** True once an execution may hold `entries`; the next mutation copies first. */
  shared = false;
  /** Skip (and report) a failing handler instead of stopping the chain. */
  isolateFailures = false;
  /** Time budget of handlers registered without their own, ms. */
  timeoutMs: number | undefined;
  /** The info object passed to handlers when the execution has no signal: one per hook, never per call. */
  readonly info: HookCallInfo;

  constructor(readonly name: string) {
    this.info = Object.freeze({ hookName: name });
  }

  private writable(): HookEntry[] {
    if (this.shared) {
      this.entries = this.entries.slice();
      this.shared = false;
    }
    return this.entries;
  }

  /** Inserts after every entry of lower or equal priority: O(log n) search + one splice. */
  insert(entry: HookEntry): void {
    const list = this.writable();
    let lo = 0;
    let hi = list.length;
    // Appending is the common case (registration in priority order): skip the search.
    if (hi === 0 || list[hi - 1]!.priority <= entry.priority) {
      list.push(entry);
      return;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.priority <= entry.priority) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, entry);
  }

  /** Removes exactly `entry`: O(log n) search on (priority, id) + one splice. */
  remove(entry: HookEntry): boolean {
    let lo = 0;
    let hi = this.entries.length;
    const list = this.entries;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = list[mid]!;
      if (e.priority < entry.priority || (e.priority === entry.priority && e.id < entry.id)) lo = mid + 1;
      else hi = mid;
    }
    if (list[lo] !== entry) return false;
    this.writable().splice(lo, 1);
    return true;
  }

  /** Removes every entry of `owner`; returns them. */
  removeOwner(owner: string): HookEntry[] {
    const removed: HookEntry[] = [];
    const kept: HookEntry[] = [];
    for (const e of this.entries) {
      if (e.owner === owner) removed.push(e);
      else kept.push(e);
    }
    if (removed.length > 0) {
      // A fresh array: running executions keep the old one.
      this.entries = kept;
      this.shared = false;
    }
    return removed;
  }
}
