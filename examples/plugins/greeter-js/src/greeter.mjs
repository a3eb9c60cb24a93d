// A trusted JS plugin: decorates every request with a greeting and counts them in the shared context.
// Self-contained: a plugin file imports nothing, because it is loaded from its verified bytes, where no
// node_modules exist. State lives in module scope (the loader freezes the plugin object).
const enc = new TextEncoder();
const dec = new TextDecoder();
let context;
let greeting = 'Hello';

export default {
  name: 'greeter',
  version: '1.2.0',
  author: 'Plugward examples',
  description: 'Prefixes each **request** with a greeting and counts them in the context.',
  requirements() {
    return {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: ['greeting', 'greeted'], write: ['greeted'] },
    };
  },
  async init(ctx, runtime) {
    context = ctx;
    if (await ctx.has('greeting')) greeting = await ctx.get('greeting');
    runtime.log('info', `greeter ready at tier ${runtime.tier}`);
  },
  async registerHooks(hooks) {
    await hooks.register('on_request', 100, async (data) => {
      const n = ((await context.has('greeted')) ? await context.get('greeted') : 0) + 1;
      await context.set('greeted', n);
      return enc.encode(`${greeting}, ${dec.decode(data)}`);
    });
  },
  shutdown() {
    context = undefined;
  },
};
