// Identity first (issues 12.5 and 13.4), from the attacker's side: an untrusted file claiming a trusted plugin's name
// cannot take it in either scan order, and a file swapped after discovery cannot run under the discovered name (nor
// with that name's tier override). The name, the override, the grants and the bytes all come from the verified
// manifest.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPluginError, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir } from './helpers.js';

const plugin = (name: string, tag: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: '${name}', version: '1.0.0', author: 'identity tests',
  init() {},
  registerHooks(h) { h.register('who', 200, (d) => enc.encode(dec.decode(d) + '${tag}')); },
};
`;

const tmp = tempDir('identity');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'resolved';
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
}

const dirs: Record<'trusted-first' | 'impostor-first', { dir: string; trusted: string; impostor: string }> = {
  'trusted-first': { dir: '', trusted: '', impostor: '' },
  'impostor-first': { dir: '', trusted: '', impostor: '' },
};

beforeAll(async () => {
  // Signed under the file name `plugin.mjs` in two directories, so one can be copied over the other.
  files.alpha = await fx.js('plugin.mjs', plugin('alpha', '+alpha'), { name: 'alpha', kind: 'js' }, 'alpha');
  files.beta = await fx.js('plugin.mjs', plugin('beta', '+beta'), { name: 'beta', kind: 'js' }, 'beta');
  await fx.trust(files.alpha);
  await fx.trust(files.beta);
  // The impostor: a stranger's file that says it is alpha, in directories where it sorts after / before alpha.
  for (const [order, t, i] of [
    ['trusted-first', 'a-alpha.mjs', 'z-alpha.mjs'],
    ['impostor-first', 'z-alpha.mjs', 'a-alpha.mjs'],
  ] as const) {
    const trusted = await fx.js(
      t,
      `${plugin('alpha', '+alpha')}// ${order}\n`,
      { name: 'alpha', kind: 'js' },
      order,
    );
    await fx.trust(trusted);
    const impostor = await fx.js(
      i,
      plugin('alpha', '+EVIL'),
      { name: 'alpha', kind: 'js', keys: fx.stranger },
      order,
    );
    dirs[order] = { dir: path.dirname(trusted), trusted, impostor };
  }
  files.evil = dirs['trusted-first'].impostor;
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('name shadowing (12.5): trust wins a name, whatever the file order', () => {
  it.each(['trusted-first', 'impostor-first'] as const)('%s', async (order) => {
    const { dir, trusted, impostor } = dirs[order];
    await using registry = new PluginRegistry({
      security,
      policy: { onlyTrusted: false },
      log: () => {},
    });
    const report = await registry.scanDirectoryReport(dir);
    expect(report.found.map((i) => i.name)).toEqual(['alpha']);
    expect(registry.getPluginInfo('alpha')).toMatchObject({
      path: trusted,
      trustLevel: 'trusted',
      status: 'Available',
    });
    // The conflict is reported, on the losing file.
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0]).toMatchObject({ path: impostor, error: { code: 'NameConflict' } });
    expect(registry.getPluginInfo('alpha')?.nameConflicts?.map((c) => c.path)).toEqual([impostor]);
    // Loading by name runs the trusted bytes and gets alpha's traffic.
    await registry.loadPluginByName('alpha');
    expect(dec.decode(await registry.hooks.execute('who', enc.encode('')))).toBe('+alpha');
    // Loading the impostor directly is refused too, and leaves alpha's entry alone.
    expect(await codeOf(registry.loadPlugin(impostor, 'untrusted'))).toBe('NameConflict');
    expect(registry.getPluginInfo('alpha')).toMatchObject({ path: trusted, status: 'Active' });
    // discoverPlugin alone refuses it as well.
    expect(await codeOf(registry.discoverPlugin(impostor))).toBe('NameConflict');
  });

  it("a trusted plugin's own file that stops verifying is reported, not relabelled untrusted", async () => {
    const dir = path.join(tmp.dir, 'tampered');
    fs.mkdirSync(dir);
    const art = path.join(dir, 'plugin.mjs');
    fs.copyFileSync(files.alpha!, art);
    fs.copyFileSync(`${files.alpha!}.plugward.json`, `${art}.plugward.json`);
    await using registry = new PluginRegistry({ security, policy: { onlyTrusted: false }, log: () => {} });
    await registry.scanDirectory(dir);
    expect(registry.getPluginInfo('alpha')?.status).toBe('Available');
    fs.appendFileSync(art, '// tampered\n');
    const report = await registry.scanDirectoryReport(dir);
    expect(report.skipped.map((s) => s.error.code)).toEqual(['NameConflict']);
    expect(registry.getPluginInfo('alpha')).toMatchObject({ status: 'Failed', trustLevel: 'trusted' });
    expect(await codeOf(registry.loadPluginByName('alpha'))).not.toBe('resolved');
    // Its bytes match no manifest any more: refused before the name question even arises.
    expect(await codeOf(registry.loadPlugin(art, 'untrusted'))).toBe('HashMismatch');
    expect(registry.listLoadedPlugins()).toEqual([]);
  });

  it('a name on the trust list is reserved even before its file was seen', async () => {
    await using registry = new PluginRegistry({ security, policy: { onlyTrusted: false }, log: () => {} });
    expect(await codeOf(registry.loadPlugin(files.evil!, 'untrusted'))).toBe('NameConflict');
    expect(() => registry.getPluginInfo('alpha')).toThrow(expect.objectContaining({ code: 'NotFound' }));
    expect(registry.hooks.getHooks('who')).toHaveLength(0);
  });
});

describe('one verified object (13.4): a file swapped after discovery runs under no other name', () => {
  it('loadPluginByName refuses a file whose verified manifest names another plugin: NameConflict', async () => {
    const dir = path.join(tmp.dir, 'swap');
    fs.mkdirSync(dir);
    const art = path.join(dir, 'plugin.mjs');
    fs.copyFileSync(files.alpha!, art);
    fs.copyFileSync(`${files.alpha!}.plugward.json`, `${art}.plugward.json`);
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'in-process',
      tierOverrides: { alpha: 'process' },
      log: () => {},
    });
    await registry.scanDirectory(dir);
    expect(registry.getPluginInfo('alpha')?.status).toBe('Available');
    // Swap in beta (validly signed and trusted) under alpha's file name.
    fs.copyFileSync(files.beta!, art);
    fs.copyFileSync(`${files.beta!}.plugward.json`, `${art}.plugward.json`);
    expect(await codeOf(registry.loadPluginByName('alpha'))).toBe('NameConflict');
    expect(registry.listLoadedPlugins()).toEqual([]);
    expect(registry.hooks.getHooks('who')).toHaveLength(0);
    // Loaded by path it is what it verifiably is: beta, at beta's tier, not alpha's override.
    expect(await registry.loadPlugin(art, 'trusted')).toBe('beta');
    expect(registry.getPluginInfo('beta')).toMatchObject({ tier: 'in-process', status: 'Active' });
    expect(registry.isLoaded('alpha')).toBe(false);
    expect(dec.decode(await registry.hooks.execute('who', enc.encode('')))).toBe('+beta');
  });
});
