import type { HookCallInfo, HookHandler } from '@plugward/types';

/** One registered handler. Internal: the public view is `RegisteredHook`. */
/**
 * Calls into one owner's timed handlers and the time they ran on the calling thread (a synchronous handler's whole
 * run; an asynchronous one's until it returned its promise — the time it held the host's thread, not its waits).
 */
export interface HandlerStats {
  calls: number;
  timeMs: number;
}

export interface HookEntry {
  readonly id: number;
  readonly name: string;
  readonly priority: number;
  readonly handler: HookHandler;
  readonly owner: string | undefined;
  readonly timeoutMs: number | undefined;
  /** What the handler adds to the registry's whole-execution budget, ms (`RegisterOptions.budgetShareMs`). */
  readonly budgetShareMs: number;
  /** The owner's call statistics (timed handlers with an owner); shared by the owner's entries. */
  readonly stats?: HandlerStats | undefined;
  /** Cached continuations for a last async handler of a non-isolating hook (see `HookRegistry`). */
  settle?: { ok: (out: unknown) => Uint8Array; err: (error: unknown) => never };
  /** The block holding the entry while it is registered. */
  block?: Block | undefined;
}

/** Largest block before it splits in two. Small enough that a splice is a short memmove, big enough to stay flat. */
const MAX_BLOCK = 256;
const HALF_BLOCK = MAX_BLOCK >>> 1;

/** A sorted run of entries with their priorities beside them (searched without touching the entry objects). */
export interface Block {
  entries: HookEntry[];
  prios: number[];
}

/** First index in `list` whose value is greater than `p`. */
function upperBound(list: readonly number[], p: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The handlers of one hook, sorted by priority then registration order.
 *
 * Stored as sorted blocks of at most {@link MAX_BLOCK} entries, so inserting a handler is a binary search over packed
 * numbers plus a splice of one short block, and removing one is a scan of its own block (each entry knows its
 * block): register/unregister cost doesn't grow with the number of handlers beyond the O(log n) search. Executions
 * read a flat array built on demand after a change; it is never mutated afterwards, so an execution that holds it
 * works on a snapshot that later registrations and removals can't touch.
 */
export class HookChain {
  #blocks: Block[] = [];
  /**
   * `lasts[b]` bounds block b: at least its last priority and at most the first priority of block b + 1. Kept exact
   * on insert and split; left as is when a block's last entry goes (still a valid bound), which is all the insert
   * search needs.
   */
  #lasts: number[] = [];
  #flat: readonly HookEntry[] | undefined = [];
  /** Number of handlers. */
  size = 0;
  /** Skip (and report) a failing handler instead of stopping the chain. */
  isolateFailures = false;
  /** Time budget of handlers registered without their own, ms. */
  get timeoutMs(): number | undefined {
    return this.#defaultTimeoutMs;
  }
  set timeoutMs(value: number | undefined) {
    this.#defaultTimeoutMs = value;
    this.#flat = undefined;
  }
  #defaultTimeoutMs: number | undefined;
  /** True when some handler of the current snapshot has a time budget (its own or the hook's). */
  timed = false;
  /** The budget shares of the current snapshot's handlers together, ms (read after `entries()`). */
  budgetSharesMs = 0;
  /** The info object passed to handlers when the execution has no signal: one per hook, never per call. */
  readonly info: HookCallInfo;

  constructor(readonly name: string) {
    this.info = Object.freeze({ hookName: name });
  }

  /** The handlers in execution order; an immutable snapshot. */
  entries(): readonly HookEntry[] {
    return this.#flat ?? this.#flatten();
  }

  #flatten(): readonly HookEntry[] {
    const blocks = this.#blocks;
    let out: HookEntry[];
    if (blocks.length === 1) out = blocks[0]!.entries.slice();
    else {
      out = [];
      for (const block of blocks) for (const e of block.entries) out.push(e);
    }
    this.timed = this.#defaultTimeoutMs !== undefined && out.length > 0;
    let shares = 0;
    for (const e of out) {
      if (e.timeoutMs !== undefined) this.timed = true;
      shares += e.budgetShareMs;
    }
    this.budgetSharesMs = shares;
    this.#flat = out;
    return out;
  }

  /** Inserts after every entry of lower or equal priority. */
  insert(entry: HookEntry): void {
    this.#flat = undefined;
    this.size++;
    const blocks = this.#blocks;
    const lasts = this.#lasts;
    const p = entry.priority;
    const n = blocks.length;
    if (n === 0) {
      const block: Block = { entries: [entry], prios: [p] };
      entry.block = block;
      blocks.push(block);
      lasts.push(p);
      return;
    }
    let b: number;
    let block: Block;
    if (lasts[n - 1]! <= p) {
      // Appending is the common case (registration in priority order): no search.
      b = n - 1;
      block = blocks[b]!;
      block.entries.push(entry);
      block.prios.push(p);
      lasts[b] = p;
    } else {
      // The first block bounded above p holds the place: every earlier block is <= p, every later one > p.
      b = upperBound(lasts, p);
      block = blocks[b]!;
      const i = upperBound(block.prios, p);
      block.entries.splice(i, 0, entry);
      block.prios.splice(i, 0, p);
    }
    entry.block = block;
    if (block.entries.length > MAX_BLOCK) {
      const tail: Block = {
        entries: block.entries.splice(HALF_BLOCK),
        prios: block.prios.splice(HALF_BLOCK),
      };
      for (const e of tail.entries) e.block = tail;
      blocks.splice(b + 1, 0, tail);
      lasts.splice(b + 1, 0, lasts[b]!);
      lasts[b] = block.prios[HALF_BLOCK - 1]!;
    }
  }

  /** Removes exactly `entry`. */
  remove(entry: HookEntry): boolean {
    const block = entry.block;
    if (block === undefined) return false;
    const i = block.entries.indexOf(entry);
    if (i < 0) return false;
    this.#flat = undefined;
    this.size--;
    entry.block = undefined;
    if (block.entries.length === 1) {
      const b = this.#blocks.indexOf(block);
      this.#blocks.splice(b, 1);
      this.#lasts.splice(b, 1);
    } else {
      block.entries.splice(i, 1);
      block.prios.splice(i, 1);
    }
    return true;
  }

  /** Finds the entry with registration id `id` (linear). */
  find(id: number): HookEntry | undefined {
    for (const block of this.#blocks) for (const e of block.entries) if (e.id === id) return e;
    return undefined;
  }
}
