// audit s8 #1, Landlock backend: the sandboxed command (a native program;
// an untrusted native plugin of the registry can make the same call) disarms its parent-death signal —
// prctl(PR_SET_PDEATHSIG, 0): the Landlock filter is default-allow and does not deny prctl — and ignores its fd 3
// closing. Its host is killed (SIGKILL, below a subreaper) once the command said so: the command runs on, reparented,
// as its leased uid, in its cgroup, until a later host's sweep (if one starts) kills it. Failed on main ce63694; fixed in cb3933a.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect } from 'vitest';
import { killHostUnderSubreaper } from '../../sandbox-common/test/host-death.js';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { cleanupDirs, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const range = { first: 1_972_000_000, count: 100_000 };

function inRange(): number[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const st = fs.readFileSync(`/proc/${n}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(st)?.[1]);
      return !/^State:\s+Z/m.test(st) && uid >= range.first && uid < range.first + range.count
        ? [Number(n)]
        : [];
    } catch {
      return [];
    }
  });
}

(isRoot ? itWithC : itWithC.skip)(
  'a sandboxed process that clears its parent-death signal does not outlive its SIGKILLed host',
  async () => {
    const dir = tempDir('pw-a5-llpd-');
    const src = path.join(dir, 'clear.c');
    fs.writeFileSync(
      src,
      `#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
#include <signal.h>
int main(void) {
  int r = prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  signal(SIGHUP, SIG_IGN); signal(SIGPIPE, SIG_IGN);
  printf("cleared %d\\n", r); fflush(stdout);
  for (;;) pause();
}
`,
    );
    const bin = compileFixture(src, path.join(dir, 'clear'), ['-O1']);
    fs.chmodSync(bin, 0o755);
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const host = path.join(dir, 'host.mjs');
    fs.writeFileSync(
      host,
      `import { LandlockSandbox, defaultLandlockConfig } from ${JSON.stringify(dist)};
const s = new LandlockSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, stdio: 'pipe' });
const p = await s.spawn({ command: ${JSON.stringify(bin)}, args: [], readOnlyPaths: [${JSON.stringify(dir)}],
  config: defaultLandlockConfig(), label: 'a5-llpd' });
let out = '';
p.stdout.on('data', (d) => { out += d; if (out.includes('cleared')) process.stdout.write(out.trim() + '\\n'); });
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
    );
    const killed = await killHostUnderSubreaper(host, -1, 'never', 'cleared');
    try {
      const orphans = await killed.orphans(5000);
      for (let i = 0; i < 100 && inRange().length > 0; i++) await sleep(50);
      expect({ orphans, left: inRange() }).toEqual({ orphans: [], left: [] });
    } finally {
      for (const pid of inRange()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await killed.end();
    }
    const r = await runScript('await done({ ok: true });');
    expect(r.report).toEqual({ ok: true });
  },
  60_000,
);
