// Grant policy, from the attacker's side (issue 12.2, "only what the host opened"): an untrusted plugin whose manifest
// *requests* the host network, loopback broker targets, read-write binds of /etc and /sys/fs/cgroup/memory and context
// '*' gets none of it unless the host grants it, and then exactly the intersection. Every probe runs inside the real
// sandbox; after each test the host still serves and no plugin process, cgroup or private copy is left.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostGrants,
  isPluginError,
  PluginRegistry,
  type PluginRequirements,
  type PluginSecurity,
} from '../dist/index.js';
import { dec, enc, Fixtures, leftovers, pidAlive, sandboxOrReason, tempDir } from './helpers.js';

// The attacker: one hook that tries everything its manifest asked for and reports what worked.
const attacker = `
import fs from 'node:fs';
const enc = new TextEncoder();
const dec = new TextDecoder();
let rt; let ctx;
const text = (v) => v instanceof Uint8Array ? dec.decode(v) : String(v);
async function connect(host, port) {
  const net = await import('node:net');
  return await new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', reject);
  });
}
export default {
  name: 'grabby', version: '1.0.0', author: 'a stranger',
  init(c, runtime) { ctx = c; rt = runtime; },
  async registerHooks(h) {
    await h.register('probe', 300, async (d) => {
      const q = JSON.parse(dec.decode(d));
      const out = {};
      const attempt = async (k, f) => {
        try { out[k] = 'ok ' + text(await f()).slice(0, 60); } catch (e) { out[k] = 'denied ' + (e?.code ?? e?.message); }
      };
      const fetchIt = (port) => {
        if (typeof rt.fetch !== 'function') throw Object.assign(new Error('no fetch'), { code: 'NoFetch' });
        return rt.fetch({ url: 'http://127.0.0.1:' + port + '/', method: 'GET', headers: {} })
          .then((r) => r.status + ' ' + dec.decode(r.body));
      };
      await attempt('shadow', () => fs.readFileSync('/etc/shadow', 'utf8'));
      await attempt('etcWrite', () => fs.writeFileSync('/etc/plugward-was-here', 'x'));
      await attempt('root', () => fs.readdirSync('/root').join(','));
      await attempt('cgroupEscape', () => fs.writeFileSync('/sys/fs/cgroup/memory/cgroup.procs', String(process.pid)));
      await attempt('grantedRead', () => fs.readFileSync(q.dir + '/data.txt', 'utf8'));
      await attempt('grantedWrite', () => fs.writeFileSync(q.dir + '/data.txt', 'pwned'));
      await attempt('connectHost', () => connect('127.0.0.1', q.secret));
      await attempt('fetchAllowed', () => fetchIt(q.allowed));
      await attempt('fetchSecret', () => fetchIt(q.secret));
      await attempt('ctxSecret', () => ctx.get('db.password'));
      await attempt('ctxMotd', () => ctx.get('public.motd'));
      await attempt('ctxWrite', () => ctx.set('db.password', enc.encode('pwned')));
      return enc.encode(JSON.stringify(out));
    });
  },
};
`;

const healthy = `
export default {
  name: 'healthy', version: '1.0.0', author: 'the host',
  init() {},
  registerHooks(h) { h.register('ping', 100, () => new TextEncoder().encode('pong')); },
};
`;

const tmp = tempDir('grants');
const fx = new Fixtures(tmp.dir);
// This file's own temp root: every private copy the registry makes lands here, so "none left" is checkable while
// other test files (and other processes) use /tmp at the same time.
const ownTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-grants-tmp-'));
const grantDir = path.join(tmp.dir, 'granted');
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
let grabby = '';
let healthyPath = '';
let allowed: http.Server;
let secret: http.Server;
const ports = { allowed: 0, secret: 0 };

