import { describe, expect, it } from 'vitest';
import { checkHttpRequest, generateHttpToken, tokenMatches } from './http-host.js';

const token = generateHttpToken();
const guard = { token, port: 8080, allowOrigins: ['http://localhost:5173'] };
const ok = { host: '127.0.0.1:8080', authorization: `Bearer ${token}` };

describe('checkHttpRequest', () => {
  it('accepts the three loopback names of the bound port, with the token', () => {
    for (const host of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080', '[::1]:8080']) {
      expect(checkHttpRequest({ ...ok, host }, guard)).toEqual({ ok: true });
    }
  });

  it('refuses a Host that names anything else (DNS rebinding), before looking at the token', () => {
    for (const host of [
      undefined,
      'evil.example:8080',
      'evil.example',
      '127.0.0.1',
      '127.0.0.1:8081',
      '0.0.0.0:8080',
    ]) {
      const r = checkHttpRequest({ ...ok, host }, guard);
      expect(r).toMatchObject({ ok: false, status: 421 });
    }
  });

  it('refuses browser origins unless allowed, and cross-site fetch metadata', () => {
    expect(checkHttpRequest({ ...ok, origin: 'https://evil.example' }, guard)).toMatchObject({ status: 403 });
    expect(checkHttpRequest({ ...ok, origin: 'null' }, guard)).toMatchObject({ status: 403 });
    expect(checkHttpRequest({ ...ok, origin: 'http://127.0.0.1:8080' }, guard)).toMatchObject({
      status: 403,
    });
    expect(checkHttpRequest({ ...ok, 'sec-fetch-site': 'cross-site' }, guard)).toMatchObject({ status: 403 });
    expect(checkHttpRequest({ ...ok, 'sec-fetch-site': 'same-site' }, guard)).toMatchObject({ status: 403 });
    expect(checkHttpRequest({ ...ok, 'sec-fetch-site': 'none' }, guard)).toEqual({ ok: true });
    expect(checkHttpRequest({ ...ok, origin: 'http://localhost:5173' }, guard)).toEqual({
      ok: true,
      corsOrigin: 'http://localhost:5173',
    });
    // An allowed origin still needs the token; its preflight (which carries none) passes, others' do not.
    const { authorization: _, ...noToken } = ok;
    expect(checkHttpRequest({ ...noToken, origin: 'http://localhost:5173' }, guard)).toMatchObject({
      status: 401,
    });
    expect(checkHttpRequest({ ...noToken, origin: 'http://localhost:5173' }, guard, true)).toMatchObject({
      ok: true,
    });
    expect(checkHttpRequest({ ...noToken, origin: 'https://evil.example' }, guard, true)).toMatchObject({
      status: 403,
    });
    expect(checkHttpRequest(noToken, guard, true)).toMatchObject({ status: 403 });
  });

  it('refuses a missing, wrong, truncated or extended token', () => {
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      `Basic ${token}`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token}x`,
      `Bearer ${generateHttpToken()}`,
      `Bearer ${token} ${token}`,
    ]) {
      expect(checkHttpRequest({ ...ok, authorization }, guard)).toMatchObject({ ok: false, status: 401 });
    }
    expect(checkHttpRequest({ ...ok, authorization: `bearer ${token}` }, guard)).toEqual({ ok: true });
  });

  it('tokenMatches compares hashes (equal length inputs to timingSafeEqual)', () => {
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches('', token)).toBe(false);
    expect(tokenMatches(`${token}${token}`, token)).toBe(false);
  });
});
