// Restricted network through the registry: a sandboxed plugin has no network of its own; its `runtime.fetch` goes to
// the host's broker, which allows exactly the targets of the plugin's signed manifest (checked on the resolved
// address) and refuses everything else — including a name that resolves to loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginRequirements } from '../dist/index.js';
import { dec, enc, Fixtures, sandboxOrReason, tempDir } from './helpers.js';

const source = `
const enc = new TextEncoder();
const dec = new TextDecoder();
let rt;
export default {
  name: 'fetcher', version: '1.0.0', author: 'registry tests',
  init(_ctx, runtime) { rt = runtime; },
  async registerHooks(h) {
    await h.register('fetch', 200, async (d) => {
      const url = dec.decode(d);
      if (typeof rt.fetch !== 'function') return enc.encode('no fetch');
      try {
        const res = await rt.fetch({ url, method: 'GET', headers: {} });
        return enc.encode(res.status + ' ' + dec.decode(res.body));
      } catch (e) {
        return enc.encode('refused ' + e.code);
      }
    });
    await h.register('connect', 200, async (d) => {
      // A direct connection, bypassing the broker: the sandbox has no route to the host.
      const net = await import('node:net');
      const [host, port] = dec.decode(d).split(':');
      return await new Promise((resolve) => {
        const s = net.connect({ host, port: Number(port) });
        s.once('connect', () => { s.destroy(); resolve(enc.encode('connected')); });
        s.once('error', (e) => resolve(enc.encode('error ' + e.code)));
      });
    });
  },
};
`;

const tmp = tempDir('network');
const fx = new Fixtures(tmp.dir);
let server: http.Server;
let port = 0;
let other: http.Server;
let otherPort = 0;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  server = http.createServer((_req, res) => res.end('hello from the allowed host'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  other = http.createServer((_req, res) => res.end('secret'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  otherPort = (other.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await new Promise((r) => other.close(r));
  tmp.remove();
});

describe('restricted network (brokered fetch)', () => {
  it('serves only the signed allow-list, on the resolved address, and the sandbox has no direct route', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const requirements: PluginRequirements = {
      network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [port] }] },
      filesystem: { mode: 'none' },
      context: { read: [], write: [] },
    };
    const artifact = await fx.js('fetcher.mjs', source, { name: 'fetcher', kind: 'js', requirements });
    await fx.trust(artifact);
    const security = await fx.security();
    await using registry = new PluginRegistry({ security, sandbox, log: () => {} });
    await registry.loadPlugin(artifact, 'trusted');
    // Asked for in-process by default, but the grant raised it into the sandbox.
    expect(registry.getPluginInfo('fetcher')?.tier).toBe('sandbox');
    const call = async (hook: string, text: string) =>
      dec.decode(await registry.hooks.execute(hook, enc.encode(text)));

    expect(await call('fetch', `http://127.0.0.1:${port}/`)).toBe('200 hello from the allowed host');
    // Same host, port not listed.
    expect(await call('fetch', `http://127.0.0.1:${otherPort}/`)).toBe('refused PermissionDenied');
    // A name that resolves to loopback is refused: loopback is allowed only as the literal listed address.
    expect(await call('fetch', `http://localhost:${port}/`)).toBe('refused PermissionDenied');
    // The metadata address.
    expect(await call('fetch', 'http://169.254.169.254/latest/meta-data/')).toBe('refused PermissionDenied');
    // No way around the broker: strict seccomp refuses non-AF_UNIX sockets (EPERM), and even without it the
    // sandbox's network namespace has only its own loopback.
    expect(await call('connect', `127.0.0.1:${port}`)).toMatch(
      /^error (EPERM|EACCES|ECONNREFUSED|ENETUNREACH)$/,
    );
  });

  it('a plugin without a restricted grant gets no fetch at all', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
    const artifact = await fx.js('plain.mjs', source.replace("name: 'fetcher'", "name: 'plain'"), {
      name: 'plain',
      kind: 'js',
    });
    await fx.trust(artifact);
    const security = await fx.security();
    await using registry = new PluginRegistry({ security, sandbox, defaultTier: 'sandbox', log: () => {} });
    await registry.loadPlugin(artifact, 'trusted');
    expect(dec.decode(await registry.hooks.execute('fetch', enc.encode(`http://127.0.0.1:${port}/`)))).toBe(
      'no fetch',
    );
  });
});
