import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AttackDefinition } from '../attack.js';
import { hostUnixSocket } from '../host-services.js';
import type { Scene } from '../scene.js';
import { noReport, pairs, refusedAtLoad, succeeded } from './verdict.js';

/** State of a host pid: 'gone', 'stopped' (T/t), or 'running'. */
function hostPidState(pid: number | undefined): string {
  if (pid === undefined) return 'unknown';
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X' ? 'gone' : state === 'T' || state === 't' ? 'stopped' : 'running';
  } catch {
    return 'gone';
  }
}

const CONNECT = `const connectTo = (opts) => new Promise((res) => {
  const s = net.connect(opts); let d = '';
  s.setTimeout(2000, () => { s.destroy(); res('ERR:timeout'); });
  s.on('connect', () => s.write('hello from the sandbox\\n'));
  s.on('data', (c) => { d += c; });
  s.on('end', () => res('connected, got ' + d.length + ' bytes'));
  s.on('error', (e) => res('ERR:' + errc(e)));
});`;

/**
 * A host service on a pathname unix socket anyone on the machine may connect to (mode 0777 in a 0755 folder, as X11,
 * D-Bus or a developer's tool leave theirs), counting connections; removed with the scene.
 */
async function hostPathSocket(scene: Scene): Promise<{ file: string; hits: number }> {
  const dir = fs.mkdtempSync(path.join('/run', `pwkit-${scene.nonce}-`));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'service.sock');
  // Removed after the server closed (onClose runs in reverse order).
  scene.onClose(() => fs.rmSync(dir, { recursive: true, force: true }));
  const svc = Object.assign(await hostUnixSocket(scene, file), { file });
  fs.chmodSync(file, 0o777);
  return svc;
}

/** This process's `Max core file size` soft and hard limits as C `rlim_t` literals (`RLIM_INFINITY` for unlimited). */
function hostCoreLimit(): [string, string] {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max core file size'));
  const [soft = 'unlimited', hard = 'unlimited'] = (line ?? '').slice(26).trim().split(/\s+/);
  const c = (v: string): string => (/^\d+$/.test(v) ? `${v}UL` : 'RLIM_INFINITY');
  return [c(soft), c(hard)];
}

/**
 * The plugin's parent (the host itself where the backend has no pid namespace), as its own limits, nice value, CPU
 * affinity and policy are *now*: each call writes back exactly what the host has, so a backend that lets it through
 * changes nothing of the host running the kit (the verdict is the call's answer: it could have written anything).
 */
function parentLimitsAttack(): string {
  const [soft, hard] = hostCoreLimit();
  return `pid_t parent = getppid();
  report("parent", "%d", (int)parent);
  struct rlimit core = { ${soft}, ${hard} };
  long rc = syscall(SYS_prlimit64, parent, RLIMIT_CORE, &core, NULL);
  if (rc == 0) report("prlimit", "set the parent's RLIMIT_CORE"); else report("prlimit", "ERR:errno %d", errno);
  rc = syscall(SYS_setpriority, PRIO_PROCESS, parent, ${os.getPriority()});
  if (rc == 0) report("setpriority", "set the parent's nice value"); else report("setpriority", "ERR:errno %d", errno);
  cpu_set_t mask;
  CPU_ZERO(&mask);
  rc = syscall(SYS_sched_getaffinity, parent, sizeof mask, &mask);
  if (rc < 0) rc = syscall(SYS_sched_getaffinity, 0, sizeof mask, &mask);
  if (rc < 0) report("affinity", "ERR:no mask to write (errno %d)", errno);
  else if (syscall(SYS_sched_setaffinity, parent, sizeof mask, &mask) == 0) report("affinity", "set the parent's CPU affinity");
  else report("affinity", "ERR:errno %d", errno);
  struct sched_param sp = { 0 };
  if (syscall(SYS_sched_getscheduler, parent) != SCHED_OTHER) report("scheduler", "ERR:the parent is not SCHED_OTHER (or unreadable): not written");
  else if (syscall(SYS_sched_setscheduler, parent, SCHED_OTHER, &sp) == 0) report("scheduler", "set the parent's scheduling policy");
  else report("scheduler", "ERR:errno %d", errno);`;
}

