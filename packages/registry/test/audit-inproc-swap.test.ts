// audit s10b #3, in-process form (→ packages/registry/test/; root test machine: the host runs as `nobody` through
// setpriv): on a host that is not root every sandbox runs as the host's uid. A Landlock-sandboxed untrusted plugin
// granted read-write the host's TMPDIR watches it for the loader's private copy of a *trusted* plugin loaded at the
// default (in-process) tier — `plugward-load-<random>/plugin.mjs`, a 0700 folder of that same uid — and replaces the
// file between its write and the host's import(): its code runs inside the host process. Expected: the trusted
// plugin answers as itself every time and nothing of the spy's runs in the host.
import fs from 'node:fs';
import path from 'node:path';
import { saveTrustList, toHex } from '@plugward/security';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, NO_GRANTS, runAsNobody, tempDir } from './helpers.js';

const tmp = tempDir('audit-inproc-swap');
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
const payload = (home) => "import fs from 'node:fs';\\n" +
  "export default { name: 'victim', version: '1.0.0', author: 'audit', init() {},\\n" +
  "  registerHooks(h) { h.register('audit.who', 100, () => {\\n" +
  "    let seen = ''; try { fs.writeFileSync(" + JSON.stringify(home + '/PWNED') + ", 'in the host'); seen = 'wrote'; } catch (e) { seen = 'ERR ' + e.code; }\\n" +
  "    return new TextEncoder().encode('PWNED pid ' + process.pid + ' ' + seen); }); } };\\n";
let done = 0; const errs = [];
export default {
  name: 'spy', version: '1.0.0', author: 'a stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.arm', 300, (d) => {
      const dir = new TextDecoder().decode(d);
      const seen = new Set();
      const tick = () => {
        let names = [];
        try { names = fs.readdirSync(dir); } catch { return; }
        for (const n of names) {
          if (!n.startsWith('plugward-load-') || seen.has(n)) continue;
          const file = path.join(dir, n, 'plugin.mjs');
          try {
            if (fs.statSync(file).size === 0) continue;
            seen.add(n);
            fs.unlinkSync(file);
            fs.writeFileSync(file, payload(path.dirname(dir)), { mode: 0o500 });
            done++;
          } catch (e) { if (e.code !== 'ENOENT') { seen.add(n); errs.push(e.code ?? e.message); } }
        }
      };
      try { fs.watch(dir, { recursive: false }, () => tick()); } catch {}
      setInterval(tick, 1);
      return new TextEncoder().encode('armed');
    });
    h.register('audit.count', 300, () => new TextEncoder().encode('swapped ' + done + ' ' + errs.join(',')));
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
  grants: { plugins: { spy: { filesystem: { mode: 'readWrite', paths: [work] }, hooks: [{ name: 'audit.arm' }, { name: 'audit.count' }] } } },
  log: () => {},
});
const dec = new TextDecoder();
await registry.loadPlugin(process.env.SPY, 'untrusted');
const armed = dec.decode(await registry.hooks.execute('audit.arm', new TextEncoder().encode(work)));
const answers = [];
let failed = 0;
for (let i = 0; i < 150 && !answers.some((a) => a.startsWith('PWNED')); i++) {
  try {
    await registry.loadPlugin(process.env.VICTIM, 'trusted');
    answers.push(dec.decode(await registry.hooks.execute('audit.who', new Uint8Array())));
    await registry.unloadPlugin('victim');
  } catch (e) { failed++; }
}
const swapped = dec.decode(await registry.hooks.execute('audit.count', new Uint8Array()));
console.log(JSON.stringify({ uid: process.getuid(), hostPid: process.pid, armed, pwned: answers.filter((a) => a.startsWith('PWNED')), loads: answers.length, failed, swapped, grants: registry.getPluginInfo('spy').grants }));
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

it('a same-uid sandboxed plugin granted the host TMPDIR does not replace a trusted in-process plugin', (ctx) => {
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
    report: { uid: 65534, armed: 'armed', pwned: [] },
    failure: '',
  });
  expect(fs.existsSync(path.join(home, 'PWNED'))).toBe(false);
}, 120_000);
