// audit s8 #4 (copy into packages/sandbox-linux/test/): the parent-death signal is a per-thread attribute that threads
// do not inherit, and an execve from a non-leader thread makes that thread the process's only one (de_thread): the
// process runs on with no parent-death signal — no prctl needed, so the guard filter does not see it. bubblewrap's
// strict filter allows execve (bwrap execs the command after loading it; only the node preload denies exec, and only
// for node commands), and so do the basic/permissive/disabled modes. The sandboxed program (pid 1 of its namespace)
// starts a thread that execs the program again; its host is then SIGKILLed (below a subreaper): the program runs on,
// reparented, as its leased uid, in its cgroup. Fails on main cb3933a and 30c2186 (the command was the sandbox's pid
// 1); closed by making bwrap's init pid 1 (its death ends the namespace; the command can't reach it). The host is
// killed only once the re-exec'd stage printed (an exec that failed would hang the test, not pass it).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { killHostUnderSubreaper, leftAfterHostDeath } from '../../sandbox-common/test/host-death.js';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { cleanupDirs, expectHostHealthy, firstMessage, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const range = { first: 1_978_100_000, count: 100_000 };

const SOURCE = `#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
static char *self;
static void *runner(void *a) {
  char *argv[] = { self, "stage2", 0 };
  execv("/proc/self/exe", argv);
  printf("exec failed\\n"); fflush(stdout);
  return a;
}
int main(int argc, char **argv) {
  signal(SIGHUP, SIG_IGN); signal(SIGPIPE, SIG_IGN);
  int sig = -1; prctl(PR_GET_PDEATHSIG, &sig);
  if (argc > 1 && strcmp(argv[1], "stage2") == 0) {
    printf("stage2 pdeathsig %d\\n", sig); fflush(stdout);
    for (;;) pause();
  }
  self = argv[0];
  pthread_t t; pthread_create(&t, 0, runner, 0);
  for (;;) pause();
}
`;

for (const mode of ['strict', 'basic', 'moderate', 'permissive', 'disabled'] as const) {
  (isRoot ? itWithC : itWithC.skip)(
    `${mode} seccomp: a program that re-execs itself from a second thread does not outlive its SIGKILLed host`,
    async () => {
      const dir = tempDir('pw-a5-tx-');
      fs.chmodSync(dir, 0o755);
      const src = path.join(dir, 'tx.c');
      fs.writeFileSync(src, SOURCE);
      const bin = compileFixture(src, path.join(dir, 'tx'), ['-O1'], ['-lpthread']);
      fs.chmodSync(bin, 0o755);
      const dist = new URL('../dist/index.js', import.meta.url).href;
      const host = path.join(dir, 'host.mjs');
      fs.writeFileSync(
        host,
        `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(dist)};
const s = new LinuxSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, stdio: 'pipe' });
const p = await s.spawn({ command: ${JSON.stringify(bin)}, args: [], readOnlyPaths: [${JSON.stringify(dir)}],
  config: defaultSandboxConfig({ seccomp: { mode: ${JSON.stringify(mode)} } }), label: 'a5-tx' });
let out = '';
p.stdout.on('data', (d) => { out += d; if (out.includes('\\n')) process.stdout.write('said ' + out.trim() + '\\n'); });
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
      );
      const killed = await killHostUnderSubreaper(host, -1, 'never', 'said stage2 pdeathsig 0');
      expect(await leftAfterHostDeath(killed, range)).toEqual({ orphans: [], left: [] });
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    60_000,
  );
}
