import type { AttackDefinition } from '../attack.js';
import { noReport, refusedAtLoad } from './verdict.js';

/** Attacks through the file descriptors a sandboxed plugin starts with. */
export const descriptorAttacks: readonly AttackDefinition[] = [
  {
    id: 'host-fds.inherited-descriptors',
    class: 'host-fds',
    title: 'the plugin inherits no host file or directory descriptor beyond its IPC socket and output pipes',
    tries:
      "lists /proc/self/fd at its first instruction, readlink()s each, and for a directory opens '..' through it (the classic fd-leak escape to the host's filesystem)",
    async run(scene) {
      await scene.start();
      const name = scene.pluginName('fds');
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name,
          prelude: `const FDS = (() => { const out = []; try { for (const f of fs.readdirSync('/proc/self/fd')) { let t = ''; try { t = fs.readlinkSync('/proc/self/fd/' + f); } catch (e) { t = 'ERR:' + errc(e); } let d = ''; try { if (fs.fstatSync(Number(f)).isDirectory()) { d = ' dir, ..=' + fs.readdirSync('/proc/self/fd/' + f + '/..').slice(0, 6).join(','); } } catch (e) { d = ' ' + errc(e); } out.push(f + '=' + t + d); } } catch (e) { out.push('ERR:' + errc(e)); } return out; })();`,
          init: `report('count', FDS.length); FDS.forEach((l, i) => report('fd' + i, l));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its descriptors', reports);
      const fds = Object.entries(reports)
        .filter(([k]) => /^fd\d+$/.test(k))
        .map(([, v]) => v);
      // Sockets, pipes and anonymous inodes are the runtime's own (IPC, output, epoll); /dev/null is harmless. Any
      // other path is a host file or directory the sandbox let through.
      const leaked = fds.filter((l) => {
        const target = l.slice(l.indexOf('=') + 1);
        return (target.startsWith('/') && !target.startsWith('/dev/null')) || l.includes(' dir,');
      });
      return {
        escaped: leaked.length > 0,
        evidence: leaked.length
          ? `inherited host descriptors: ${leaked.join(' | ').slice(0, 200)}`
          : `${fds.length} descriptors, none a host file or directory: ${fds.join(' ').slice(0, 160)}`,
      };
    },
  },
];
