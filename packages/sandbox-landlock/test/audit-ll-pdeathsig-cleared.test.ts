// audit s8 #1, Landlock backend: the sandboxed command (a native program;
// an untrusted native plugin of the registry can make the same call) disarms its parent-death signal —
// prctl(PR_SET_PDEATHSIG, 0): the Landlock filter is default-allow and does not deny prctl — and ignores its fd 3
// closing. Its host is killed (SIGKILL, below a subreaper) once the command said so: the command runs on, reparented,
// as its leased uid, in its cgroup, until a later host's sweep (if one starts) kills it. Failed on main ce63694; fixed in cb3933a.
// audit s9 adds the leader-exit shape: the signal lives on the thread that armed it (the launcher's main thread, which
// execveat's the command); a command whose main thread leaves with SYS_exit while a second thread runs (its leader a
// zombie) must die with its host too (holds on 35cb305: the kernel still finds the signal on the zombie leader).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { killHostUnderSubreaper, leftAfterHostDeath } from '../../sandbox-common/test/host-death.js';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { cleanupDirs, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const range = { first: 1_972_000_000, count: 100_000 };

const SCENES = [
  {
    what: 'clears its parent-death signal',
    said: 'cleared',
    source: `#include <sys/prctl.h>
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
  },
  {
    what: 'ends its main thread (another thread running, the leader a zombie)',
    said: 'leader gone zombie',
    source: `#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static void *runner(void *a) {
  usleep(300000);
  char b[4096]; FILE *f = fopen("/proc/self/status", "r"); size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0; b[n] = 0;
  printf("leader gone %s\\n", strstr(b, "State:\\tZ") ? "zombie" : "alive?"); fflush(stdout);
  for (;;) pause();
  return a;
}
int main(void) {
  signal(SIGHUP, SIG_IGN); signal(SIGPIPE, SIG_IGN);
  pthread_t t; pthread_create(&t, 0, runner, 0);
  syscall(SYS_exit, 0);
  return 0;
}
`,
  },
];

for (const scene of SCENES) {
  (isRoot ? itWithC : itWithC.skip)(
    `a sandboxed process that ${scene.what} does not outlive its SIGKILLed host`,
    async () => {
      const dir = tempDir('pw-a5-llpd-');
      const src = path.join(dir, 'clear.c');
      fs.writeFileSync(src, scene.source);
      const bin = compileFixture(src, path.join(dir, 'clear'), ['-O1'], ['-lpthread']);
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
p.stdout.on('data', (d) => { out += d; if (out.includes(${JSON.stringify(scene.said)})) process.stdout.write(out.trim() + '\\n'); });
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
      );
      const killed = await killHostUnderSubreaper(host, -1, 'never', scene.said);
      expect(await leftAfterHostDeath(killed, range)).toEqual({ orphans: [], left: [] });
      const r = await runScript('await done({ ok: true });');
      expect(r.report).toEqual({ ok: true });
    },
    60_000,
  );
}
