// Trust and placement: who may run, and where. Untrusted code is refused or confined to the sandbox; a signed but
// unlisted artifact is not trusted; grants raise a plugin out of process; the artifact is verified at load (TOCTOU);
// downgrades are refused.
import fs from 'node:fs';
import path from 'node:path';
import { readManifest, PluginSecurity as Security, saveTrustList, toHex } from '@plugward/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPluginError,
  PluginRegistry,
  type PluginRequirements,
  type PluginSecurity,
} from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, sandboxOrReason, shoutPluginC, tempDir } from './helpers.js';

const plugin = (name: string, version: string, tag: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: '${name}', version: '${version}', author: 'registry tests',
  async init() {},
  async registerHooks(h) { await h.register('who', 200, async (d) => enc.encode(dec.decode(d) + '${tag}')); },
  shutdown() {},
};
`;

const tmp = tempDir('trust');
const fx = new Fixtures(tmp.dir);
// fsread binds this folder: on a root host the sandbox runs as an unprivileged uid, which must be able to reach it.
fs.chmodSync(tmp.dir, 0o755);
const p: Record<string, string> = {};
let strict: PluginSecurity;
let open: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let sandboxReason: string | undefined;
const NETWORK: PluginRequirements = {
  network: { mode: 'full' },
  filesystem: { mode: 'none' },
  context: { read: [], write: [] },
};

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'resolved';
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
}

beforeAll(async () => {
  p.good = await fx.js('good.mjs', plugin('good', '1.0.0', '+good'), { name: 'good', kind: 'js' }, 'dir');
  p.unlisted = await fx.js(
    'unlisted.mjs',
    plugin('unlisted', '1.0.0', '+unlisted'),
    { name: 'unlisted', kind: 'js' },
    'dir',
  );
  p.stranger = await fx.js(
    'stranger.mjs',
    plugin('stranger', '1.0.0', '+stranger'),
    { name: 'stranger', kind: 'js', keys: fx.stranger },
    'dir',
  );
  p.net = await fx.js('net.mjs', plugin('net', '1.0.0', '+net'), {
    name: 'net',
    kind: 'js',
    requirements: NETWORK,
  });
  p.fsread = await fx.js('fsread.mjs', plugin('fsread', '1.0.0', '+fs'), {
    name: 'fsread',
    kind: 'js',
    requirements: { ...NO_GRANTS(), filesystem: { mode: 'readOnly', paths: [tmp.dir] } },
  });
  p.old = await fx.js('old.mjs', plugin('dg', '1.0.0', '+v1'), { name: 'dg', version: '1.0.0', kind: 'js' });
  p.new = await fx.js('new.mjs', plugin('dg', '2.0.0', '+v2'), { name: 'dg', version: '2.0.0', kind: 'js' });
  p.swap = await fx.js('swap.mjs', plugin('swap', '1.0.0', '+original'), { name: 'swap', kind: 'js' });
  for (const k of ['good', 'net', 'fsread', 'old', 'new', 'swap']) await fx.trust(p[k]!);
  strict = await fx.security({ onlyTrusted: true });
  open = await fx.security({ onlyTrusted: false });
  ({ sandbox, reason: sandboxReason } = await sandboxOrReason());
});
afterAll(() => tmp.remove());

describe('trust', () => {
  it('under onlyTrusted an untrusted plugin is refused: UntrustedPlugin, status Untrusted', async () => {
    await using registry = new PluginRegistry({
      security: strict,
      ...(sandbox ? { sandbox } : {}),
      log: () => {},
    });
    expect(await codeOf(registry.loadPlugin(p.unlisted!, 'untrusted'))).toBe('UntrustedPlugin');
    expect(registry.getPluginInfo('unlisted')?.status).toBe('Untrusted');
    // Claiming it is trusted changes nothing: it is not on the list.
    expect(await codeOf(registry.loadPlugin(p.unlisted!, 'trusted'))).toBe('UntrustedPlugin');
    expect(registry.getPluginInfo('unlisted')).toMatchObject({ status: 'Untrusted' });
    expect(registry.getPluginInfo('unlisted')?.error).toMatch(/trust list/);
    // A stranger's signature does not verify against the pinned key.
    expect(await codeOf(registry.loadPlugin(p.stranger!, 'trusted'))).toMatch(
      /UnknownSigner|UntrustedPlugin/,
    );
    expect(registry.isLoaded('stranger')).toBe(false);
    expect(registry.hooks.getHooks('who')).toHaveLength(0);
    // Scanning marks them Untrusted; loading by name is refused too.
    await registry.scanDirectory(path.dirname(p.good!));
    expect(
      registry
        .getUntrustedPlugins()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['stranger', 'unlisted']);
    expect(await codeOf(registry.loadPluginByName('stranger'))).toBe('UntrustedPlugin');
    await registry.loadPluginByName('good');
    expect(dec.decode(await registry.hooks.execute('who', enc.encode('x')))).toBe('x+good');
  });

  it('with onlyTrusted: false an untrusted plugin runs only in the sandbox', async () => {
    if (!sandbox) {
      console.warn(`!!! SKIPPED untrusted-in-sandbox: ${sandboxReason}`);
      return;
    }
    await using registry = new PluginRegistry({
      security: open,
      sandbox,
      policy: { onlyTrusted: false },
      // Untrusted plugins register only where the host lets them (here at their priority 200).
      grants: {
        plugins: {
          stranger: { hooks: [{ name: 'who', minPriority: 200 }] },
          unlisted: { hooks: [{ name: 'who', minPriority: 200 }] },
        },
      },
      log: () => {},
    });
    await registry.loadPlugin(p.stranger!, 'untrusted');
    expect(registry.getPluginInfo('stranger')).toMatchObject({
      status: 'Active',
      tier: 'sandbox',
      trustLevel: 'untrusted',
    });
    expect(dec.decode(await registry.hooks.execute('who', enc.encode('u')))).toBe('u+stranger');
    // A signed-but-unlisted plugin cannot be loaded as trusted, only as untrusted (so in the sandbox).
    expect(await codeOf(registry.loadPlugin(p.unlisted!, 'trusted'))).toBe('UntrustedPlugin');
    expect(registry.isLoaded('unlisted')).toBe(false);
    await registry.scanDirectory(path.dirname(p.good!));
    expect(registry.getPluginInfo('unlisted')?.status).toBe('Untrusted');
    await registry.loadPluginByName('unlisted');
    expect(registry.getPluginInfo('unlisted')).toMatchObject({ tier: 'sandbox', trustLevel: 'untrusted' });
  });

  it('a tier override cannot pull an untrusted plugin out of the sandbox; no sandbox → refused', async () => {
    await using registry = new PluginRegistry({
      security: open,
      ...(sandbox ? { sandbox } : {}),
      policy: { onlyTrusted: false },
      tierOverrides: { stranger: 'in-process', unlisted: 'process' },
      log: () => {},
    });
    expect(await codeOf(registry.loadPlugin(p.stranger!, 'untrusted'))).toBe(
      sandbox ? 'UntrustedPlugin' : 'SandboxUnavailable',
    );
    expect(await codeOf(registry.loadPlugin(p.unlisted!, 'untrusted'))).toBe(
      sandbox ? 'UntrustedPlugin' : 'SandboxUnavailable',
    );
    expect(registry.pluginCount()).toBe(0);
    await using bare = new PluginRegistry({ security: open, policy: { onlyTrusted: false }, log: () => {} });
    expect(await codeOf(bare.loadPlugin(p.stranger!, 'untrusted'))).toBe('SandboxUnavailable');
    expect(bare.getPluginInfo('stranger')?.status).toBe('Failed');
  });
});

describe('placement', () => {
  it('a plugin whose signed manifest asks for network or filesystem is raised out of process', async () => {
    await using withSandbox = new PluginRegistry({
      security: strict,
      ...(sandbox ? { sandbox } : {}),
      defaultTier: 'in-process',
      tierOverrides: { fsread: 'worker' },
      log: () => {},
    });
    await withSandbox.loadPlugin(p.net!, 'trusted');
    await withSandbox.loadPlugin(p.fsread!, 'trusted');
    await withSandbox.loadPlugin(p.good!, 'trusted');
    const raised = sandbox ? 'sandbox' : 'process';
    expect(withSandbox.getPluginInfo('net')?.tier).toBe(raised);
    expect(withSandbox.getPluginInfo('fsread')?.tier).toBe(raised);
    expect(withSandbox.getPluginInfo('good')?.tier).toBe('in-process');
    expect(dec.decode(await withSandbox.hooks.execute('who', enc.encode('')))).toMatch(/\+net/);

    await using noSandbox = new PluginRegistry({ security: strict, log: () => {} });
    await noSandbox.loadPlugin(p.net!, 'trusted');
    expect(noSandbox.getPluginInfo('net')?.tier).toBe('process');
    expect(noSandbox.getPluginInfo('net')?.pid).toBeGreaterThan(0);
  });
});

describe('verification at load', () => {
  it('TOCTOU: an artifact swapped after scan and before load is refused', async () => {
    const dir = path.join(tmp.dir, 'toctou');
    fs.mkdirSync(dir);
    const art = path.join(dir, 'swap.mjs');
    fs.copyFileSync(p.swap!, art);
    fs.copyFileSync(`${p.swap!}.plugward.json`, `${art}.plugward.json`);
    await using registry = new PluginRegistry({ security: strict, defaultTier: 'process', log: () => {} });
    await registry.scanDirectory(dir);
    expect(registry.getPluginInfo('swap')?.status).toBe('Available');
    fs.writeFileSync(art, plugin('swap', '1.0.0', '+EVIL'));
    expect(await codeOf(registry.loadPluginByName('swap'))).toBe('HashMismatch');
    expect(registry.getPluginInfo('swap')).toMatchObject({ status: 'Failed' });
    expect(registry.hooks.getHooks('who')).toHaveLength(0);
  });

  it.each(['in-process', 'process'] as const)(
    'TOCTOU: swapping the artifact after load (%s) changes nothing',
    async (tier) => {
      const dir = path.join(tmp.dir, `after-${tier}`);
      fs.mkdirSync(dir);
      const art = path.join(dir, 'swap.mjs');
      fs.copyFileSync(p.swap!, art);
      fs.copyFileSync(`${p.swap!}.plugward.json`, `${art}.plugward.json`);
      await using registry = new PluginRegistry({ security: strict, defaultTier: tier, log: () => {} });
      await registry.loadPlugin(art, 'trusted');
      fs.writeFileSync(art, plugin('swap', '1.0.0', '+EVIL'));
      expect(dec.decode(await registry.hooks.execute('who', enc.encode('a')))).toBe('a+original');
      await registry.unloadPlugin('swap');
      // A reload verifies again: the swapped bytes are refused.
      expect(await codeOf(registry.loadPlugin(art, 'trusted'))).toBe('HashMismatch');
      expect(registry.isLoaded('swap')).toBe(false);
    },
  );

  it('a downgrade is refused', async () => {
    await using registry = new PluginRegistry({ security: await fx.security(), log: () => {} });
    expect(await codeOf(registry.loadPlugin(p.old!, 'trusted'))).toBe('VersionDowngrade');
    expect(registry.getPluginInfo('dg')?.status).toBe('Failed');
    await registry.loadPlugin(p.new!, 'trusted');
    expect(dec.decode(await registry.hooks.execute('who', enc.encode('')))).toBe('+v2');
    await registry.unloadPlugin('dg');
    expect(await codeOf(registry.loadPlugin(p.old!, 'trusted'))).toBe('VersionDowngrade');
  });

  it('a tampered native plugin is refused before any of its code runs (no dlopen, no constructor)', async () => {
    const marker = path.join(tmp.dir, 'ctor-ran');
    const src = `