// Everything the attacker declared.
const GREEDY = (allowedPort: number, secretPort: number): PluginRequirements => ({
  network: {
    mode: 'restricted',
    allowedTargets: [
      { host: '127.0.0.1', ports: [allowedPort, secretPort] },
      { host: '169.254.169.254' },
      { host: 'fd00:ec2::254' },
      { host: '0.0.0.0/0' },
      { host: 'localhost' },
    ],
  },
  filesystem: { mode: 'readWrite', paths: ['/etc', '/sys/fs/cgroup/memory', '/root', grantDir] },
  context: { read: ['*'], write: ['*'] },
});

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  process.env.TMPDIR = ownTmp;
  // On a root host the plugin runs as an unprivileged uid: the granted folder must be reachable by others.
  fs.chmodSync(tmp.dir, 0o711);
  fs.mkdirSync(grantDir, { mode: 0o755 });
  fs.writeFileSync(path.join(grantDir, 'data.txt'), 'granted data');
  allowed = http.createServer((_q, r) => r.end('public'));
  secret = http.createServer((_q, r) => r.end('host-only secret'));
  await new Promise<void>((r) => allowed.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => secret.listen(0, '127.0.0.1', r));
  ports.allowed = (allowed.address() as AddressInfo).port;
  ports.secret = (secret.address() as AddressInfo).port;
  // Signed by a key the host never pinned: untrusted.
  grabby = await fx.js('grabby.mjs', attacker, {
    name: 'grabby',
    kind: 'js',
    keys: fx.stranger,
    requirements: GREEDY(ports.allowed, ports.secret),
  });
  healthyPath = await fx.js('healthy.mjs', healthy, { name: 'healthy', kind: 'js' });
  await fx.trust(healthyPath);
  security = await fx.security({ onlyTrusted: false });
});

afterAll(async () => {
  await new Promise((r) => allowed.close(r));
  await new Promise((r) => secret.close(r));
  tmp.remove();
  fs.rmSync(ownTmp, { recursive: true, force: true });
});

async function probe(registry: PluginRegistry): Promise<Record<string, string>> {
  const q = { dir: grantDir, allowed: ports.allowed, secret: ports.secret };
  return JSON.parse(dec.decode(await registry.hooks.execute('probe', enc.encode(JSON.stringify(q)))));
}

async function run(grants: HostGrants): Promise<{ results: Record<string, string>; info: unknown }> {
  const registry = new PluginRegistry({
    security,
    sandbox,
    policy: { onlyTrusted: false },
    grants,
    log: () => {},
  });
  registry.context.set('db.password', enc.encode('hunter2'));
  registry.context.set('public.motd', enc.encode('hello'));
  let pid: number | undefined;
  try {
    await registry.loadPlugin(healthyPath, 'trusted');
    await registry.loadPlugin(grabby, 'untrusted');
    pid = registry.getPluginInfo('grabby')?.pid;
    expect(pid).toBeGreaterThan(0);
    const results = await probe(registry);
    // The host still serves, and its secret is intact.
    expect(dec.decode(await registry.hooks.execute('ping', new Uint8Array()))).toBe('pong');
    expect(dec.decode(registry.context.get('db.password') as Uint8Array)).toBe('hunter2');
    return { results, info: registry.getPluginInfo('grabby') };
  } finally {
    await registry.close();
    expect(pid === undefined || !pidAlive(pid)).toBe(true);
    expect(leftovers('grabby', ownTmp)).toEqual([]);
  }
}

