import http from 'node:http';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FetchBroker, isBlockedAddress } from './fetch-broker.js';

describe('isBlockedAddress', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    // Local-use NAT64 (RFC 8215), 6to4 and Teredo carrying the metadata service or loopback.
    '64:ff9b:1::a9fe:a9fe',
    '64:ff9b:1:a9fe:a9:fe00::',
    '2002:a9fe:a9fe::1',
    '2002:7f00:1::',
    '2001:0:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    'not-an-ip',
  ])('blocks %s', (a) => {
    expect(isBlockedAddress(a)).toBe(true);
  });
  it.each([
    '93.184.216.34',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '2002:5db8:d822::1',
    '2001:0:4136:e378:8000:63bf:a247:27dd',
  ])('allows %s', (a) => {
    expect(isBlockedAddress(a)).toBe(false);
  });
});

describe('FetchBroker.check', () => {
  const lookup = (map: Record<string, string[]>) => async (h: string) =>
    (map[h] ?? []).map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));

  it('allows a listed domain resolving to a public address, on a listed port only', async () => {
    const b = new FetchBroker({
      allowedTargets: [{ host: 'api.example.com', ports: [443] }],
      lookup: lookup({ 'api.example.com': ['93.184.216.34'] }),
    });
    await expect(b.check('https://api.example.com/x')).resolves.toMatchObject({
      address: '93.184.216.34',
      port: 443,
    });
    await expect(b.check('http://api.example.com/x')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(b.check('https://other.example.com/')).rejects.toMatchObject({ code: 'PermissionDenied' });
  });

  it('wildcards match subdomains, not the apex', async () => {
    const b = new FetchBroker({
      allowedTargets: [{ host: '*.example.com' }],
      lookup: lookup({ 'a.example.com': ['93.184.216.34'], 'example.com': ['93.184.216.34'] }),
    });
    await expect(b.check('https://a.example.com/')).resolves.toBeDefined();
    await expect(b.check('https://example.com/')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(b.check('https://evilexample.com/')).rejects.toMatchObject({ code: 'PermissionDenied' });
  });

  it('refuses a mixed DNS answer that hides a private address (rebinding)', async () => {
    const b = new FetchBroker({
      allowedTargets: [{ host: 'api.example.com' }],
      lookup: lookup({ 'api.example.com': ['93.184.216.34', '10.0.0.5'] }),
    });
    await expect(b.check('https://api.example.com/')).rejects.toMatchObject({ code: 'PermissionDenied' });
  });

  it('refuses non-http schemes, credentials and malformed URLs', async () => {
    const b = new FetchBroker({ allowedTargets: [{ host: '1.1.1.1' }] });
    await expect(b.check('file:///etc/passwd')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(b.check('http://u:p@1.1.1.1/')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(b.check('http://')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(b.check('http://[::ffff:127.0.0.1]/')).rejects.toMatchObject({ code: 'PermissionDenied' });
  });

  it('serves a listed CIDR over real HTTP and caps the response size', async () => {
    const server = http.createServer((_q, s) => s.end('x'.repeat(5000)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const ok = new FetchBroker({ allowedTargets: [{ host: '127.0.0.0/8' }] });
      const res = await ok.fetch({
        url: `http://127.0.0.1:${port}/`,
        method: 'GET',
        headers: { 'x-a': '1' },
      });
      expect(res.status).toBe(200);
      expect(res.body.byteLength).toBe(5000);
      const small = new FetchBroker({ allowedTargets: [{ host: '127.0.0.0/8' }], maxResponseBytes: 100 });
      await expect(
        small.fetch({ url: `http://127.0.0.1:${port}/`, method: 'GET', headers: {} }),
      ).rejects.toMatchObject({
        code: 'IoError',
      });
      await expect(
        ok.fetch({ url: `http://127.0.0.1:${port}/`, method: 'TRACE', headers: {} }),
      ).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      await expect(
        ok.fetch({ url: `http://127.0.0.1:${port}/`, method: 'GET', headers: { 'x-a': 'a\r\nHost: evil' } }),
      ).rejects.toMatchObject({ code: 'InvalidArgument' });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('rejects malformed allow-list entries', () => {
    expect(() => new FetchBroker({ allowedTargets: [{ host: '10.0.0.0/99' }] })).toThrow(/CIDR/);
    expect(() => new FetchBroker({ allowedTargets: [{ host: 'a b' }] })).toThrow(/invalid network target/);
    expect(() => new FetchBroker({ allowedTargets: [{ host: 'a.com', ports: [70000] }] })).toThrow(/port/);
  });
});

describe('FetchBroker quotas (attacker: a plugin flooding brokered fetches)', () => {
  const MiB = 1024 * 1024;

  async function bigServer(bytes: number, delayMs = 0) {
    let open = 0;
    let maxOpen = 0;
    const body = Buffer.alloc(bytes, 1);
    const server = http.createServer((_q, s) => {
      setTimeout(() => {
        s.writeHead(200, { 'content-length': String(bytes) });
        // Written in slices so the response arrives over time, as from a real peer.
        let off = 0;
        const next = (): void => {
          while (off < bytes) {
            const part = body.subarray(off, off + 256 * 1024);
            off += part.length;
            if (!s.write(part)) {
              s.once('drain', next);
              return;
            }
          }
          s.end();
        };
        next();
      }, delayMs);
    });
    // Counted per connection (socket), which is what the host spends a descriptor on.
    server.on('connection', (socket) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      socket.on('close', () => open--);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}/`,
      stats: () => ({ open, maxOpen }),
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }

  it('48 concurrent 7 MiB fetches: in-flight and buffered bytes stay within the plugin quota', async () => {
    const srv = await bigServer(7 * MiB, 20);
    try {
      const broker = new FetchBroker({
        allowedTargets: [{ host: '127.0.0.1' }],
        maxInFlight: 4,
        maxBufferedBytes: 16 * MiB,
      });
      let peakBytes = 0;
      let peakInFlight = 0;
      const poll = setInterval(() => {
        peakBytes = Math.max(peakBytes, broker.bufferedBytes);
        peakInFlight = Math.max(peakInFlight, broker.inFlight);
      }, 1);
      const results = await Promise.allSettled(
        Array.from({ length: 48 }, () => broker.fetch({ url: srv.url, method: 'GET', headers: {} })),
      );
      clearInterval(poll);
      const refused = results.filter(
        (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'QuotaExceeded',
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      // The goal failed: at most 4 ran, the other 44 were refused with the coded error.
      expect(refused.length).toBeGreaterThanOrEqual(44);
      expect(ok.length + refused.length).toBe(48);
      expect(srv.stats().maxOpen).toBeLessThanOrEqual(4);
      expect(peakInFlight).toBeLessThanOrEqual(4);
      expect(peakBytes).toBeLessThanOrEqual(16 * MiB);
      // Nothing left behind: no count, no bytes, no socket.
      expect(broker.inFlight).toBe(0);
      expect(broker.bufferedBytes).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      expect(srv.stats().open).toBe(0);
      // The broker still serves the plugin afterwards, within its quota.
      const again = await broker.fetch({ url: srv.url, method: 'GET', headers: {} });
      expect(again.body.byteLength).toBe(7 * MiB);
      expect(broker.bufferedBytes).toBe(0);
    } finally {
      await srv.close();
    }
  }, 30_000);

  it('refuses a request body over the byte quota and frees an aborted request at once', async () => {
    const srv = await bigServer(4 * MiB, 2000);
    try {
      const broker = new FetchBroker({ allowedTargets: [{ host: '127.0.0.1' }], maxBufferedBytes: 2 * MiB });
      await expect(
        broker.fetch({ url: srv.url, method: 'POST', headers: {}, body: new Uint8Array(3 * MiB) }),
      ).rejects.toMatchObject({ code: 'QuotaExceeded', details: { resource: 'fetch-bytes' } });
      // A response growing past the quota is cut off with the coded error.
      await expect(broker.fetch({ url: srv.url, method: 'GET', headers: {} })).rejects.toMatchObject({
        code: 'QuotaExceeded',
      });
      expect(broker.bufferedBytes).toBe(0);
      const ac = new AbortController();
      const pending = broker.fetch({ url: srv.url, method: 'GET', headers: {} }, ac.signal);
      await new Promise((r) => setTimeout(r, 50));
      expect(broker.inFlight).toBe(1);
      ac.abort();
      await expect(pending).rejects.toMatchObject({ code: 'Timeout' });
      expect(broker.inFlight).toBe(0);
      expect(broker.bufferedBytes).toBe(0);
    } finally {
      await srv.close();
    }
  }, 30_000);

  it('a wide CIDR never unblocks loopback, private or metadata addresses; a narrow explicit one does', async () => {
    const lookupTo = (address: string) => async () => [
      { address, family: (address.includes(':') ? 6 : 4) as 4 | 6 },
    ];
    for (const host of ['0.0.0.0/0', '::/0', '96.0.0.0/3', '0.0.0.0/1', '::ffff:0.0.0.0/96']) {
      const b = new FetchBroker({ allowedTargets: [{ host }] });
      for (const url of [
        'http://127.0.0.1/',
        'http://169.254.169.254/latest/meta-data/',
        'http://10.0.0.1/',
        'http://0.0.0.0/',
        'http://[::ffff:127.0.0.1]/',
        'http://[::1]/',
      ]) {
        await expect(b.check(url), `${host} ${url}`).rejects.toMatchObject({ code: 'PermissionDenied' });
      }
    }
    // A listed name that resolves (or rebinds) to loopback stays refused without an explicit IP listing.
    const named = new FetchBroker({
      allowedTargets: [{ host: 'api.example.com' }, { host: '0.0.0.0/0' }],
      lookup: lookupTo('127.0.0.1'),
    });
    await expect(named.check('http://api.example.com/')).rejects.toMatchObject({ code: 'PermissionDenied' });
    const explicit = new FetchBroker({ allowedTargets: [{ host: '127.0.0.1' }, { host: '10.0.0.0/8' }] });
    await expect(explicit.check('http://127.0.0.1/')).resolves.toMatchObject({ address: '127.0.0.1' });
    await expect(explicit.check('http://10.1.2.3/')).resolves.toMatchObject({ address: '10.1.2.3' });
    await expect(explicit.check('http://169.254.169.254/')).rejects.toMatchObject({
      code: 'PermissionDenied',
    });
    expect(() => new FetchBroker({ allowedTargets: [], maxInFlight: 0 })).toThrow(/maxInFlight/);
  });
});
