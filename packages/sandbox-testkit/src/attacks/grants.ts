import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { PluginRequirements } from '@plugward/types';
import type { AttackDefinition } from '../attack.js';
import { hostAbstractSocket, hostHttpService, hostPrivateIPv4 } from '../host-services.js';
import { cgroupsMatching, processesMatching } from '../leftovers.js';
import { noReport, pairs, refusedAtLoad, succeeded } from './verdict.js';

/** A process's memory cgroup as the host sees it (v1 `memory` line, else the v2 `0::` line). */
function memoryCgroupOf(pid: string): string {
  try {
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    return (
      lines.find((l) => /:(?:[^:]*,)?memory(?:,[^:]*)?:/.test(l)) ??
      lines.find((l) => l.startsWith('0::')) ??
      '?'
    );
  } catch {
    return '(gone)';
  }
}

const NONE = { read: [] as string[], write: [] as string[] };

function req(parts: Partial<PluginRequirements>): PluginRequirements {
  return {
    network: { mode: 'isolated' },
    filesystem: { mode: 'none' },
    context: NONE,
    ...parts,
  };
}

const TCP_CLIENT = `const tcp = (opts) => new Promise((res) => {
  const s = net.connect(opts); let d = '';
  s.setTimeout(2000, () => { s.destroy(); res('ERR:timeout'); });
  s.on('connect', () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
  s.on('data', (c) => { d += c; });
  s.on('end', () => res('connected, got ' + d.length + ' bytes'));
  s.on('error', (e) => res('ERR:' + errc(e)));
});`;

const FETCH = `const get = (url) => RT.fetch ? RT.fetch({ url, method: 'GET', headers: {} }).then((r) => 'status ' + r.status + ' ' + r.body.byteLength + ' bytes', (e) => 'ERR:' + errc(e)) : Promise.resolve('ERR:no-fetch');`;

