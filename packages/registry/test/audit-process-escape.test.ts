// The attacker's side of the process tier's promise: no process a process-tier plugin started — in its process group
// or not, daemonised or not — runs after unloadPlugin(), close() or a SIGKILL of its host. Three trusted plugins try to
// get out: one double-forks a `setsid` daemon, one forks a child that `setpgid`s itself into a group of its own, one
// `execve`s from a second thread of its runtime (the parent-death signal is per thread: the runtime comes out of that
// exec without it). Processes are found by a marker in their argv or environment in /proc (pids inside the plugin's
// pid namespace mean nothing to the host), and a second process-tier plugin still answers after the attacker's end.
// On main 7891584 (a process group per runtime, `setpriv --pdeathsig` on the runtime): setsid and setpgid fail at every
// ending, the thread exec at the host's SIGKILL (the group kill ends it at unload and close). Where the host can make no
// pid namespace, the process-group fallback can't hold this, and the test says so and checks the fallback is reported.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixtures, hostScriptEnv, runHostScript, shoutPluginC, startHostScript, tempDir } from './helpers.js';

const tmp = tempDir('process-escape');
const fx = new Fixtures(tmp.dir);
const plugins: Record<string, string> = {};

// The marker reaches every process the plugin starts through its environment (the thread exec's through argv[0]).
// A helper started the plain way: it stays in the runtime's process group (audit s9 #2's case, which the fallback holds).
const attachedSource = (mark: string) => `import { spawn } from 'node:child_process';
export default {
  name: 'escape-attached', version: '1.0.0', author: 'attack tests',
  init() {
    spawn('/bin/sleep', ['600'], { env: { ...process.env, PW_ESCAPE_MARK: ${JSON.stringify(mark)} }, stdio: 'ignore' }).unref();
  },
  registerHooks() {},
};`;

const setsidSource = (mark: string) => `import { spawn } from 'node:child_process';
export default {
  name: 'escape-setsid', version: '1.0.0', author: 'attack tests',
  init() {
    // sh forks a background setsid (a new session and group), which forks two sleeps, and the first sh exits: a daemon.
    spawn('/bin/sh', ['-c', 'setsid /bin/sh -c "sleep 600 & exec sleep 600" > /dev/null 2>&1 &'], {
      env: { ...process.env, PW_ESCAPE_MARK: ${JSON.stringify(mark)} }, stdio: 'ignore',
    }).unref();
  },
  registerHooks() {},
};`;

// C: p_init forks a child that setpgid()s itself out of the runtime's group and sleeps (argv[0] the marker); the hook
// "go" starts a thread that waits for the host to have its answer (the host then makes the file \`go\` beside the
// marker's run: no timing), clears close-on-exec on fd 3 — the channel stays open, the host notices nothing — and
// execs sleep from that thread.
const nativePrelude = (mark: string, go: string) => `
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
static void *exec_from_thread(void *a) {
  while (access(${JSON.stringify(go)}, F_OK) != 0) usleep(10000);
  fcntl(3, F_SETFD, 0);
  execl("/bin/sleep", ${JSON.stringify(mark)}, "600", (char *)0);
  return a;
}
`;

function nativeSource(name: string, mark: string, go: string, mode: 'setpgid' | 'thread-exec'): string {
  const c = shoutPluginC({ name, hook: 'go', prelude: nativePrelude(mark, go) });
  if (mode === 'setpgid') {
    return c.replace(
      'static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }',
      `static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; (void)h; (void)e; (void)c;
  if (fork() == 0) { setpgid(0, 0); execl("/bin/sleep", ${JSON.stringify(mark)}, "600", (char *)0); _exit(1); }
  return PW_OK;
}`,
    );
  }
  return c.replace(
    '*out = b; *on = n; return PW_OK;',
    '*out = b; *on = n; pthread_t t; pthread_create(&t, 0, exec_from_thread, 0); pthread_detach(t); return PW_OK;',
  );
}

