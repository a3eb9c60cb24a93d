import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runtimeEntry } from '@plugward/registry';
import type { AttackDefinition } from '../attack.js';
import { hostUnixSocket } from '../host-services.js';
import { noReport, refusedAtLoad } from './verdict.js';

/**
 * Everything a plugin can read about where it runs, by source: what the plugin reports for each (`clean`, or the
 * host secrets it found there with the text around them).
 */
export const WHEREABOUTS_SOURCES = [
  'argv',
  'execArgv',
  'cmdline',
  'environ',
  'env',
  'maps',
  'exe',
  'cwd',
  'fds',
  'mountinfo',
  'cgroup',
  'stack',
  'mainModule',
  'selfUrl',
  'os',
  'status',
  'stat',
  'ppid',
  'net',
] as const;

/** Sources whose host secrets a backend without a mount / pid / cgroup namespace of its own can't hide (see README). */
const SHARED_NAMESPACE_SOURCES: Readonly<Record<'mnt' | 'pid' | 'cgroup', readonly string[]>> = {
  mnt: ['mountinfo'],
  pid: ['status', 'stat', 'ppid'],
  cgroup: ['cgroup'],
};

/**
 * What only the host knows and a plugin must not learn: the checkout (the registry package's folder, the host's
 * working directory), the host's temporary and work folders (the kit's scene folder; the private copies, sandbox and
 * warm folders are named after the host's tag), the host user's home. The host's pid (and so its tag `<pid>-<start
 * time>`) is looked for as a whole number between path separators, dashes, dots or blanks, never inside another word.
 */
function hostSecrets(sceneDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, p: string): void => {
    if (p.length > 1 && p !== '/tmp' && p !== '/usr' && p !== '/run') out[name] = p;
  };
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  const registryPackage = path.dirname(path.dirname(path.dirname(runtimeEntry())));
  add('checkout', registryPackage);
  if (real(registryPackage) !== registryPackage) add('checkoutReal', real(registryPackage));
  add('hostCwd', process.cwd());
  add('sceneDir', sceneDir);
  add('home', os.homedir());
  return out;
}

/**
 * The plugin's side: collects every source and reports, per source, the secrets it shows. Runs in `init` (`report`,
 * `errc`, `fs` in scope).
 */
function collector(secrets: Record<string, string>, pid: number): string {
  return `const os = await import('node:os');
const SECRETS = ${JSON.stringify(secrets)};
const PID = new RegExp('(^|[\\\\s/=:._-])${pid}($|[\\\\s/._-])');
const read = (p) => { try { return fs.readFileSync(p, 'latin1'); } catch (e) { return 'ERR:' + errc(e); } };
const link = (p) => { try { return fs.readlinkSync(p); } catch (e) { return 'ERR:' + errc(e); } };
// An attacker loads what the runtime can: koffi's native module then shows in /proc/self/maps.
try { process.mainModule?.require('koffi'); } catch {}
const mi = read('/proc/self/mountinfo').split('\\n').map((l) => { const f = l.split(' '); const d = f.indexOf('-'); return [f[3], f[4], f[d + 2]].join(' '); });
const status = read('/proc/self/status').split('\\n').filter((l) => /^(Pid|PPid|Tgid|NSpid|NStgid|TracerPid):/.test(l));
let fds = '';
try { fds = fs.readdirSync('/proc/self/fd').map((n) => link('/proc/self/fd/' + n)).join(' '); } catch (e) { fds = 'ERR:' + errc(e); }
const texts = {
  argv: process.argv.join(' '),
  execArgv: process.execArgv.join(' '),
  cmdline: read('/proc/self/cmdline').replace(/\\0/g, ' '),
  environ: read('/proc/self/environ').replace(/\\0/g, ' '),
  env: JSON.stringify(process.env),
  maps: [...new Set(read('/proc/self/maps').split('\\n').map((l) => l.split(/\\s+/).slice(5).join(' ')).filter(Boolean))].join(' '),
  exe: link('/proc/self/exe'),
  cwd: link('/proc/self/cwd') + ' ' + attempt(() => process.cwd()),
  fds,
  mountinfo: mi.join('\\n'),
  cgroup: read('/proc/self/cgroup'),
  stack: String(new Error('where').stack),
  mainModule: String(process.mainModule?.filename) + ' ' + String(globalThis.__filename),
  selfUrl: import.meta.url,
  os: [attempt(() => os.tmpdir()), attempt(() => os.homedir()), attempt(() => os.userInfo().homedir)].join(' '),
  status: status.join(' '),
  stat: read('/proc/self/stat').replace(/^.*\\) /, ''),
  ppid: 'ppid ' + String(process.ppid),
  // The unix socket paths of its network namespace (the path column only: inode numbers are no secret).
  net: read('/proc/self/net/unix').split('\\n').map((l) => l.trim().split(/\\s+/).slice(7).join(' ')).filter(Boolean).join(' '),
};
for (const ns of ['mnt', 'pid', 'cgroup']) report('ns.' + ns, link('/proc/self/ns/' + ns));
for (const [source, text] of Object.entries(texts)) {
  const found = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    const at = text.indexOf(secret);
    if (at >= 0) found.push(name + '@' + text.slice(Math.max(0, at - 20), at + secret.length + 40));
  }
  const m = PID.exec(text);
  if (m) found.push('hostPid@' + text.slice(Math.max(0, m.index - 30), m.index + 30));
  report(source, found.length === 0 ? 'clean' : found.join(' | '));
}`;
}

