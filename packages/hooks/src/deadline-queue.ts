/** Something waiting for a moment in time; what {@link DeadlineQueue} holds. */
export interface Deadline {
  /** When it is due, in the queue's clock (`performance.now()` ms). Fixed while queued. */
  at: number;
  /** Tie-break among equal `at`: earlier first. Set by the queue. */
  seq: number;
  /** Its place in the queue's heap; -1 while not queued. Kept by the queue. */
  slot: number;
  /** Called once, when `at` has passed, unless it was cancelled first. */
  expire(): void;
}

// setTimeout's largest delay; beyond it timers fire at once (with a warning).
const MAX_DELAY_MS = 2_147_483_647;

type Timer = ReturnType<typeof setTimeout>;

/** Node's timers can stop holding the process open; a browser's are plain numbers. */
function refTimer(timer: Timer, on: boolean): void {
  if (typeof timer === 'object' && timer !== null) {
    if (on) timer.ref?.();
    else timer.unref?.();
  }
}

/**
 * Deadlines served by one timer: a binary min-heap ordered by `at` (then `seq`), and a single `setTimeout` armed for
 * the earliest. Adding or cancelling a deadline is O(log n) and touches no timer unless the new deadline is earlier
 * than the one armed, so a budget costs nothing until it fires: a call that ends in time takes its deadline out of the
 * heap and leaves the timer as it is. A timer that fires finds nothing due (its deadline was cancelled) and re-arms
 * for the earliest left, if any.
 *
 * The timer holds a Node process open only while some deadline is queued (an empty queue unrefs it), as the per-call
 * timers it replaces did: a pending call past its budget is still answered, and an idle host can exit.
 */
export class DeadlineQueue {
  readonly #heap: Deadline[] = [];
  readonly #now: () => number;
  #seq = 0;
  #timer: Timer | undefined;
  /** When the armed timer was asked to fire (`Infinity` when none is armed). */
  #timerAt = Number.POSITIVE_INFINITY;
  #refed = false;

  /** @param now The clock `at` is read against (ms, monotonic). */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** Number of deadlines queued. */
  get size(): number {
    return this.#heap.length;
  }

  /** Queues `d` to expire at `d.at`. A deadline already queued is left as it is. */
  add(d: Deadline): void {
    if (d.slot >= 0) return;
    const heap = this.#heap;
    d.seq = this.#seq++;
    d.slot = heap.length;
    heap.push(d);
    this.#up(d.slot);
    if (d.at < this.#timerAt) this.#arm(d.at);
    else if (!this.#refed && this.#timer !== undefined) {
      this.#refed = true;
      refTimer(this.#timer, true);
    }
  }

  /** Takes `d` out of the queue; it will not expire. False if it was not queued (expired or cancelled already). */
  cancel(d: Deadline): boolean {
    const i = d.slot;
    if (i < 0) return false;
    const heap = this.#heap;
    d.slot = -1;
    const last = heap.pop()!;
    if (last !== d) {
      heap[i] = last;
      last.slot = i;
      this.#down(i);
      this.#up(last.slot);
    }
    // The armed timer stays (a later deadline will want it); it no longer holds the process open on its own.
    if (heap.length === 0 && this.#refed && this.#timer !== undefined) {
      this.#refed = false;
      refTimer(this.#timer, false);
    }
    return true;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(at - this.#now())));
    this.#timer = setTimeout(this.#fire, delay);
    this.#timerAt = at;
    this.#refed = true;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#refed = false;
    const heap = this.#heap;
    const t = this.#now();
    // Expire in order; a deadline added by an `expire` (or one due by now) is served in this same pass.
    while (heap.length > 0 && heap[0]!.at <= t) {
      const d = heap[0]!;
      this.cancel(d);
      try {
        d.expire();
      } catch {
        // One deadline's failure must not keep the others from expiring.
      }
    }
    // An `expire` that queued a later deadline armed the timer for that one: the earliest left decides.
    if (heap.length > 0 && heap[0]!.at < this.#timerAt) this.#arm(heap[0]!.at);
  };

  #before(a: Deadline, b: Deadline): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const d = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >>> 1;
      const parent = heap[p]!;
      if (!this.#before(d, parent)) break;
      heap[i] = parent;
      parent.slot = i;
      i = p;
    }
    heap[i] = d;
    d.slot = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const d = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(heap[r]!, heap[l]!) ? r : l;
      const child = heap[c]!;
      if (!this.#before(child, d)) break;
      heap[i] = child;
      child.slot = i;
      i = c;
    }
    heap[i] = d;
    d.slot = i;
  }
}
