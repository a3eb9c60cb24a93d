// Probe of what binding by fd costs a sandbox start (root hosts, bubblewrap): starts of `/bin/sh -c :` with 0 and with
// BINDS read-only binds, interleaved in one run (rotating order). Per start: CPU of the host process (its own
// getrusage) and of everything it waited for (the launcher chain, mount(8), bwrap and the command: /proc/self/stat
// cutime + cstime, 10 ms ticks — hence many starts), median per round. The difference per bind is the cost of opening,
// checking and cloning the source in the host plus one mount(8) run in the launcher (and bwrap's own bind, which the
// old by-name path paid too); the host column alone is the open, check and clone.
// Run (root): node bench/bind-fd-probe.mjs   Env: PROBE_ROUNDS (5), PROBE_STARTS (20), PROBE_BINDS (4).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSandboxConfig, LinuxSandbox } from '@plugward/sandbox-linux';

if (process.getuid?.() !== 0) {
  console.log('bind-fd-probe: needs a root host (binds by fd are a root launcher feature); not run');
  process.exit(0);
}
const rounds = Number(process.env.PROBE_ROUNDS ?? 5);
const starts = Number(process.env.PROBE_STARTS ?? 20);
const binds = Number(process.env.PROBE_BINDS ?? 4);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bindfd-probe-'));
fs.chmodSync(dir, 0o755);
const sources = Array.from({ length: binds }, (_, i) => {
  const p = path.join(dir, `d${i}`);
  fs.mkdirSync(p, { mode: 0o755 });
  return p;
});
const tick = 1000 / 100; // ms per clock tick (USER_HZ = 100 on Linux)
const childrenMs = () => {
  const f = fs
    .readFileSync('/proc/self/stat', 'utf8')
    .slice(fs.readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  return (Number(f[13]) + Number(f[14])) * tick;
};
const selfMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sandbox = new LinuxSandbox({ stdio: 'ignore' });
const configFor = (n) => {
  const base = defaultSandboxConfig();
  return {
    ...base,
    filesystem: {
      ...base.filesystem,
      binds: sources.slice(0, n).map((s, i) => ({ source: s, target: `/b${i}`, mode: 'ro' })),
    },
  };
};
async function batch(n) {
  const c0 = childrenMs();
  const s0 = selfMs();
  for (let i = 0; i < starts; i++) {
    const p = await sandbox.spawn({
      command: '/bin/sh',
      args: ['-c', ':'],
      readOnlyPaths: [],
      config: configFor(n),
      label: 'bindfd-probe',
    });
    await p.exit;
  }
  return { host: (selfMs() - s0) / starts, children: (childrenMs() - c0) / starts };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await batch(0);
await batch(binds);
const rows = { 0: [], [binds]: [] };
for (let r = 0; r < rounds; r++) {
  for (const n of r % 2 === 0 ? [0, binds] : [binds, 0]) rows[n].push(await batch(n));
}
const total = (b) => b.host + b.children;
const m0 = median(rows[0].map(total));
const mb = median(rows[binds].map(total));
console.log(
  `start, 0 binds:  host ${median(rows[0].map((b) => b.host)).toFixed(2)} ms + children ${median(rows[0].map((b) => b.children)).toFixed(2)} ms CPU`,
);
console.log(
  `start, ${binds} binds: host ${median(rows[binds].map((b) => b.host)).toFixed(2)} ms + children ${median(rows[binds].map((b) => b.children)).toFixed(2)} ms CPU`,
);
console.log(
  `per bind: ${((mb - m0) / binds).toFixed(2)} ms CPU (median of ${rounds} rounds × ${starts} starts)`,
);
fs.rmSync(dir, { recursive: true, force: true });