// The bystander also says, on "reach", what its runtime can do to its init (its parent, by host pid in /proc/self/stat).
const BYSTANDER = `import fs from 'node:fs';
const t = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
export default {
  name: 'escape-bystander', version: '1.0.0', author: 'attack tests', init() {},
  registerHooks(h) {
    h.register('echo', 100, (d) => new TextEncoder().encode(new TextDecoder().decode(d) + '+bystander'));
    h.register('reach', 100, () => {
      const stat = fs.readFileSync('/proc/self/stat', 'utf8');
      const init = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      return new TextEncoder().encode(JSON.stringify({ uid: process.getuid(), pid: process.pid,
        initEnviron: t(() => fs.readFileSync('/proc/' + init + '/environ')), initMem: t(() => fs.closeSync(fs.openSync('/proc/' + init + '/mem', 'r'))) }));
    });
  },
};`;

// Every live (not zombie) process but this one whose argv or environment holds MARK — read where the host stands.
const MARKED = `
function marked() {
  const out = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const stat = fs.readFileSync('/proc/' + p + '/stat', 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      const text = fs.readFileSync('/proc/' + p + '/cmdline', 'latin1') + fs.readFileSync('/proc/' + p + '/environ', 'latin1');
      if (text.includes(process.env.MARK)) out.push(Number(p));
    } catch {}
  }
  return out;
}`;

// The host: loads the attacker and the bystander at the process tier, starts the attack, waits for its processes,
// then ends the attacker as ENDING says and reports what still runs at that moment (or waits to be SIGKILLed).
const HOST = `
import fs from 'node:fs';
${MARKED}
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const dec = new TextDecoder(), enc = new TextEncoder();
const logged = [];
const registry = new m.PluginRegistry({ security, defaultTier: 'process', log: (_p, level, message) => { if (/pid namespace/.test(message)) logged.push(level + ': ' + message); },
  unmountBehavior: { autoUnmount: false, gracePeriodMs: 0, allowCleanup: true, maxCleanupTimeMs: 500, logViolations: false, callShutdownHook: true } });
await registry.loadPlugin(process.env.ATTACKER, 'trusted');
await registry.loadPlugin(process.env.BYSTANDER, 'trusted');
const name = process.env.ATTACKER_NAME;
const info = registry.getPluginInfo(name);
if (process.env.TRIGGER) {
  await registry.hooks.execute(process.env.TRIGGER, enc.encode('x'));
  fs.writeFileSync(process.env.GO, '');
}
const want = Number(process.env.EXPECT);
for (let i = 0; i < 1200 && marked().length < want; i++) await new Promise((r) => setTimeout(r, 25));
const before = marked().length;
const report = { before, containment: info.processContainment, runtimePid: info.pid, logged };
if (process.env.REACH) report.reach = JSON.parse(dec.decode(await registry.hooks.execute('reach', enc.encode(''))));
if (process.env.ENDING === 'sigkill') {
  report.echo = dec.decode(await registry.hooks.execute('echo', enc.encode('still')));
  console.log(JSON.stringify(report));
  setInterval(() => {}, 1000);
} else {
  if (process.env.ENDING === 'unload') {
    await registry.unloadPlugin(name);
    report.after = marked();
    report.echo = dec.decode(await registry.hooks.execute('echo', enc.encode('still')));
    await registry.close();
  } else {
    report.echo = dec.decode(await registry.hooks.execute('echo', enc.encode('still')));
    await registry.close();
    report.after = marked();
  }
  console.log(JSON.stringify(report));
  process.exit(0);
}
`;

const marked = new Function('fs', 'process', `${MARKED}; return marked();`) as (
  f: typeof fs,
  p: { pid: number; env: { MARK: string } },
) => number[];
const markedHere = (mark: string) => marked(fs, { pid: process.pid, env: { MARK: mark } });

beforeAll(async () => {
  plugins.bystander = await fx.js('bystander.mjs', BYSTANDER, { name: 'escape-bystander', kind: 'js' });
  for (const f of Object.values(plugins)) await fx.trust(f);
}, 60_000);
afterAll(() => {
  tmp.remove();
});

type Attack = 'attached' | 'setsid' | 'setpgid' | 'thread-exec';
type Ending = 'unload' | 'close' | 'sigkill';

let runs = 0;

/**
 * Signs (and trusts) the attacker for one run, its marker in its code; in a folder of the run's own, under a name
 * without the marker (the runtime's argv names its private copy).
 */
