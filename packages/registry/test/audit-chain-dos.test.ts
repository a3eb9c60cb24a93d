// Attacker (found by the audit helper, session 5): untrusted plugins together failing a call for the trusted handlers.
// Untrusted plugins granted a hook are isolated one by one ("a failing, hanging or misbehaving untrusted handler is
// skipped ... the call goes on"; each plugin's handlers share one per-call budget, maxCpuTimeMs), but the whole call's
// budget (hookCallTimeoutMs = 4 × maxCpuTimeMs by default) is shared by everyone: five untrusted plugins, each
// answering just under its own budget — no single one misbehaves — exhaust it together, and the call fails with
// HookTimeout for the host: the trusted handler's answer is lost. With a signer grant one publisher can load all five.
// Since the fix each untrusted handler's budget is added to the whole call's (`budgetShareMs`): the call returns the
// trusted output, the untrusted plugins stay Active (none overran its own budget), and the call is still bounded.
// Here the whole call's budget is set to one plugin budget and each plugin answers in half of its own, so that a
// loaded machine's delays stay far from every budget while three of them still exceed the whole call's old budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOURCE_LIMITS,
  isPluginError,
  PluginRegistry,
  type PluginSecurity,
} from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, sandboxOrReason, tempDir } from './helpers.js';

const tmp = tempDir('audit-chain-dos');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
const files: Record<string, string> = {};
const BUDGET_MS = 1000;
const SLOW = ['audit-slow-1', 'audit-slow-2', 'audit-slow-3'];

const trusted = `export default {
  name: 'audit-trusted', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.chain', 100, (d) => new TextEncoder().encode(new TextDecoder().decode(d) + '+trusted')); },
};`;

// Answers after half of the per-call budget: never an overrun of its own.
const slow = (name: string) => `export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) {
    await h.register('audit.chain', 300, async (d) => { await new Promise((r) => setTimeout(r, ${Math.round(BUDGET_MS * 0.5)})); return d; });
  },
};`;

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  files.trusted = await fx.js('trusted.mjs', trusted, { name: 'audit-trusted', kind: 'js' });
  await fx.trust(files.trusted);
  for (const name of SLOW)
    files[name] = await fx.js(`${name}.mjs`, slow(name), {
      name,
      kind: 'js',
      keys: fx.stranger,
      requirements: NO_GRANTS(),
    });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('audit: untrusted plugins together cannot fail a hook call for the trusted handlers', () => {
  it('three untrusted plugins, each within its own budget, do not exhaust the whole call for the trusted handler', async (t) => {
    if (!sandbox) return t.skip(`no sandbox here: ${reason}`);
    const registry = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: BUDGET_MS },
      quotas: { hookCallTimeoutMs: BUDGET_MS },
      grants: { plugins: Object.fromEntries(SLOW.map((s) => [s, { hooks: [{ name: 'audit.chain' }] }])) },
      tierOverrides: { 'audit-trusted': 'in-process' },
      log: () => {},
    });
    try {
      await registry.loadPlugin(files.trusted as string, 'trusted');
      for (const name of SLOW) await registry.loadPlugin(files[name] as string, 'untrusted');
      let out = '';
      try {
        out = dec.decode(await registry.hooks.execute('audit.chain', enc.encode('x')));
      } catch (e) {
        out = isPluginError(e) ? `${e.code}: ${e.message}` : String(e);
      }
      expect(out, 'the trusted handler’s answer').toBe('x+trusted');
      for (const name of SLOW)
        expect(registry.getPluginInfo(name)?.status, JSON.stringify(registry.getPluginInfo(name))).toBe(
          'Active',
        );
    } finally {
      await registry.close();
    }
  }, 60_000);
});
