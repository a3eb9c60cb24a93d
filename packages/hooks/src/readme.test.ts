import { expect, it } from 'vitest';
import { HookPriority, HookRegistry, jsonCodec } from './index.js';

// The README example, kept runnable.
it('runs the README example', async () => {
  const hooks = new HookRegistry();
  hooks.register('on_request', HookPriority.Critical, (data) => data, { owner: 'auth' });

  interface Req {
    path: string;
    user?: string;
  }
  const onRequest = hooks.define<Req>('on_request', jsonCodec);
  onRequest.register(HookPriority.Normal, (req) => ({ ...req, user: 'alice' }));
  onRequest.register(HookPriority.Low, async (req) => ({ ...req, path: req.path.toLowerCase() }), {
    timeoutMs: 50,
  });
  expect(await onRequest.execute({ path: '/Home' })).toEqual({ path: '/home', user: 'alice' });

  const forPlugin = hooks.forOwner('my-plugin');
  forPlugin.register('on_response', HookPriority.Cleanup, (data) => data);
  expect(hooks.unregisterAll('my-plugin')).toBe(1);
  expect(hooks.has('on_response')).toBe(false);
});
