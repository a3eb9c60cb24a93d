// audit s8 #3: two hosts on one machine in different pid namespaces (a host
// in a container — often its pid 1 — beside one outside, or in another container), sharing the cgroup tree and the
// uid lock directory. A host tag is `<pid>-<start time>` as seen in the tagging host's own pid namespace, and
// `hostGone` / `idsInUse` look at the reader's /proc: each host takes the other for dead.
// (a) A host's first cgroup sweep (cleanupStaleCgroups) kills the live sandboxes of a host in another pid namespace
//     (its cgroups are named `<label>-1-<start>`: pid 1 here has another start time, so "gone").
// (b) A host in another pid namespace takes over the uid lease of a live host (its pid does not exist there, and its
//     sandbox's processes are not in that /proc): two sandboxes run as one uid.
// Fails on main (cb3933a) on both.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, expectHostHealthy, firstMessage, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const rootOnly = isRoot && fs.existsSync('/usr/bin/unshare') ? it : it.skip;
afterAll(cleanupDirs);

const first = 1_976_000_000;

interface Host {
  child: ChildProcess;
  line: { host: number; uid?: number; error?: string; label: string };
  exited: Promise<string>;
  /** What the host printed so far. */
  text(): string;
}

/**
 * Starts a host (optionally in a new pid namespace) that spawns one idle sandbox and prints
 * `{ host, uid }` (or `{ error }`); it keeps the sandbox until its stdin ends.
 */
async function startHost(dir: string, label: string, count: number, ownPidNs: boolean): Promise<Host> {
  const dist = new URL('../dist/index.js', import.meta.url).href;
  const script = path.join(dir, `${label}.mjs`);
  fs.writeFileSync(
    script,
    `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(dist)};
const label = ${JSON.stringify(label)};
const s = new LinuxSandbox({ uidRange: { first: ${first}, count: ${count} }, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, lockdown: true, stdio: 'pipe' });
let p;
try {
  p = await s.spawn({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], readOnlyPaths: [],
    config: defaultSandboxConfig(), label });
  process.stdout.write(JSON.stringify({ label, host: process.pid, uid: p.uid }) + '\\n');
  p.exit.then((e) => process.stdout.write('exited ' + JSON.stringify(e) + '\\n'));
} catch (e) {
  process.stdout.write(JSON.stringify({ label, host: process.pid, error: e.code ?? String(e) }) + '\\n');
}
process.stdin.on('end', async () => { p?.kill('SIGKILL'); await p?.exit; process.exit(0); });
process.stdin.resume();`,
  );
  const [file, args] = ownPidNs
    ? ['/usr/bin/unshare', ['--pid', '--fork', '--mount-proc', process.execPath, script]]
    : [process.execPath, [script]];
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  const exited = new Promise<string>((resolve) => child.once('exit', () => resolve(text)));
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  for (let i = 0; i < 600 && !text.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
  return { child, line: JSON.parse(text.split('\n')[0] as string) as Host['line'], exited, text: () => text };
}

async function stop(h: Host): Promise<string> {
  h.child.stdin?.end();
  return h.exited;
}

describe('audit: hosts in different pid namespaces on one machine', () => {
  rootOnly(
    "a host's cgroup sweep does not kill the running sandbox of a live host in another pid namespace",
    async () => {
      const dir = tempDir('pw-a5-pidns-a-');
      fs.chmodSync(dir, 0o755);
      const inner = await startHost(dir, 'a5-nsin', 1000, true);
      expect(inner.line.error).toBeUndefined();
      // A second host, in this pid namespace: its first sandbox runs its cgroup sweep.
      const outer = await startHost(dir, 'a5-nsout', 1000, false);
      expect(outer.line.error).toBeUndefined();
      await new Promise((r) => setTimeout(r, 1000));
      // Before either host stops its own sandbox: the inner host's sandbox still runs (no `exited` line).
      const innerSoFar = inner.text();
      await stop(outer);
      await stop(inner);
      expect(innerSoFar.split('\n').filter((l) => l.startsWith('exited'))).toEqual([]);
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    90_000,
  );

  rootOnly(
    'a host in another pid namespace does not take over the uid lease of a live host (no two sandboxes on one uid)',
    async () => {
      const dir = tempDir('pw-a5-pidns-b-');
      fs.chmodSync(dir, 0o755);
      const outer = await startHost(dir, 'a5-uidout', 1, false);
      expect(outer.line.uid).toBe(first);
      const inner = await startHost(dir, 'a5-uidin', 1, true);
      try {
        // The only uid of the range is held by a live host whose sandbox runs as it.
        expect(inner.line).toMatchObject({ error: 'SandboxUnavailable' });
      } finally {
        await stop(inner);
        await stop(outer);
      }
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    90_000,
  );
});
