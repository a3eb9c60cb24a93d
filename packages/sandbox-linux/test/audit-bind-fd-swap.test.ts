// The bind-swap shape (audit s9 #3, s9b #5) at the backend itself, without the registry's ancestor checks: a writer
// of the folder that holds a bind source (another sandbox's read-write grant) exchanges the source with a symbolic
// link to a host-only folder or to the host's /proc, without pause. bwrap 0.8 resolves `--bind SRC` again by name
// (realpath, then /oldroot/SRC after its pivot), long after the host looked at SRC: on main about half of the starts
// bound the link's target. Now the host opens the source once (openat2 RESOLVE_NO_SYMLINKS), checks the handle, and
// the launcher mounts that very object (open_tree + mount --move): each start sees the granted folder, or fails to
// start (the link was in place at the open) — never anything else. Root hosts (the leased-uid launcher). A non-root
// host can't clone a mount tree: there bwrap still binds by name, and the strict preload checks, before anything of
// the command runs, that each target is the object the host opened (device and inode) — else the start ends (125).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PluginError } from '@plugward/types';
import { afterAll, describe, expect } from 'vitest';
import { startSwapper, swapScene } from '../../sandbox-common/test/bind-swap.js';
import { AS_NOBODY, collectRun } from '../../sandbox-common/test/sandbox-run.js';
import { defaultSandboxConfig, LinuxSandbox } from '../dist/index.js';
import { cleanupDirs, itWithC, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn('\n*** sandbox-linux audit-bind-fd-swap: SKIPPED, binds by fd need a root host ***\n');
afterAll(cleanupDirs);

/** Starts per scene; more (up to {@link MAX_STARTS}) until one got past the open, so the test is never vacuous. */
const STARTS = 16;
const MAX_STARTS = 64;

describe.skipIf(!isRoot)('a bind source swapped for a symbolic link after the host opened it', () => {
  for (const target of ['a host-only folder', "the host's /proc"] as const) {
    itWithC(
      `binds the granted folder or fails to start, never ${target}`,
      async () => {
        const scene = swapScene('pw-bindfd-', target === "the host's /proc" ? '/proc' : undefined);
        const base = defaultSandboxConfig();
        const config = {
          ...base,
          filesystem: {
            ...base.filesystem,
            binds: [{ source: scene.granted, target: '/data', mode: 'ro' as const }],
          },
        };
        const sandbox = new LinuxSandbox({ stdio: 'pipe' });
        const swapper = startSwapper(scene);
        const seen: string[] = [];
        const refused: string[] = [];
        const cgroups: string[] = [];
        try {
          for (let i = 0; i < STARTS || (seen.length === 0 && i < MAX_STARTS); i++) {
            try {
              // dash's builtins only (no fork under strict seccomp): the names in the bound folder, then the
              // command's fds (the host's handles and trees must not be among them).
              const proc = await sandbox.spawn({
                command: '/bin/sh',
                args: ['-c', 'echo /data/*; echo /proc/self/fd/*'],
                readOnlyPaths: [],
                config,
                label: 'bindfd',
              });
              cgroups.push(...Object.values(proc.cgroupPaths));
              const run = await collectRun(proc);
              const [names, fds] = run.stdout.trim().split('\n');
              seen.push(names || `(nothing: ${run.stderr.trim()})`);
              // stdio, the IPC socket, and the glob's own directory fd while it lists: nothing else.
              const numbers = (fds ?? '').split(' ').map((f) => Number(path.basename(f)));
              expect(numbers.slice(0, 4)).toEqual([0, 1, 2, 3]);
              expect(numbers.length).toBeLessThanOrEqual(5);
            } catch (e) {
              if (!(e instanceof PluginError)) throw e;
              refused.push(`${e.code}: ${e.message}`);
            }
          }
        } finally {
          const swaps = await swapper.stop();
          expect(swaps).toBeGreaterThan(0);
        }
        // The goal failed: no start saw anything but the granted folder.
        expect(seen.filter((s) => s !== '/data/GRANTED.txt')).toEqual([]);
        // Not vacuous: starts happened while the link came and went (each open meets the folder about half the time).
        expect(seen.length).toBeGreaterThan(0);
        for (const r of refused) expect(r).toMatch(/^InvalidArgument: .*symbolic link/);
        // Nothing of a plugin is left, and a sandbox still starts and answers.
        for (const dir of cgroups) expect(fs.existsSync(dir)).toBe(false);
        const after = await new LinuxSandbox({ stdio: 'pipe' }).spawn({
          command: '/bin/sh',
          args: ['-c', 'echo ok'],
          readOnlyPaths: [],
          config: defaultSandboxConfig(),
          label: 'bindfd-after',
        });
        expect((await collectRun(after)).stdout.trim()).toBe('ok');
      },
      180_000,
    );
  }
});

// The host runs as uid 65534 (setpriv), as a non-root host would: the sandbox is that uid, bwrap binds by name.
const HOST = (entry: string) => `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(entry)};
const [granted, starts, max] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const base = defaultSandboxConfig({ cgroup: null });
const config = { ...base, filesystem: { ...base.filesystem, binds: [{ source: granted, target: '/data', mode: 'ro' }] } };
const s = new LinuxSandbox({ allowNoCgroup: true, stdio: 'pipe' });
const runs = [];
for (let i = 0; i < starts || (i < max && !runs.some((r) => r.code === 0)); i++) {
  try {
    const p = await s.spawn({ command: process.execPath, readOnlyPaths: [], config, label: 'bindfd-nonroot',
      args: ['-e', "console.log(require('node:fs').readdirSync('/data').sort().join(','))"] });
    let out = ''; let err = '';
    p.stdout.on('data', (d) => (out += d)); p.stderr.on('data', (d) => (err += d));
    const exit = await p.exit;
    runs.push({ code: exit.code, out: out.trim(), err: err.trim().split('\\n')[0] });
  } catch (e) {
    runs.push({ refused: \`\${e.code}: \${e.message}\` });
  }
}
console.log(JSON.stringify(runs));`;

describe.skipIf(!isRoot)(
  'a non-root host (bwrap binds by name; the strict preload checks what it bound)',
  () => {
    for (const target of ['a host-only folder', "the host's /proc"] as const) {
      itWithC(
        `a start runs with the granted folder or ends before the command, never with ${target}`,
        async () => {
          const scene = swapScene('pw-bindfd-nr-', target === "the host's /proc" ? '/proc' : undefined);
          const dir = tempDir('pw-bindfd-host-');
          fs.chmodSync(dir, 0o755);
          const script = path.join(dir, 'host.mjs');
          fs.writeFileSync(script, HOST(new URL('../dist/index.js', import.meta.url).href), { mode: 0o644 });
          const swapper = startSwapper(scene);
          let out: string;
          try {
            out = execFileSync(
              '/usr/bin/setpriv',
              [...AS_NOBODY, process.execPath, script, scene.granted, String(STARTS), String(MAX_STARTS)],
              { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, timeout: 170_000 },
            );
          } finally {
            expect(await swapper.stop()).toBeGreaterThan(0);
          }
          const runs = JSON.parse(out) as { code?: number; out?: string; err?: string; refused?: string }[];
          // The goal failed: no command ran with anything but the granted folder at /data. Every other start was
          // refused at the host's open, or ended before the command ran (the preload's check, 125; or bwrap itself,
          // when the name was gone at its own look).
          expect(runs.filter((r) => r.out !== undefined && r.out !== '' && r.out !== 'GRANTED.txt')).toEqual(
            [],
          );
          expect(runs.filter((r) => r.code === 0 && r.out !== 'GRANTED.txt')).toEqual([]);
          for (const r of runs) {
            if (r.refused !== undefined)
              expect(r.refused).toMatch(/^InvalidArgument: .*(symbolic link|kernel filesystem)/);
          }
          // Not vacuous.
          expect(runs.some((r) => r.code === 0 && r.out === 'GRANTED.txt')).toBe(true);
        },
        180_000,
      );
    }
  },
);
