// audit s10b #3, second form (→ packages/registry/test/; root test machine: the host runs as `nobody` through setpriv):
// on a host that is not root, the Landlock runtime store (`plugward-rt-u<uid>-…` in the host's TMPDIR, folders 0755 of
// the host's uid) is writable by a sandboxed plugin granted read-write that TMPDIR (same uid): it rewrites the
// runtime's files, and every later Landlock sandbox this host starts runs its code — with *that* plugin's grants (here
// a read-write folder the spy was never granted). The host checks the store once per process. Expected: the other
// plugin's folder stays untouched by the spy.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, NO_GRANTS, runAsNobody, tempDir } from './helpers.js';

const tmp = tempDir('audit-store-swap');
const fx = new Fixtures(tmp.dir);
let spy = '';
let other = '';
const home = path.join(tmp.dir, 'home');
const work = path.join(home, 'work');
const secret = path.join(tmp.dir, 'secret');

const OTHER = `export default {
  name: 'other', version: '1.0.0', author: 'someone else',
  init() {},
  registerHooks(h) { h.register('audit.who', 300, () => new TextEncoder().encode('other')); },
};
`;

const SPY = `import fs from 'node:fs';
import path from 'node:path';
export default {
  name: 'spy', version: '1.0.0', author: 'a stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.arm', 300, (d) => {
      const [dir, target] = new TextDecoder().decode(d).split('\\n');
      const marker = 'try { require("fs").writeFileSync(' + JSON.stringify(target + '/OWNED') + ', "spy code, pid " + process.pid); } catch {}\\n';
      const did = [];
      for (const n of fs.readdirSync(dir)) {
        if (!n.startsWith('plugward-rt-')) continue;
        const zero = path.join(dir, n, '0');
        for (const f of fs.readdirSync(zero)) {
          if (!f.endsWith('.cjs')) continue;
          const at = path.join(zero, f);
          try {
            const text = fs.readFileSync(at, 'utf8');
            fs.unlinkSync(at);
            fs.writeFileSync(at, text.startsWith('#!') ? text : marker + text, { mode: 0o444 });
            did.push(n + '/0/' + f);
          } catch (e) { did.push(f + ':' + (e.code ?? e.message)); }
        }
      }
      return new TextEncoder().encode(did.join(','));
    });
  },
};
`;

const HOST = `const { PluginRegistry, PluginSecurity, LandlockSandbox } = await import(process.env.DIST);
const security = new PluginSecurity({ onlyTrusted: false, rollbackFloorDir: false });
const sandbox = new LandlockSandbox({ allowNoCgroup: true, allowExecutableScratch: true });
const work = process.env.TMPDIR;
const registry = new PluginRegistry({
  security,
  sandbox,
  policy: { onlyTrusted: false },
  grants: { plugins: {
    spy: { filesystem: { mode: 'readWrite', paths: [work] }, hooks: [{ name: 'audit.arm' }] },
    other: { filesystem: { mode: 'readWrite', paths: [process.env.SECRET] }, hooks: [{ name: 'audit.who' }] },
  } },
  log: () => {},
});
const dec = new TextDecoder();
await registry.loadPlugin(process.env.SPY, 'untrusted');
const did = dec.decode(await registry.hooks.execute('audit.arm', new TextEncoder().encode(work + '\\n' + process.env.SECRET)));
let answer = '';
try {
  await registry.loadPlugin(process.env.OTHER, 'untrusted');
  answer = dec.decode(await registry.hooks.execute('audit.who', new Uint8Array()));
} catch (e) { answer = 'ERR ' + e.code; }
console.log(JSON.stringify({ uid: process.getuid(), did, answer }));
await registry.close();
`;

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  fs.mkdirSync(secret, { mode: 0o700 });
  fs.chownSync(secret, 65534, 65534);
  other = await fx.js('other.mjs', OTHER, {
    name: 'other',
    kind: 'js',
    keys: fx.stranger,
    requirements: { ...NO_GRANTS(), filesystem: { mode: 'readWrite', paths: [secret] } },
  });
  spy = await fx.js('spy.mjs', SPY, {
    name: 'spy',
    kind: 'js',
    keys: fx.stranger,
    requirements: { ...NO_GRANTS(), filesystem: { mode: 'readWrite', paths: [work] } },
  });
  for (const f of fs.readdirSync(tmp.dir)) fs.chmodSync(path.join(tmp.dir, f), 0o755);
  fs.chmodSync(secret, 0o700);
}, 60_000);
afterAll(() => tmp.remove());

it("a same-uid sandboxed plugin granted the host TMPDIR does not run its code in another plugin's sandbox", (ctx) => {
  if (process.getuid?.() !== 0)
    return ctx.skip('the test runs its host as nobody through setpriv (needs root)');
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  fs.chownSync(home, 65534, 65534);
  fs.chownSync(work, 65534, 65534);
  fs.chmodSync(home, 0o700);
  const hostFile = path.join(tmp.dir, 'host.mjs');
  fs.writeFileSync(hostFile, HOST, { mode: 0o644 });
  const { stdout, failure } = runAsNobody(
    hostFile,
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TMPDIR: work,
      SPY: spy,
      OTHER: other,
      SECRET: secret,
      DIST: path.resolve(import.meta.dirname, '../dist/index.js'),
    },
    90_000,
  );
  const report = stdout.split('\n').find((l) => l.startsWith('{'));
  console.log('REPORT', report, failure);
  expect({ report: report && JSON.parse(report), failure }, stdout).toMatchObject({
    report: { uid: 65534, answer: 'other' },
    failure: '',
  });
  expect(fs.readdirSync(secret)).toEqual([]);
}, 120_000);
