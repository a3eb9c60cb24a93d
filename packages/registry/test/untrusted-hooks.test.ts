// "Only what the host opened" for hooks, from the attacker's side: an untrusted plugin registers only on the hooks the
// host granted, only at the granted priorities (it cannot run before the trusted handlers), its failure or hang does
// not fail the call for the trusted handlers, and it cannot register once its unload started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPluginError, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const untrusted = (name: string, priority: number) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
let hooks;
export default {
  name: '${name}', version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) {
    hooks = h;
    await h.register('h', ${priority}, async (d) => {
      const text = dec.decode(d);
      if (text.includes('throw')) throw new Error('boom');
      if (text.includes('hang')) await new Promise(() => {});
      return enc.encode(text + '+u');
    });
  },
  async shutdown() {
    // A last registration while being unloaded: must not outlive the plugin.
    try { await hooks.register('h', 300, async () => enc.encode('LATE')); } catch {}
    try { await hooks.register('late', 300, async () => enc.encode('LATE')); } catch {}
  },
};
`;

// Registers the same hook over and over: every handler would run on every call.
const swarm = `
export default {
  name: 'swarm', version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) {
    for (let i = 0; i < 50; i++) {
      try { await h.register('h', 300, async (d) => d); } catch {}
    }
  },
};
`;

// In process nothing else cleans up after it: what it registers late would stay in the host's chains for good.
const lingering = `
let hooks;
export default {
  name: 'lingering', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { hooks = h; h.register('h', 300, (d) => d); },
  shutdown() {
    try { hooks.register('late', 300, () => new TextEncoder().encode('LATE')); } catch {}
    setTimeout(() => { try { hooks.register('later', 300, () => new TextEncoder().encode('LATER')); } catch {} }, 50);
  },
};
`;

const trusted = `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: 'host-side', version: '1.0.0', author: 'the host',
  init() {},
  registerHooks(h) { h.register('h', 200, (d) => enc.encode(dec.decode(d) + '+t')); },
};
`;

const tmp = tempDir('uhooks');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
const files: Record<string, string> = {};

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  files.late = await fx.js('late.mjs', untrusted('latecomer', 300), {
    name: 'latecomer',
    kind: 'js',
    keys: fx.stranger,
  });
  files.early = await fx.js('early.mjs', untrusted('early-bird', 0), {
    name: 'early-bird',
    kind: 'js',
    keys: fx.stranger,
  });
  files.swarm = await fx.js('swarm.mjs', swarm, { name: 'swarm', kind: 'js', keys: fx.stranger });
  files.host = await fx.js('host.mjs', trusted, { name: 'host-side', kind: 'js' });
  files.lingering = await fx.js('lingering.mjs', lingering, { name: 'lingering', kind: 'js' });
  await fx.trust(files.lingering);
  await fx.trust(files.host);
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'resolved';
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
}

describe('hooks of untrusted plugins', () => {
  it('no hook granted: its registration is refused with GrantDenied and nothing is registered', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    await using r = new PluginRegistry({ security, sandbox, policy: { onlyTrusted: false }, log: () => {} });
    await r.loadPlugin(files.host!, 'trusted');
    const err = await r.loadPlugin(files.late!, 'untrusted').catch((e: unknown) => e);
    expect(isPluginError(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/GrantDenied|may not register on hook h/);
    expect(r.hooks.getHooks('h').map((h) => h.owner)).toEqual(['host-side']);
    expect(r.getPluginInfo('latecomer')).toMatchObject({ status: 'Failed', pid: undefined });
    expect(dec.decode(await r.hooks.execute('h', enc.encode('x')))).toBe('x+t');
  });

  it('a priority before the granted range is refused: it cannot run ahead of trusted handlers', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    await using r = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      grants: { plugins: { 'early-bird': { hooks: [{ name: 'h' }] } } },
      log: () => {},
    });
    await r.loadPlugin(files.host!, 'trusted');
    expect(await codeOf(r.loadPlugin(files.early!, 'untrusted'))).not.toBe('resolved');
    expect(r.hooks.getHooks('h').map((h) => h.owner)).toEqual(['host-side']);
    expect(dec.decode(await r.hooks.execute('h', enc.encode('x')))).toBe('x+t');
  });

  it('its failure and its hang do not fail the call; its unload closes registration', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    await using r = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      grants: { plugins: { latecomer: { hooks: [{ name: 'h' }] } } },
      log: () => {},
    });
    const errors: string[] = [];
    r.on('hook-error', (e) => errors.push(`${e.name}:${e.error.code}`));
    await r.loadPlugin(files.host!, 'trusted');
    await r.loadPlugin(files.late!, 'untrusted');
    // Trusted first (200), then the untrusted one (300).
    expect(r.hooks.getHooks('h').map((h) => h.owner)).toEqual(['host-side', 'latecomer']);
    expect(dec.decode(await r.hooks.execute('h', enc.encode('x')))).toBe('x+t+u');
    // It throws: skipped, reported, the call succeeds with the trusted output.
    expect(dec.decode(await r.hooks.execute('h', enc.encode('throw')))).toBe('throw+t');
    expect(errors).toContain('latecomer:HookError');
    await r.unloadPlugin('latecomer');
    // Its shutdown tried to register again: refused, nothing of it is left.
    expect(r.hooks.getHooks('h').map((h) => h.owner)).toEqual(['host-side']);
    expect(r.hooks.getHooks('late')).toHaveLength(0);
  });

  it('any plugin: a registration from its shutdown or a later timer is refused (in process, where nothing else cleans up)', async () => {
    await using r = new PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
    await r.loadPlugin(files.lingering!, 'trusted');
    await r.unloadPlugin('lingering');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.hooks.hookNames()).toEqual([]);
    expect(dec.decode(await r.hooks.execute('late', enc.encode('x')))).toBe('x');
  });

  it('a hang is cut at its budget, the call goes on without it, and the plugin is ended', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    await using r = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      grants: { plugins: { latecomer: { hooks: [{ name: 'h' }] } } },
      log: () => {},
    });
    await r.loadPlugin(files.host!, 'trusted');
    await r.loadPlugin(files.late!, 'untrusted');
    const pid = r.getPluginInfo('latecomer')?.pid;
    const budget = r.getResourceLimits('latecomer').maxCpuTimeMs;
    const started = performance.now();
    expect(dec.decode(await r.hooks.execute('h', enc.encode('hang')))).toBe('hang+t');
    expect(performance.now() - started).toBeLessThan(budget + 900);
    await until(
      () => r.getPluginInfo('latecomer')?.status === 'Failed',
      10_000,
      'the hung plugin to be ended',
    );
    expect(pid !== undefined && pidAlive(pid)).toBe(false);
    expect(dec.decode(await r.hooks.execute('h', enc.encode('y')))).toBe('y+t');
  });

  it('the number of its handlers on a hook is bounded (maxHandlers, default 4)', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const make = (maxHandlers?: number) =>
      new PluginRegistry({
        security,
        sandbox,
        policy: { onlyTrusted: false },
        grants: { plugins: { swarm: { hooks: [{ name: 'h', ...(maxHandlers ? { maxHandlers } : {}) }] } } },
        log: () => {},
      });
    {
      // Its 5th registration is refused (QuotaExceeded), which fails its load: none of its handlers is left.
      await using r = make();
      await r.loadPlugin(files.host!, 'trusted');
      const err = await r.loadPlugin(files.swarm!, 'untrusted').catch((e: unknown) => e);
      expect(isPluginError(err)).toBe(true);
      expect((err as Error).message).toMatch(/QuotaExceeded|the most its grant allows/);
      expect(r.hooks.getHooks('h').map((h) => h.owner)).toEqual(['host-side']);
      expect(dec.decode(await r.hooks.execute('h', enc.encode('ok')))).toBe('ok+t');
    }
    {
      await using r = make(50);
      await r.loadPlugin(files.swarm!, 'untrusted');
      expect(r.hooks.getHooks('h').filter((h) => h.owner === 'swarm')).toHaveLength(50);
    }
  });

  it('failuresFailCall: the host may choose that its failure fails the call', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    await using r = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      grants: { plugins: { latecomer: { hooks: [{ name: 'h', failuresFailCall: true }] } } },
      log: () => {},
    });
    await r.loadPlugin(files.host!, 'trusted');
    await r.loadPlugin(files.late!, 'untrusted');
    expect(await codeOf(r.hooks.execute('h', enc.encode('throw')))).toBe('HookError');
  });
});
