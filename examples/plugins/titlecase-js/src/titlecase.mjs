// A trusted JS plugin: normalises each request to Title Case and counts requests in the shared context.
// Self-contained: a plugin file imports nothing, because it is loaded from its verified bytes, where no
// node_modules exist. State lives in module scope (the loader freezes the plugin object).
const enc = new TextEncoder();
const dec = new TextDecoder();
let context;

function titleCase(text) {
  return text
    .trim()
    .toLowerCase()
    .replace(/(^|\s)(\p{L})/gu, (_, space, letter) => space + letter.toUpperCase());
}

export default {
  name: 'titlecase',
  version: '1.2.0',
  author: 'Plugward examples',
  description: 'Normalises each **request** to Title Case and counts them in the context key `requests`.',
  requirements() {
    return {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: ['requests'], write: ['requests'] },
    };
  },
  async init(ctx, runtime) {
    context = ctx;
    runtime.log('info', `titlecase ready at tier ${runtime.tier}`);
  },
  async registerHooks(hooks) {
    await hooks.register('on_request', 100, async (data) => {
      const n = ((await context.has('requests')) ? await context.get('requests') : 0) + 1;
      await context.set('requests', n);
      return enc.encode(titleCase(dec.decode(data)));
    });
  },
  shutdown() {
    context = undefined;
  },
};
