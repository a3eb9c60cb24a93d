// `plugward run --http` from the attacker's side: a web page the operator visits (a text/plain POST needs no CORS
// preflight), a DNS-rebinding page (its requests carry Host: attacker-name:PORT), a local process without the token.
// Each attack must (a) not run the hook (the plugin appends to a marker file on every call) nor read /plugins,
// (b) leave the host serving the real client, (c) leave nothing behind (exit 0 on SIGTERM, port closed).
// Also: the port is bound before any plugin loads, a busy port fails with the OS reason, and nothing loadable fails.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readManifest, saveTrustList, trustEntryFromManifest } from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = path.join(import.meta.dirname, '..', 'dist', 'bin.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cli-http-'));
const dir = path.join(work, 'plugins');
const empty = path.join(work, 'empty');
const calls = path.join(work, 'calls.log');
const listPath = path.join(work, 'trust.enc');
const listKey = randomBytes(32).toString('hex');
const httpToken = randomBytes(24).toString('hex');
const publisher = generateKeyPair();

const PLUGIN = `
import fs from 'node:fs';
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: 'secret-keeper', version: '1.0.0', author: 'cli tests',
  async init() {},
  async registerHooks(h) {
    await h.register('act', 200, async (d) => { fs.appendFileSync(${JSON.stringify(calls)}, dec.decode(d) + '\\n'); return enc.encode('did ' + dec.decode(d)); });
  },
  shutdown() {},
};
`;

