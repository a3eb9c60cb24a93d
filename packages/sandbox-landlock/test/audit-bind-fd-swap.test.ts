// The bind-swap shape (audit s9 #3, s9b #5) at the Landlock backend itself, without the registry's ancestor checks: a
// writer of the folder that holds a granted path (a host process, or a bubblewrap sandbox with the same grant)
// exchanges it with a symbolic link to a host-only folder or to the host's /proc, without pause. The launcher used to
// open each rule's path again by name (following the link) long after the host's check: on main about half of the
// starts put the grant's rule on the link's target, and the plugin then read it through the link. Now the host opens
// every rule's object once (openat2 RESOLVE_NO_SYMLINKS) and the launcher adds the rule on that handle: the rule is on
// the granted folder whatever the name shows later (through the link the plugin is refused), or the start fails (the
// link was in place at the open).
import fs from 'node:fs';
import { PluginError } from '@plugward/types';
import { afterAll, describe, expect } from 'vitest';
import { startSwapper, swapScene } from '../../sandbox-common/test/bind-swap.js';
import { detectLandlockAbi } from '../dist/index.js';
import { cleanupDirs, itWithC, runScript } from './helpers.js';

afterAll(cleanupDirs);

const { abi, reason } = detectLandlockAbi();
const usable = abi >= 6 || (abi > 0 && process.getuid?.() === 0);
if (!usable)
  console.warn(`\n*** sandbox-landlock audit-bind-fd-swap: SKIPPED, Landlock unusable here: ${reason} ***\n`);

/** Starts per scene; more (up to {@link MAX_STARTS}) until one got past the open, so the test is never vacuous. */
const STARTS = 16;
const MAX_STARTS = 64;

// Reads the granted path by name many times while its name comes and goes: every name seen, and how often.
const READER = `
const dir = process.argv[2];
const names = new Set();
let read = 0;
let refused = 0;
for (let i = 0; i < 2000; i++) {
  try { for (const n of fs.readdirSync(dir)) names.add(n); read++; } catch { refused++; }
}
// The launcher's rule handles must be closed before the exec: no fd of the runtime names the granted folder.
// (The granted folder is named x or y, as the exchange left it: anything in the shared folder.)
const shared = dir.slice(0, dir.lastIndexOf('/') + 1);
const held = fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd).startsWith(shared); } catch { return false; } });
await done({ names: [...names].sort(), read, refused, held });
`;

describe.skipIf(!usable)('a granted path swapped for a symbolic link after the host opened it', () => {
  for (const target of ['a host-only folder', "the host's /proc"] as const) {
    itWithC(
      `the rule stays on the granted folder or the start fails, never ${target}`,
      async () => {
        const scene = swapScene('pw-llfd-', target === "the host's /proc" ? '/proc' : undefined);
        const swapper = startSwapper(scene);
        const seen: string[][] = [];
        const refused: string[] = [];
        let reads = 0;
        const cgroups: string[] = [];
        try {
          for (let i = 0; i < STARTS || (reads === 0 && i < MAX_STARTS); i++) {
            try {
              const r = await runScript(READER, {
                args: [scene.granted],
                config: {
                  filesystem: {
                    binds: [{ source: scene.granted, mode: 'ro' }],
                    tmpfsBytes: 2 << 20,
                    maskPaths: [],
                  },
                },
              });
              const names = r.report.names as string[] | undefined;
              if (names === undefined)
                throw new Error(`no report (exit ${JSON.stringify(r.exit)}): ${r.stderr}`);
              cgroups.push(...Object.values(r.proc.cgroupPaths));
              seen.push(names);
              expect(r.report.held).toEqual([]);
              reads += Number(r.report.read);
            } catch (e) {
              if (!(e instanceof PluginError)) throw e;
              refused.push(`${e.code}: ${e.message}`);
            }
          }
        } finally {
          expect(await swapper.stop()).toBeGreaterThan(0);
        }
        // The goal failed: through the link the plugin reads nothing; the granted folder's own name only.
        expect(seen.filter((names) => names.some((n) => n !== 'GRANTED.txt'))).toEqual([]);
        // Not vacuous: the plugin did read the granted folder while the link came and went.
        expect(reads).toBeGreaterThan(0);
        for (const r of refused) expect(r).toMatch(/^InvalidArgument: .*symbolic link/);
        // Nothing of a plugin is left, and a sandbox still starts and answers.
        for (const dir of cgroups) expect(fs.existsSync(dir)).toBe(false);
        const after = await runScript(`await done({ ok: true });`);
        expect(after.report).toEqual({ ok: true });
      },
      240_000,
    );
  }
});
