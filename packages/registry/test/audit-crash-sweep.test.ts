// The attacker's side of a host that dies without cleaning up (SIGKILL, OOM killer): an untrusted plugin loaded
// through PluginRegistry into the sandbox must not outlive its host, and what the host held on its behalf — the uid
// lease, the cgroups, the per-sandbox directory — must be gone once the next host on the machine has started a
// sandbox (its sweeps). Run for both backends; the next host is a separate process (the sweeps run once per process).
// The same crash with a warm pool: idle warm sandboxes must die with the host too, and the warm folders (holding the
// copies it handed off) must be swept by the next host whether or not that host runs a pool itself.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLandlockSupport, checkSandboxSupport } from '../dist/index.js';
import {
  descendants,
  entriesOfHost,
  Fixtures,
  hostScriptEnv,
  pidAlive,
  startHostScript,
  tempDir,
} from './helpers.js';

const LEASES = '/run/plugward/uids';
const UID_FIRST = 1_900_000_000;

const tmp = tempDir('audit-crash');
const fx = new Fixtures(tmp.dir);
let plugin = '';
let listPath = '';
// The hosts' TMPDIR (private copies of the plugin go there): this file's own.
const hostTmp = fs.mkdtempSync(path.join(tmp.dir, 'host-tmp-'));

// A hostile plugin that wants to outlive its host: no exit, a busy event loop, SIGTERM/SIGHUP ignored.
const STAY = `process.exit = () => {}; process.reallyExit = () => {};
for (const s of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE']) { try { process.on(s, () => {}); } catch {} }
setInterval(() => {}, 1000);
export default {
  name: 'audit-stay', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks() {},
};
`;

// The host: loads the plugin untrusted into the chosen backend, prints its pid, then waits to be killed.
const HOST = `
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: false, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const sandbox = process.env.BACKEND === 'landlock' ? new m.LandlockSandbox() : new m.LinuxSandbox();
const registry = new m.PluginRegistry({ ...JSON.parse(process.env.HOST_EXTRA_OPTIONS || '{}'), security, sandbox, log: () => {} });
await registry.loadPlugin(process.env.PLUGIN, 'untrusted');
await registry.warmPool?.settled();
const info = registry.getPluginInfo('audit-stay');
if (process.env.MODE === 'sweeper') { await registry.close(); console.log(JSON.stringify({ closed: true })); process.exit(0); }
console.log(JSON.stringify({ pid: info?.pid, status: info?.status }));
setInterval(() => {}, 1000);
`;

// A trusted plugin at the process tier (no sandbox, no cgroup) whose hook never returns: once its host is gone nothing
// reads its fd 3 any more, and the runtime's own end-of-socket handling can't run while the hook spins.
const SPIN = `export default {
  name: 'audit-spin', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('spin', 100, () => { for (;;) {} }); },
};
`;

