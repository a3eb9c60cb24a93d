// The attacker's side of what every sandboxed start-up runs before a plugin: the runtime bundle, the strict sandbox's
// lockdown preload, koffi — the files the host puts into each sandbox (on root hosts from its per-process list of
// them, issue 17). A plugin that tries to change, replace, remove or add to any of them changes nothing: the next
// sandbox starts from the host's files, with its lockdown in force. Both backends.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity, prepareRuntimeCodeCache, runtimeEntry } from '../dist/index.js';
import { backendRunsHere, dec, enc, Fixtures, ownTmpDir, SANDBOX_BACKENDS, tempDir } from './helpers.js';

const tmp = tempDir('attack-start-files');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('attack-start-files');
let security: PluginSecurity;
let poisoner = '';
let next = '';

// What the plugin can name of its own start-up: the runtime (its main), the preload (--require), koffi's native
// build (mapped into the process), and the folders they sit in. The runtime loads koffi only for a native plugin (the
// strict bubblewrap sandbox's lockdown has it mapped already): the plugin loads it itself, as the runtime would.
const FIND_START_FILES = `
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
const files = [process.argv[1]];
const r = process.execArgv.indexOf('--require');
if (r >= 0) {
  // The preload, and what sits beside it (the lockdown bundle it is made of).
  const pre = process.execArgv[r + 1];
  files.push(pre);
  for (const f of fs.readdirSync(path.dirname(pre))) {
    const p = path.join(path.dirname(pre), f);
    if (f.endsWith('.cjs') && !files.includes(p)) files.push(p);
  }
}
// The starter and the code cache it read (named on the command line, not in process.argv).
const cmdline = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0');
const cacheFile = cmdline[cmdline.indexOf('--plugward-code-cache') + 1] ?? null;
for (const a of cmdline) if ((a.endsWith('start.cjs') || a === cacheFile) && !files.includes(a)) files.push(a);
try { createRequire(process.argv[1])('koffi'); } catch {}
for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\\n')) {
  const p = line.split(/\\s+/)[5];
  if (p && p.endsWith('.node') && !files.includes(p)) files.push(p);
}
`;

const poisonerSource = `${FIND_START_FILES}
const done = {};
const attempt = (what, f) => { try { f(); done[what] = 'done'; } catch (e) { done[what] = e.code ?? String(e); } };
for (const f of files) {
  attempt('append ' + f, () => fs.appendFileSync(f, '\\n;globalThis.poisoned = 1;\\n'));
  attempt('truncate ' + f, () => fs.truncateSync(f, 0));
  attempt('chmod ' + f, () => fs.chmodSync(f, 0o777));
  attempt('unlink ' + f, () => fs.unlinkSync(f));
  attempt('replace ' + f, () => { fs.writeFileSync(f + '.new', 'globalThis.poisoned = 1;'); fs.renameSync(f + '.new', f); });
  attempt('add beside ' + f, () => fs.writeFileSync(path.join(path.dirname(f), 'extra.cjs'), 'x'));
}
export default {
  name: 'poisoner', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('poisoner', 300, () => new TextEncoder().encode(JSON.stringify({ files, done }))); },
};
`;

const nextSource = `${FIND_START_FILES}
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
const sums = {};
for (const f of files) {
  try { sums[f] = createHash('sha256').update(fs.readFileSync(f)).digest('hex'); } catch (e) { sums[f] = e.code; }
}
const ran = spawnSync(process.execPath, ['-e', 'process.exit(7)'], { timeout: 5000 });
const exec = ran.error ? 'error:' + ran.error.code : 'ran:' + ran.status;
export default {
  name: 'next', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) {
    h.register('next', 300, () => new TextEncoder().encode(JSON.stringify({ sums, exec, cacheFile, poisoned: globalThis.poisoned ?? null })));
  },
};
`;