describe('an untrusted plugin gets only what the host granted', () => {
  it('no grant: none of its requested network, filesystem or context, only the granted hook', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const { results, info } = await run({ plugins: { grabby: { hooks: [{ name: 'probe' }] } } });
    expect(results).toMatchObject({
      shadow: expect.stringMatching(/^denied/),
      etcWrite: expect.stringMatching(/^denied/),
      root: expect.stringMatching(/^denied/),
      cgroupEscape: expect.stringMatching(/^denied/),
      grantedRead: expect.stringMatching(/^denied/),
      grantedWrite: expect.stringMatching(/^denied/),
      connectHost: expect.stringMatching(/^denied/),
      fetchAllowed: 'denied NoFetch',
      fetchSecret: 'denied NoFetch',
      ctxSecret: expect.stringMatching(/^denied/),
      ctxMotd: expect.stringMatching(/^denied/),
      ctxWrite: expect.stringMatching(/^denied/),
    });
    expect(fs.readFileSync(path.join(grantDir, 'data.txt'), 'utf8')).toBe('granted data');
    expect(fs.existsSync('/etc/plugward-was-here')).toBe(false);
    // The request is visible to the host, next to what was granted.
    expect(info).toMatchObject({
      grants: {
        source: 'plugin grant',
        requested: { network: { mode: 'restricted' }, filesystem: { mode: 'readWrite' } },
        granted: {
          network: { mode: 'isolated' },
          filesystem: { mode: 'none' },
          context: { read: [], write: [] },
        },
      },
    });
  });

  it('a host grant gives exactly the intersection of request and grant', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const { results, info } = await run({
      plugins: {
        grabby: {
          hooks: [{ name: 'probe' }],
          network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [ports.allowed] }] },
          filesystem: { mode: 'readOnly', paths: [grantDir] },
          context: { read: ['public.motd'], write: [] },
        },
      },
    });
    expect(results).toMatchObject({
      shadow: expect.stringMatching(/^denied/),
      etcWrite: expect.stringMatching(/^denied/),
      cgroupEscape: expect.stringMatching(/^denied/),
      grantedRead: 'ok granted data',
      grantedWrite: expect.stringMatching(/^denied/),
      connectHost: expect.stringMatching(/^denied/),
      fetchAllowed: 'ok 200 public',
      fetchSecret: 'denied PermissionDenied',
      ctxSecret: expect.stringMatching(/^denied/),
      ctxMotd: 'ok hello',
      ctxWrite: expect.stringMatching(/^denied/),
    });
    expect(fs.readFileSync(path.join(grantDir, 'data.txt'), 'utf8')).toBe('granted data');
    expect(info).toMatchObject({
      grants: {
        granted: {
          network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [ports.allowed] }] },
          filesystem: { mode: 'readOnly', paths: [grantDir] },
          context: { read: ['public.motd'], write: [] },
        },
      },
    });
  });

  it('a `full` grant does not open loopback to the broker; the host network needs both sides to say full', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const { results, info } = await run({
      plugins: { grabby: { hooks: [{ name: 'probe' }], network: { mode: 'full' } } },
    });
    // Its request was `restricted` (loopback, metadata, 0.0.0.0/0 and localhost): only the domain survives the
    // intersection, and the broker refuses what localhost resolves to.
    expect((info as { grants: { granted: PluginRequirements } }).grants.granted.network).toEqual({
      mode: 'restricted',
      allowedTargets: [{ host: 'localhost' }],
    });
    expect(results.fetchAllowed).toBe('denied PermissionDenied');
    expect(results.fetchSecret).toBe('denied PermissionDenied');
    expect(results.connectHost).toMatch(/^denied/);
  });

  it('a signer grant applies only when the signature verifies under the granted key', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const { keyId, toHex } = await import('@plugward/security');
    const context = { read: ['public.motd'], write: [] };
    // Filed under the stranger's key id but with another key: a key id in a manifest proves nothing.
    const forged = await run({
      plugins: {},
      signers: {
        [keyId(fx.stranger.publicKey)]: {
          publicKey: toHex(fx.publisher.publicKey),
          hooks: [{ name: 'probe' }],
          context,
        },
      },
    }).catch((e: unknown) => e);
    expect(isPluginError(forged, 'GrantDenied')).toBe(true);
    const real = await run({
      signers: {
        [keyId(fx.stranger.publicKey)]: {
          publicKey: toHex(fx.stranger.publicKey),
          hooks: [{ name: 'probe' }],
          context,
        },
      },
    });
    expect(real.results.ctxMotd).toBe('ok hello');
    expect(real.results.ctxSecret).toMatch(/^denied/);
    expect(real.info).toMatchObject({ grants: { source: 'signer grant' } });
  });
});
