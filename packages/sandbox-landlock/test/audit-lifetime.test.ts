// audit s8: Landlock sandbox lifetimes attacked from inside, without fork or exec (both denied here): a program that
// tries to disarm the parent-death signal its launcher armed (prctl(PR_SET_PDEATHSIG) to 0, to a harmless signal, with
// high bits in the option), and one whose main thread ends alone while a second thread runs on (its leader shows as a
// zombie). Its host is then SIGKILLed below a subreaper. Each test asserts the goal failed (nothing runs on as a uid of
// this file's range), and the host's side still serves (a fresh sandbox answers).
import fs from 'node:fs';
import path from 'node:path';
import { cleanupStaleCgroups, detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect } from 'vitest';
import {
  cgroupsLeft,
  expectNothingOutlivesKilledHost,
  SURVIVOR_CASES,
  sayFirstLine,
  survivorBinary,
} from '../../sandbox-common/test/audit-host-death.js';
import { cleanupDirs, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const rootWithC = isRoot ? itWithC : itWithC.skip;
if (!isRoot)
  console.warn('\n*** landlock audit-lifetime: not root; the host-death tests need a root host ***\n');
afterAll(cleanupDirs);

const range = { first: 1_974_200_000, count: 100_000 };

/** A host script: one Landlock sandbox running `bin args`; writes and prints `{ said }` once the program wrote a line. */
function hostScript(dir: string, bin: string, args: string[]): string {
  const script = path.join(dir, `host-${args.join('-')}.mjs`);
  const dist = new URL('../dist/index.js', import.meta.url).href;
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
import { LandlockSandbox, defaultLandlockConfig } from ${JSON.stringify(dist)};
const s = new LandlockSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, stdio: 'pipe' });
const p = await s.spawn({ command: ${JSON.stringify(bin)}, args: ${JSON.stringify(args)}, readOnlyPaths: [${JSON.stringify(path.dirname(bin))}],
  config: defaultLandlockConfig(), label: 'a5-ll-life' });
${sayFirstLine(dir)}`,
  );
  return script;
}

describe('audit: a Landlock-sandboxed program does not outlive its SIGKILLed host', () => {
  for (const c of SURVIVOR_CASES) {
    rootWithC(
      c.what,
      async () => {
        const dir = tempDir('pw-a5-ll-');
        await expectNothingOutlivesKilledHost(dir, hostScript(dir, survivorBinary(dir), c.args), range, {
          said: c.said,
          sweep: cleanupStaleCgroups,
          cgroupsOf: (h) => cgroupsLeft(Object.values(detectCgroupLayout()?.mounts ?? {}), 'a5-ll-life', [h]),
        });
        const r = await runScript('await done({ ok: true });');
        expect(r.report).toEqual({ ok: true });
      },
      90_000,
    );
  }
});