beforeAll(async () => {
  ownTmp.use();
  poisoner = await fx.js('poisoner.mjs', poisonerSource, { name: 'poisoner', kind: 'js' });
  next = await fx.js('next.mjs', nextSource, { name: 'next', kind: 'js' });
  await fx.trust(poisoner);
  await fx.trust(next);
  security = await fx.security();
  // Plugins start from the host's code cache of the runtime: it is one of the start-up files.
  expect(await prepareRuntimeCodeCache()).toBe(true);
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The host's own copies of what the sandbox runs: by base name (the sandbox may show them at other paths). */
function hostSums(): Map<string, string> {
  const req = createRequire(import.meta.url);
  const lockdown = path.join(path.dirname(req.resolve('@plugward/sandbox-linux')), 'lockdown');
  const sums = new Map<string, string>([
    ['runtime.cjs', sha256(runtimeEntry())],
    ['start.cjs', sha256(path.join(path.dirname(runtimeEntry()), 'start.cjs'))],
    ['lockdown.cjs', sha256(path.join(lockdown, 'lockdown.cjs'))],
    ['sandbox-preload.cjs', sha256(path.join(lockdown, 'sandbox-preload.cjs'))],
  ]);
  return sums;
}

/** SHA-256 of each code cache in the host's cache folder (the sandbox may show the one it uses under another name). */
function hostCacheSums(): string[] {
  const dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'plugward');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cache'))
    .map((f) => sha256(path.join(dir, f)));
}

const backends = SANDBOX_BACKENDS;

describe('start-up files, strict sandbox', () => {
  it.each(backends)(
    '%s: a plugin changes none of them, and the next sandbox starts from the host’s, locked down',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const sandbox = make();
      const registry = new PluginRegistry({ security, sandbox, defaultTier: 'sandbox', log: () => {} });
      try {
        await registry.loadPlugin(poisoner, 'trusted');
        const p = JSON.parse(dec.decode(await registry.hooks.execute('poisoner', enc.encode('')))) as {
          files: string[];
          done: Record<string, string>;
        };
        // It found what it went for: the runtime, and koffi's build (the lockdown's, bubblewrap only).
        expect(p.files.some((f) => path.basename(f) === 'runtime.cjs')).toBe(true);
        expect(p.files.some((f) => f.endsWith('.node'))).toBe(true);
        expect(p.files.some((f) => path.basename(f) === 'start.cjs')).toBe(true);
        if (label === 'bubblewrap') {
          expect(p.files.some((f) => path.basename(f) === 'lockdown.cjs')).toBe(true);
          expect(p.files.some((f) => path.basename(f) === 'sandbox-preload.cjs')).toBe(true);
        }
        const succeeded = Object.entries(p.done).filter(([, v]) => v === 'done');
        expect(succeeded).toEqual([]);
        await registry.unloadPlugin('poisoner');

        await registry.loadPlugin(next, 'trusted');
        const n = JSON.parse(dec.decode(await registry.hooks.execute('next', enc.encode('')))) as {
          sums: Record<string, string>;
          exec: string;
          cacheFile: string | null;
          poisoned: unknown;
        };
        expect(n.cacheFile).not.toBeNull();
        expect(n.poisoned).toBeNull();
        expect(n.exec).toMatch(/^error:(EPERM|EACCES)$/);
        const host = hostSums();
        const compared: string[] = [];
        for (const [f, sum] of Object.entries(n.sums)) {
          const want = host.get(path.basename(f));
          if (f === n.cacheFile) {
            expect(hostCacheSums(), f).toContain(sum);
            compared.push('code cache');
          } else if (want !== undefined) {
            expect(sum, f).toBe(want);
            compared.push(path.basename(f));
          } else expect(sum, f).toMatch(/^[0-9a-f]{64}$/);
        }
        expect(compared.sort()).toEqual(
          label === 'bubblewrap'
            ? ['code cache', 'lockdown.cjs', 'runtime.cjs', 'sandbox-preload.cjs', 'start.cjs']
            : ['code cache', 'runtime.cjs', 'start.cjs'],
        );
      } finally {
        await registry.close();
      }
    },
  );
});