/** Attacks on what a plugin can learn of the host it runs under. */
export const whereaboutsAttacks: readonly AttackDefinition[] = [
  {
    id: 'procfs.host-whereabouts',
    class: 'procfs',
    title:
      "a plugin learns nothing of where the host runs: not its checkout, its temporary or work folders, its pid or tag, its user's home",
    tries:
      "argv, execArgv, /proc/self/{cmdline,environ,maps,exe,cwd,fd,mountinfo,cgroup,status,stat}, the unix socket paths of /proc/self/net/unix (a host socket lies in the kit's folder), process.env, the runtime's file name and stack, its own URL, os.tmpdir/homedir and getppid are searched for the host's paths and pid",
    async run(scene) {
      await scene.start();
      // A host service whose socket file lies in the scene's folder: a plugin that reads the host's network state
      // (`/proc/self/net/unix`, where a backend makes no network namespace) finds the folder's name there.
      const sock = path.join(scene.dir, 'h.sock');
      if (Buffer.byteLength(sock) < 100) await hostUnixSocket(scene, sock);
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('whereabouts'),
          init: collector(hostSecrets(scene.dir), process.pid),
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('where it runs', reports);
      const missing = WHEREABOUTS_SOURCES.filter((s) => reports[s] === undefined);
      if (missing.length > 0) {
        throw new Error(
          `the plugin did not report ${missing.join(', ')} (its error: ${reports.error ?? 'none'}), so the kit cannot judge this attack`,
        );
      }
      // A backend without a namespace of its own shows the host's view there: said in the evidence, not an escape.
      const shared = (
        Object.keys(SHARED_NAMESPACE_SOURCES) as (keyof typeof SHARED_NAMESPACE_SOURCES)[]
      ).filter((ns) => reports[`ns.${ns}`] === fs.readlinkSync(`/proc/self/ns/${ns}`));
      const byDesign = new Set(shared.flatMap((ns) => SHARED_NAMESPACE_SOURCES[ns]));
      const seen = WHEREABOUTS_SOURCES.filter((s) => reports[s] !== 'clean');
      const leaks = seen.filter((s) => !byDesign.has(s));
      const tolerated = seen.filter((s) => byDesign.has(s));
      const line = (s: string): string => `${s}=${reports[s] ?? '∅'}`;
      const evidence = [
        leaks.length === 0
          ? `${WHEREABOUTS_SOURCES.length - seen.length} of ${WHEREABOUTS_SOURCES.length} sources clean`
          : `host whereabouts seen: ${leaks.map(line).join(' ; ')}`,
        ...(tolerated.length > 0
          ? [
              `shared with the host by design (${shared.map((n) => `${n} namespace`).join(', ')}): ${tolerated.map(line).join(' ; ')}`,
            ]
          : []),
      ].join(' — ');
      return { escaped: leaks.length > 0, evidence };
    },
  },
];
