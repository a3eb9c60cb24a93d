// Attacker (audit, session 7): a sandboxed plugin can speak the wire protocol on fd 3 itself, past its runtime — it
// writes frames with `fs.writeSync(3, …)` and reads the host's answers with `fs.readSync(3, …)` before the runtime sees
// them, all inside one synchronous hook handler (the runtime's event loop never runs meanwhile). So whatever the runtime
// checks before it sends (the ContextProxy's grants, the registrar's hook names and priorities) is not a boundary: only
// the host's side is. From a granted hook (`audit.raw`, no context grant), with raw frames, it asks to: read a context
// key the host holds (`host.secret`), write one, list the keys, register a handler in front of a trusted plugin's on a
// hook it was not granted, and register on its own hook at a priority before its grant's earliest. Asserted: every one
// is refused with an Error answer naming no secret (listing answers, without the host's keys); the host's context is unchanged; the trusted handler still answers
// first; the host still serves; nothing is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  NO_GRANTS,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
  until,
} from './helpers.js';

const tmp = tempDir('audit-raw-frames');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const SECRET = 'HOST-SECRET-4f1c';

// Minimal MessagePack (fixstr, fixarray, int32) and framing, written by hand: a plugin needs no library for this.
const rawer = `import fs from 'node:fs';
const str = (s) => { const b = Buffer.from(s); if (b.length > 31) throw new Error('long'); return Buffer.concat([Buffer.from([0xa0 | b.length]), b]); };
const arr = (...xs) => Buffer.concat([Buffer.from([0x90 | xs.length]), ...xs]);
const i32 = (n) => { const b = Buffer.alloc(5); b[0] = 0xd2; b.writeInt32BE(n, 1); return b; };
const frame = (kind, id, payload) => { const f = Buffer.alloc(10 + payload.length); f.writeUInt32LE(6 + payload.length, 0); f[4] = 1; f[5] = kind; f.writeUInt32LE(id, 6); payload.copy(f, 10); return f; };
const nap = new Int32Array(new SharedArrayBuffer(4));
const writeAll = (buf) => { let at = 0; while (at < buf.length) { try { at += fs.writeSync(3, buf, at); } catch (e) { if (e.code !== 'EAGAIN') throw e; Atomics.wait(nap, 0, 0, 1); } } };
/** Reads frames from fd 3 until every id in want has its answer (5 s at most); other frames are kept as they came. */
const answers = (want) => {
  const got = {}; let buf = Buffer.alloc(0); const chunk = Buffer.alloc(65536); const end = Date.now() + 5000;
  while (Object.keys(got).length < want.length && Date.now() < end) {
    let n = 0;
    try { n = fs.readSync(3, chunk, 0, chunk.length, null); } catch (e) { if (e.code !== 'EAGAIN') throw e; Atomics.wait(nap, 0, 0, 1); continue; }
    if (n === 0) break;
    buf = Buffer.concat([buf, chunk.subarray(0, n)]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
      const len = buf.readUInt32LE(0);
      const type = buf[4], kind = buf[5], id = buf.readUInt32LE(6);
      got[id] = { type, kind, text: buf.subarray(10, 4 + len).toString('latin1') };
      buf = buf.subarray(4 + len);
    }
  }
  return got;
};
const asks = {
  get: [17, str('host.secret')],
  set: [18, arr(str('host.secret'), str('overwritten-by-rawer'))],
  setOwn: [18, arr(str('rawer.key'), str('v'))],
  keys: [21, Buffer.alloc(0)],
  victimFront: [16, arr(str('audit.victim'), i32(-1000000))],
  ownFront: [16, arr(str('audit.raw'), i32(-1000000))],
};
export default {
  name: 'rawer', version: '1.0.0', author: 'stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.raw', 300, () => {
      const ids = {}; let id = 0x7f000000;
      for (const [what, [kind, payload]] of Object.entries(asks)) { ids[what] = ++id; writeAll(frame(kind, id, payload)); }
      const got = answers(Object.values(ids));
      const out = {};
      for (const [what, i] of Object.entries(ids)) out[what] = got[i] ?? null;
      return new TextEncoder().encode(JSON.stringify(out));
    });
  },
};`;

const victim = `export default {
  name: 'audit-victim', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.victim', 100, () => new TextEncoder().encode('victim')); },
};`;

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  files.victim = await fx.js('victim.mjs', victim, { name: 'audit-victim', kind: 'js' });
  await fx.trust(files.probe);
  await fx.trust(files.victim);
  files.rawer = await fx.js('rawer.mjs', rawer, {
    name: 'rawer',
    kind: 'js',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('audit: raw frames on fd 3, past the runtime', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: only the host's checks count, and they hold`, { timeout: 60_000 }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      const r = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        tierOverrides: { 'audit-probe': 'in-process', 'audit-victim': 'in-process' },
        grants: { plugins: { rawer: { hooks: [{ name: 'audit.raw' }] } } },
        log: () => {},
      });
      let pid: number | undefined;
      try {
        r.context.set('host.secret', SECRET);
        await r.loadPlugin(files.probe as string, 'trusted');
        await r.loadPlugin(files.victim as string, 'trusted');
        await r.loadPlugin(files.rawer as string, 'untrusted');
        pid = r.getPluginInfo('rawer')?.pid;
        const raw = await r.hooks.execute('audit.raw', new Uint8Array()).then(
          (b) => dec.decode(b),
          (e: unknown) => `call failed: ${(e as Error).message}`,
        );
        // The plugin may be ended for what it did; if it answered, every ask was refused.
        if (!raw.startsWith('call failed')) {
          const got = JSON.parse(raw) as Record<string, { type: number; kind: number; text: string } | null>;
          for (const [what, answer] of Object.entries(got)) {
            expect(answer, `${what}: no answer read back`).not.toBeNull();
            expect(answer?.text ?? '', `${what}'s answer`).not.toContain(SECRET);
            if (what === 'keys') {
              // Listing is answered, with the keys it may read: none, so not the host's.
              expect(answer?.type).toBe(2);
              expect(answer?.text ?? '', 'the keys it was shown').not.toContain('host.secret');
              continue;
            }
            // A response (type 2) of kind Error (2).
            expect({ what, type: answer?.type, kind: answer?.kind }).toEqual({ what, type: 2, kind: 2 });
          }
        }
        expect(await r.context.get('host.secret')).toBe(SECRET);
        expect(await r.context.has('rawer.key')).toBe(false);
        expect(dec.decode(await r.hooks.execute('audit.victim', new Uint8Array()))).toBe('victim');
        expect(dec.decode(await r.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await r.close();
      }
      if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, 'the plugin to be gone');
    });
  }
});
