// close() and unload resolve only once the private copies are gone (issue 12, weak points), and nothing a plugin
// controls reaches a person raw through the registry's default log printer (12, "nothing raw").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { enc, Fixtures, sandboxOrReason, tempDir } from './helpers.js';

const noisy = `
export default {
  name: 'noisy', version: '1.0.0', author: 'registry tests',
  init(_ctx, rt) { rt.log('info', 'hello\\n[registry] error: forged line \\u001b[2J\\u001b]0;pwned\\u0007 \\u202edesrever'); },
  registerHooks(h) { h.register('n', 300, (d) => d); },
};
`;

const tmp = tempDir('cleanup');
const fx = new Fixtures(tmp.dir);
// This file's own temp root, so "no private copy left" is checked against what this registry made.
const ownTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cleanup-tmp-'));
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let artifact = '';

beforeAll(async () => {
  ({ sandbox } = await sandboxOrReason());
  process.env.TMPDIR = ownTmp;
  artifact = await fx.js('noisy.mjs', noisy, { name: 'noisy', kind: 'js' });
  await fx.trust(artifact);
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  fs.rmSync(ownTmp, { recursive: true, force: true });
});

const copies = () => fs.readdirSync(ownTmp).filter((f) => f.startsWith('plugward-'));

describe('private copies', () => {
  it.each(['worker', 'process', 'sandbox'] as const)(
    'unload and close() resolve only after the private copy is removed (%s)',
    async (tier) => {
      if (tier === 'sandbox' && !sandbox) {
        console.warn('!!! SKIPPED sandbox cleanup: no sandbox here');
        return;
      }
      const registry = new PluginRegistry({
        security,
        ...(sandbox ? { sandbox } : {}),
        defaultTier: tier,
        log: () => {},
      });
      await registry.loadPlugin(artifact, 'trusted');
      expect(copies()).toHaveLength(1);
      await registry.unloadPlugin('noisy');
      expect(copies()).toEqual([]);
      await registry.loadPlugin(artifact, 'trusted');
      expect(copies()).toHaveLength(1);
      await registry.hooks.execute('n', enc.encode('x'));
      await registry.close();
      expect(copies()).toEqual([]);
    },
  );
});

describe('log lines', () => {
  it('the default printer escapes what the plugin wrote: one line, no terminal escapes', async () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    });
    try {
      await using registry = new PluginRegistry({ security, defaultTier: 'process' });
      await registry.loadPlugin(artifact, 'trusted');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      spy.mockRestore();
    }
    const line = printed.find((l) => l.includes('forged line'));
    expect(line).toBeDefined();
    for (const ch of ['\n', '\r', '\u001b', '\u0007', '\u202e']) expect(line).not.toContain(ch);
    expect(line).toContain('\\n[registry] error: forged line \\x1b[2J');
    expect(line?.startsWith('[noisy] info: hello')).toBe(true);
  });
});
