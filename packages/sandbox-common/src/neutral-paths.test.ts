import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSystemPath, NeutralPaths } from './neutral-paths.js';
import { relocate } from './relocate.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-neutral-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('NeutralPaths', () => {
  it('places host paths under the root by what they are: packages by name, the rest by number; system paths stay', () => {
    const checkout = path.join(base, 'home', 'someone', 'checkout');
    const runtime = path.join(checkout, 'packages', 'registry', 'dist', 'runtime');
    const store = path.join(checkout, 'node_modules', '.pnpm', 'koffi@3', 'node_modules');
    for (const d of [runtime, path.join(store, 'koffi'), path.join(store, '@scope', 'native')])
      fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(runtime, 'runtime.cjs'), '');
    const link = path.join(checkout, 'packages', 'registry', 'node_modules', 'koffi');
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(store, 'koffi'), link);
    const n = new NeutralPaths('/plugward');
    expect(n.place(runtime)).toBe('/plugward/0');
    expect(n.place(link)).toBe('/plugward/node_modules/koffi');
    // The same package by its real path: the same place.
    expect(n.place(path.join(store, 'koffi'))).toBe('/plugward/node_modules/koffi');
    expect(n.place(path.join(store, '@scope', 'native'))).toBe('/plugward/node_modules/@scope/native');
    expect(n.place(path.join(runtime, 'runtime.cjs'))).toBe('/plugward/1/runtime.cjs');
    expect(n.place('/usr/lib/x86_64-linux-gnu')).toBe('/usr/lib/x86_64-linux-gnu');
    const moved = n.moved();
    expect(relocate(path.join(runtime, 'runtime.cjs'), moved)).toBe('/plugward/1/runtime.cjs');
    expect(relocate(path.join(link, 'index.js'), moved)).toBe('/plugward/node_modules/koffi/index.js');
    expect(moved.map(([, inside]) => inside).join(' ')).not.toContain(base);
  });

  it('gives a second package of the same name a numbered place', () => {
    const a = path.join(base, 'a', 'node_modules', 'dup');
    const b = path.join(base, 'b', 'node_modules', 'dup');
    fs.mkdirSync(a, { recursive: true });
    fs.mkdirSync(b, { recursive: true });
    const n = new NeutralPaths('/plugward');
    expect(n.place(a)).toBe('/plugward/node_modules/dup');
    expect(n.place(b)).toBe('/plugward/0');
  });

  it('knows the system paths', () => {
    expect(isSystemPath('/usr/bin/node')).toBe(true);
    expect(isSystemPath('/etc/ssl/openssl.cnf')).toBe(true);
    expect(isSystemPath('/root/.nvm/node')).toBe(false);
    expect(isSystemPath('/usrx/bin')).toBe(false);
  });
});
