// audit s10 #6 (→ packages/registry/test/, root; needs a `nobody` user and /usr/bin/setpriv): the same sweep as #5
// (`sweepStaleSandboxDirsOnce(os.tmpdir(), 'plugward-', …)` at a host's first out-of-process load) reads the owner of an
// entry whose name carries no host tag from `<entry>.owner` or `<entry>/.owner` with `fs.readFileSync` — synchronous,
// on the host's main thread, following symlinks, no O_NONBLOCK, no file-type check. Any local user makes that a FIFO
// (`mkdir /tmp/plugward-x; mkfifo /tmp/plugward-x/.owner`): the host's event loop blocks for ever in open(2) at its
// first process/sandbox/worker-tier load — every root host on the machine, and its plugins with it.
// Expected: the host loads its plugin, answers and exits on its own. Fails on main 7891584 (killed after 20 s).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, HEALTH_PROBE, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

const tmp = tempDir('audit-tmpfifo');
const fx = new Fixtures(tmp.dir);
const sharedTmp = path.join(tmp.dir, 'tmp');
let probe = '';
let listPath = '';

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  fs.mkdirSync(sharedTmp);
  fs.chmodSync(sharedTmp, 0o1777);
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  listPath = (await fx.security()).policy.trustListPath;
});
afterAll(() => tmp.remove());

it('a FIFO a local user planted as an owner file in the temporary folder does not freeze a root host', async (ctx) => {
  if (process.getuid?.() !== 0) return ctx.skip('needs a root host');
  const asNobody = (...cmd: string[]) =>
    execFileSync('/usr/bin/setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', ...cmd]);
  // Named as copies were and are: the sweep must not read what another user planted, whatever its name.
  for (const name of ['plugward-audit', 'plugward-copy-audit']) {
    const entry = path.join(sharedTmp, name);
    asNobody('mkdir', entry);
    asNobody('mkfifo', path.join(entry, '.owner'));
  }
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
    20_000,
  );
  expect({ report: run.report, signal: run.signal }, run.stderr).toEqual({
    report: { out: 'ok:x' },
    signal: null,
  });
}, 60_000);
