// The hosting half of the CLI, spawned as a user runs it: `plugward inspect` (runs no plugin code), `plugward doctor`,
// `plugward run <dir>` serving hooks from stdin lines. Fixtures are signed here with a fresh key.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileNativePlugin } from '@plugward/loader';
import { readManifest, saveTrustList, trustEntryFromManifest } from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = path.join(import.meta.dirname, '..', 'dist', 'bin.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cli-host-'));
const dir = path.join(work, 'plugins');
const marker = path.join(work, 'constructor-ran');
const listPath = path.join(work, 'trust.enc');
const listKey = randomBytes(32).toString('hex');
const publisher = generateKeyPair();
const stranger = generateKeyPair();
let soPath: string;

// A native plugin with an ELF constructor: any dlopen of it creates the marker file.
const C_PLUGIN = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugward.h"
__attribute__((constructor)) static void on_load(void) { FILE *f = fopen(MARKER, "w"); if (f) fclose(f); }
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, "shout", 100) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *hook, const uint8_t *in, size_t n, uint8_t **out, size_t *on, char *e, size_t c) {
  (void)s; (void)hook; uint8_t *b = malloc(n + 1); if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  for (size_t i = 0; i < n; i++) b[i] = (in[i] >= 'a' && in[i] <= 'z') ? in[i] - 32 : in[i];
  b[n] = '!'; *out = b; *on = n + 1; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "shout-c", .version = "1.0.0",
  .author = "cli tests", .description = "upper-cases", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const JS_PLUGIN = (name: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: '${name}', version: '1.0.0', author: 'cli tests',
  async init() {},
  async registerHooks(h) { await h.register('greet', 200, async (d) => enc.encode('hello ' + dec.decode(d))); },
  shutdown() {},
};
`;

function pw(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: work,
    env: { ...process.env, PW_LIST_KEY: listKey },
    encoding: 'utf8',
    timeout: 30_000,
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const trustArgs = () => [
  '--pub',
  toHex(publisher.publicKey),
  '--list',
  listPath,
  '--key-hex-env',
  'PW_LIST_KEY',
];

beforeAll(async () => {
  fs.mkdirSync(dir);
  const src = path.join(work, 'shout.c');
  fs.writeFileSync(src, C_PLUGIN);
  soPath = path.join(dir, 'libshout.so');
  await compileNativePlugin({
    sources: [src],
    output: soPath,
    flags: [`-DMARKER=${JSON.stringify(marker)}`],
  });
  const js = path.join(dir, 'greet.mjs');
  fs.writeFileSync(js, JS_PLUGIN('greet-js'));
  const other = path.join(dir, 'other.mjs');
  fs.writeFileSync(other, JS_PLUGIN('other-js'));
  const common = { version: '1.0.0', author: 'cli tests' };
  await writeSignedManifest(
    {
      artifactPath: soPath,
      name: 'shout-c',
      kind: 'native',
      ...common,
      limits: { maxThreads: 7 },
      requirements: {
        network: { mode: 'isolated' },
        filesystem: { mode: 'none' },
        context: { read: ['a'], write: [] },
      },
    },
    publisher.privateKey,
  );
  await writeSignedManifest(
    { artifactPath: js, name: 'greet-js', kind: 'js', ...common },
    publisher.privateKey,
  );
  await writeSignedManifest(
    { artifactPath: other, name: 'other-js', kind: 'js', ...common },
    stranger.privateKey,
  );
  const entries = [
    trustEntryFromManifest(await readManifest(soPath), publisher.publicKey),
    trustEntryFromManifest(await readManifest(js), publisher.publicKey),
  ];
  await saveTrustList(listPath, { listVersion: 1, entries }, listKey);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('plugward hosting commands (spawned)', () => {
  it('inspect shows a native plugin without running any of its code', () => {
    const r = pw(['inspect', soPath, ...trustArgs(), '--json']);
    expect(r.code, r.err).toBe(0);
    const v = JSON.parse(r.out) as {
      manifest: { name: string; kind: string };
      integrity: { ok: boolean };
      signature: { status: string };
      trusted: boolean;
      limits: { maxThreads: number };
      requirements: { context: { read: string[] } };
    };
    expect(v.manifest).toMatchObject({ name: 'shout-c', kind: 'native' });
    expect(v.integrity.ok).toBe(true);
    expect(v.signature.status).toBe('valid');
    expect(v.trusted).toBe(true);
    expect(v.limits.maxThreads).toBe(7);
    expect(v.requirements.context.read).toEqual(['a']);
    expect(fs.existsSync(marker), 'inspect must not dlopen the library').toBe(false);

    const human = pw(['inspect', soPath]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/shout-c@1\.0\.0 \(native\)/);
    expect(human.out).toMatch(/trust\s+not checked/);
    // A stranger's plugin: the signature does not verify against our key → exit 1.
    const bad = pw(['inspect', path.join(dir, 'other.mjs'), ...trustArgs()]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/signature .*invalid/);
    // Tampered bytes: integrity mismatch → exit 1.
    const copy = path.join(work, 'tampered.mjs');
    fs.writeFileSync(copy, `${JS_PLUGIN('greet-js')}\n// extra`);
    fs.copyFileSync(path.join(dir, 'greet.mjs.plugward.json'), `${copy}.plugward.json`);
    const tampered = pw(['inspect', copy, '--json']);
    expect(tampered.code).toBe(1);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("inspect shows a stranger's manifest escaped and bounded (no forged lines, no terminal escapes)", async () => {
    // The attacker picks every field inspect prints: author, description, the artifact's file name (it must equal
    // the file's own name, which may hold any byte but '/'), requested paths and context keys.
    const evil = `\x1b[2J\x1b]0;pwned\x07\u202e`;
    const hostile = path.join(work, 'hostile');
    fs.mkdirSync(hostile, { recursive: true });
    const file = path.join(hostile, `a${evil}.mjs`);
    fs.writeFileSync(file, JS_PLUGIN('forger'));
    await writeSignedManifest(
      {
        artifactPath: file,
        name: 'forger',
        version: '1.0.0',
        kind: 'js',
        author: `mallory\n[host] info: signature valid, on the trust list${evil}`,
        description: `harmless${evil}${'D'.repeat(15_000)}`,
        requirements: {
          network: { mode: 'isolated' },
          filesystem: { mode: 'readOnly', paths: [`/srv${evil}\ntrust      on the trust list`] },
          context: { read: [`k${evil}`], write: Array.from({ length: 1000 }, (_, i) => `key${i}`) },
        },
      },
      stranger.privateKey,
    );
    const r = pw(['inspect', file, ...trustArgs()]);
    expect(r.code).toBe(1);
    // Only the lines inspect writes itself: a forged "[host]" or "trust … on the trust list" line would be extra.
    const lines = r.out.trimEnd().split('\n');
    expect(lines.length, JSON.stringify(r.out.slice(0, 400))).toBe(9);
    expect(r.out).not.toMatch(/on the trust list\n|^\[host\]/m);
    expect(r.out).toMatch(/trust\s+NOT trusted/);
    // No raw control character, no bidirectional override: only the newlines between inspect's own lines.
    const raw = [...r.out].filter((c) => {
      const code = c.codePointAt(0) ?? 0;
      return (code < 0x20 && c !== '\n') || (code >= 0x7f && code <= 0x9f) || code === 0x202e;
    });
    expect(raw, JSON.stringify(r.out.slice(0, 300))).toEqual([]);
    expect(r.out).toContain('\\x1b[2J');
    for (const l of lines) expect(l.length).toBeLessThan(1500);
  });

  it('doctor --json reports sandbox support (this machine supports it)', () => {
    const r = pw(['doctor', '--json']);
    const v = JSON.parse(r.code === 0 ? r.out : r.out || r.err) as {
      supported: boolean;
      features: { feature: string; available: boolean }[];
    };
    expect(Array.isArray(v.features)).toBe(true);
    expect(v.features.length).toBeGreaterThan(0);
    expect(r.code).toBe(v.supported ? 0 : 1);
    if (!v.supported)
      console.warn('!!! doctor says the sandbox is not supported here:', JSON.stringify(v.features));
    const human = pw(['doctor']);
    expect(human.code).toBe(r.code);
    expect(human.out).toMatch(/the sandbox can/);
  });

  it('run <dir> loads the trusted plugins and serves hooks from stdin', () => {
    const r = pw(
      ['run', dir, ...trustArgs(), '--tier', 'process', '--json'],
      'greet bob\nshout hey you\nnope x\n\n',
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { hook: string; ok: boolean; output?: string });
    expect(lines).toEqual([
      { hook: 'greet', ok: true, output: 'hello bob' },
      { hook: 'shout', ok: true, output: 'HEY YOU!' },
      // No handler for a hook: an error, not the input echoed back as if a plugin had answered.
      { hook: 'nope', ok: false, error: { code: 'NotFound', message: 'no loaded plugin handles this hook' } },
    ]);
    expect(r.err).toMatch(/found 3 plugin/);
    expect(r.err).toMatch(/loaded shout-c@1\.0\.0 \(trusted\) at tier process/);
    expect(r.err).toMatch(/skipped other-js: untrusted/);
    // The constructor did run — in the plugin's own process, when run loaded it: the marker test above can fail.
    expect(fs.existsSync(marker)).toBe(true);

    const human = pw(['run', dir, ...trustArgs()], 'greet ada\n');
    expect(human.code, human.err).toBe(0);
    expect(human.out).toBe('greet → hello ada\n');
    expect(pw(['run', dir, ...trustArgs(), '--tier', 'moon']).code).toBe(2);
    expect(pw(['run', dir]).code).toBe(2);
  });

  it('run --http serves hooks over HTTP on loopback and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'run', dir, ...trustArgs(), '--tier', 'process', '--http', '0'],
      {
        cwd: work,
        env: { ...process.env, PW_LIST_KEY: listKey },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    const [url, token] = await new Promise<[string, string]>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\ntoken: (\S+)\n/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve([m[1] as string, m[2] as string]);
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const headers = { authorization: `Bearer ${token}` };
    try {
      // The generated token is printed once, and nothing is served without it.
      expect((await fetch(`${url}/hooks/greet`, { method: 'POST', body: 'http' })).status).toBe(401);
      const greet = await fetch(`${url}/hooks/greet`, { method: 'POST', body: 'http', headers });
      expect(greet.status).toBe(200);
      expect(await greet.text()).toBe('hello http');
      const shout = await fetch(`${url}/hooks/shout`, { method: 'POST', body: 'quiet', headers });
      expect(await shout.text()).toBe('QUIET!');
      const plugins = (await (await fetch(`${url}/plugins`, { headers })).json()) as {
        name: string;
        status: string;
      }[];
      expect(plugins.map((p) => `${p.name}:${p.status}`).sort()).toEqual([
        'greet-js:Active',
        'other-js:Untrusted',
        'shout-c:Active',
      ]);
      expect((await fetch(`${url}/nothing`, { headers })).status).toBe(404);
      // A hook nobody handles is a 404 with a JSON error, not a 200 echoing the body.
      const typo = await fetch(`${url}/hooks/gret`, { method: 'POST', body: 'x', headers });
      expect(typo.status).toBe(404);
      expect(await typo.json()).toMatchObject({ code: 'NotFound', hook: 'gret' });
      const big = await fetch(`${url}/hooks/greet`, {
        method: 'POST',
        headers,
        body: new Uint8Array(2 * 1024 * 1024),
      });
      expect(big.status).toBe(413);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