/** Attacks between a sandboxed plugin and what sits beside it on the machine: other sandboxes, host sockets. */
export const neighbourAttacks: readonly AttackDefinition[] = [
  {
    id: 'neighbours.parent-limits',
    class: 'identity',
    native: true,
    title: "a sandboxed plugin can't change its parent's resource limits, priority or scheduling",
    tries:
      'a .so calls prlimit64(getppid(), RLIMIT_CORE, …), setpriority(PRIO_PROCESS, getppid(), …), sched_setaffinity and sched_setscheduler on its parent — the host itself where there is no pid namespace, and one uid with it on a host that is not root (RLIMIT_CPU 1 s there has the kernel kill the host)',
    async run(scene) {
      await scene.start();
      const niceBefore = os.getPriority();
      const { load, reports } = await scene.attack(
        await scene.nativePlugin({
          name: scene.pluginName('parentlimits'),
          prelude: '#include <sys/resource.h>',
          attack: parentLimitsAttack(),
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its calls', reports);
      const keys = ['prlimit', 'setpriority', 'affinity', 'scheduler'];
      const reached = keys.filter((k) => succeeded(reports[k]));
      const niceAfter = os.getPriority();
      return {
        escaped: reached.length > 0 || niceAfter !== niceBefore,
        evidence: `parent pid ${reports.parent ?? '∅'} (host ${process.pid}): ${pairs(reports, keys)}; the host's nice ${niceBefore} → ${niceAfter}`,
      };
    },
  },
  {
    id: 'neighbours.sandbox-to-sandbox',
    class: 'identity',
    title:
      'a sandboxed plugin reaches no other sandbox: not its sockets or files, not its processes, not the next sandbox',
    tries:
      'a victim sandbox listens on an abstract socket and keeps a secret in its /tmp; a second plugin connects, lists /tmp and /dev/shm, probes every pid it sees with kill(pid, 0) and sends SIGSTOP to all it may signal (kill(-1)), leaves markers in /tmp, /dev/shm and its environment and is unloaded; a third plugin loaded after it looks for the markers',
    async run(scene) {
      const registry = await scene.start();
      const victim = scene.pluginName('nbvictim');
      const secret = `secret-${scene.nonce}`;
      const v = await scene.attack(
        await scene.jsPlugin({
          name: victim,
          init: `const srv = net.createServer((s) => s.end(${JSON.stringify(secret)}));
await new Promise((r) => { srv.once('error', (e) => { report('listen', errc(e)); r(); }); srv.listen('\\0pwkit-nb-${scene.nonce}', r); });
const os = await import('node:os');
report('tmp', attempt(() => fs.writeFileSync(os.tmpdir() + '/${secret}', 'x')));
report('tmpdir', os.tmpdir());
report('pid', process.pid);`,
        }),
      );
      if (!v.load.loaded) return refusedAtLoad(v.load);
      if (v.reports.done === undefined) return noReport('its setup', v.reports);
      const victimPid = registry.getAllPlugins().find((p) => p.name === victim)?.pid;
      // The attacker is even told where the victim keeps its secret (a stronger attacker than one who must guess).
      const secretPath = `${v.reports.tmpdir ?? '/tmp'}/${secret}`;
      const places = `['/tmp', '/dev/shm', (await import('node:os')).tmpdir()]`;
      const attacker = scene.pluginName('nbattack');
      const a = await scene.attack(
        await scene.jsPlugin({
          name: attacker,
          prelude: CONNECT,
          init: `report('abstract', await connectTo({ path: '\\0pwkit-nb-${scene.nonce}' }));
report('secret', fs.existsSync(${JSON.stringify(secretPath)}) ? attempt(() => fs.readFileSync(${JSON.stringify(secretPath)}, 'utf8')) : 'none');
// Every pid it can name: /proc where it may list it, else pids 2..65535 probed one by one (existence shows as EPERM).
// Its own sandbox's init (pid 1 of a pid namespace of its own, not the host's) is its own: signals from inside can't stop
// or end an init. Without a pid namespace of its own (Landlock), pid 1 is a neighbour like any other (a host in a
// container may be it).
let pidns = -2; try { pidns = fs.statSync('/proc/self/ns/pid').ino; } catch {}
const ownInit = process.ppid === 1 && process.pid !== 1 && pidns !== -2 && pidns !== ${hostPidNamespace()};
const own = new Set([process.pid, ...attempt(() => fs.readdirSync('/proc/self/task').map(Number)), ...(ownInit ? [1] : [])]);
let signalable = 0; let others = 0;
let pids; try { pids = fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x)).map(Number); } catch { pids = Array.from({ length: 65534 }, (_, i) => i + 2); }
for (const p of pids) {
  if (own.has(p)) continue;
  try { process.kill(p, 0); others++; signalable++; } catch (e) { if (e.code === 'EPERM') others++; }
}
report('pids', others);
report('signalable', signalable);
// kill(-1) answers 0 even when every target refused (EPERM): the victim's state tells whether it worked.
report('stopall', attempt(() => process.kill(-1, 'SIGSTOP')));
const written = [];
for (const d of ${places}) { try { fs.writeFileSync(d + '/marker-${scene.nonce}', 'a'); written.push(d); } catch {} }
process.env.PWKIT_MARKER = 'a';
report('marker', written.join(',') || 'none');`,
        }),
      );
      if (!a.load.loaded) return refusedAtLoad(a.load);
      if (a.reports.done === undefined) return noReport('its results', a.reports);
      await new Promise((r) => setTimeout(r, 200));
      const victimState = hostPidState(victimPid);
      await registry.unloadPlugin(attacker);
      const next = scene.pluginName('nbnext');
      const n = await scene.attack(
        await scene.jsPlugin({
          name: next,
          init: `const found = [];
for (const d of ${places}) if (fs.existsSync(d + '/marker-${scene.nonce}')) found.push(d);
report('markers', found.join(',') || 'none');
report('envnext', process.env.PWKIT_MARKER ?? 'none');`,
        }),
      );
      if (!n.load.loaded) return refusedAtLoad(n.load);
      if (n.reports.done === undefined) return noReport('its results', n.reports);
      const victimInfo = registry.getAllPlugins().find((p) => p.name === victim);
      const problems = [
        succeeded(a.reports.abstract) ? `reached the victim's abstract socket (${a.reports.abstract})` : '',
        a.reports.secret !== 'none' ? `found the victim's secret file (${a.reports.secret})` : '',
        Number(a.reports.signalable) > 0 ? `may signal ${a.reports.signalable} other process(es)` : '',
        victimState !== 'running' ? `the victim's process is ${victimState}` : '',
        victimInfo?.status !== 'Active' ? `the victim is ${victimInfo?.status}` : '',
        n.reports.markers !== 'none' || n.reports.envnext !== 'none'
          ? `the next sandbox saw the unloaded plugin's markers (${pairs(n.reports, ['markers', 'envnext'])})`
          : '',
      ].filter(Boolean);
      return {
        escaped: problems.length > 0,
        evidence: problems.length
          ? problems.join('; ')
          : `${pairs(a.reports, ['abstract', 'secret', 'pids', 'signalable', 'stopall', 'marker'])}; victim ${victimState}; next sandbox ${pairs(n.reports, ['markers', 'envnext'])}`,
      };
    },
  },
  {
    id: 'grants.host-unix-socket-path',
    class: 'grants',
    title:
      'a plugin without a network grant does not reach a host service on a world-writable unix socket path',
    tries:
      'connects to a 0777 pathname unix socket the host listens on under /run (D-Bus, X11 and dev tools leave such sockets)',
    async run(scene) {
      await scene.start();
      const svc = await hostPathSocket(scene);
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('unixpath'),
          prelude: CONNECT,
          init: `report('unix', await connectTo({ path: ${JSON.stringify(svc.file)} }));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      return {
        escaped: svc.hits > 0 || succeeded(reports.unix),
        evidence: `${svc.file} from the plugin: ${reports.unix ?? '(no report)'}; the host service saw ${svc.hits} connection(s)`,
      };
    },
  },
];

/** The host's pid namespace (its inode), or -1 where it can't be read. */
function hostPidNamespace(): number {
  try {
    return fs.statSync('/proc/self/ns/pid').ino;
  } catch {
    return -1;
  }
}
