import fs from 'node:fs';
import path from 'node:path';
import type { AttackDefinition } from '../attack.js';
import { withHostStdoutIn } from '../host-stdout.js';
import { noReport, refusedAtLoad } from './verdict.js';

const MiB = 1024 * 1024;

function identity(fd: number): string {
  try {
    const s = fs.fstatSync(fd);
    return `${s.dev}:${s.ino}`;
  } catch {
    return '(closed)';
  }
}

/** Attacks on the host's own file descriptors, its log, and what the host holds on a plugin's behalf. */
export const hostIoAttacks: readonly AttackDefinition[] = [
  {
    id: 'host-fds.stdout-reopen',
    class: 'host-fds',
    title: "the plugin's stdout/stderr are not the host's own",
    tries:
      "fstat()s and re-opens /proc/self/fd/1 and /proc/self/fd/2: the same file as the host's stdout/stderr (a host log file could be read, truncated, grown past the tmpfs cap)?",
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('stdout'),
          init: `for (const fd of [1, 2]) {
  report('fd' + fd, attempt(() => { const s = fs.fstatSync(fd); return s.dev + ':' + s.ino; }));
  report('open' + fd, attempt(() => { const f = fs.openSync('/proc/self/fd/' + fd, 'a'); const s = fs.fstatSync(f); fs.closeSync(f); return 'reopened ' + s.dev + ':' + s.ino; }));
}`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its fds', reports);
      const host1 = identity(1);
      const host2 = identity(2);
      const shared = [
        reports.fd1 === host1 ? `fd 1 is the host's stdout (${host1})` : '',
        reports.fd2 === host2 ? `fd 2 is the host's stderr (${host2})` : '',
      ].filter(Boolean);
      return {
        escaped: shared.length > 0,
        evidence: shared.length
          ? `${shared.join('; ')}; /proc/self/fd/1 ${reports.open1}`
          : `plugin fd1=${reports.fd1} fd2=${reports.fd2}, host fd1=${host1} fd2=${host2}`,
      };
    },
  },
  {
    id: 'host-fds.host-log-file',
    class: 'host-fds',
    exclusive: true,
    title: "with the host logging to a file, the plugin can neither read, truncate nor grow the host's log",
    tries:
      "with the host's stdout/stderr a log file holding a secret, re-opens /proc/self/fd/1 to read it, ftruncate()s it and writes 20 MiB into it (past the 16 MiB tmpfs cap)",
    async run(scene) {
      await scene.start();
      const log = path.join(scene.dir, 'host.log');
      const secret = `host-secret-${scene.nonce}`;
      fs.writeFileSync(log, `[host] info: connected to the database with password ${secret}\n`);
      const file = await scene.jsPlugin({
        name: scene.pluginName('hostlog'),
        // Non-blocking opens: through a pipe (a host that reads its plugins' output) a read would otherwise block.
        init: `const NB = fs.constants.O_NONBLOCK;
report('read', attempt(() => { const fd = fs.openSync('/proc/self/fd/1', fs.constants.O_RDONLY | NB); const b = Buffer.alloc(300); const n = fs.readSync(fd, b, 0, 300, null); fs.closeSync(fd); return 'read ' + n + ' bytes: ' + b.subarray(0, n).toString().split('\\n')[0].slice(-60); }));
report('truncate', attempt(() => { const fd = fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | NB); fs.ftruncateSync(fd, 0); fs.closeSync(fd); return 'ftruncate succeeded'; }));
report('grow', attempt(() => { const fd = fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | NB); const chunk = Buffer.alloc(1 << 20, 0x41); let n = 0; try { for (let i = 0; i < 20; i++) n += fs.writeSync(fd, chunk); } catch (e) { fs.closeSync(fd); return n ? 'wrote ' + n + ' bytes, then ' + errc(e) : 'ERR:' + errc(e); } fs.closeSync(fd); return 'wrote ' + n + ' bytes'; }));`,
      });
      const { load, reports } = await withHostStdoutIn(log, () => scene.attack(file));
      if (!load.loaded) return refusedAtLoad(load);
      const size = fs.statSync(log).size;
      const kept = fs.readFileSync(log, 'utf8').includes(secret);
      const readSecret = (reports.read ?? '').includes(secret);
      const problems = [
        readSecret ? 'read the secret from the host log' : '',
        !kept ? 'the host log lost its secret line (truncated/overwritten)' : '',
        size > 16 * MiB ? `grew the host log to ${(size / MiB).toFixed(0)} MiB` : '',
      ].filter(Boolean);
      return {
        escaped: problems.length > 0,
        evidence: problems.length
          ? `${problems.join('; ')} (plugin: read=${reports.read?.slice(0, 40)}… grow=${reports.grow} truncate=${reports.truncate})`
          : `host log intact (${size} bytes); plugin: read=${reports.read} grow=${reports.grow} truncate=${reports.truncate}`,
      };
    },
  },
  {
    id: 'display.log-forging',
    class: 'display',
    title: 'plugin log lines reach the host escaped (no forged lines, no terminal escapes)',
    tries: 'logs a message with a newline, a forged "[host]" line, ANSI clear-screen and OSC title sequences',
    async run(scene) {
      await scene.start();
      const name = scene.pluginName('forge');
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          init: `RT.log('warn', 'innocent\\n[host] info: all plugins verified\\x1b[2J\\x1b]0;pwned\\x07\\r');`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      const line = scene.logs.find((l) => l.plugin.includes(name) && l.message.includes('innocent'));
      if (!line) return { escaped: false, evidence: 'the forged line never reached the host log sink' };
      const raw = [...line.message].filter((c) => {
        const code = c.codePointAt(0) ?? 0;
        return code < 0x20 || (code >= 0x7f && code <= 0x9f);
      });
      return {
        escaped: raw.length > 0,
        evidence: `the host's log sink got ${JSON.stringify(line.message.slice(0, 90))} (${raw.length} raw control characters)`,
      };
    },
  },
  {
    id: 'display.error-forging',
    class: 'display',
    title: "a plugin's error message reaches the host bounded and escaped",
    tries:
      'throws from init an Error whose message has a newline, a forged "[host]" line, ANSI escapes and 5,000 more characters',
    async run(scene) {
      await scene.start();
      const name = scene.pluginName('errforge');
      const load = await scene.loadUntrusted(
        await scene.jsFile(
          `export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 'pwkit attacker',
  async init() { throw new Error('init failed\\n[host] info: all plugins verified\\x1b[2J\\x1b]0;pwned\\x07' + 'A'.repeat(5000)); },
  registerHooks() {},
};
`,
          name,
        ),
      );
      const texts = [
        ...(load.loaded ? [] : [load.error.message]),
        ...scene.logs.map((l) => l.message),
        ...scene.registry.getAllPlugins().map((p) => p.error ?? ''),
      ].filter((t) => t.includes('init failed') || t.includes('AAAA'));
      const raw = texts.filter((t) =>
        [...t].some((c) => (c.codePointAt(0) ?? 0) < 0x20 || c.codePointAt(0) === 0x7f),
      );
      const long = texts.filter((t) => t.length > 2000);
      return {
        escaped: raw.length > 0 || long.length > 0,
        evidence: texts.length
          ? `${texts.length} host-visible text(s) carry the plugin's message: ${raw.length} with raw control characters, ${long.length} longer than 2,000 characters (e.g. ${JSON.stringify(texts[0]!.slice(0, 70))}…)`
          : "the plugin's message reached no host-visible text",
      };
    },
  },
];
