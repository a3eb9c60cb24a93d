// audit s8 #2: `idsInUse` leaves zombies out, and reads each process's
// status from its thread-group leader only. A process whose main thread ended with SYS_exit (pthread_exit in main)
// while another thread runs on shows its leader as `State: Z (zombie)`, `Threads: 2`: it still runs as its uid, but
// `uidInUse` says no — so a lease is given back, or a dead host's lease taken over, while something runs as the uid.
// Failed on main ce63694; fixed in cb3933a.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { allocateUid, uidInUse } from '../src/index.js';
import { compileFixture, itWithCompiler } from './sandbox-run.js';

const isRoot = process.getuid?.() === 0;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-a5-zl-'));
fs.chmodSync(base, 0o755);
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const uid = 1_973_500_001;

(isRoot ? itWithCompiler('sandbox-common') : it.skip)(
  'a process whose main thread exited while another runs still counts as running as its uid (no lease given away)',
  async () => {
    const src = path.join(base, 'zl.c');
    fs.writeFileSync(
      src,
      `#include <pthread.h>
#include <unistd.h>
#include <sys/syscall.h>
static void *spin(void *a) { for (;;) pause(); return a; }
int main(void) { pthread_t t; pthread_create(&t, 0, spin, 0); syscall(SYS_exit, 0); return 0; }
`,
    );
    const bin = compileFixture(src, path.join(base, 'zl'), ['-O1'], ['-lpthread']);
    fs.chmodSync(bin, 0o755);
    const child = spawn(
      '/usr/bin/setpriv',
      ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', bin],
      { stdio: 'ignore' },
    );
    try {
      // Until the leader has exited (its status shows Z) with its second thread running.
      let status = '';
      for (let i = 0; i < 200; i++) {
        try {
          status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        } catch {
          status = '';
        }
        if (/^State:\s+Z/m.test(status) && /^Threads:\s+2/m.test(status)) break;
        await sleep(10);
      }
      expect(status).toMatch(/^Threads:\s+2/m);
      expect(fs.readdirSync(`/proc/${child.pid}/task`).length).toBe(2);
      // Documented: true when some process runs as `uid`.
      expect(uidInUse(uid)).toBe(true);
      // A lease of a dead host (its pid free) on the only uid of the range: not taken over while the uid runs.
      const lockDir = path.join(base, 'uids');
      fs.mkdirSync(lockDir, { mode: 0o700 });
      fs.writeFileSync(path.join(lockDir, String(uid)), '2147483646-1\n', { mode: 0o600 });
      let got: number | string;
      try {
        const lease = allocateUid({ first: uid, count: 1 }, lockDir);
        got = lease.uid;
        lease.release();
      } catch (e) {
        got = (e as { code?: string }).code ?? String(e);
      }
      expect(got).toBe('SandboxUnavailable');
    } finally {
      child.kill('SIGKILL');
    }
  },
  30_000,
);
