/** What the table needs of a record: the request id it holds now, 0 while the record is free. */
export interface PendingRecord {
  id: number;
}

/** Largest request id (ids are u32 on the wire; 0 is never used). */
const MAX_ID = 0xffffffff;

/**
 * The requests of one side waiting for their answers, indexed by request id: a table of `2^k` records where id `i`
 * lives at `i & (2^k − 1)`. A per-call `Map` set/delete made V8 grow and shrink its hash table as calls came and went
 * (issue 17: ≈ 0.26 KB of garbage per call); here a call takes a free record and gives it back, and the table only
 * ever grows (to keep at most half of it in use, so an id needs ≈ 2 probes).
 *
 * Invariants: a record is found only under the id it holds now (`get` compares the whole id), so an answer that comes
 * late for an id whose call ended never reaches the record's next call; ids go up by one and wrap at 2^32 − 1, and an
 * id is handed out again only when its slot is free and `inUse` (the caller's abandoned ids) says it is not awaited.
 */
export class PendingTable<R extends PendingRecord> {
  #slots: (R | undefined)[];
  #mask: number;
  #size = 0;
  #nextId = 1;
  readonly #make: () => R;

  /**
   * @param make Makes a free record (`id` 0); called only when a slot has none yet.
   * @param capacity Initial slots, a power of two.
   * @param firstId The first id handed out (tests of the wrap at 2^32 − 1 start near it).
   */
  constructor(make: () => R, capacity = 64, firstId = 1) {
    this.#make = make;
    this.#nextId = firstId;
    this.#slots = new Array<R | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** Records in use. */
  get size(): number {
    return this.#size;
  }

  /** The record waiting under `id`, if any. */
  get(id: number): R | undefined {
    const record = this.#slots[id & this.#mask];
    return record !== undefined && record.id === id && id !== 0 ? record : undefined;
  }

  /**
   * Takes a free record under a new id (set in `record.id`) that is neither in use nor `awaited` (ids whose late answer
   * is still expected). The caller fills in the rest.
   */
  take(awaited: (id: number) => boolean): R {
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow();
    const mask = this.#mask;
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id >= MAX_ID ? 1 : id + 1;
      const slot = id & mask;
      let record = this.#slots[slot];
      if (record !== undefined && record.id !== 0) continue;
      if (awaited(id)) continue;
      if (record === undefined) {
        record = this.#make();
        this.#slots[slot] = record;
      }
      record.id = id;
      this.#size++;
      return record;
    }
  }

  /** Gives `record` back (its call ended); the caller has cleared what it held. */
  free(record: R): void {
    if (record.id === 0) return;
    record.id = 0;
    this.#size--;
  }

  /** The records in use now (a copy: freeing them while iterating is fine). */
  inUse(): R[] {
    const out: R[] = [];
    for (const record of this.#slots) if (record !== undefined && record.id !== 0) out.push(record);
    return out;
  }

  /** Doubles the table; records in use keep their ids (their low bits stay distinct under a wider mask). */
  #grow(): void {
    const slots = new Array<R | undefined>(this.#slots.length * 2).fill(undefined);
    const mask = slots.length - 1;
    for (const record of this.#slots) {
      if (record !== undefined && record.id !== 0) slots[record.id & mask] = record;
    }
    this.#slots = slots;
    this.#mask = mask;
  }
}
