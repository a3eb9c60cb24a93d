// The bind-swap shape (audit s9 #3, s9b #5) at the backend itself, without the registry's ancestor checks: a writer
// of the folder that holds a bind source (another sandbox's read-write grant) exchanges the source with a symbolic
// link to a host-only folder or to the host's /proc, without pause. bwrap 0.8 resolves `--bind SRC` again by name
// (realpath, then /oldroot/SRC after its pivot), long after the host looked at SRC: on main about half of the starts
// bound the link's target. Now the host opens the source once (openat2 RESOLVE_NO_SYMLINKS), checks the handle, and
// the launcher mounts that very object (open_tree + mount --move): each start sees the granted folder, or fails to
// start (the link was in place at the open) — never anything else. Root hosts (the leased-uid launcher); on others
// the bind is still resolved by name (README).
import fs from 'node:fs';
import { PluginError } from '@plugward/types';
import { afterAll, describe, expect } from 'vitest';
import { startSwapper, swapScene } from '../../sandbox-common/test/bind-swap.js';
import { collectRun } from '../../sandbox-common/test/sandbox-run.js';
import { defaultSandboxConfig, LinuxSandbox } from '../dist/index.js';
import { cleanupDirs, itWithC } from './helpers.js';

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
              // dash's builtins only (no fork under strict seccomp): the names in the bound folder.
              const proc = await sandbox.spawn({
                command: '/bin/sh',
                args: ['-c', 'echo /data/*'],
                readOnlyPaths: [],
                config,
                label: 'bindfd',
              });
              cgroups.push(...Object.values(proc.cgroupPaths));
              const run = await collectRun(proc);
              seen.push(run.stdout.trim() || `(nothing: ${run.stderr.trim()})`);
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
