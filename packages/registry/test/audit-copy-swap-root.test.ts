// audit s10b: a sandboxed plugin granted read-write the host's TMPDIR (sticky, writable by anyone, as /tmp is) tries to
// take the file names of a trusted plugin's private copy (process tier, and the loader's in-process copy) before the
// host writes them (and rewrite them
// through its open descriptors before the plugin process reads them: the way it wins on a non-root host, see
// /work/audit-repro/s10b #3). On a root host the copy folder is root's 0700 folder and the plugin a leased uid: every
// attempt must fail (EACCES), the trusted plugins answer as themselves each time, the host serves, nothing is left.
// Both backends. Passes on main 0d92f53.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  leftovers,
  NO_GRANTS,
  ownTmpDir,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-copy-swap-root');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-copy-swap-root');
let security: PluginSecurity;
let spy = '';
let victim = '';
let victim2 = '';
let probe = '';

const VICTIM = `export default {
  name: 'victim', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.who', 100, () => new TextEncoder().encode('victim')); },
};
`;

const VICTIM2 = `export default {
  name: 'victim2', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.who2', 100, () => new TextEncoder().encode('victim2')); },
};
`;

const SPY = `import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
const payload = (home) => "import fs from 'node:fs';\\n" +
  "export default { name: 'victim', version: '1.0.0', author: 'audit', init() {},\\n" +
  "  registerHooks(h) { h.register('audit.who', 100, () => {\\n" +
  "    let seen = ''; try { fs.writeFileSync(" + JSON.stringify(home + '/PWNED') + ", 'outside the sandbox'); seen = fs.readdirSync(" + JSON.stringify(home) + ").join(','); } catch (e) { seen = 'ERR ' + e.code; }\\n" +
  "    return new TextEncoder().encode('PWNED uid ' + process.getuid() + ' wrote in ' + " + JSON.stringify(home) + " + ': ' + seen); }); } };\\n";
let plantNow = () => {};
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
          if (n.startsWith('plugward-load-') && !seen.has(n)) {
            // The loader's in-process copy (plugin.mjs in a 0700 folder): take the name first.
            seen.add(n);
            try { fs.closeSync(fs.openSync(path.join(dir, n, 'plugin.mjs'), 'wx+', 0o600)); planted++; }
            catch (e) { errs.push('load:' + (e.code ?? e.message)); }
            continue;
          }
          if (!n.startsWith('plugward-copy-') || seen.has(n)) continue;
          seen.add(n);
          const copy = path.join(dir, n);
          try {
            const a = fs.openSync(path.join(copy, 'victim.mjs'), 'wx+', 0o600);
            const m = fs.openSync(path.join(copy, 'victim.mjs.plugward.json'), 'wx+', 0o600);
            pending.push({ a, m });
            planted++;
          } catch (e) { errs.push('copy:' + (e.code ?? e.message)); }
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
      plantNow = plant;
      try { fs.watch(dir, () => plant()); } catch (e) { errs.push('watch ' + (e.code ?? e.message)); }
      setInterval(() => { plant(); swap(); }, 1);
      return new TextEncoder().encode('armed');
    });
    h.register('audit.try', 300, () => { plantNow(); return new Uint8Array(1); });
    h.register('audit.count', 300, () => new TextEncoder().encode('planted ' + planted + ' swapped ' + done + ' ' + errs.join(',')));
  },
};
`;

beforeAll(async () => {
  ownTmp.use();
  fs.chmodSync(ownTmp.dir, 0o1777);
  spy = await fx.js('spy.mjs', SPY, {
    name: 'spy',
    kind: 'js',
    keys: fx.stranger,
    requirements: { ...NO_GRANTS(), filesystem: { mode: 'readWrite', paths: [ownTmp.dir] } },
  });
  victim = await fx.js('victim.mjs', VICTIM, { name: 'victim', kind: 'js' });
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  victim2 = await fx.js('victim2.mjs', VICTIM2, { name: 'victim2', kind: 'js' });
  await fx.trust(victim);
  await fx.trust(victim2);
  await fx.trust(probe);
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

describe('audit: a sandboxed plugin with the host TMPDIR read-write vs a trusted process-tier private copy (root host)', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s',
    async (label, support, make) => {
      if (process.getuid?.() !== 0) {
        console.warn(
          '!!! SKIPPED: a root host is what this test holds to (non-root: /work/audit-repro/s10b #3)',
        );
        return;
      }
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        tierOverrides: { victim: 'process' },
        grants: {
          plugins: {
            spy: {
              filesystem: { mode: 'readWrite', paths: [ownTmp.dir] },
              hooks: [{ name: 'audit.arm' }, { name: 'audit.try' }, { name: 'audit.count' }],
            },
          },
        },
        log: () => {},
      });
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(spy, 'untrusted');
        expect(dec.decode(await registry.hooks.execute('audit.arm', enc.encode(ownTmp.dir)))).toBe('armed');
        const answers: string[] = [];
        for (let i = 0; i < 8; i++) {
          // Process tier (its copy in plugward-copy-…), then in-process (the loader's plugward-load-…).
          await registry.loadPlugin(victim, 'trusted');
          answers.push(dec.decode(await registry.hooks.execute('audit.who', new Uint8Array())));
          // While its copy folder exists: one attempt for certain, whatever the load on the machine.
          await registry.hooks.execute('audit.try', new Uint8Array());
          await registry.unloadPlugin('victim');
          await registry.loadPlugin(victim2, 'trusted');
          answers.push(dec.decode(await registry.hooks.execute('audit.who2', new Uint8Array())));
          await registry.unloadPlugin('victim2');
        }
        const count = dec.decode(await registry.hooks.execute('audit.count', new Uint8Array()));
        expect({ answers, count }).toMatchObject({
          answers: Array(8).fill(['victim', 'victim2']).flat(),
          count: expect.stringMatching(/^planted 0 swapped 0 ((copy|load):EACCES,?)+$/),
        });
        // The process tier's copy folder was tried (for certain: audit.try); the loader's in-process one lives only
        // while it is imported, and is tried when the watcher catches it.
        expect(count).toContain('copy:EACCES');
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
      }
      expect([...leftovers('spy', ownTmp.dir), ...leftovers('victim', ownTmp.dir)]).toEqual([]);
    },
    120_000,
  );
});
