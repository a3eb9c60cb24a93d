// audit s9 #5 (root + util-linux `unshare`): the trust list's lock
// (`file-lock.ts` `withFileLock`) judges its holder by the pid written in the lock file, with `kill(pid, 0)` in the
// *reader's* pid namespace — the shape of s8 #3 (host tags), fixed there but not here. A process in another pid
// namespace (a host in a container sharing the list's directory with the host's `plugward trust` CLI, or two
// containers) sees the holder's pid as absent, breaks a live lock and writes at the same time: updates reported as
// saved are lost (an entry added — or a `trust rm` revocation — undone by the other writer's rename) and some updates
// fail with a spurious `TrustListRollback`. Two writers, one inside `unshare --pid --fork --mount-proc`, each add
// their own entries one update at a time; every update that succeeded must be in the final list, and none may fail.
// Fails on main 30c2186 (seen: 138 + 149 reported saved, 130 + 144 in the list, 13 TrustListRollback); passes with
// both writers in one namespace (300/300).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { loadTrustList, toHex, updateTrustList } from '../src/index.js';
import { tempDir } from './helpers.js';

const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;
const root = tempDir('lock-pidns');
const UNSHARE = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p));
const isRoot = process.getuid?.() === 0;

// Each writer waits up to 60 s for the lock (not the default 10 s): a loaded CI machine makes a waiter slow, and a
// waiter's patience is not what this test is about.
const WRITER = `
const s = await import(process.env.PW_DIST);
const [list, key, prefix, n, floorDir] = process.argv.slice(1);
let ok = 0; const err = {};
for (let i = 0; i < Number(n); i++) {
  const hash = (prefix + i.toString(16).padStart(8, '0')).padEnd(128, '0');
  try {
    await s.updateTrustList(list, key, (entries) => [...entries, { hash, version: '1.0.0' }], { floorDir, lockTimeoutMs: 60_000 });
    ok++;
  } catch (e) { err[e.code] = (err[e.code] ?? 0) + 1; }
}
console.log(JSON.stringify({ prefix, ok, err }));
`;

function writer(args: string[], inNewPidNs: boolean): Promise<{ prefix: string; ok: number; err: object }> {
  const node = [process.execPath, '--input-type=module', '-e', WRITER, ...args];
  const cmd = inNewPidNs ? [UNSHARE as string, '--pid', '--fork', '--mount-proc', ...node] : node;
  return new Promise((resolve, reject) => {
    const c = spawn(cmd[0] as string, cmd.slice(1), {
      env: { ...process.env, PW_DIST: dist },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? ''));
      } catch (e) {
        reject(new Error(`writer said ${JSON.stringify(out)}: ${String(e)}`));
      }
    });
  });
}

if (!isRoot || !UNSHARE)
  console.warn('!!! SKIPPED: needs root and util-linux unshare to start a writer in a new pid namespace');

(isRoot && UNSHARE ? it : it.skip)(
  'two writers in different pid namespaces: the lock holds, no saved update is lost, none is refused',
  async () => {
    expect(existsSync(new URL(dist)), 'run pnpm build first').toBe(true);
    const list = join(root, 'shared.enc');
    const floorDir = join(root, 'floors');
    mkdirSync(floorDir, { mode: 0o700 });
    const key = toHex(randomBytes(32));
    await updateTrustList(list, key, (e) => e, { floorDir });
    const N = 150;
    const [a, b] = await Promise.all([
      writer([list, key, 'a', String(N), floorDir], false),
      writer([list, key, 'b', String(N), floorDir], true),
    ]);
    const final = await loadTrustList(list, key, { floorDir });
    const count = (p: string) => final.entries.filter((e) => e.hash.startsWith(p)).length;
    expect({ a, b, inList: { a: count('a'), b: count('b') } }).toEqual({
      a: { prefix: 'a', ok: N, err: {} },
      b: { prefix: 'b', ok: N, err: {} },
      inList: { a: N, b: N },
    });
  },
  300_000,
);
