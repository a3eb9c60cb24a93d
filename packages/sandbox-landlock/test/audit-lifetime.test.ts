// audit s8: Landlock sandbox lifetimes attacked from inside, without fork or exec (both denied here): a program that
// tries to disarm the parent-death signal its launcher armed (prctl(PR_SET_PDEATHSIG) to 0, to a harmless signal, with
// high bits in the option), and one whose main thread ends alone while a second thread runs on (its leader shows as a
// zombie). Its host is then SIGKILLed below a subreaper. Each test asserts the goal failed (nothing runs on as a uid of
// this file's range), and the host's side still serves (a fresh sandbox answers).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupStaleCgroups, detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect } from 'vitest';
import { cgroupsLeft, killedAfterSaid, survivorBinary } from '../../sandbox-common/test/audit-host-death.js';
import { cleanupDirs, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const rootWithC = isRoot ? itWithC : itWithC.skip;
if (!isRoot)
  console.warn('\n*** landlock audit-lifetime: not root; the host-death tests need a root host ***\n');
afterAll(cleanupDirs);

const range = { first: 1_974_200_000, count: 100_000 };
const { EPERM } = os.constants.errno;

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
let out = '';
p.stdout.on('data', (d) => {
  out += d;
  if (!out.includes('\\n')) return;
  const line = JSON.stringify({ host: process.pid, uid: p.uid, said: out.trim() });
  fs.writeFileSync(${JSON.stringify(path.join(dir, 'said.json'))}, line);
  process.stdout.write(line + '\\n');
});
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
  );
  return script;
}

describe('audit: a Landlock-sandboxed program does not outlive its SIGKILLed host', () => {
  rootWithC(
    'prctl(PR_SET_PDEATHSIG) is refused (0, SIGCONT, high bits in the option) and the program dies with its host',
    async () => {
      const dir = tempDir('pw-a5-llpd-');
      const { said, left, hostPid } = await killedAfterSaid(
        dir,
        hostScript(dir, survivorBinary(dir), ['prctl']),
        range,
      );
      expect(said).toBe(`prctl zero=-1/${EPERM} cont=-1/${EPERM} high=-1/${EPERM} now=9`);
      expect(left).toEqual([]);
      // What a later host's sweep does (this process swept once, at its first sandbox).
      cleanupStaleCgroups();
      expect(cgroupsLeft(Object.values(detectCgroupLayout()?.mounts ?? {}), 'a5-ll-life', [hostPid])).toEqual(
        [],
      );
      const r = await runScript('await done({ ok: true });');
      expect(r.report).toEqual({ ok: true });
    },
    90_000,
  );

  rootWithC(
    'a program whose main thread ended alone (a zombie leader, a live second thread) dies with its host',
    async () => {
      const dir = tempDir('pw-a5-llzl-');
      const { said, left, hostPid } = await killedAfterSaid(
        dir,
        hostScript(dir, survivorBinary(dir), ['zombie-leader']),
        range,
      );
      expect(said).toBe('leader exiting');
      expect(left).toEqual([]);
      // What a later host's sweep does (this process swept once, at its first sandbox).
      cleanupStaleCgroups();
      expect(cgroupsLeft(Object.values(detectCgroupLayout()?.mounts ?? {}), 'a5-ll-life', [hostPid])).toEqual(
        [],
      );
      const r = await runScript('await done({ ok: true });');
      expect(r.report).toEqual({ ok: true });
    },
    90_000,
  );
});
