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
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '@plugward/security';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, tempDir } from './helpers.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/index.js');

const BLOCKER = `
import { createRequire } from 'node:module';
export default {
  name: 'js-blocker', version: '1.0.0', author: 'attack tests',
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
`;
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
report.tier = registry.getPluginInfo('js-blocker')?.tier;
report.call = await registry.hooks.execute('block', new Uint8Array()).then((d) => dec.decode(d), (e) => e.code ?? String(e));
const t0 = Date.now();
await registry.close();
report.closeMs = Date.now() - t0;
report.echo = dec.decode(await other.hooks.execute('echo', enc.encode('still')));
await other.close();
console.log(JSON.stringify(report));
// No process.exit(): the host must be able to end on its own.
`;

const tmp = tempDir('worker-js-koffi');
const fx = new Fixtures(tmp.dir);
let blocker = '';
let bystander = '';
let listPath = '';

beforeAll(async () => {
  blocker = await fx.js('blocker.mjs', BLOCKER, {
    name: 'js-blocker',
    kind: 'js',
    limits: { maxCpuTimeMs: 300 },
  });
  bystander = await fx.js('bystander.mjs', BYSTANDER, { name: 'bystander', kind: 'js' });
  await fx.trust(blocker);
  await fx.trust(bystander);
  await fx.security();
  listPath = path.join(tmp.dir, fs.readdirSync(tmp.dir).find((f) => f.startsWith('trust-')) ?? '');
});
afterAll(() => tmp.remove());

it('a JS plugin at the worker tier that blocks its thread in C through koffi: the host closes and exits on its own', {
  timeout: 60_000,
}, async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOST], {
    env: {
      ...process.env,
      DIST,
      LIST: listPath,
      LIST_KEY: fx.listKey,
      PUB: toHex(fx.publisher.publicKey),
      BLOCKER: blocker,
      BYSTANDER: bystander,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => {
    stderr += '\n[test] host still running after 30000 ms: killed';
    child.kill('SIGKILL');
  }, 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  const report = line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
  expect({ code, signal, stderr: stderr.slice(0, 2000), report }).toMatchObject({
    code: 0,
    signal: null,
    stderr: '',
  });
  expect(report?.echo).toBe('still+bystander');
});