beforeAll(async () => {
  fs.mkdirSync(dir);
  fs.mkdirSync(empty);
  const p = path.join(dir, 'keeper.mjs');
  fs.writeFileSync(p, PLUGIN);
  await writeSignedManifest(
    { artifactPath: p, name: 'secret-keeper', version: '1.0.0', author: 'cli tests', kind: 'js' },
    publisher.privateKey,
  );
  await saveTrustList(
    listPath,
    { listVersion: 1, entries: [trustEntryFromManifest(await readManifest(p), publisher.publicKey)] },
    listKey,
  );
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const trustArgs = (d = dir) => [
  'run',
  d,
  '--pub',
  toHex(publisher.publicKey),
  '--list',
  listPath,
  '--key-hex-env',
  'PW_LIST_KEY',
];
const env = () => ({ ...process.env, PW_LIST_KEY: listKey, PW_HTTP_TOKEN: httpToken });

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
/** A raw request, so Host and Origin can be set as an attacker's browser would send them. */
function request(port: number, method: string, urlPath: string, headers: Record<string, string>, body = '') {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers, setHost: false },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => {
          data += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function start(extra: string[]): Promise<{ child: ChildProcess; port: number; err: () => string }> {
  const child = spawn(process.execPath, [bin, ...trustArgs(), '--http', '0', ...extra], {
    cwd: work,
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port, err: () => err };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

const callsMade = () => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '');

describe('plugward run --http: who may call it', () => {
  it('refuses a web page (Origin, text/plain), DNS rebinding (Host), no token and a wrong token', async () => {
    fs.rmSync(calls, { force: true });
    const { child, port, err } = await start(['--token-env', 'PW_HTTP_TOKEN']);
    // The token came from the environment: it is not printed.
    expect(err()).not.toContain(httpToken);
    const host = `127.0.0.1:${port}`;
    const auth = `Bearer ${httpToken}`;
    try {
      // A page on another site POSTs text/plain (a "simple" request: no preflight) — even knowing the token.
      const page = await request(
        port,
        'POST',
        '/hooks/act',
        { host, origin: 'https://evil.example', 'content-type': 'text/plain', authorization: auth },
        'page',
      );
      expect(page.status).toBe(403);
      expect(page.headers['access-control-allow-origin']).toBeUndefined();
      // A sandboxed iframe / file: page sends Origin: null.
      expect(
        (await request(port, 'POST', '/hooks/act', { host, origin: 'null', authorization: auth }, 'n'))
          .status,
      ).toBe(403);
      // A navigation/form post without Origin but with fetch metadata saying cross-site.
      expect(
        (
          await request(
            port,
            'POST',
            '/hooks/act',
            { host, 'sec-fetch-site': 'cross-site', authorization: auth },
            'f',
          )
        ).status,
      ).toBe(403);
      // DNS rebinding: the page's name now resolves to 127.0.0.1, so the browser sends its own name as Host.
      for (const forged of [
        `rebind.attacker.example:${port}`,
        'rebind.attacker.example',
        `127.0.0.1:${port + 1}`,
      ]) {
        const list = await request(port, 'GET', '/plugins', { host: forged, authorization: auth });
        expect(list.status).toBe(421);
        expect(list.body).not.toContain('secret-keeper');
        expect(
          (await request(port, 'POST', '/hooks/act', { host: forged, authorization: auth }, 'rebind')).status,
        ).toBe(421);
      }
      // A local process (or a page) without the token, with a wrong one, with the token in the query string.
      const none = await request(port, 'GET', '/plugins', { host });
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer');
      expect(none.body).not.toContain('secret-keeper');
      const wrong = `Bearer ${randomBytes(24).toString('hex')}`;
      expect(
        (await request(port, 'POST', '/hooks/act', { host, authorization: wrong }, 'wrong')).status,
      ).toBe(401);
      expect((await request(port, 'POST', `/hooks/act?token=${httpToken}`, { host }, 'query')).status).toBe(
        401,
      );
      // A client without the token cannot keep the connection to stream a body into: answered, then closed (Node
      // closes a connection whose request body was not read before the response ended).
      const closed = await new Promise<string>((resolve) => {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(`POST /hooks/act HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 104857600\r\n\r\n`);
          const chunk = Buffer.alloc(64 * 1024);
          const pump = () => {
            while (!sock.destroyed && sock.write(chunk)) {}
          };
          sock.on('drain', pump);
          pump();
        });
        let head = '';
        sock.on('data', (d: Buffer) => {
          head += d.toString();
        });
        sock.on('error', () => {});
        sock.on('close', () => resolve(head.split('\r\n')[0] ?? ''));
        setTimeout(() => {
          sock.destroy();
          resolve('still open after 10 s');
        }, 10_000);
      });
      expect(closed).toBe('HTTP/1.1 401 Unauthorized');
      // (a) the hook never ran.
      expect(callsMade()).toBe('');
      // (b) the host still serves the real client, on each loopback name.
      for (const h of [host, `localhost:${port}`]) {
        const real = await request(port, 'POST', '/hooks/act', { host: h, authorization: auth }, 'real');
        expect(real.status).toBe(200);
        expect(real.body).toBe('did real');
      }
      expect(callsMade()).toBe('real\nreal\n');
      const typo = await request(port, 'POST', '/hooks/acts', { host, authorization: auth }, 'x');
      expect(typo.status).toBe(404);
      expect(JSON.parse(typo.body)).toMatchObject({ code: 'NotFound', hook: 'acts' });
    } finally {
      // (c) nothing left behind: a clean exit, the port closed.
      expect(await stop(child)).toBe(0);
    }
    await expect(request(port, 'GET', '/plugins', { host })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('--allow-origin lets exactly that origin in (with CORS and a preflight), and still needs the token', async () => {
    fs.rmSync(calls, { force: true });
    const tokenFile = path.join(work, 'token');
    fs.writeFileSync(tokenFile, `${httpToken}\n`, { mode: 0o600 });
    const origin = 'http://localhost:5173';
    const { child, port } = await start(['--token-file', tokenFile, '--allow-origin', origin]);
    const host = `127.0.0.1:${port}`;
    try {
      const pre = await request(port, 'OPTIONS', '/hooks/act', {
        host,
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      });
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
      expect(pre.headers['access-control-allow-headers']).toMatch(/authorization/);
      const evilPre = await request(port, 'OPTIONS', '/hooks/act', { host, origin: 'https://evil.example' });
      expect(evilPre.status).toBe(403);
      expect(evilPre.headers['access-control-allow-origin']).toBeUndefined();
      expect((await request(port, 'POST', '/hooks/act', { host, origin }, 'no token')).status).toBe(401);
      const yes = await request(
        port,
        'POST',
        '/hooks/act',
        { host, origin, authorization: `Bearer ${httpToken}` },
        'ui',
      );
      expect(yes.status).toBe(200);
      expect(yes.headers['access-control-allow-origin']).toBe(origin);
      expect(callsMade()).toBe('ui\n');
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('bad token sources and origins are usage errors', () => {
    const pw = (args: string[]) =>
      spawnSync(process.execPath, [bin, ...args], {
        cwd: work,
        env: env(),
        encoding: 'utf8',
        timeout: 30_000,
      });
    fs.writeFileSync(path.join(work, 'short'), 'abc\n');
    for (const extra of [
      ['--http', '0', '--token-file', 'short'],
      ['--http', '0', '--token-env', 'PW_UNSET_VAR'],
      ['--http', '0', '--allow-origin', 'http://localhost:5173/'],
      ['--http', '0', '--allow-origin', '*'],
      ['--token-env', 'PW_HTTP_TOKEN'],
    ]) {
      const r = pw([...trustArgs(), ...extra]);
      expect(r.status, `${extra.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^hint: /m);
    }
    expect(pw([...trustArgs(), '--http', '0', '--token-file', 'missing']).status).toBe(3);
  });
});

describe('plugward run fails loudly', () => {
  const pw = (args: string[], input = '') =>
    spawnSync(process.execPath, [bin, ...args], {
      cwd: work,
      env: env(),
      encoding: 'utf8',
      timeout: 30_000,
      input,
    });

  it('validates and binds the --http port before loading any plugin, with the OS reason', async () => {
    for (const bad of ['abc', '70000', '-1', '80.5', '']) {
      const r = pw([...trustArgs(), '--http', bad]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).not.toMatch(/found \d+ plugin/);
    }
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = (blocker.address() as AddressInfo).port;
    try {
      fs.rmSync(calls, { force: true });
      const r = spawnSync(process.execPath, [bin, ...trustArgs(), '--http', String(busy)], {
        cwd: work,
        env: env(),
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy}: EADDRINUSE`));
      expect(r.stderr).toMatch(/^hint: .*--http 0/m);
      // Failed before scanning: no plugin was loaded.
      expect(r.stderr).not.toMatch(/found \d+ plugin|loaded/);
      const j = spawnSync(process.execPath, [bin, ...trustArgs(), '--http', String(busy), '--json'], {
        cwd: work,
        env: env(),
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(JSON.parse(j.stderr)).toMatchObject({
        ok: false,
        error: { code: 'IoError', details: { errno: 'EADDRINUSE' } },
      });
    } finally {
      blocker.close();
    }
  });

  it('a privileged port run by an unprivileged user fails with EACCES and a hint, before anything loads', (ctx) => {
    const setpriv = spawnSync('setpriv', ['--version'], { encoding: 'utf8' });
    if (process.getuid?.() !== 0 || setpriv.status !== 0) {
      console.warn('!!! skipped: needs root and setpriv to run the CLI as an unprivileged user');
      return ctx.skip('needs root and setpriv');
    }
    const start = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    if (start <= 80) {
      console.warn(`!!! skipped: ip_unprivileged_port_start is ${start}, so port 80 is not privileged here`);
      return ctx.skip('port 80 is not privileged here');
    }
    const r = spawnSync(
      'setpriv',
      [
        '--reuid',
        '65534',
        '--regid',
        '65534',
        '--clear-groups',
        process.execPath,
        bin,
        ...trustArgs(),
        '--http',
        '80',
      ],
      { cwd: '/', env: env(), encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:80: EACCES/);
    expect(r.stderr).toMatch(/^hint: ports below 1024 need privileges/m);
  });

  it('exits 5 with a hint when nothing loads, instead of echoing its input', () => {
    const r = pw(trustArgs(empty), 'act x\n');
    expect(r.status).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no plugin loaded from/);
    expect(r.stderr).toMatch(/^hint: put signed plugins/m);
    const j = pw([...trustArgs(empty), '--json'], 'act x\n');
    // run's progress lines go to stderr too: the envelope is the last line.
    expect(JSON.parse(j.stderr.trim().split('\n').at(-1) as string)).toMatchObject({
      ok: false,
      error: { code: 'LoadError', details: { hint: expect.any(String) } },
    });
  });

  it('a hook nobody handles on stdin is an error line, not an echo', () => {
    const r = pw(trustArgs(), 'nobody x\nact y\n');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('nobody ✗ NotFound: no loaded plugin handles this hook\nact → did y\n');
  });
});
