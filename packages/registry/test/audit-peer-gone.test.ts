// Attacker (audit, session 6) — main 37d16eb `IpcChannel.peerGone`: after a plugin's process has exited, the host's
// channel keeps reading its socket for up to 1 s (PEER_GONE_GRACE_MS) so the dead plugin's last answers and log lines
// are not lost. But for that second it also keeps SERVING requests and SENDING hook calls on that socket, and the plugin
// stays `Active`. A descendant that inherited fd 3 (the process tier has no sandbox: a plugin can spawn one) then acts
// as the plugin after it died: it answers the host's hook calls and writes context keys with the plugin's grants.
// Measured on 37d16eb: after `process.exit(3)` the registry still reported the plugin Active for ≈ 1 s, and the
// descendant answered ≈ 40 hook calls ('from-descendant') and wrote `audit.k` ≈ 48 times.
// Asserted: once the host knows the plugin's process has exited (it was reaped), no hook answer and no context write
// comes from its socket, the host still serves, the plugin ends up Failed. (Before that, the descendant is the plugin's
// own code holding the plugin's socket: what it answers or writes then is the plugin's, as it could while it lived.)
// Expected fix: after `peerGone`, the channel only reads — answers to requests already pending and `Log` lines; new
// `sendRequest`/`trySendRequest` throw the gone error at once; other requests of the peer are dropped unanswered.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PluginRegistry } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-peer-gone');
const fx = new Fixtures(tmp.dir);
afterAll(() => tmp.remove());

const IPC = path.resolve(__dirname, '../../ipc/dist/index.js');
// The descendant: speaks the protocol on the inherited fd 3, and starts acting once its parent (the plugin) is gone.
const descendant = `
import net from 'node:net';
import fs from 'node:fs';
import { IpcChannel } from ${JSON.stringify(IPC)};
const ppid = process.ppid;
fs.writeFileSync(process.argv[2], String(process.pid));
const ch = new IpcChannel(new net.Socket({ fd: 3, readable: true, writable: true }), { role: 'peer', label: 'descendant' });
const parentGone = () => { try { process.kill(ppid, 0); return false; } catch { return true; } };
ch.setRequestHandler((req) => req.kind === 'ExecuteHook'
  ? { kind: 'HookResult', data: new TextEncoder().encode(parentGone() ? 'from-descendant' : 'plugin') }
  : { kind: 'Success' });
let n = 0;
setInterval(() => {
  if (parentGone()) ch.sendRequest({ kind: 'ContextSet', key: 'audit.k', value: 'descendant-' + ++n }).catch(() => {});
}, 20);
setInterval(() => {}, 1000);
`;

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};`;

it('process tier: once the plugin process exited, a descendant holding its socket neither answers its hook calls nor writes its context keys', {
  timeout: 60_000,
}, async () => {
  const gcFile = path.join(tmp.dir, 'descendant.mjs');
  fs.writeFileSync(gcFile, descendant);
  const pidFile = path.join(tmp.dir, 'descendant.pid');
  const src = `import { spawn } from 'node:child_process';
export default {
  name: 'audit-gone', version: '1.0.0', author: 'audit',
  async init() {
    spawn(process.execPath, [${JSON.stringify(gcFile)}, ${JSON.stringify(pidFile)}], { stdio: ['ignore', 'ignore', 'ignore', 3] });
    setTimeout(() => process.exit(3), 1500);
  },
  registerHooks(h) { h.register('audit.who', 100, () => new TextEncoder().encode('plugin')); },
};`;
  const file = await fx.js('gone.mjs', src, {
    name: 'audit-gone',
    kind: 'js',
    requirements: NO_GRANTS([], ['audit.k']),
  });
  await fx.trust(file);
  const probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  const security = await fx.security();
  const r = new PluginRegistry({
    security,
    tierOverrides: { 'audit-gone': 'process', 'audit-probe': 'in-process' },
    log: () => {},
  });
  const afterDeath: string[] = [];
  try {
    await r.loadPlugin(probe, 'trusted');
    await r.loadPlugin(file, 'trusted');
    const pid = r.getPluginInfo('audit-gone')?.pid as number;
    const t0 = performance.now();
    let diedAt: number | undefined;
    // What counts is what the host takes from the socket once it knows the plugin is gone (its pid reaped: the exit
    // is handled in the same turn). A call sent while the plugin lived may be read by the descendant (both hold the
    // socket; the plugin's own code spawned it) and answered after the plugin died; a context write can slip in
    // between the death and the reaping — the plugin's own grants, used while the host still served it.
    let kAtDeath: string | undefined;
    while (performance.now() - t0 < 5000) {
      const knownDead = diedAt !== undefined;
      let answer: string;
      try {
        answer = dec.decode(await r.hooks.execute('audit.who', enc.encode('x')));
      } catch (e) {
        answer = `error ${(e as Error).message.slice(0, 60)}`;
      }
      const k = r.context.has('audit.k') ? String(r.context.get('audit.k')) : '';
      if (diedAt === undefined && !pidAlive(pid)) {
        diedAt = performance.now();
        kAtDeath = r.context.has('audit.k') ? String(r.context.get('audit.k')) : '';
      }
      if (knownDead && answer === 'from-descendant')
        afterDeath.push(`hook answered by the descendant (status ${r.getPluginInfo('audit-gone')?.status})`);
      if (knownDead && k !== kAtDeath && k.startsWith('descendant-'))
        afterDeath.push(`context audit.k = ${k}`);
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(diedAt, 'the plugin process never exited').toBeDefined();
    expect(r.getPluginInfo('audit-gone')?.status).toBe('Failed');
    expect(dec.decode(await r.hooks.execute('audit.health', enc.encode('h')))).toBe('ok:h');
  } finally {
    await r.close();
    try {
      const gc = Number(fs.readFileSync(pidFile, 'utf8'));
      if (pidAlive(gc)) process.kill(gc, 'SIGKILL');
      await until(() => !pidAlive(gc), 5000, 'the descendant to be gone');
    } catch {
      // never started
    }
  }
  expect(
    afterDeath.length,
    `after the plugin died: ${afterDeath.slice(0, 4).join('; ')} (${afterDeath.length} in all)`,
  ).toBe(0);
});
