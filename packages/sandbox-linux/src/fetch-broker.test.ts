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
    'not-an-ip',
  ])('blocks %s', (a) => {
    expect(isBlockedAddress(a)).toBe(true);
  });
  it.each(['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (a) => {
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