async function attacker(
  attack: Attack,
  mark: string,
): Promise<{ file: string; name: string; list: string; go: string }> {
  const name = `escape-${attack}`;
  const dir = `run-${++runs}`;
  const go = path.join(tmp.dir, dir, 'go');
  const file =
    attack === 'setsid' || attack === 'attached'
      ? await fx.js(
          `${name}.mjs`,
          (attack === 'setsid' ? setsidSource : attachedSource)(mark),
          { name, kind: 'js' },
          dir,
        )
      : await fx.native(`${name}.so`, nativeSource(name, mark, go, attack), { name, kind: 'native' }, dir);
  await fx.trust(file);
  const security = await fx.security();
  return { file, name, list: security.policy.trustListPath, go };
}

async function sigkillRun(
  env: Record<string, string>,
  mark: string,
  asUser: string[] = [],
): Promise<Record<string, unknown>> {
  const host = startHostScript(HOST, env, asUser);
  const report = await host.line;
  host.child.kill('SIGKILL');
  await host.exited;
  // The kernel ends what the host's death takes along asynchronously: wait (bounded; nothing else to wait for).
  const deadline = Date.now() + 20_000;
  let after = markedHere(mark);
  while (after.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    after = markedHere(mark);
  }
  return { ...report, after };
}

const EXPECT: Record<Attack, number> = { attached: 1, setsid: 2, setpgid: 1, 'thread-exec': 1 };

/**
 * Runs one attack and ending with a host whose environment has `extra` on top, started behind `prefix` (a `setpriv`
 * that drops capabilities, say); returns the host's report.
 */
