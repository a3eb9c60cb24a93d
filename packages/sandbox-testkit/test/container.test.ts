import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

// The host as in a default Docker container: its own mount namespace with a noexec tmpfs on /dev/shm (what Docker
// mounts), and a seccomp filter like Docker's default profile (namespace creation, setns and mount denied; clone3
// ENOSYS), installed by a small launcher before it execs node. There bwrap must report that it can't run (with bwrap's
// own error), Landlock must be chosen, the kit must pass, and the demo must run its untrusted plugin under Landlock.
const here = path.dirname(fileURLToPath(import.meta.url));
const req = createRequire(import.meta.url);
const koffiEntry = req.resolve('koffi');
const dist = (pkg: string): string => path.join(here, '..', '..', pkg, 'dist', 'index.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-container-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const CLONE_NEW = [
  0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080,
];

/** Installs the Docker-like filter on its main thread (seccomp_load without TSYNC), then execs node with argv. */
const LAUNCHER = `
const koffi = require(${JSON.stringify(koffiEntry)});
const lib = koffi.load('libseccomp.so.2');
const Cmp = koffi.struct('cmp', { arg: 'uint32', op: 'int', a: 'uint64', b: 'uint64' });
const init = lib.func('void *seccomp_init(uint32_t)');
const resolve = lib.func('int seccomp_syscall_resolve_name(const char *)');
const add = lib.func('seccomp_rule_add_array', 'int', ['void *', 'uint32_t', 'int', 'unsigned int', koffi.pointer(Cmp)]);
const load = lib.func('int seccomp_load(void *)');
const ALLOW = 0x7fff0000, EPERM = 0x50001, ENOSYS = 0x50026, MASKED_EQ = 7;
const ctx = init(ALLOW);
for (const s of ['unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'open_tree', 'move_mount', 'fsopen']) add(ctx, EPERM, resolve(s), 0, null);
for (const f of ${JSON.stringify(CLONE_NEW)}) add(ctx, EPERM, resolve('clone'), 1, [{ arg: 0, op: MASKED_EQ, a: BigInt(f), b: BigInt(f) }]);
add(ctx, ENOSYS, resolve('clone3'), 0, null);
if (load(ctx) !== 0) { process.stderr.write('seccomp_load failed\\n'); process.exit(3); }
const libc = koffi.load('libc.so.6');
const execv = libc.func('int execv(const char *path, const char **argv)');
// Node marked stdio close-on-exec at start-up: keep it for the host it execs.
const fcntl = libc.func('int fcntl(int, int, ...)');
for (const fd of [0, 1, 2]) fcntl(fd, 2, 'int', 0);
const argv = [process.execPath, ...process.argv.slice(2), null];
execv(process.execPath, argv);
process.exit(4);
`;

const HOST = `
import { chooseSandboxBackend } from ${JSON.stringify(dist('registry'))};
import { runAttackKit, formatResult } from ${JSON.stringify(dist('sandbox-testkit'))};
const filter = fs.readFileSync('/proc/self/status', 'utf8').match(/^Seccomp:\\s+(\\d)/m)?.[1];
const choice = await chooseSandboxBackend();
const results = await runAttackKit({ backend: choice.backend, only: ['identity', 'procfs', 'grants', 'exec', 'namespaces', 'host-fds.stdout-reopen'] });
process.stdout.write(JSON.stringify({ filter, id: choice.id, reason: choice.reason, results: results.map((r) => ({ id: r.id, outcome: r.outcome, line: formatResult(r) })) }));
`;

/** Runs `node <args>` as in a default container (see above). */
function inContainer(args: string[], cwd?: string) {
  const launcher = path.join(dir, 'launcher.cjs');
  fs.writeFileSync(launcher, LAUNCHER);
  const shm = 'mount -t tmpfs -o noexec,nosuid,nodev,size=64m,mode=1777 shm /dev/shm && exec "$0" "$@"';
  const argv = ['--mount', '--propagation', 'private', 'sh', '-c', shm, process.execPath, launcher, ...args];
  return spawnSync('unshare', argv, { encoding: 'utf8', timeout: 300_000, maxBuffer: 16 << 20, cwd });
}

it('as in a default container: bwrap reports it cannot create namespaces, Landlock is chosen, the kit passes', () => {
  const host = path.join(dir, 'host.mjs');
  fs.writeFileSync(host, `import fs from 'node:fs';\n${HOST}`);
  const r = inContainer([host]);
  expect(r.stderr).not.toMatch(/seccomp_load failed/);
  if (r.status !== 0)
    console.log(`container-like host exited ${r.status} ${r.signal ?? ''}:\n${r.stderr.slice(-3000)}`);
  const out = JSON.parse(r.stdout) as {
    filter: string;
    id: string;
    reason: string;
    results: { id: string; outcome: string; line: string }[];
  };
  console.log(`container-like host (Seccomp: ${out.filter}): chose ${out.id} — ${out.reason}`);
  for (const res of out.results) console.log(res.line);
  expect(out.filter).toBe('2'); // the host itself runs filtered
  expect(out.id).toBe('landlock');
  expect(out.reason).toMatch(
    /bwrap unavailable: bwrap can't create namespaces here: .*(No permissions to create new namespace|Operation not permitted)/,
  );
  expect(out.results.length).toBeGreaterThan(10);
  for (const res of out.results) expect([res.id, res.outcome]).toEqual([res.id, 'contained']);
}, 300_000);

it('as in a default container: a fresh demo runs the untrusted plugin in the Landlock sandbox and says so', () => {
  const demo = path.join(here, '..', '..', '..', 'examples', 'host-demo', 'src', 'main.mjs');
  const r = inContainer([demo], path.dirname(demo));
  const out = r.stdout + r.stderr;
  console.log(
    out
      .split('\n')
      .filter((l) => /sandbox|memory-hog/.test(l))
      .join('\n'),
  );
  expect(out).toMatch(/sandbox: landlock — .*bwrap unavailable/);
  expect(out).toMatch(/memory-hog@[\d.]+ loaded untrusted at tier sandbox \(landlock/);
  expect(out).toMatch(/memory-hog is now Failed/);
  expect(r.status).toBe(0);
}, 300_000);
