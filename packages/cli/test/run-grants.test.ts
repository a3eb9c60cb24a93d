// `plugward run --allow-untrusted`, from the attacker's side: a stranger's plugin whose manifest asks for the host
// network, or for a broker allow-list with 127.0.0.1, gets neither without a --grant naming it, so it cannot reach the
// host's own `--http` port on loopback; run prints each request next to what was granted.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkSandboxSupport,
  type PluginRequirements,
  readManifest,
  saveTrustList,
  trustEntryFromManifest,
} from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrantFlags } from '../src/grant-flags.js';

const bin = path.join(import.meta.dirname, '..', 'dist', 'bin.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cli-grants-'));
const dir = path.join(work, 'plugins');
const listPath = path.join(work, 'trust.enc');
const listKey = randomBytes(32).toString('hex');
const publisher = generateKeyPair();
const stranger = generateKeyPair();
let sandboxReason: string | undefined;

// Given the host's port, it tries a direct connection and a brokered fetch of the host's own API.
const PROBE = (name: string, hook: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
let rt;
export default {
  name: '${name}', version: '1.0.0', author: 'a stranger',
  init(_c, runtime) { rt = runtime; },
  async registerHooks(h) {
    await h.register('${hook}', 300, async (d) => {
      const port = Number(dec.decode(d));
      const out = {};
      try {
        const net = await import('node:net');
        out.connect = await new Promise((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port });
          s.once('connect', () => { s.destroy(); resolve('connected'); });
          s.once('error', (e) => resolve('denied ' + e.code));
        });
      } catch (e) { out.connect = 'denied ' + (e.code ?? e.message); }
      try {
        if (typeof rt.fetch !== 'function') throw Object.assign(new Error('no fetch'), { code: 'NoFetch' });
        const r = await rt.fetch({ url: 'http://127.0.0.1:' + port + '/plugins', method: 'GET', headers: {} });
        out.fetch = 'ok ' + r.status;
      } catch (e) { out.fetch = 'denied ' + (e.code ?? e.message); }
      return enc.encode(JSON.stringify(out));
    });
  },
};
`;

const GREET = `
export default {
  name: 'greet-js', version: '1.0.0', author: 'cli tests',
  init() {},
  registerHooks(h) { h.register('greet', 200, (d) => new TextEncoder().encode('hello ' + new TextDecoder().decode(d))); },
};
`;

const req = (network: PluginRequirements['network']): PluginRequirements => ({
  network,
  filesystem: { mode: 'readWrite', paths: ['/etc'] },
  context: { read: ['*'], write: ['*'] },
});

beforeAll(async () => {
  const support = await checkSandboxSupport();
  if (!support.supported) {
    sandboxReason = support.features
      .filter((f) => !f.available)
      .map((f) => f.feature)
      .join(', ');
  }
  fs.mkdirSync(dir);
  const common = { version: '1.0.0', author: 'cli tests' };
  const greet = path.join(dir, 'greet.mjs');
  fs.writeFileSync(greet, GREET);
  await writeSignedManifest(
    { artifactPath: greet, name: 'greet-js', kind: 'js', ...common },
    publisher.privateKey,
  );
  for (const [file, name, hook, network] of [
    ['full.mjs', 'sneaky-full', 'probe-full', { mode: 'full' }],
    [
      'broker.mjs',
      'sneaky-broker',
      'probe-broker',
      {
        mode: 'restricted',
        allowedTargets: [{ host: '127.0.0.1' }, { host: 'api.example.com', ports: [443] }],
      },
    ],
  ] as const) {
    const p = path.join(dir, file);
    fs.writeFileSync(p, PROBE(name, hook));
    await writeSignedManifest(
      { artifactPath: p, name, kind: 'js', ...common, requirements: req(network) },
      stranger.privateKey,
    );
  }
  const entries = [trustEntryFromManifest(await readManifest(greet), publisher.publicKey)];
  await saveTrustList(listPath, { listVersion: 1, entries }, listKey);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const httpToken = randomBytes(24).toString('hex');
const auth = { authorization: `Bearer ${httpToken}` };

const trustArgs = () => [
  '--pub',
  toHex(publisher.publicKey),
  '--list',
  listPath,
  '--key-hex-env',
  'PW_LIST_KEY',
];

describe('plugward run: untrusted requests are not grants', () => {
  it('without a --grant an untrusted plugin gets nothing, not even a hook; the request is printed', (ctx) => {
    if (sandboxReason) return ctx.skip(`no sandbox here: ${sandboxReason}`);
    const runIt = (...extra: string[]) =>
      spawnSync(process.execPath, [bin, 'run', dir, ...trustArgs(), '--allow-untrusted', ...extra], {
        cwd: work,
        env: { ...process.env, PW_LIST_KEY: listKey },
        encoding: 'utf8',
        timeout: 30_000,
        input: 'greet ada\n',
      });
    // The refused plugins are load failures: run says so and exits 5, unless --keep-going serves the rest.
    const strict = runIt();
    expect(strict.status, strict.stderr).toBe(5);
    expect(strict.stderr).toMatch(/2 plugin\(s\) failed to load: .*sneaky-full/);
    expect(strict.stderr).toMatch(/^hint: /m);
    expect(strict.stdout).toBe('');
    const r = runIt('--keep-going');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('greet → hello ada\n');
    expect(r.stderr).toMatch(/untrusted sneaky-full: requested network full; filesystem readWrite\(\/etc\)/);
    expect(r.stderr).toMatch(
      /untrusted sneaky-full: granted {3}network isolated; filesystem none; .*hooks none/,
    );
    expect(r.stderr).toMatch(/not loaded sneaky-full: GrantDenied/);
    expect(r.stderr).toMatch(/not loaded sneaky-broker: GrantDenied/);
  });

  it('--http: neither the host network nor a loopback broker target reaches the HTTP port', async (ctx) => {
    if (sandboxReason) return ctx.skip(`no sandbox here: ${sandboxReason}`);
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        dir,
        ...trustArgs(),
        '--allow-untrusted',
        '--http',
        '0',
        '--token-env',
        'PW_HTTP_TOKEN',
        '--grant',
        'sneaky-full:hooks=probe-full',
        '--grant',
        'sneaky-broker:hooks=probe-broker',
        // A real grant, but not of loopback: the broker still refuses 127.0.0.1.
        '--grant',
        'sneaky-broker:network=restricted:api.example.com:443',
      ],
      {
        cwd: work,
        env: { ...process.env, PW_LIST_KEY: listKey, PW_HTTP_TOKEN: httpToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(m[1] as string);
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const port = new URL(url).port;
      const full = await fetch(`${url}/hooks/probe-full`, { method: 'POST', body: port, headers: auth });
      expect(full.status).toBe(200);
      expect(JSON.parse(await full.text())).toEqual({
        connect: expect.stringMatching(/^denied/),
        fetch: 'denied NoFetch',
      });
      const broker = await fetch(`${url}/hooks/probe-broker`, { method: 'POST', body: port, headers: auth });
      expect(JSON.parse(await broker.text())).toEqual({
        connect: expect.stringMatching(/^denied/),
        fetch: 'denied PermissionDenied',
      });
      expect(err).toMatch(
        /untrusted sneaky-broker: requested network restricted\(127\.0\.0\.1, api\.example\.com:443\)/,
      );
      expect(err).toMatch(/untrusted sneaky-broker: granted {3}network restricted\(api\.example\.com:443\)/);
      // The host still serves.
      expect(
        await (await fetch(`${url}/hooks/greet`, { method: 'POST', body: 'x', headers: auth })).text(),
      ).toBe('hello x');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

describe('--grant syntax', () => {
  it('parses each kind, and refuses what it does not understand', () => {
    expect(
      parseGrantFlags([
        'w:network=restricted:api.example.com:443,[::1]:8080+8081,10.0.0.0/8',
        'w:fs.ro=/srv/a,/srv/b',
        'w:context.read=a,b',
        'w:context.write=c',
        'w:hooks=on_request,late@400..500',
        '@scope/x:network=full',
      ]),
    ).toEqual({
      plugins: {
        w: {
          network: {
            mode: 'restricted',
            allowedTargets: [
              { host: 'api.example.com', ports: [443] },
              { host: '::1', ports: [8080, 8081] },
              { host: '10.0.0.0/8' },
            ],
          },
          filesystem: { mode: 'readOnly', paths: ['/srv/a', '/srv/b'] },
          context: { read: ['a', 'b'], write: ['c'] },
          hooks: [{ name: 'on_request' }, { name: 'late', minPriority: 400, maxPriority: 500 }],
        },
        '@scope/x': { network: { mode: 'full' } },
      },
    });
    for (const bad of [
      'w',
      'w:network',
      'w:network=open',
      'w:fs.ro=relative',
      'w:x=1',
      'w:network=restricted:h:0',
    ]) {
      expect(() => parseGrantFlags([bad])).toThrow(/--grant/);
    }
    expect(() => parseGrantFlags(['w:fs.ro=/a', 'w:fs.rw=/b'])).toThrow(/one mode/);
  });
});