async function attack(
  kind: Attack,
  ending: Ending,
  extra: Record<string, string> = {},
  prefix: string[] = [],
): Promise<Record<string, unknown>> {
  const mark = `pw-escape-${randomUUID()}`;
  const a = await attacker(kind, mark);
  const env = {
    ...hostScriptEnv(fx, a.list),
    ...extra,
    ATTACKER: a.file,
    ATTACKER_NAME: a.name,
    BYSTANDER: plugins.bystander as string,
    ENDING: ending,
    MARK: mark,
    EXPECT: String(EXPECT[kind]),
    TRIGGER: kind === 'thread-exec' ? 'go' : '',
    GO: a.go,
  };
  try {
    if (ending === 'sigkill') return await sigkillRun(env, mark, prefix);
    if (prefix.length > 0) {
      const host = startHostScript(HOST, env, prefix);
      const report = await host.line;
      await host.exited;
      return report;
    }
    const r = await runHostScript(HOST, env, 60_000);
    expect({ code: r.code, stderr: r.stderr.slice(0, 2000) }).toEqual({ code: 0, stderr: '' });
    return r.report ?? {};
  } finally {
    for (const pid of markedHere(mark)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

type Containment = { mechanism: string; reason?: string } | undefined;

describe('audit: no process a process-tier plugin started outlives it or its host', () => {
  const cases = (['attached', 'setsid', 'setpgid', 'thread-exec'] as const).flatMap((a) =>
    (['unload', 'close', 'sigkill'] as const).map((e) => [a, e] as const),
  );
  it.each(cases)(
    '%s, then %s',
    async (kind: Attack, ending: Ending) => {
      const report = await attack(kind, ending);
      const containment = report.containment as Containment;
      if (containment?.mechanism === 'process-group') {
        console.warn(`!!! NOT ATTACKED: the process tier has no pid namespace here (${containment.reason})`);
        return;
      }
      // The attack ran: its processes were there before the end.
      expect(report.before).toBeGreaterThanOrEqual(EXPECT[kind]);
      expect(report.after, `processes of ${kind} still running after ${ending}`).toEqual([]);
      expect(report.echo).toBe('still+bystander');
    },
    90_000,
  );
});

describe('the fallback without a pid namespace (PLUGWARD_PROCESS_NAMESPACE=0): the process group', () => {
  it.each(['unload', 'close'] as const)(
    'says so, and a helper left in the group does not outlive %s',
    async (ending) => {
      const report = await attack('attached', ending, { PLUGWARD_PROCESS_NAMESPACE: '0' });
      expect(report.containment).toEqual({
        mechanism: 'process-group',
        reason: 'turned off (PLUGWARD_PROCESS_NAMESPACE=0)',
      });
      // Said once, with the reason, whatever the number of plugins (two were loaded).
      expect(report.logged).toEqual([
        expect.stringMatching(/^warn: .*turned off \(PLUGWARD_PROCESS_NAMESPACE=0\)/),
      ]);
      expect(report.before).toBe(1);
      expect(report.after).toEqual([]);
      expect(report.echo).toBe('still+bystander');
    },
    90_000,
  );
});

const isRoot = process.getuid?.() === 0;

describe('a root host that may not make namespaces (no CAP_SYS_ADMIN, as in many containers)', () => {
  if (!isRoot) console.warn('!!! SKIPPED: dropping CAP_SYS_ADMIN from a root host needs a root test run');
  it.skipIf(!isRoot)(
    'falls back to the process group, says why, and still ends a helper left in the group',
    async () => {
      const report = await attack('attached', 'unload', {}, [
        'setpriv',
        '--bounding-set=-sys_admin',
        '--inh-caps=-sys_admin',
        '--',
      ]);
      const containment = report.containment as Containment;
      expect(containment?.mechanism).toBe('process-group');
      expect(containment?.reason).toMatch(/unshare failed: Operation not permitted.*CAP_SYS_ADMIN/s);
      expect(report.logged).toEqual([expect.stringMatching(/^warn: process tier: no pid namespace/)]);
      expect(report.before).toBe(1);
      expect(report.after).toEqual([]);
      expect(report.echo).toBe('still+bystander');
    },
    90_000,
  );
});

describe('a host that is not root (it runs as nobody): a user namespace makes the pid namespace', () => {
  if (!isRoot) console.warn('!!! SKIPPED: a host as nobody needs a root test run to become nobody');
  it.skipIf(!isRoot)(
    'the same attack dies with its SIGKILLed host, and the runtime cannot reach its init',
    async () => {
      // nobody reads the fixtures and keeps its own state, cache and private copies.
      const own = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-escape-nobody-'));
      fs.chmodSync(own, 0o755);
      const dirs = Object.fromEntries(
        ['state', 'cache', 'tmp'].map((d) => {
          const p = path.join(own, d);
          fs.mkdirSync(p, { mode: 0o700 });
          fs.chownSync(p, 65534, 65534);
          return [d, p];
        }),
      );
      const mark = `pw-escape-${randomUUID()}`;
      try {
        const a = await attacker('setsid', mark);
        fs.chmodSync(tmp.dir, 0o755);
        // The trust list's rollback floor, which the test wrote to this run's state folder: nobody's own copy.
        fs.cpSync(
          path.join(process.env.PLUGWARD_STATE_DIR as string, 'trust-floors'),
          path.join(own, 'state', 'trust-floors'),
          { recursive: true },
        );
        for (const f of fs.readdirSync(dirs.state as string, { recursive: true }))
          fs.chownSync(path.join(dirs.state as string, String(f)), 65534, 65534);
        for (const f of fs.readdirSync(tmp.dir, { recursive: true, withFileTypes: true }))
          fs.chmodSync(path.join(f.parentPath, f.name), f.isDirectory() ? 0o755 : 0o644);
        const report = await sigkillRun(
          {
            ...hostScriptEnv(fx, a.list),
            ATTACKER: a.file,
            ATTACKER_NAME: a.name,
            BYSTANDER: plugins.bystander as string,
            ENDING: 'sigkill',
            MARK: mark,
            EXPECT: String(EXPECT.setsid),
            TRIGGER: '',
            REACH: '1',
            PLUGWARD_STATE_DIR: dirs.state as string,
            XDG_CACHE_HOME: dirs.cache as string,
            TMPDIR: dirs.tmp as string,
            HOME: own,
          },
          mark,
          ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'],
        );
        const containment = report.containment as Containment;
        if (containment?.mechanism === 'process-group') {
          console.warn(
            `!!! NOT ATTACKED: no pid namespace for a host that is not root here (${containment.reason})`,
          );
          return;
        }
        expect(containment).toEqual({ mechanism: 'pid-namespace', userNamespace: true });
        expect(report.logged).toEqual([]);
        expect(report.before).toBeGreaterThanOrEqual(EXPECT.setsid);
        expect(report.after, 'processes of setsid still running after the host was SIGKILLed').toEqual([]);
        expect(report.echo).toBe('still+bystander');
        // The plugin keeps the host's uid; its init (same uid, one user namespace up) is out of its reach.
        expect(report.reach).toEqual({ uid: 65534, pid: 2, initEnviron: 'EACCES', initMem: 'EACCES' });
      } finally {
        for (const pid of markedHere(mark)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        fs.rmSync(own, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
