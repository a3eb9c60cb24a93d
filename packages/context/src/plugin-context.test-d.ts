import { createContextKey } from '@plugward/types';
import { describe, expectTypeOf, it } from 'vitest';
import type { PluginContext } from './plugin-context.js';

interface AppConfig {
  port: number;
}
const isAppConfig = (v: unknown): v is AppConfig => typeof v === 'object' && v !== null;

describe('PluginContext typed keys', () => {
  it('get returns the key type synchronously; set takes only that type', () => {
    const Config = createContextKey<AppConfig>('Configuration', isAppConfig);
    const check = (ctx: PluginContext) => {
      expectTypeOf(ctx.get(Config)).toEqualTypeOf<AppConfig>();
      ctx.set(Config, { port: 1 });
      // @ts-expect-error: a string is not an AppConfig
      ctx.set(Config, 'x');
      // A plain string key is untyped: the caller names the type.
      expectTypeOf(ctx.get<number>('Counter')).toEqualTypeOf<number>();
    };
    expectTypeOf(check).parameter(0).toEqualTypeOf<PluginContext>();
  });
});
