// audit s9b #2 (→ packages/registry/test/): the worker tier's "no native code" (refuseNativeCode, runtime.ts) pins
// process.dlopen, Worker and the inspector in the plugin's worker — but `module.register()` (node:module, Node ≥ 20.6)
// starts the ESM loader-hooks thread: an internal worker, a fresh Node environment whose `process.dlopen` is the
// original. The hook module the plugin registers (a data: URL) loads koffi there and blocks in C (`pause()`); the
// plugin's worker joins that thread when it is terminated, so close() can't finish it and the host never exits on its
// own (the s6/s9 #4 impact again). Expected: `register` refused with Unsupported, the host ends on its own.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

const BLOCKERS: Record<string, { code: string; call: RegExp }> = {
  'module-register': {
    // node:module's register (import and require), the hook module loading koffi in the hooks thread.
    code: `
import { createRequire, register } from 'node:module';
export default {
  name: 'module-register', version: '1.0.0', author: 'attack tests',
  init() {},
  registerHooks(h) {
    h.register('block', 100, async () => {
      const at = /(\\/\\S*runtime\\.cjs)/.exec(new Error().stack ?? '')?.[1];
      const hook = "import { createRequire } from 'node:module';" +
        "let k; try { k = createRequire(" + JSON.stringify(at) + ")('koffi'); } catch (e) { process._rawDebug('hooks thread: no koffi: ' + e.message); }" +
        "if (k) setTimeout(() => k.load('libc.so.6').func('int pause()')(), 20);" +
        "export async function resolve(s, c, n) { return n(s, c); }";
      const refused = [];
      for (const reg of [register, createRequire(import.meta.url)('node:module').register]) {
        try { reg('data:text/javascript,' + encodeURIComponent(hook)); }
        catch (e) { refused.push(e.code ?? e.message); continue; }
        await new Promise((r) => setTimeout(r, 200));
        return new TextEncoder().encode('hooks thread blocking in C');
      }
      return new TextEncoder().encode('no register: ' + refused.join(' '));
    });
  },
};
`,
    call: /^no register: Unsupported Unsupported$/,
  },
};
const BYSTANDER = `export default {
  name: 'bystander', version: '1.0.0', author: 'attack tests', init() {},
  registerHooks(h) { h.register('echo', 100, (d) => new TextEncoder().encode(new TextDecoder().decode(d) + '+bystander')); },
};`;

const HOST = `
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const enc = new TextEncoder(), dec = new TextDecoder();
const report = {};
const other = new m.PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
await other.loadPlugin(process.env.BYSTANDER, 'trusted');
const registry = new m.PluginRegistry({ security, defaultTier: 'worker', log: () => {} });
await registry.loadPlugin(process.env.BLOCKER, 'trusted');
report.tier = registry.getPluginInfo(process.env.BLOCKER_NAME)?.tier;
report.call = await registry.hooks.execute('block', new Uint8Array()).then((d) => dec.decode(d), (e) => e.code ?? String(e));
const t0 = Date.now();
await registry.close();
report.closeMs = Date.now() - t0;
report.echo = dec.decode(await other.hooks.execute('echo', enc.encode('still')));
await other.close();
console.log(JSON.stringify(report));
// No process.exit(): the host must be able to end on its own.
`;

const tmp = tempDir('worker-module-register');
const fx = new Fixtures(tmp.dir);
const blockers: Record<string, string> = {};
let bystander = '';
let listPath = '';

beforeAll(async () => {
  for (const [name, { code }] of Object.entries(BLOCKERS)) {
    blockers[name] = await fx.js(`${name}.mjs`, code, { name, kind: 'js', limits: { maxCpuTimeMs: 300 } });
    await fx.trust(blockers[name]);
  }
  bystander = await fx.js('bystander.mjs', BYSTANDER, { name: 'bystander', kind: 'js' });
  await fx.trust(bystander);
  await fx.security();
  listPath = path.join(tmp.dir, fs.readdirSync(tmp.dir).find((f) => f.startsWith('trust-')) ?? '');
});
afterAll(() => tmp.remove());

it.each(Object.keys(BLOCKERS))(
  'a JS plugin at the worker tier that blocks a thread in C through koffi (%s): refused, the host closes and exits on its own',
  {
    timeout: 60_000,
  },
  async (name) => {
    const { code, signal, stderr, report } = await runHostScript(HOST, {
      ...hostScriptEnv(fx, listPath),
      BLOCKER: blockers[name] ?? '',
      BLOCKER_NAME: name,
      BYSTANDER: bystander,
    });
    expect({ code, signal, stderr: stderr.slice(0, 2000), report }).toMatchObject({
      code: 0,
      signal: null,
      stderr: '',
    });
    expect(report?.echo).toBe('still+bystander');
    expect(report?.tier).toBe('worker');
    expect(String(report?.call)).toMatch(BLOCKERS[name]?.call ?? /^$/);
  },
);
