// audit s10 #5b (→ packages/registry/test/, root; needs gcc, a `nobody` user and /usr/bin/setpriv): #5 without any
// symlink at the top and whatever `fs.protected_symlinks` says. The root host's sweep removes, with Node 20's JS
// rimraf (`lstat` → `rmdir` ENOTEMPTY → `readdir(path)` → recurse by path), folders a local user owns in the host's
// temporary folder when their names say "a dead host's private copy" (`plugward-<free pid>-…`). The user swaps a
// sub-folder with a symlink to a victim folder (renameat2 RENAME_EXCHANGE in a loop): when the swap lands between
// rimraf's `lstat` and its `readdir`, root lists and unlinks the *victim's* files (the user's folder is not sticky, so
// protected_symlinks does not apply). The victim here is a root-owned folder of the test with 50 files.
// Expected: all 50 stay. Fails on main 7891584 when the race is won (it is a race: read the count it prints).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, HEALTH_PROBE, hostScriptEnv, runHostScript, tempDir } from './helpers.js';

const tmp = tempDir('audit-tmprace');
const fx = new Fixtures(tmp.dir);
const sharedTmp = path.join(tmp.dir, 'tmp');
const victim = path.join(tmp.dir, 'victim');
const swapper = path.join(tmp.dir, 'swapper');
const ENTRIES = 12;
const PAIRS = 8;
const FILES = 50;
let probe = '';
let listPath = '';

const SWAPPER_C = `#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  int pairs = atoi(argv[2]); time_t end = time(0) + atoi(argv[3]);
  static char a[64][4096], b[64][4096];
  for (int i = 0; i < pairs; i++) { snprintf(a[i], 4096, "%s/a%d", argv[1], i); snprintf(b[i], 4096, "%s/b%d", argv[1], i); }
  while (time(0) < end) for (int i = 0; i < pairs; i++) syscall(SYS_renameat2, AT_FDCWD, a[i], AT_FDCWD, b[i], 2);
  return 0;
}
`;

const asNobody = ['/usr/bin/setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups'];

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  fs.mkdirSync(sharedTmp);
  fs.chmodSync(sharedTmp, 0o1777);
  fs.mkdirSync(victim, { mode: 0o755 });
  for (let f = 0; f < FILES; f++) fs.writeFileSync(path.join(victim, `v${f}`), 'precious\n');
  fs.writeFileSync(`${swapper}.c`, SWAPPER_C);
  execFileSync('cc', ['-O2', '-o', swapper, `${swapper}.c`]);
  fs.chmodSync(swapper, 0o755);
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  listPath = (await fx.security()).policy.trustListPath;
});
afterAll(() => tmp.remove());

it('a root host sweeping its temporary folder never removes files outside what it made', async (ctx) => {
  if (process.getuid?.() !== 0) return ctx.skip('needs a root host');
  // The local attacker (nobody): folders named as a dead host's copies, each with pairs a<i> (a folder holding files
  // named like the victim's) and b<i> (a symlink to the victim), exchanged in a loop.
  const script = [];
  for (let e = 0; e < ENTRIES; e++) {
    const d = path.join(sharedTmp, `plugward-copy-4000000-race${e}`);
    script.push(`mkdir -m 0777 ${d}`);
    for (let i = 0; i < PAIRS; i++) {
      script.push(`mkdir -m 0777 ${d}/a${i}`, `ln -s ${victim} ${d}/b${i}`);
      script.push(`(cd ${d}/a${i} && touch ${Array.from({ length: FILES }, (_, f) => `v${f}`).join(' ')})`);
    }
  }
  execFileSync(asNobody[0] as string, [...asNobody.slice(1), 'sh', '-c', script.join(' && ')]);
  const swappers = Array.from({ length: ENTRIES }, (_, e) =>
    spawn(asNobody[0] as string, [
      ...asNobody.slice(1),
      swapper,
      path.join(sharedTmp, `plugward-copy-4000000-race${e}`),
      String(PAIRS),
      '20',
    ]),
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    const run = await runHostScript(
      `const { PluginRegistry, PluginSecurity } = await import(process.env.DIST);
       const security = new PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB]);
       await security.loadAndDecryptTrustList(process.env.LIST_KEY);
       const registry = new PluginRegistry({ security, defaultTier: 'process', log: () => {} });
       await registry.loadPlugin(process.env.PROBE, 'trusted');
       await registry.close();
       console.log(JSON.stringify({ ok: true }));`,
      { ...hostScriptEnv(fx, listPath), PROBE: probe, TMPDIR: sharedTmp },
    );
    expect(run.report, run.stderr).toEqual({ ok: true });
  } finally {
    for (const s of swappers) s.kill('SIGKILL');
  }
  const left = fs.readdirSync(victim).length;
  expect(
    { victimFilesLeft: left },
    `the root host deleted ${FILES - left} of the victim's ${FILES} files`,
  ).toEqual({
    victimFilesLeft: FILES,
  });
}, 90_000);
