// Attacker (audit, session 7b) — the runtime's V8 code cache (main 4ec6488: prepareRuntimeCodeCache, start.cjs, the
// cache in `$XDG_CACHE_HOME/plugward`): a sandboxed untrusted plugin with no grants finds the cache its starter was
// given (the arguments in /proc/self/cmdline) and tries to change it for the next plugin — write it, truncate it,
// unlink it, rename over it, chmod it, create a file beside it — and reports what its command line shows of the host.
// Expected (passes on main, both backends): every attempt fails, the host's cache folder is byte for byte what it was,
// the command line names no host folder (neither the cache's nor the temp dir's), a plugin started afterwards starts
// from the same cache and answers, the host still serves, nothing is left.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity, prepareRuntimeCodeCache } from '../dist/index.js';
import {
  backendRunsHere,
  Fixtures,
  HEALTH_PROBE,
  NO_GRANTS,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
  until,
} from './helpers.js';

const tmp = tempDir('audit-code-cache-swap');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const swapper = `import fs from 'node:fs';
import path from 'node:path';
const tries = () => {
  const argv = fs.readFileSync('/proc/self/cmdline', 'latin1').split('\\0');
  const at = argv.indexOf('--plugward-code-cache');
  const file = at < 0 ? undefined : argv[at + 1];
  const out = { cmdline: argv.join(' '), file: file ?? null, readable: 0, done: [] };
  if (file === undefined) return out;
  try { out.readable = fs.readFileSync(file).length; } catch {}
  const dir = path.dirname(file);
  const attempt = (what, f) => { try { f(); out.done.push(what); } catch {} };
  attempt('open for write', () => fs.closeSync(fs.openSync(file, 'r+')));
  attempt('truncate', () => fs.truncateSync(file, 0));
  attempt('append', () => fs.appendFileSync(file, 'x'));
  attempt('chmod', () => fs.chmodSync(file, 0o666));
  attempt('unlink', () => fs.unlinkSync(file));
  attempt('create beside', () => fs.writeFileSync(path.join(dir, 'evil.cache'), 'x'));
  attempt('rename over', () => { fs.writeFileSync('/tmp/swap', 'x'); fs.renameSync('/tmp/swap', file); });
  attempt('symlink beside', () => fs.symlinkSync('/etc/passwd', path.join(dir, 'runtime-x.cache')));
  return out;
};
export default {
  name: 'swapper', version: '1.0.0', author: 'stranger',
  init() {},
  registerHooks(h) { h.register('audit.swap', 300, () => new TextEncoder().encode(JSON.stringify(tries()))); },
};`;

/** Every file under `dir` with its mode and SHA-256 (what a plugin could have changed). */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const st = fs.lstatSync(file);
    const hash = st.isFile() ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : '-';
    out.push(`${name} ${st.mode.toString(8)} ${st.size} ${hash}`);
  }
  return out;
}

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(files.probe);
  files.s = await fx.js('swapper.mjs', swapper, {
    name: 'swapper',
    kind: 'js',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('audit: a sandboxed plugin and the runtime code cache it starts from', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: can't change the cache, and its command line names no host folder`, {
      timeout: 60_000,
    }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      expect(await prepareRuntimeCodeCache()).toBe(true);
      const cacheHome = process.env.XDG_CACHE_HOME;
      expect(cacheHome, 'the test run has its own cache folder (vitest.shared.ts)').toBeTruthy();
      const cacheDir = path.join(cacheHome as string, 'plugward');
      const before = snapshot(cacheDir);
      expect(before.some((l) => l.startsWith('runtime-'))).toBe(true);
      const r = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        tierOverrides: { 'audit-probe': 'in-process' },
        grants: { plugins: { swapper: { hooks: [{ name: 'audit.swap' }] } } },
      });
      const pids: number[] = [];
      try {
        await r.loadPlugin(files.probe as string, 'trusted');
        await r.loadPlugin(files.s as string, 'untrusted');
        pids.push(r.getPluginInfo('swapper')?.pid as number);
        const got = JSON.parse(
          new TextDecoder().decode(await r.hooks.execute('audit.swap', new Uint8Array())),
        ) as { cmdline: string; file: string | null; readable: number; done: string[] };
        // The starter was given a cache the plugin can read (else this test attacks nothing), at a path of the sandbox's.
        expect(got.file, got.cmdline).not.toBeNull();
        expect(got.readable, `${got.file} unreadable in the sandbox`).toBeGreaterThan(0);
        expect(got.done, `attempts that succeeded from ${got.file}`).toEqual([]);
        for (const host of [
          cacheDir,
          cacheHome as string,
          os.tmpdir() === '/tmp' ? undefined : os.tmpdir(),
        ]) {
          if (host !== undefined) expect(got.cmdline).not.toContain(host);
        }
        expect(snapshot(cacheDir)).toEqual(before);
        // The next plugin still starts (from the same cache) and answers; the host still serves.
        await r.unloadPlugin('swapper');
        await r.loadPlugin(files.s as string, 'untrusted');
        pids.push(r.getPluginInfo('swapper')?.pid as number);
        const again = JSON.parse(
          new TextDecoder().decode(await r.hooks.execute('audit.swap', new Uint8Array())),
        ) as { file: string | null; done: string[] };
        expect(again.file).not.toBeNull();
        expect(again.done).toEqual([]);
        expect(snapshot(cacheDir)).toEqual(before);
        const ok = new TextDecoder().decode(
          await r.hooks.execute('audit.health', new TextEncoder().encode('x')),
        );
        expect(ok).toBe('ok:x');
      } finally {
        await r.close();
      }
      for (const pid of pids) await until(() => !pidAlive(pid), 5000, 'gone');
    });
  }
});
