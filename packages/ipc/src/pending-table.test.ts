import { describe, expect, it } from 'vitest';
import { PendingTable } from './pending-table.js';

const table = (capacity?: number) => new PendingTable(() => ({ id: 0 }), capacity);
const none = () => false;

describe('PendingTable', () => {
  it('finds a record only under the id it holds now, never under an id of its earlier call', () => {
    const t = table(4);
    const first = t.take(none);
    const oldId = first.id;
    t.free(first);
    // Round the slots until the same record is taken again.
    let again = t.take(none);
    while (again !== first) {
      t.free(again);
      again = t.take(none);
    }
    expect(again.id).not.toBe(oldId);
    expect(t.get(oldId)).toBeUndefined();
    expect(t.get(again.id)).toBe(first);
    expect(t.get(0)).toBeUndefined();
  });

  it('never hands out an id in use or still awaited, and grows instead of sharing a slot', () => {
    const t = table(4);
    const awaited = new Set<number>();
    const held = [];
    for (let i = 0; i < 100; i++) {
      const r = t.take((id) => awaited.has(id));
      expect(t.get(r.id)).toBe(r);
      held.push(r);
      // every third id is given up on: its late answer may still come, so the id must not come back
      if (i % 3 === 0) {
        awaited.add(r.id);
        t.free(r);
      }
    }
    const ids = held.filter((r) => r.id !== 0).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(t.size).toBe(ids.length);
    for (const r of held) if (r.id !== 0) expect(t.get(r.id)).toBe(r);
    expect(t.inUse().length).toBe(ids.length);
  });

  it('wraps at 2^32 − 1 without handing out 0, an id in use or an awaited id', () => {
    const t = new PendingTable(() => ({ id: 0 }), 4, 0xffffffff - 2);
    const kept = t.take(none); // 2^32 − 3, held across the wrap
    const awaited = new Set([1, 2]);
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = t.take((id) => awaited.has(id));
      ids.push(r.id);
      t.free(r);
    }
    expect(ids.slice(0, 3)).toEqual([0xffffffff - 1, 0xffffffff, 3]);
    expect(ids).not.toContain(0);
    expect(ids).not.toContain(kept.id);
    expect(t.get(kept.id)).toBe(kept);
  });
});
