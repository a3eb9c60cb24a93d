import { describe, expectTypeOf, it } from 'vitest';
import {
  type AnyContextKey,
  createContextKey,
  definePlugin,
  type Plugin,
  type PluginContextApi,
  type TypedContextKey,
} from './plugin.js';

interface AppConfig {
  port: number;
}
const isAppConfig = (v: unknown): v is AppConfig => typeof v === 'object' && v !== null;

describe('definePlugin', () => {
  it('returns a Plugin and types the members it calls', () => {
    const p = definePlugin({
      name: 'typed',
      version: '1.0.0',
      author: 'me',
      init(ctx) {
        expectTypeOf(ctx).toEqualTypeOf<PluginContextApi>();
      },
      registerHooks(hooks) {
        hooks.register('on_request', 200, (data) => {
          expectTypeOf(data).toEqualTypeOf<Uint8Array>();
          return data;
        });
      },
    });
    expectTypeOf(p).toEqualTypeOf<Plugin>();
  });

  it('refuses a definition without its required members or with wrong types', () => {
    // @ts-expect-error: registerHooks is required
    definePlugin({ name: 'x', version: '1.0.0', author: 'me', init() {} });
    // @ts-expect-error: version is a string
    definePlugin({ name: 'x', version: 1, author: 'me', init() {}, registerHooks() {} });
  });
});

describe('typed context keys', () => {
  it('carry their value type through get and set', () => {
    const Config = createContextKey<AppConfig>('Configuration', isAppConfig);
    expectTypeOf(Config).toEqualTypeOf<TypedContextKey<AppConfig>>();
    expectTypeOf(Config).toMatchTypeOf<AnyContextKey<AppConfig>>();
    const use = (ctx: PluginContextApi) => {
      expectTypeOf(ctx.get(Config)).toEqualTypeOf<AppConfig | Promise<AppConfig>>();
      ctx.set(Config, { port: 8080 });
      // @ts-expect-error: the key's type is AppConfig
      ctx.set(Config, 'not a config');
    };
    expectTypeOf(use).returns.toBeVoid();
  });
});
