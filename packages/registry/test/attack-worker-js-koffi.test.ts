// Attacker (audit, session 6) on native's 9ac1d78 "a native plugin never runs in a worker thread … koffi is loaded on a
// native plugin's first load, so a JS plugin's worker never has it". Placement looks at the manifest's `kind` only: a
// *JS* plugin at the worker tier loads koffi itself (the runtime's own copy: `createRequire(<runtime.cjs from its
// stack>)('koffi')`) and blocks its thread in C (`pause()`). Its hook times out, the host calls `worker.terminate()`,
// which can't stop native code: `close()` gives up after ≈ 10 s and the host process can never exit (Node joins the
// stuck thread at exit, `unref()` or not). Measured on main 37d16eb and on native 3bec483: close() 10 s, the host still
// running when the test killed it. (`execSync('sleep 600')` in a hook holds the worker the same way, for as long.)
// Asserted, as native's own attack test does: the host reports, exits on its own with code 0 within 30 s, a trusted
// plugin still answers. Expected fix: a worker runtime refuses native code to the plugin — `process.dlopen` replaced by
// a function that throws before the plugin is imported (no addon, koffi included, loads in a plugin worker) — and the
// README says what else holds a worker (synchronous child_process calls, blocking reads) and that such plugins belong at
// the process tier.
// audit s9 #4: the plugin's own thread was closed, the ways around it were not — a `Worker` the plugin starts itself (a
// fresh Node environment with the original `process.dlopen`: koffi loads there and blocks in C; terminating the plugin's
// worker joins it, so the host never exits: fails on 35cb305 with "host still running after 30000 ms"), and the
// inspector's way into the host's main thread (`Session.connectToMainThread()`, or the `inspector` binding under it
// through `process.binding`: the host's main thread itself evaluates the koffi call and blocks; fails on 35cb305 the same
// way). Each case below is one attack; every one must be refused with `Unsupported` and the host end on its own.
// audit s9b #2: `module.register()` (node:module, import and require) starts the ESM loader-hooks thread — Node's
// internal worker, a fresh environment with the original dlopen — where the hook module loaded koffi and blocked in C:
// fails on d684b69 ("host still running after 30000 ms"); refused since.
// audit s9b: an addon loaded by its file's path (require of the .node, Module's '.node' loader, Module#load) ends in the
// pinned dlopen too (holds on d684b69; fails with the pin removed).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

/** koffi's prebuilt addon (the platform package the sandbox preload loads), as a .node file on disk. */
const KOFFI_NODE = findKoffiNode();

