// audit s8 #5: a sandboxed program with a writable bind leaves a set-user-ID
// (and set-group-ID) copy of an executable owned by its leased uid in the host directory. Inside the sandbox the bind
// is nosuid, but on the host it is an ordinary file: whoever on the host can run it becomes that uid — after the
// sandbox ended and its lease was given back, i.e. the uid of whichever sandbox is handed it next (its processes can
// then be signalled, its /proc entries and files read). bubblewrap allows chmod/fchmod and a create mode with
// S_ISUID/S_ISGID in every mode (Landlock denies chmod outright). Failed on main cb3933a.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { defaultSandboxConfig, LinuxSandbox } from '../dist/index.js';
import { cleanupDirs, expectHostHealthy, firstMessage, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const SOURCE = `#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
static void copy_self(const char *to) {
  int in = open("/proc/self/exe", O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  char buf[65536]; ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0) (void)!write(out, buf, n);
  close(in); close(out);
}
int main(void) {
  copy_self("/shared/a"); int a = chmod("/shared/a", 04755); int ea = errno;
  copy_self("/shared/b"); int fb = open("/shared/b", O_RDONLY); int b = fchmod(fb, 06755); int eb = errno;
  int c = open("/shared/c", O_WRONLY | O_CREAT | O_EXCL, 04755); int ec = errno;
  printf("chmod %d/%d fchmod %d/%d create %d/%d\\n", a, a ? ea : 0, b, b ? eb : 0, c < 0 ? -1 : 0, c < 0 ? ec : 0);
  return 0;
}
`;

for (const mode of ['strict', 'basic'] as const) {
  (isRoot ? itWithC : itWithC.skip)(
    `${mode} seccomp: a writable bind gets no set-user-ID or set-group-ID file from the sandbox`,
    async () => {
      const dir = tempDir('pw-a5-suid-');
      fs.chmodSync(dir, 0o755);
      const src = path.join(dir, 'su.c');
      fs.writeFileSync(src, SOURCE);
      const bin = compileFixture(src, path.join(dir, 'su'), ['-O1']);
      fs.chmodSync(bin, 0o755);
      const shared = path.join(dir, 'shared');
      fs.mkdirSync(shared);
      fs.chmodSync(shared, 0o1777);
      const base = defaultSandboxConfig({ seccomp: { mode } });
      const s = new LinuxSandbox({ stdio: 'pipe' });
      const p = await s.spawn({
        command: bin,
        args: [],
        readOnlyPaths: [bin],
        config: {
          ...base,
          filesystem: { ...base.filesystem, binds: [{ source: shared, target: '/shared', mode: 'rw' }] },
        },
        label: 'a5-suid',
      });
      let out = '';
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      expect((await p.exit).code).toBe(0);
      const special = fs
        .readdirSync(shared)
        .map((n) => ({ n, mode: fs.statSync(path.join(shared, n)).mode }))
        .filter((f) => (f.mode & 0o6000) !== 0)
        .map((f) => `${f.n} ${(f.mode & 0o7777).toString(8)}`);
      expect({ special, said: out.trim() }).toMatchObject({ special: [] });
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    60_000,
  );
}
