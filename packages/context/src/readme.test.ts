import { isPluginError } from '@plugward/types';
import { expect, it, vi } from 'vitest';
import { createContextKey, PluginContext } from './index.js';

// The README example, kept runnable.
it('runs the README example', () => {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  interface AppConfig {
    port: number;
  }
  const isAppConfig = (v: unknown): v is AppConfig =>
    typeof v === 'object' && v !== null && typeof (v as AppConfig).port === 'number';
  const Config = createContextKey<AppConfig>('Configuration', isAppConfig);

  const context = new PluginContext();
  context.set(Config, { port: 8080 });
  expect(context.get(Config).port).toBe(8080);

  const off = context.subscribe('cache', (change) =>
    console.log(change.type, change.key, 'by', change.writer),
  );
  const view = context.forPlugin('my-plugin', { read: ['Configuration', 'cache'], write: ['cache'] });
  view.get(Config);
  view.set('cache', { hits: 1 });
  let caught: unknown;
  try {
    view.get('Logger');
  } catch (e) {
    caught = e;
    console.log(String(e));
  }
  off();
  expect(log.mock.calls[0]).toEqual(['set', 'cache', 'by', 'my-plugin']);
  expect(isPluginError(caught, 'PermissionDenied')).toBe(true);
  expect(String(log.mock.calls[1]?.[0])).toContain('PluginError [PermissionDenied] (my-plugin)');
  log.mockRestore();
});