/** Each attack: a JS plugin whose hook `block` tries to get native code to block a thread the host must join. */
const BLOCKERS: Record<string, { code: string; call: RegExp }> = {
  'own-thread': {
    // The plugin's worker itself loads koffi.
    code: `
import { createRequire } from 'node:module';
export default {
  name: 'own-thread', version: '1.0.0', author: 'attack tests',
  init() {},
  registerHooks(h) {
    h.register('block', 100, () => {
      let koffi;
      try {
        const at = /(\\/\\S*runtime\\.cjs)/.exec(new Error().stack ?? '')?.[1];
        koffi = createRequire(at)('koffi');
      } catch (e) { return new TextEncoder().encode('no koffi: ' + e.message); }
      koffi.load('libc.so.6').func('int pause()')();
      return new TextEncoder().encode('woke');
    });
  },
};
`,
    call: /^no koffi: /,
  },
  'nested-worker': {
    // A Worker of the plugin's own (import and require of node:worker_threads) loads koffi there.
    code: `
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
export default {
  name: 'nested-worker', version: '1.0.0', author: 'attack tests',
  init() {},
  registerHooks(h) {
    h.register('block', 100, async () => {
      const at = /(\\/\\S*runtime\\.cjs)/.exec(new Error().stack ?? '')?.[1];
      const code = "const { createRequire } = await import('node:module'); const { parentPort } = await import('node:worker_threads');" +
        "let k; try { k = createRequire(" + JSON.stringify(at) + ")('koffi'); } catch (e) { parentPort.postMessage('no koffi: ' + e.message); }" +
        "if (k) { parentPort.postMessage('blocking'); k.load('libc.so.6').func('int pause()')(); }";
      const refused = [];
      for (const W of [Worker, () => createRequire(import.meta.url)('node:worker_threads').Worker]) {
        let w;
        try { w = W === Worker ? new Worker(code, { eval: true }) : new (W())(code, { eval: true }); }
        catch (e) { refused.push(e.code ?? e.message); continue; }
        const said = await new Promise((r) => { w.once('message', r); w.once('error', (e) => r('error ' + e.message)); });
        return new TextEncoder().encode(String(said));
      }
      return new TextEncoder().encode('no worker: ' + refused.join(' '));
    });
  },
};
`,
    call: /^no worker: Unsupported Unsupported$/,
  },
  'main-thread': {
    // The inspector: the host's main thread evaluates the koffi call (the public APIs, the binding under them).
    code: `
import inspector from 'node:inspector';
import promises from 'node:inspector/promises';
export default {
  name: 'main-thread', version: '1.0.0', author: 'attack tests',
  init() {},
  registerHooks(h) {
    h.register('block', 100, () => {
      const enc = (t) => new TextEncoder().encode(t);
      const at = /(\\/\\S*runtime\\.cjs)/.exec(new Error().stack ?? '')?.[1];
      const expression = "process.getBuiltinModule('node:module').createRequire(" + JSON.stringify(at) +
        ")('koffi').load('libc.so.6').func('int pause()')()";
      const refused = [];
      for (const Session of [inspector.Session, promises.Session]) {
        try {
          const s = new Session();
          s.connectToMainThread();
          s.post('Runtime.evaluate', { expression });
          return enc('main thread evaluating');
        } catch (e) { refused.push(e.code ?? e.message); }
      }
      try {
        const c = new (process.binding('inspector').MainThreadConnection)(() => {});
        c.dispatch(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression } }));
        return enc('main thread evaluating (binding)');
      } catch (e) { refused.push(e.code ?? e.message); }
      return enc('refused: ' + refused.join(' '));
    });
  },
};
`,
    call: /^refused: Unsupported Unsupported Unsupported$/,
  },
  'addon-by-path': {
    // (audit s9b) A .node file loaded by path, around \`process.dlopen\`'s name: require of the file, Module's own
    // '.node' loader, and a Module instance's load — each ends in the pinned dlopen.
    code: `
import { createRequire } from 'node:module';
export default {
  name: 'addon-by-path', version: '1.0.0', author: 'attack tests',
  init() {},
  registerHooks(h) {
    h.register('block', 100, () => {
      const file = ${JSON.stringify(KOFFI_NODE)};
      const Module = process.getBuiltinModule('node:module');
      const refused = [];
      for (const load of [
        () => createRequire(import.meta.url)(file),
        () => Module._extensions['.node']({ exports: {} }, file),
        () => new Module(file).load(file),
      ]) {
        try { load(); return new TextEncoder().encode('loaded ' + file); }
        catch (e) { refused.push(e.code ?? e.message); }
      }
      return new TextEncoder().encode('refused: ' + refused.join(' '));
    });
  },
};
`,
    call: /^refused: Unsupported Unsupported Unsupported$/,
  },
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

function findKoffiNode(): string {
  const store = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../node_modules/.pnpm');
  for (const d of fs.readdirSync(store)) {
    if (!d.startsWith('@koromix+koffi-linux-')) continue;
    const pkg = path.join(store, d, 'node_modules/@koromix', d.slice('@koromix+'.length).replace(/@.*$/, ''));
    for (const sub of fs.existsSync(pkg) ? fs.readdirSync(pkg) : []) {
      const f = path.join(pkg, sub, 'koffi.node');
      if (sub.startsWith('linux_') && fs.existsSync(f)) return f;
    }
  }
  throw new Error(`koffi's prebuilt addon not found under ${store}`);
}

const tmp = tempDir('worker-js-koffi');
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
