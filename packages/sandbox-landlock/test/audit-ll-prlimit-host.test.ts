// audit s10 #7 (root test machine: the host runs as `nobody` through setpriv; needs cc):
// on a NON-root host (the Landlock backend's usual home: a container whose user is not root) every sandbox runs as
// the host's own uid (README: "not root: the plugin runs as the host user's uid (Landlock still denies its files;
// signals are scoped)"). Landlock scopes signals, ptrace and abstract sockets — but `prlimit64`, `setpriority`,
// `sched_setaffinity`/`sched_setscheduler` on another process of the same uid are no Landlock matter and the
// launcher's filter allows them (packages/sandbox-landlock/src/plan.ts DENIED_SYSCALLS). The sandboxed command (any
// untrusted native plugin can make the same calls) sets its parent's — the host's, `getppid()` — RLIMIT_NOFILE to 8
// and RLIMIT_CPU to 1 s: the host can't open files any more and is SIGKILLed by the kernel at its next CPU second.
// Expected: the calls fail (EPERM) and the host keeps its limits and lives. Fails on main 7891584.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { itWithC, tempDir } from './helpers.js';

const C = `#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  pid_t host = getppid();
  struct rlimit nofile = { 8, 8 }, cpu = { 1, 1 };
  long a = syscall(SYS_prlimit64, host, RLIMIT_NOFILE, &nofile, 0); int ea = a ? errno : 0;
  long b = syscall(SYS_prlimit64, host, RLIMIT_CPU, &cpu, 0); int eb = b ? errno : 0;
  long c = syscall(SYS_setpriority, 0, host, 19); int ec = c ? errno : 0;
  printf("{\\"nofile\\":%d,\\"cpu\\":%d,\\"nice\\":%d}\\n", ea, eb, ec);
  return 0;
}
`;

const HOST = `import fs from 'node:fs';
const { LandlockSandbox, defaultLandlockConfig } = await import(process.env.LL_DIST);
// This machine has no noexec mount for a non-root scratch, and a non-root host makes no cgroup: both allowed here,
// neither matters to the calls under test.
const sb = new LandlockSandbox({ stdio: 'pipe', allowNoCgroup: true, allowExecutableScratch: true });
const limits = () => fs.readFileSync('/proc/self/limits', 'utf8').split('\\n').filter((l) => /open files|cpu time/.test(l)).map((l) => l.replace(/\\s+/g, ' ').trim());
const before = limits();
const proc = await sb.spawn({ command: process.env.PROG, args: [], config: defaultLandlockConfig({ cgroup: null }), readOnlyPaths: [] });
let out = '';
proc.stdout.on('data', (d) => { out += d; });
await proc.exit;
let after;
try { after = limits(); } catch (e) { after = [String(e.code)]; }
let opened = 0;
try { for (; opened < 32; opened++) fs.openSync('/proc/self/stat', 'r'); } catch {}
console.log(JSON.stringify({ uid: process.getuid(), command: out.trim(), before, after, opened }));
// Past 1.5 s of CPU in all (the 1 s RLIMIT_CPU the plugin tried to set would have killed it by then).
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
while (cpu() < 1_500_000) {}
console.log(JSON.stringify({ survived: true }));
`;

itWithC(
  'a non-root host keeps its resource limits and lives whatever its Landlock sandbox calls',
  (ctx) => {
    if (process.getuid?.() !== 0)
      return ctx.skip('the test runs its host as nobody through setpriv (needs root)');
    const dir = tempDir('pw-ll-prlimit-');
    const home = path.join(dir, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    fs.chownSync(home, 65534, 65534);
    fs.writeFileSync(path.join(dir, 'prog.c'), C);
    const prog = path.join(dir, 'prog');
    compileFixture(path.join(dir, 'prog.c'), prog, ['-O1'], []);
    fs.chmodSync(prog, 0o755);
    fs.writeFileSync(path.join(dir, 'host.mjs'), HOST, { mode: 0o644 });
    let stdout = '';
    let signal = '';
    try {
      stdout = execFileSync(
        '/usr/bin/setpriv',
        [
          '--reuid',
          'nobody',
          '--regid',
          'nogroup',
          '--clear-groups',
          process.execPath,
          path.join(dir, 'host.mjs'),
        ],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: home,
            TMPDIR: home,
            PROG: prog,
            LL_DIST: path.resolve(import.meta.dirname, '../dist/index.js'),
          },
          encoding: 'utf8',
          timeout: 150_000, // ≈ 2.5 s of CPU: 25 s at load 20 on 2 cores
        },
      );
    } catch (e) {
      const err = e as { stdout?: string; signal?: string; stderr?: string };
      stdout = err.stdout ?? '';
      signal = `${err.signal ?? ''} ${String(err.stderr ?? '').slice(0, 400)}`;
    }
    const lines = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const report = lines[0] ?? {};
    expect({ ...report, survived: lines[1]?.survived === true, signal }, stdout).toMatchObject({
      uid: 65534,
      command: expect.stringMatching(/"nofile":[1-9]/),
      opened: 32,
      survived: true,
      signal: '',
    });
    expect(report.after).toEqual(report.before);
  },
  200_000,
);
