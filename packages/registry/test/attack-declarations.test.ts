// The attacker's side of readPluginDeclarations: someone hands a host or publisher a build to sign, and its code runs
// while its declarations are read. In the sandbox it gets the minimal grants — no host file, no network, no process —
// whatever it declares; a build that claims another identity is refused; the declarations come back as data; nothing
// is left (process, cgroup). What it declares is returned, never granted.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readPluginDeclarations } from '../dist/index.js';
import { leftovers, ownTmpDir, pidAlive, sandboxOrReason, tempDir } from './helpers.js';

const tmp = tempDir('attack-declarations');
const ownTmp = ownTmpDir('attack-decl');
const { sandbox } = await sandboxOrReason();
const hostFile = path.join(tmp.dir, 'host-secret.txt');
const planted = path.join(tmp.dir, 'planted');
const seen: string[] = [];
let server: net.Server;
let port = 0;

/** A build that declares everything and, while being read, tries to use it. */
function hostile(name: string): string {
  return `
import fs from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
const tries = {};
const attempt = (k, f) => { try { tries[k] = 'ok:' + String(f()).slice(0, 40); } catch (e) { tries[k] = 'denied:' + (e.code ?? e.message); } };
attempt('read', () => fs.readFileSync(${JSON.stringify(hostFile)}, 'utf8'));
attempt('write', () => fs.writeFileSync(${JSON.stringify(planted)}, 'x'));
attempt('spawn', () => { const r = spawnSync(process.execPath, ['-e', '0']); if (r.error) throw r.error; return r.status; });
await new Promise((resolve) => {
  const s = net.connect(${port}, '127.0.0.1');
  s.on('connect', () => { s.end('hello'); resolve(); });
  s.on('error', () => resolve());
  setTimeout(resolve, 500);
});
export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 'attacker',
  requirements: () => ({
    network: { mode: 'full' },
    filesystem: { mode: 'readWrite', paths: ['/', ${JSON.stringify(tmp.dir)}, '/' + encodeURIComponent(tries.read ?? '')] },
    context: { read: ['*'], write: ['*'] },
  }),
  resourceLimits: () => ({ maxHeapBytes: 8 * 1024 * 1024 * 1024 }),
  init(ctx) { tries.context = ctx.keys().length; },
  registerHooks() {},
};
`;
}

beforeAll(async () => {
  ownTmp.use();
  fs.writeFileSync(hostFile, 'host secret', { mode: 0o600 });
  server = net.createServer((s) => {
    seen.push('connection');
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  tmp.remove();
  ownTmp.restore();
});

it.skipIf(!sandbox)('in the sandbox a hostile build gets nothing it declares while it is read', async () => {
  const file = path.join(tmp.dir, 'decl-grabby.mjs');
  fs.writeFileSync(file, hostile('decl-grabby'));
  const before = new Set(fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)));
  const declared = await readPluginDeclarations(file, { name: 'decl-grabby', version: '1.0.0', sandbox });
  // Returned as data for a person to review and sign, never granted here.
  expect(declared.requirements?.network).toEqual({ mode: 'full' });
  // What it tried is smuggled back in its declarations: the host file was not readable.
  expect(JSON.stringify(declared)).not.toContain('host%20secret');
  expect(JSON.stringify(declared)).toContain('denied');
  expect(fs.existsSync(planted)).toBe(false);
  expect(seen).toEqual([]);
  // No process of it is left, nor its cgroups, nor a private copy.
  const left = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && !before.has(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('decl-grabby');
      } catch {
        return false;
      }
    })
    .filter((p) => pidAlive(Number(p)));
  expect(left).toEqual([]);
  expect(leftovers('decl-grabby', ownTmp.dir)).toEqual([]);
});

it.skipIf(!sandbox)('a build that identifies as another plugin or version is refused', async () => {
  const file = path.join(tmp.dir, 'impostor.mjs');
  fs.writeFileSync(file, hostile('victim'));
  await expect(
    readPluginDeclarations(file, { name: 'impostor', version: '1.0.0', sandbox }),
  ).rejects.toMatchObject({ code: expect.stringMatching(/InvalidPlugin|InitializationError|LoadError/) });
  expect(fs.existsSync(planted)).toBe(false);
  expect(seen).toEqual([]);
});

it('without a sandbox and without an explicit tier, a build is never read unsandboxed', async () => {
  const file = path.join(tmp.dir, 'decl-nosbx.mjs');
  fs.writeFileSync(file, hostile('decl-nosbx'));
  await expect(readPluginDeclarations(file, { name: 'decl-nosbx', version: '1.0.0' })).rejects.toMatchObject({
    code: 'SandboxUnavailable',
  });
  // Its code never ran: nothing planted, nothing connected, nothing left.
  expect(fs.existsSync(planted)).toBe(false);
  expect(seen).toEqual([]);
  expect(leftovers('decl-nosbx', ownTmp.dir)).toEqual([]);
});
