// audit s10 #5 (→ packages/registry/test/, root; needs a `nobody` user and /usr/bin/setpriv): the private-copy sweep
// of a root host follows a symlink any local user planted in its temporary directory, and chmods what it points at.
// `sweepKilledHosts()` (tiers/out-of-process.ts) runs `sweepStaleSandboxDirsOnce(os.tmpdir(), 'plugward-', unlockCopy)`
// at the first out-of-process load: every entry of the temporary directory (here /tmp: a sticky, world-writable
// folder) whose name starts with `plugward-` and names a host that is gone (`plugward-<pid>-…` with a pid that runs
// nothing) gets `chmodSync(entry, 0o700)` — which follows a symlink — and then `rmSync(recursive)`. No check that the
// entry is a directory, nor that it belongs to this host's user. So an unprivileged user makes the root host chmod any
// path of the machine to 0700 (`/etc`, `/usr`, `/` : every non-root process breaks, the sandboxes' leased uids too),
// wherever `fs.protected_symlinks` is 0 (as on this machine); and with any setting the recursive removal of a folder
// the attacker owns is the classic swap-a-directory-for-a-symlink race of Node 20's JS rimraf (root deleting files).
// The test uses its own sticky, world-writable folder as the host's TMPDIR and a root-owned file of its own as the
// victim; `nobody` plants the link. Expected: the victim keeps its mode 0644. Fails on main 7891584 (mode 0700).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, HEALTH_PROBE, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

const tmp = tempDir('audit-tmpsweep');
const fx = new Fixtures(tmp.dir);
const sharedTmp = path.join(tmp.dir, 'tmp');
const victim = path.join(tmp.dir, 'victim.conf');
let probe = '';
let listPath = '';

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  fs.mkdirSync(sharedTmp);
  fs.chmodSync(sharedTmp, 0o1777);
  fs.writeFileSync(victim, 'setting = 1\n');
  fs.chmodSync(victim, 0o644);
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  listPath = (await fx.security()).policy.trustListPath;
});
afterAll(() => {
  // The planted link may still be there: never follow it (rmSync of a link removes the link).
  tmp.remove();
});

it('a root host sweeping its temporary folder does not follow a symlink a local user planted there', async (ctx) => {
  if (process.getuid?.() !== 0) return ctx.skip('needs a root host');
  // The local attacker (nobody): one symlink named like a private copy of a dead host (pid 4000000 > pid_max).
  // Named as copies were (`plugward-<tag>`) and are (`plugward-copy-<tag>`): the sweep must judge by owner, not by name.
  for (const name of ['plugward-4000000-audit', 'plugward-copy-4000000-audit']) {
    const link = path.join(sharedTmp, name);
    execFileSync('/usr/bin/setpriv', [
      '--reuid',
      'nobody',
      '--regid',
      'nogroup',
      '--clear-groups',
      'ln',
      '-s',
      victim,
      link,
    ]);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(link).uid).not.toBe(0);
  }
  // The root host: one trusted plugin at the process tier (its first out-of-process load runs the sweep).
  const run = await runHostScript(
    `const { PluginRegistry, PluginSecurity } = await import(process.env.DIST);
     const security = new PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB]);
     await security.loadAndDecryptTrustList(process.env.LIST_KEY);
     const registry = new PluginRegistry({ security, defaultTier: 'process', log: () => {} });
     await registry.loadPlugin(process.env.PROBE, 'trusted');
     const out = new TextDecoder().decode(await registry.hooks.execute('audit.health', new TextEncoder().encode('x')));
     await registry.close();
     console.log(JSON.stringify({ out }));`,
    { ...hostScriptEnv(fx, listPath), PROBE: probe, TMPDIR: sharedTmp },
  );
  expect(run.report, run.stderr).toEqual({ out: 'ok:x' });
  const mode = (fs.statSync(victim).mode & 0o7777).toString(8);
  expect({ victimMode: mode }, 'the root host chmodded the file the planted link points at').toEqual({
    victimMode: '644',
  });
}, 60_000);