// The host: loads it at the process tier, calls the hook (never answered), prints the plugin's pid, waits to be killed.
const SPIN_HOST = `
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const registry = new m.PluginRegistry({ security, defaultTier: 'process', log: () => {} });
await registry.loadPlugin(process.env.PLUGIN, 'trusted');
registry.hooks.execute('spin', new Uint8Array(0)).catch(() => {});
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ pid: registry.getPluginInfo('audit-spin')?.pid }));
setInterval(() => {}, 1000);
`;

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function uidOf(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** What a host with this pid may have left: lease files naming it, its cgroups, its per-sandbox directories. */
function leftBy(hostPid: number, uids: number[]): string[] {
  const out: string[] = [];
  for (const uid of uids) {
    const f = path.join(LEASES, String(uid));
    try {
      // A lease names its host by the host tag `<pid>-<start time>` (the pid alone in earlier versions).
      const holder = fs.readFileSync(f, 'utf8').trim();
      if (holder === String(hostPid) || holder.startsWith(`${hostPid}-`)) out.push(f);
    } catch {
      // gone
    }
  }
  for (const c of fs.readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', c, 'plugward');
    try {
      for (const d of fs.readdirSync(dir)) if (d.includes(`-${hostPid}-`)) out.push(path.join(dir, d));
    } catch {
      // no such controller
    }
  }
  for (const base of ['/run/plugward-sbx', '/run/plugward-ll', '/run/plugward-warm'])
    out.push(...entriesOfHost(base, String(hostPid)));
  return out;
}

function runHost(backend: string, mode: 'victim' | 'sweeper', extra = '{}') {
  return startHostScript(HOST, {
    ...hostScriptEnv(fx, listPath),
    PLUGIN: plugin,
    BACKEND: backend,
    MODE: mode,
    HOST_EXTRA_OPTIONS: extra,
    TMPDIR: hostTmp,
  });
}

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

let spinPlugin = '';

beforeAll(async () => {
  plugin = await fx.js('audit-stay.mjs', STAY, { name: 'audit-stay', kind: 'js', keys: fx.stranger });
  spinPlugin = await fx.js('audit-spin.mjs', SPIN, { name: 'audit-spin', kind: 'js' });
  await fx.trust(spinPlugin);
  const security = await fx.security();
  listPath = security.policy.trustListPath;
});
afterAll(() => tmp.remove());

const support = { bwrap: checkSandboxSupport, landlock: checkLandlockSupport } as const;
const POOL = JSON.stringify({ warmPool: { size: 2 } });
const cases = (['bwrap', 'landlock'] as const).flatMap((b) => [
  [b, 'no pool', '{}', '{}'] as const,
  [b, 'a pool, the next host without one', POOL, '{}'] as const,
  [b, 'a pool, the next host with one', POOL, POOL] as const,
]);

describe('audit: a SIGKILLed host leaves no sandboxed plugin running and nothing the next host does not sweep', () => {
  it.each(cases)(
    '%s, %s',
    async (backend, _case, victimOptions, nextOptions) => {
      const report = await support[backend]();
      if (!report.supported) {
        console.warn(`!!! SKIPPED ${backend}: not supported here (${JSON.stringify(report.features)})`);
        return;
      }
      const pooled = victimOptions !== '{}';
      const victim = runHost(backend, 'victim', victimOptions);
      const answer = await victim.line;
      expect(answer.status).toBe('Active');
      const hostPid = victim.child.pid as number;
      const procs = descendants(hostPid);
      expect(procs.length).toBeGreaterThan(0);
      // With a pool: the plugin's sandbox and two idle warm ones.
      if (pooled)
        expect(procs.filter((p) => cmdline(p).includes('--plugward-warm')).length).toBeGreaterThanOrEqual(2);
      const uids = [
        ...new Set(procs.map(uidOf).filter((u): u is number => u !== undefined && u >= UID_FIRST)),
      ];
      if (process.getuid?.() === 0) expect(uids.length).toBeGreaterThanOrEqual(pooled ? 3 : 1);
      victim.child.kill('SIGKILL');
      await victim.exited;
      // The goal: the plugin outlives its host. It must not.
      const died = await waitFor(() => procs.every((p) => !pidAlive(p)), 10_000);
      expect(procs.filter(pidAlive), 'sandbox processes alive 10 s after their host was SIGKILLed').toEqual(
        [],
      );
      expect(died).toBe(true);
      // The next host on the machine sweeps what the dead one held.
      const sweeper = runHost(backend, 'sweeper', nextOptions);
      expect((await sweeper.line).closed).toBe(true);
      await sweeper.exited;
      const swept = await waitFor(() => leftBy(hostPid, uids).length === 0, 5000);
      expect(leftBy(hostPid, uids), 'left by the SIGKILLed host after the next host ran').toEqual([]);
      expect(swept).toBe(true);
      const copies = fs.readdirSync(hostTmp).filter((d) => d.startsWith('plugward-'));
      expect(
        copies,
        'private copies of the SIGKILLed host left in its TMPDIR after the next host ran',
      ).toEqual([]);
    },
    90_000,
  );
});

describe('audit: a SIGKILLed host takes its process-tier plugins with it', () => {
  it('a plugin spinning in a hook (its runtime never sees fd 3 close) dies with its host', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SPIN_HOST], {
      env: { ...process.env, ...hostScriptEnv(fx, listPath), PLUGIN: spinPlugin, TMPDIR: hostTmp },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out);
      });
      child.once('exit', (code) => reject(new Error(`host exited ${code} before answering`)));
    });
    const { pid } = JSON.parse(line) as { pid: number };
    expect(pid).toBeGreaterThan(0);
    expect(cmdline(pid)).toContain('node');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The goal: the plugin outlives its host, spinning. It must not (its parent-death signal, set by the setpriv it
    // starts from).
    const died = await waitFor(() => !pidAlive(pid), 10_000);
    expect(died, 'the process-tier plugin still runs 10 s after its host was SIGKILLed').toBe(true);
  }, 60_000);
});
