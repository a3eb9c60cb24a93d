// audit s10: what a *read-only* filesystem grant lets an untrusted plugin do to a host
// service whose Unix socket lies inside the granted directory (a status folder such as /run/<app>, /tmp with
// /tmp/.X11-unix, /var/run/mysqld: sockets there are often 0666/0777). `connect()` on a socket file is not a write to
// the filesystem: a read-only bind (EROFS applies to files, directories and symlinks only) and the file mode let it
// through. A read-only grant must not give a way to send bytes to a host process.
// Also, Landlock with a `full` network grant (the host named the plugin): "full is the host network (as with bwrap)"
// — but Landlock (ABI ≤ 7) does not control connect() on pathname Unix sockets, so every world-connectable host
// socket is reachable, with or without a filesystem grant (under bwrap only what is bound in is).
// Each case: the goal failed (the host service saw no connection: a sandbox makes no new unix socket), the host still
// serves, nothing is left. A FIFO in a read-only grant stays writable under bubblewrap (documented in its README).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  leftovers,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-rosock');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-rosock');
const share = path.join(tmp.dir, 'share');
const sock = path.join(share, 'svc.sock');
const fifo = path.join(share, 'svc.fifo');
let security: PluginSecurity;
let probe = '';
const plugins: Record<string, string> = {};

const source = (name: string) => `import net from 'node:net';
export default {
  name: '${name}', version: '1.0.0', author: 'a stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.sock', 300, () => new Promise((res) => {
      const done = (v) => res(new TextEncoder().encode(v));
      let s;
      try { s = net.connect({ path: ${JSON.stringify(sock)} }); } catch (e) { done('ERR:' + (e.code ?? e.message)); return; }
      s.setTimeout(2000, () => { s.destroy(); done('ERR:timeout'); });
      s.on('connect', () => { s.end('PWNED from ${name}'); done('connected'); });
      s.on('error', (e) => done('ERR:' + (e.code ?? e.message)));
    }));
    h.register('audit.fifo', 300, async () => {
      const fs = await import('node:fs');
      try {
        const fd = fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        fs.writeSync(fd, 'PWNED via fifo\\n'); fs.closeSync(fd);
        return new TextEncoder().encode('wrote');
      } catch (e) { return new TextEncoder().encode('ERR:' + (e.code ?? e.message)); }
    });
  },
};
`;

const REQ = {
  ro: {
    network: { mode: 'isolated' as const },
    filesystem: { mode: 'readOnly' as const, paths: [share] },
    context: { read: [], write: [] },
  },
  full: {
    network: { mode: 'full' as const },
    filesystem: { mode: 'none' as const },
    context: { read: [], write: [] },
  },
};

beforeAll(async () => {
  ownTmp.use();
  fs.chmodSync(tmp.dir, 0o755);
  fs.mkdirSync(share, { mode: 0o755 });
  fs.chmodSync(share, 0o755);
  fs.writeFileSync(path.join(share, 'status.txt'), 'ok\n');
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  for (const kind of ['ro', 'full'] as const) {
    plugins[kind] = await fx.js(`${kind}.mjs`, source(`audit-sock-${kind}`), {
      name: `audit-sock-${kind}`,
      kind: 'js',
      keys: fx.stranger,
      requirements: REQ[kind],
    });
  }
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

/** A host service on `sock`, connectable by anyone (as many are); counts what reaches it. */
async function hostService(): Promise<{ hits: string[]; close: () => Promise<void> }> {
  fs.rmSync(sock, { force: true });
  const hits: string[] = [];
  const server = net.createServer((c) => {
    let d = '';
    c.on('data', (b) => {
      d += b;
    });
    c.on('end', () => hits.push(d || '(connected)'));
    c.on('error', () => {});
  });
  await new Promise<void>((res) => server.listen(sock, res));
  fs.chmodSync(sock, 0o666);
  return { hits, close: () => new Promise<void>((res) => server.close(() => res())) };
}

describe('audit: a host Unix socket inside a read-only grant, or on the host under a full network grant', () => {
  const cases = SANDBOX_BACKENDS.flatMap((b) =>
    (['ro', 'full'] as const).map((kind) => [`${b[0]} ${kind}`, kind, ...b] as const),
  );
  it.each(cases)(
    '%s',
    async (_title, kind, label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const name = `audit-sock-${kind}`;
      const svc = await hostService();
      // A host reader on a FIFO in the same folder (a log or command pipe), as writable by anyone as such pipes are.
      fs.rmSync(fifo, { force: true });
      execFileSync('mkfifo', ['-m', '0666', fifo]);
      const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      let fifoGot = '';
      let fifoSaw = '';
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: {
          plugins: {
            [name]: {
              hooks: [{ name: 'audit.sock' }, { name: 'audit.fifo' }],
              ...(kind === 'ro'
                ? { filesystem: { mode: 'readOnly', paths: [share] } }
                : { network: { mode: 'full' } }),
            },
          },
        },
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      let pid: number | undefined;
      let got = '';
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(plugins[kind] as string, 'untrusted');
        const info = registry.getPluginInfo(name);
        pid = info?.pid;
        if (kind === 'ro')
          expect(info?.grants?.granted.filesystem).toEqual({ mode: 'readOnly', paths: [share] });
        else expect(info?.grants?.granted.network).toEqual({ mode: 'full' });
        got = dec.decode(await registry.hooks.execute('audit.sock', enc.encode('')));
        fifoGot = dec.decode(await registry.hooks.execute('audit.fifo', enc.encode('')));
        await new Promise((r) => setTimeout(r, 200));
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
        await svc.close();
        const b = Buffer.alloc(4096);
        try {
          fifoSaw = b.subarray(0, fs.readSync(reader, b)).toString();
        } catch {
          // EAGAIN: nothing was written
        }
        fs.closeSync(reader);
      }
      expect(
        { socket: got, hostServiceSaw: svc.hits },
        `${label} ${kind}: the plugin reached a host service through its socket`,
      ).toEqual({ socket: 'ERR:EACCES', hostServiceSaw: [] });
      if (label === 'bubblewrap' && kind === 'ro') {
        // Known, documented (sandbox-linux README): a read-only bind is no Landlock WRITE_FILE rule, and nothing at
        // `open` sees the file type. Closing it needs a Landlock layer under bubblewrap, set before node starts.
        console.warn(
          `bubblewrap ro: a FIFO in a read-only grant is still writable (${fifoGot}; the host reader saw ${JSON.stringify(fifoSaw)})`,
        );
      } else {
        expect(
          { fifo: fifoGot, hostFifoSaw: fifoSaw },
          `${label} ${kind}: the plugin wrote to a host FIFO`,
        ).toEqual({ fifo: expect.stringMatching(/^ERR:/), hostFifoSaw: '' });
      }
      if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
      expect(leftovers(name, ownTmp.dir)).toEqual([]);
    },
    60_000,
  );
});
