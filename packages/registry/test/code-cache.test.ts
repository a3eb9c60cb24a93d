// The runtime's V8 code cache (issue 17) from the side of what can go wrong with it: a cache that was altered,
// truncated, removed or put back must never stop a plugin from loading, and whatever the runtime starts from, a
// sandboxed plugin runs locked down. The process tier and both sandbox backends; the trace line says which start ran.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const cacheHome = await vi.hoisted(async () => {
  // Before the registry loads: the trace is read once, and the cache folder is this file's own.
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  process.env.PLUGWARD_TRACE_STARTUP = '1';
  const dir = mkdtempSync(join(tmpdir(), 'pw-cc-home-'));
  process.env.XDG_CACHE_HOME = dir;
  return dir;
});

import {
  type LandlockSandbox,
  type LinuxSandbox,
  PluginRegistry,
  type PluginSecurity,
  prepareRuntimeCodeCache,
  runtimeEntry,
} from '../dist/index.js';
import { backendRunsHere, dec, enc, Fixtures, SANDBOX_BACKENDS, tempDir, until } from './helpers.js';

const tmp = tempDir('code-cache');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let probe = '';

const probeSource = `
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
const argv = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\\0');
const at = argv.indexOf('--plugward-code-cache');
const ran = spawnSync(process.execPath, ['-e', 'process.exit(7)'], { timeout: 5000 });
const report = { cache: at >= 0 ? argv[at + 1] : null, exec: ran.error ? 'error:' + ran.error.code : 'ran:' + ran.status };
export default {
  name: 'probe', version: '1.0.0', author: 'registry tests',
  init() { report.stack = new Error('where').stack; },
  registerHooks(h) { h.register('probe', 300, () => new TextEncoder().encode(JSON.stringify(report))); },
};
`;

beforeAll(async () => {
  probe = await fx.js('probe.mjs', probeSource, { name: 'probe', kind: 'js' });
  await fx.trust(probe);
  security = await fx.security();
});
afterAll(() => {
  tmp.remove();
  fs.rmSync(cacheHome, { recursive: true, force: true });
});

/** The one cache this file's host made, in its own cache folder. */
function hostCacheFile(): string {
  const dir = path.join(cacheHome, 'plugward');
  const found = fs.readdirSync(dir).filter((f) => f.startsWith('runtime-') && f.endsWith('.cache'));
  expect(found).toHaveLength(1);
  return path.join(dir, found[0] as string);
}

const cases = [
  ['process', undefined],
  ...SANDBOX_BACKENDS.map(([label, support, make]) => [label, { support, make }] as const),
] as const;

describe('the runtime code cache', () => {
  it('is made by the host once, in its own folder, keyed by node version, arch and runtime build', async () => {
    expect(await prepareRuntimeCodeCache()).toBe(true);
    const file = hostCacheFile();
    expect(path.basename(file)).toMatch(
      new RegExp(
        `^runtime-${process.version.replace(/\./g, '\\.')}-${process.arch}-[0-9a-f]{32}-[0-9a-f]{64}\\.cache$`,
      ),
    );
    expect(fs.statSync(file).mode & 0o222).toBe(0);
    expect(fs.statSync(path.dirname(file)).mode & 0o022).toBe(0);
  });

  it.each(cases)(
    '%s: an altered, truncated or removed cache falls back to the plain start; the plugin loads, locked down',
    async (label, backend) => {
      if (backend !== undefined && !(await backendRunsHere(label, backend.support))) return;
      expect(await prepareRuntimeCodeCache()).toBe(true);
      const sandbox: LinuxSandbox | LandlockSandbox | undefined = backend?.make();
      const lines: string[] = [];
      const registry = new PluginRegistry({
        security,
        ...(sandbox === undefined ? {} : { sandbox }),
        defaultTier: sandbox === undefined ? 'process' : 'sandbox',
        log: (_n, _l, m) => lines.push(m),
      });
      const host = hostCacheFile();
      const original = fs.readFileSync(host);
      /** Loads the probe once: how its runtime started, and what it saw. */
      const start = async (): Promise<{ started: string; cache: string | null; exec: string }> => {
        lines.length = 0;
        await registry.loadPlugin(probe, 'trusted');
        const seen = JSON.parse(dec.decode(await registry.hooks.execute('probe', enc.encode('')))) as {
          cache: string | null;
          exec: string;
          stack: string;
        };
        await until(() => lines.some((l) => l.includes('plugward-code-cache ')), 10_000, 'the trace line');
        await registry.unloadPlugin('probe');
        const line = lines.find((l) => l.includes('plugward-code-cache ')) as string;
        const started = /plugward-code-cache (\S+)/.exec(line)?.[1] ?? '';
        // In a sandbox the lockdown holds whatever the runtime started from: no exec.
        if (sandbox !== undefined) {
          expect(seen.exec).toMatch(/^error:(EPERM|EACCES)$/);
          // The runtime's frames name no host path (V8 keeps the name a cache was made under: it must be neutral).
          expect(seen.stack).toContain('JsPlugin.init');
          expect(seen.stack).not.toContain(path.dirname(runtimeEntry()));
        } else expect(seen.exec).toBe('ran:7');
        return { started, ...seen };
      };
      try {
        const first = await start();
        expect(first.started).toBe('used');
        expect(first.cache).not.toBeNull();
        // The folder is private (0700), so every backend gets the host's file as it is at the spawn (bubblewrap binds
        // or copies it, Landlock copies it into the sandbox's own folder): altering it reaches the next start.
        const target = host;
        const write = (bytes: Buffer): void => {
          fs.chmodSync(target, 0o644);
          fs.writeFileSync(target, bytes);
          fs.chmodSync(target, 0o444);
        };
        try {
          const altered = Buffer.from(original);
          for (let i = altered.length >> 1; i < (altered.length >> 1) + 64; i++)
            altered[i] = (altered[i] ?? 0) ^ 0xff;
          write(altered);
          expect((await start()).started).toBe('plain');
          write(original.subarray(0, original.length >> 1));
          expect((await start()).started).toBe('plain');
          write(original);
          expect((await start()).started).toBe('used');
        } finally {
          write(original);
        }
        // Removed: the host starts without it (and looks again at the next start).
        fs.rmSync(host);
        try {
          const gone = await start();
          expect(gone.started).toBe('plain');
          expect(gone.cache).toBeNull();
        } finally {
          fs.writeFileSync(host, original, { mode: 0o444 });
        }
      } finally {
        await registry.close();
      }
    },
    120_000,
  );
});