/** Attacks with grants the untrusted plugin's own manifest asks for (a stranger's request must grant nothing). */
export const grantAttacks: readonly AttackDefinition[] = [
  {
    id: 'grants.host-network-loopback',
    class: 'grants',
    title: 'a manifest asking for the host network does not reach a 127.0.0.1 host service',
    tries: "declares network 'full' and connects to a host HTTP service on 127.0.0.1",
    async run(scene) {
      await scene.start();
      const svc = await hostHttpService(scene);
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('netlo'),
            prelude: TCP_CLIENT,
            init: `report('tcp', await tcp({ host: '127.0.0.1', port: ${svc.port} }));`,
          },
          { requirements: req({ network: { mode: 'full' } }) },
        ),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      return {
        escaped: svc.hits > 0 || succeeded(reports.tcp),
        evidence: `127.0.0.1:${svc.port} from the plugin: ${reports.tcp ?? '(no report)'}; host service saw ${svc.hits} request(s)`,
      };
    },
  },
  {
    id: 'grants.host-network-abstract-socket',
    class: 'grants',
    title: "a manifest asking for the host network does not reach the host's abstract unix sockets",
    tries: "declares network 'full' and connects to an abstract unix socket the host listens on",
    async run(scene) {
      await scene.start();
      const svc = await hostAbstractSocket(scene);
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('netabs'),
            prelude: TCP_CLIENT,
            init: `report('abstract', await tcp({ path: '\\0${svc.name}' }));`,
          },
          { requirements: req({ network: { mode: 'full' } }) },
        ),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      return {
        escaped: svc.hits > 0,
        evidence: `@${svc.name} from the plugin: ${reports.abstract ?? '(no report)'}; host saw ${svc.hits} connection(s)`,
      };
    },
  },
  {
    id: 'grants.broker-private-targets',
    class: 'grants',
    title:
      'the fetch broker never reaches loopback, link-local/metadata or private addresses for a manifest that lists them',
    tries:
      "declares 'restricted' network allowing 127.0.0.1, 169.254.169.254 and private ranges, then fetches a host service through the broker",
    async run(scene) {
      await scene.start({ registryOptions: { fetchBroker: { timeoutMs: 1500 } } });
      const svc = await hostHttpService(scene, { host: '0.0.0.0' });
      const priv = hostPrivateIPv4();
      const targets: [string, string][] = [
        ['loopback', `http://127.0.0.1:${svc.port}/`],
        ['metadata', 'http://169.254.169.254/latest/meta-data/'],
        // The host's own private address when it has one (then the host service answers there), else an RFC 1918
        // address nobody answers on: a broker that tries to connect at all let it through.
        ['private', priv ? `http://${priv}:${svc.port}/` : 'http://10.255.255.1/'],
      ];
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('broker'),
            prelude: FETCH,
            init: `for (const [k, u] of ${JSON.stringify(targets)}) report(k, await get(u));`,
          },
          {
            requirements: req({
              network: {
                mode: 'restricted',
                allowedTargets: [
                  { host: '127.0.0.1' },
                  { host: '169.254.169.254' },
                  { host: '10.0.0.0/8' },
                  { host: '172.16.0.0/12' },
                  { host: '192.168.0.0/16' },
                ],
              },
            }),
          },
        ),
        10_000,
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      // A fetch that timed out or failed to connect was attempted: the broker let it through.
      const tried = (r: string | undefined) => /^ERR:(Timeout|IoError|E[A-Z]+)/.test(r ?? '') || succeeded(r);
      return {
        escaped: svc.hits > 0 || tried(reports.metadata) || tried(reports.private),
        evidence: `${pairs(
          reports,
          targets.map((t) => t[0]),
        )}; host service saw ${svc.hits} request(s)`,
      };
    },
  },
  {
    id: 'grants.fs-etc',
    class: 'grants',
    title: 'a manifest asking for a read-write bind of /etc gets neither /etc/shadow nor a write to /etc',
    tries: 'declares readWrite ["/etc"], hashes /etc/shadow and creates a file in /etc',
    async run(scene) {
      await scene.start();
      const probeFile = `/etc/.pwkit-${scene.nonce}`;
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('etc'),
            prelude: "import { createHash } from 'node:crypto';",
            init: `report('shadow', attempt(() => createHash('sha256').update(fs.readFileSync('/etc/shadow')).digest('hex').slice(0, 16)));
report('write', attempt(() => { fs.writeFileSync(${JSON.stringify(probeFile)}, 'x'); fs.unlinkSync(${JSON.stringify(probeFile)}); return 'created and removed ${probeFile}'; }));`,
          },
          { requirements: req({ filesystem: { mode: 'readWrite', paths: ['/etc'] } }) },
        ),
      );
      let leftBehind = false;
      if (fs.existsSync(probeFile)) {
        leftBehind = true;
        fs.rmSync(probeFile, { force: true });
      }
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      let hostHash = '';
      try {
        hostHash = createHash('sha256').update(fs.readFileSync('/etc/shadow')).digest('hex').slice(0, 16);
      } catch {
        hostHash = '(host cannot read it)';
      }
      const readShadow = reports.shadow === hostHash;
      return {
        escaped: readShadow || succeeded(reports.write) || leftBehind,
        evidence: `/etc/shadow: ${readShadow ? 'read (hash matches the host file)' : reports.shadow}; write: ${reports.write}`,
      };
    },
  },
  {
    id: 'grants.fs-root',
    class: 'grants',
    title: 'a manifest asking for /root does not get to list it',
    tries: 'declares readWrite ["/root"] and lists /root',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('root'),
            init: `report('root', attempt(() => fs.readdirSync('/root').length + ' entries'));`,
          },
          { requirements: req({ filesystem: { mode: 'readWrite', paths: ['/root'] } }) },
        ),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      let hostCount = -1;
      try {
        hostCount = fs.readdirSync('/root').length;
      } catch {
        // not readable by the host either
      }
      const escaped = reports.root === `${hostCount} entries` && hostCount > 0;
      return { escaped, evidence: `/root from the plugin: ${reports.root} (the host sees ${hostCount})` };
    },
  },
  {
    id: 'grants.fs-cgroup-escape',
    class: 'grants',
    title: 'a manifest asking for the cgroup tree cannot move the plugin out of its cgroup',
    tries: "declares readWrite of the host's memory cgroup root and writes itself into its cgroup.procs",
    async run(scene) {
      await scene.start();
      const v1 = fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs');
      const root = v1 ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup';
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('cgroup'),
            init: `report('move', attempt(() => { fs.writeFileSync(${JSON.stringify(`${root}/cgroup.procs`)}, String(process.pid)); return 'wrote own pid to the root cgroup.procs'; }));`,
          },
          { requirements: req({ filesystem: { mode: 'readWrite', paths: [root] } }) },
        ),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('the move', reports);
      // Judged from the host (inside, a cgroup namespace shows every cgroup as "/"): when the backend names its
      // cgroups after the plugin, every process of the plugin must still be in one of them.
      const outside = cgroupsMatching(scene.nonce).length
        ? processesMatching(scene.nonce).filter(
            (p) => !memoryCgroupOf(p.split(':')[0]!).includes(scene.nonce),
          )
        : [];
      return {
        escaped: succeeded(reports.move) || outside.length > 0,
        evidence: `${reports.move}${outside.length ? `; outside its cgroup now: pid ${outside.map((p) => p.split(':')[0]).join(', ')} (${memoryCgroupOf(outside[0]!.split(':')[0]!)})` : ''}`,
      };
    },
  },
  {
    id: 'grants.context-star',
    class: 'grants',
    title: "a manifest asking for context '*' reads no host secret and overwrites no host key",
    tries: "declares context read/write ['*'], reads db.password and overwrites a host key",
    async run(scene) {
      const registry = await scene.start();
      const secret = `pw-${scene.nonce}-secret`;
      registry.context.set('db.password', secret);
      registry.context.set('app.mode', 'production');
      const { load, reports } = await scene.attack(
        await scene.jsPlugin(
          {
            name: scene.pluginName('ctxstar'),
            init: `report('password', await Promise.resolve().then(() => ctx.get('db.password')).then((v) => typeof v === 'string' ? v : typeof v, (e) => 'ERR:' + errc(e)));
report('overwrite', await Promise.resolve().then(() => ctx.set('app.mode', 'pwned')).then(() => 'ok', (e) => 'ERR:' + errc(e)));`,
          },
          { requirements: req({ context: { read: ['*'], write: ['*'] } }) },
        ),
      );
      const mode = registry.context.find('app.mode');
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its results', reports);
      const read = (reports.password ?? '').includes(secret);
      const overwritten = mode !== 'production';
      return {
        escaped: read || overwritten,
        evidence: `db.password: ${read ? 'read by the plugin' : reports.password}; app.mode is ${JSON.stringify(mode)} (${reports.overwrite})`,
      };
    },
  },
];
