import type { HookHandler } from '@plugward/types';
import { describe, expectTypeOf, it } from 'vitest';
import { createJsonCodec, type HookCodec, jsonCodec, textCodec } from './codec.js';
import { type TypedHook, typedHandler } from './typed-hook.js';

interface Order {
  id: number;
  total: number;
}
const isOrder = (v: unknown): v is Order => typeof v === 'object' && v !== null;

describe('typedHandler', () => {
  it('infers the value type from the codec and returns a bytes handler', () => {
    const h = typedHandler(textCodec, (value) => {
      expectTypeOf(value).toEqualTypeOf<string>();
      return value.toUpperCase();
    });
    expectTypeOf(h).toEqualTypeOf<HookHandler>();
    typedHandler(createJsonCodec(isOrder), async (order) => {
      expectTypeOf(order).toEqualTypeOf<Order>();
      return { ...order, total: order.total + 1 };
    });
  });

  it('refuses a handler that returns another type than the codec carries', () => {
    // @ts-expect-error: a number is not a string
    typedHandler(textCodec, () => 42);
    // @ts-expect-error: a text codec's handler takes a string
    typedHandler(textCodec, (n: number) => String(n));
  });

  it('codecs and typed hooks carry their type', () => {
    expectTypeOf(createJsonCodec(isOrder)).toEqualTypeOf<HookCodec<Order>>();
    expectTypeOf(jsonCodec.encode).parameter(0).toBeUnknown();
    expectTypeOf<TypedHook<Order>['codec']>().toEqualTypeOf<HookCodec<Order>>();
  });
});
