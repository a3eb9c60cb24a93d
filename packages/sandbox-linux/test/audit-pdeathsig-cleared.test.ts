// audit s8 #1: a sandboxed process disarms its own parent-death signal
// (prctl(PR_SET_PDEATHSIG, 0) — prctl is on the strict allow-list, and koffi, which the strict preload loads, is in
// the sandbox and in require.cache) and ignores its fd 3 closing. Its host is then killed (SIGKILL, below a subreaper,
// after spawn() resolved): bwrap dies with the host, but the command — pid 1 of its pid namespace — runs on, reparented,
// as its leased uid, in its cgroup, until some later host's sweep (if one ever starts) kills it. The goal: nothing of
// the killed host runs on. Failed on main ce63694; fixed in cb3933a (the process is still there 5 s after the kill).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { killHostUnderSubreaper, leftAfterHostDeath } from '../../sandbox-common/test/host-death.js';
import { cleanupDirs, expectHostHealthy, firstMessage, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const range = { first: 1_971_000_000, count: 100_000 };

it.skipIf(!isRoot)(
  'a sandboxed process that clears its parent-death signal does not outlive its SIGKILLed host',
  async () => {
    const dir = tempDir('pw-a5-pdeath-');
    const dist = new URL('../dist/index.js', import.meta.url).href;
    // The sandboxed command (strict seccomp, the strict preload): koffi is already loaded by the preload.
    // koffi as the preload left it: its prebuilt binary (requireKoffi), or koffi's loader where that is what ran.
    const inner = `const k = Object.keys(require.cache).find((p) => p.endsWith('/koffi.node') || p.endsWith('/koffi/index.cjs'));
const prctl = require(k).load('libc.so.6').func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
const r = prctl(1, 0, 0, 0, 0);
process.exit = () => {}; process.reallyExit = () => {};
require('fs').writeSync(1, 'cleared ' + r + '\\n');
setInterval(() => {}, 1000);`;
    const host = path.join(dir, 'host.mjs');
    fs.writeFileSync(
      host,
      `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(dist)};
const s = new LinuxSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, lockdown: true, stdio: 'pipe' });
const p = await s.spawn({ command: process.execPath, args: ['-e', ${JSON.stringify(inner)}], readOnlyPaths: [],
  config: defaultSandboxConfig(), label: 'a5-pdeath' });
let out = '';
p.stdout.on('data', (d) => { out += d; if (out.includes('cleared')) process.stdout.write(out.trim() + '\\n'); });
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
    );
    const killed = await killHostUnderSubreaper(host, -1, 'never', 'cleared');
    expect(await leftAfterHostDeath(killed, range)).toEqual({ orphans: [], left: [] });
    const r = await runScript('await done({ ok: true });');
    expect(firstMessage(r)).toEqual({ ok: true });
    expectHostHealthy(r);
  },
  60_000,
);
