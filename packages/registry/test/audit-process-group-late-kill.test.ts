// audit s9b #3 (→ packages/registry/test/): the process tier's group kill (out-of-process.ts `killGroup`:
// `process.kill(-pid, 'SIGKILL')`) runs again after the runtime is gone and reaped — 2 s later from the channel-end
// timer (`EXIT_AFTER_CHANNEL_END_MS`, not cancelled by the exit) and at close() from `release(0)` → `s.kill()`. Once
// the runtime is reaped and its group killed, the number is free: by then it may be any process group of the machine
// (pid_max is 32768 here and in many containers; a fork-heavy host or a plugin's own helper cycles it in seconds),
// which a root host SIGKILLs. This test records the host's kills aimed at the runtime's group after the registry
// reported the plugin's end ('unloaded', reason 'crashed'): there must be none (the exit handler's kill came before).
// Run for both ways the process tier holds a plugin's processes: its process group (the fallback, turned on here with
// PLUGWARD_PROCESS_NAMESPACE=0), and a pid namespace (the default where the host can make one), whose end needs no kill
// at all when the runtime exits on its own — the host must then send none to any number of the plugin's.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

const QUITTER = `export default {
  name: 'quitter', version: '1.0.0', author: 'attack tests', init() {},
  registerHooks(h) { h.register('quit', 100, () => { setTimeout(() => process.exit(3), 50); return new Uint8Array(); }); },
};`;
const BYSTANDER = `export default {
  name: 'bystander', version: '1.0.0', author: 'attack tests', init() {},
  registerHooks(h) { h.register('echo', 100, (d) => new TextEncoder().encode(new TextDecoder().decode(d) + '+bystander')); },
};`;

const HOST = `
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const dec = new TextDecoder(), enc = new TextEncoder();
const kills = [];
const realKill = process.kill.bind(process);
process.kill = (pid, sig) => { kills.push({ pid, sig, t: Date.now() }); return realKill(pid, sig); };
let closing = Infinity;
const registry = new m.PluginRegistry({ security, defaultTier: 'process', log: () => {} });
await registry.loadPlugin(process.env.QUITTER, 'trusted');
await registry.loadPlugin(process.env.BYSTANDER, 'trusted');
const pid = registry.getPluginInfo('quitter')?.pid;
const ended = new Promise((r) => registry.on('unloaded', (e) => { if (e.name === 'quitter') r({ reason: e.reason, t: Date.now() }); }));
await registry.hooks.execute('quit', new Uint8Array()).catch(() => {});
const end = await ended;
await new Promise((r) => setTimeout(r, 3000)); // the channel-end timer: 2 s
const echo = dec.decode(await registry.hooks.execute('echo', enc.encode('still')));
closing = Date.now();
await registry.close();
const late = kills.filter((k) => k.pid === -pid && k.t >= end.t).map((k) => ({ sig: k.sig, msAfterEnd: k.t - end.t }));
// Before close() (which ends the bystander), the host had no reason to signal anything after the quitter's end.
const lateAny = kills.filter((k) => k.t >= end.t && k.t < closing).map((k) => ({ sig: k.sig, msAfterEnd: k.t - end.t }));
const containment = registry.getPluginInfo('quitter')?.processContainment;
console.log(JSON.stringify({ reason: end.reason, echo, containment, lateGroupKills: late, lateKills: lateAny, anyGroupKills: kills.filter((k) => k.pid === -pid).length }));
`;

const tmp = tempDir('process-group-late-kill');
const fx = new Fixtures(tmp.dir);
let quitter = '';
let bystander = '';
let listPath = '';

beforeAll(async () => {
  quitter = await fx.js('quitter.mjs', QUITTER, { name: 'quitter', kind: 'js' });
  await fx.trust(quitter);
  bystander = await fx.js('bystander.mjs', BYSTANDER, { name: 'bystander', kind: 'js' });
  await fx.trust(bystander);
  await fx.security();
  listPath = path.join(tmp.dir, fs.readdirSync(tmp.dir).find((f) => f.startsWith('trust-')) ?? '');
});
afterAll(() => tmp.remove());

it.each([
  ['its process group', '0'],
  ['a pid namespace', ''],
])(
  'a process-tier runtime that ended is never signalled by its number afterwards (%s)',
  {
    timeout: 60_000,
  },
  async (_how, namespace) => {
    const { code, stderr, report } = await runHostScript(HOST, {
      ...hostScriptEnv(fx, listPath),
      QUITTER: quitter,
      BYSTANDER: bystander,
      PLUGWARD_PROCESS_NAMESPACE: namespace,
    });
    expect({ code, stderr: stderr.slice(0, 2000) }).toEqual({ code: 0, stderr: '' });
    expect(report?.reason).toBe('crashed');
    expect(report?.echo).toBe('still+bystander');
    const mechanism = (report?.containment as { mechanism?: string } | undefined)?.mechanism;
    if (namespace === '0') {
      expect(mechanism).toBe('process-group');
      expect(report?.anyGroupKills).toBeGreaterThan(0); // the exit handler's (the mechanism is there)
    } else if (mechanism !== 'pid-namespace') {
      console.warn(`!!! the process tier has no pid namespace here: ${JSON.stringify(report?.containment)}`);
    }
    expect(report?.lateGroupKills).toEqual([]);
    expect(report?.lateKills).toEqual([]);
  },
);