#include <stdio.h>
#include "plugward.h"
__attribute__((constructor)) static void on_load(void) { FILE *f = fopen(MARKER, "w"); if (f) fclose(f); }
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_call(pw_plugin *s, const char *k, const uint8_t *i, size_t n, uint8_t **o, size_t *on, char *e, size_t c) {
  (void)s; (void)k; (void)i; (void)n; (void)o; (void)on; return pw_set_error(e, c, PW_ERR_NOT_FOUND, "none");
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)b; (void)l; }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "ctor-c", .version = "1.0.0",
  .author = "registry tests", .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`.replace('MARKER', JSON.stringify(marker));
    const so = await fx.native('libctor.so', src, { name: 'ctor-c', kind: 'native' }, 'ctor');
    await fx.trust(so);
    const sec = await fx.security();
    // Tamper: one byte appended after signing.
    fs.appendFileSync(so, Buffer.from([0]));
    for (const tier of ['in-process', 'process'] as const) {
      await using registry = new PluginRegistry({ security: sec, defaultTier: tier, log: () => {} });
      expect(await codeOf(registry.loadPlugin(so, 'trusted'))).toBe('HashMismatch');
      expect(fs.existsSync(marker), `tier ${tier}`).toBe(false);
    }
    // Control: the untampered library does run its constructor when loaded, so the check above can fail.
    fs.truncateSync(so, fs.statSync(so).size - 1);
    await using registry = new PluginRegistry({ security: sec, defaultTier: 'process', log: () => {} });
    await registry.loadPlugin(so, 'trusted');
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('an untrusted native plugin runs only in the sandbox, and what its constructor writes never reaches the host', async (ctx) => {
    if (!sandbox) return ctx.skip(`no sandbox here: ${sandboxReason}`);
    const marker = path.join(tmp.dir, 'untrusted-ctor-ran');
    const src = shoutPluginC({
      name: 'stranger-c',
      hook: 'shout',
      author: 'someone',
      prelude: `__attribute__((constructor)) static void on_load(void) { FILE *f = fopen(${JSON.stringify(marker)}, "w"); if (f) { fputs("escaped", f); fclose(f); } }`,
    });
    const so = await fx.native(
      'libstranger.so',
      src,
      { name: 'stranger-c', kind: 'native', keys: fx.stranger },
      'stranger',
    );
    // Refused outright under onlyTrusted, and never opened.
    expect(
      await codeOf(
        new PluginRegistry({ security: strict, sandbox, log: () => {} }).loadPlugin(so, 'untrusted'),
      ),
    ).toBe('UntrustedPlugin');
    expect(fs.existsSync(marker)).toBe(false);
    await using registry = new PluginRegistry({
      security: open,
      sandbox,
      policy: { onlyTrusted: false },
      grants: { plugins: { 'stranger-c': { hooks: [{ name: 'shout', minPriority: 0 }] } } },
      log: () => {},
    });
    expect(await codeOf(registry.loadPlugin(so, 'trusted'))).toMatch(/^(UnknownSigner|UntrustedPlugin)$/);
    await registry.loadPlugin(so, 'untrusted');
    expect(registry.getPluginInfo('stranger-c')).toMatchObject({
      tier: 'sandbox',
      trustLevel: 'untrusted',
      status: 'Active',
    });
    expect(dec.decode(await registry.hooks.execute('shout', enc.encode('quiet please')))).toBe(
      'QUIET PLEASE',
    );
    // Its constructor ran (inside the sandbox, on the sandbox's own /tmp); the host's file system never saw it.
    expect(fs.existsSync(marker)).toBe(false);
  });
});

// Entries of the reference's shape (`{ hash, version, signature }`) name no plugin: what reserves the name for the
// trusted plugin is the host's record of what it admitted, kept in the host's state directory across restarts.
describe('a trusted plugin listed by bare hash, across a host restart', () => {
  it('an untrusted plugin cannot take its name (load or scan) once it was admitted', async () => {
    const real = await fx.js(
      'bn.mjs',
      plugin('bn', '1.0.0', '+real'),
      { name: 'bn', kind: 'js' },
      'bare-real',
    );
    const impostor = await fx.js(
      'bn-impostor.mjs',
      plugin('bn', '9.0.0', '+evil'),
      { name: 'bn', version: '9.0.0', kind: 'js', keys: fx.stranger },
      'bare-impostor',
    );
    const m = await readManifest(real);
    const listPath = path.join(tmp.dir, 'bare-names.enc');
    const entry = { hash: m.artifact.sha3_512, version: m.version, signature: m.signature.value };
    await saveTrustList(listPath, { listVersion: 1, entries: [entry] }, fx.listKey);
    const host = async () => {
      const security = new Security({ onlyTrusted: false, trustListPath: listPath }, [
        toHex(fx.publisher.publicKey),
      ]);
      await security.loadAndDecryptTrustList(fx.listKey);
      return new PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
    };
    {
      await using first = await host();
      await first.loadPlugin(real, 'trusted');
      expect(dec.decode(await first.hooks.execute('who', enc.encode('')))).toBe('+real');
    }
    // Restart: a fresh host, the same list; the impostor comes first.
    await using second = await host();
    expect(await codeOf(second.loadPlugin(impostor, 'untrusted'))).toBe('NameConflict');
    const report = await second.scanDirectoryReport(path.dirname(impostor));
    expect(report.found).toEqual([]);
    expect(report.skipped.map((x) => x.error.code)).toEqual(['NameConflict']);
    // The trusted plugin still loads under its name.
    await second.loadPlugin(real, 'trusted');
    expect(dec.decode(await second.hooks.execute('who', enc.encode('')))).toBe('+real');
  });
});
