// The attacker's side of the one admission path (PluginSecurity.admit → loadVerified), through PluginRegistry: a
// supply-chain attacker who can write the plugin directory keeps swapping the artifact between the signed build and
// their own bytes while the host loads it. Whatever the interleaving, the host loads the signed bytes or refuses;
// the attacker's code never runs, the host keeps serving, and no private copy is left.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, leftovers, ownTmpDir, tempDir } from './helpers.js';

const tmp = tempDir('attack-admission');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('attack-admission');
const marker = path.join(tmp.dir, 'evil-ran');
let security: PluginSecurity;
let good = '';
let evil = '';

// Same name, version and length as the signed build; its top-level code leaves a mark wherever it runs.
const source = (tag: 'GOOD' | 'EVIL', prelude: string) => `${prelude}
export default {
  name: 'swapped', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('who', 300, () => new TextEncoder().encode('${tag}')); },
};
`;
const evilPrelude = `(await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, 'x');`;
const goodPrelude = `//${'-'.repeat(evilPrelude.length - 2)}`;

beforeAll(async () => {
  ownTmp.use();
  good = await fx.js('swapped.mjs', source('GOOD', goodPrelude), { name: 'swapped', kind: 'js' }, 'signed');
  await fx.trust(good);
  evil = path.join(tmp.dir, 'evil.mjs');
  fs.writeFileSync(evil, source('EVIL', evilPrelude));
  expect(fs.statSync(evil).size).toBe(fs.statSync(good).size);
  security = await fx.security();
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

describe('an artifact swapped back and forth while the host loads it', () => {
  it.each(['in-process', 'process'] as const)(
    '%s: the signed bytes or a refusal, never the swapped-in code',
    async (tier) => {
      const dir = path.join(tmp.dir, `race-${tier}`);
      fs.mkdirSync(dir);
      const art = path.join(dir, 'swapped.mjs');
      fs.copyFileSync(good, art);
      fs.copyFileSync(`${good}.plugward.json`, `${art}.plugward.json`);
      const registry = new PluginRegistry({ security, defaultTier: tier, log: () => {} });
      let stop = false;
      let swaps = 0;
      // Atomic renames (the open always finds a whole file) and in-place rewrites (a read may see a mix).
      const attacker = (async () => {
        while (!stop) {
          const from = swaps % 2 === 0 ? evil : good;
          if (swaps % 3 === 0) fs.writeFileSync(art, fs.readFileSync(from));
          else {
            fs.copyFileSync(from, `${art}.tmp`);
            fs.renameSync(`${art}.tmp`, art);
          }
          swaps++;
          await new Promise((r) => setImmediate(r));
        }
      })();
      const outcomes = new Map<string, number>();
      try {
        for (let i = 0; i < 12; i++) {
          let outcome: string;
          try {
            await registry.loadPlugin(art, 'trusted');
            outcome = dec.decode(await registry.hooks.execute('who', enc.encode('')));
            await registry.unloadPlugin('swapped');
          } catch (e) {
            outcome = (e as { code?: string }).code ?? String(e);
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      } finally {
        stop = true;
        await attacker;
      }
      // Every load either served the signed build or was refused for its bytes; never EVIL, never another failure.
      for (const outcome of outcomes.keys())
        expect(['GOOD', 'HashMismatch', 'SecurityError']).toContain(outcome);
      expect(fs.existsSync(marker)).toBe(false);
      expect(swaps).toBeGreaterThan(12);
      // The host still serves the signed build once the attacker stops.
      fs.copyFileSync(good, art);
      await registry.loadPlugin(art, 'trusted');
      expect(dec.decode(await registry.hooks.execute('who', enc.encode('')))).toBe('GOOD');
      await registry.close();
      expect(leftovers('swapped', ownTmp.dir)).toEqual([]);
      if (tier === 'process') expect(registry.getPluginInfo('swapped')?.pid).toBeUndefined();
    },
  );
});
