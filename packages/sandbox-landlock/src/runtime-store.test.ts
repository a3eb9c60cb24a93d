import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { relocate } from '@plugward/sandbox-common';
import { afterAll, describe, expect, it } from 'vitest';
import { forgetCheckedStores, runtimeStore, STORE_MAX_IDLE_MS, STORE_PREFIX } from './runtime-store.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-store-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A checkout-like tree: a runtime folder and a package reached through a node_modules link. */
function checkout(): { runtime: string; pkg: string; base: string } {
  const root = fs.mkdtempSync(path.join(tmp, 'checkout-'));
  const runtime = path.join(root, 'dist', 'runtime');
  fs.mkdirSync(runtime, { recursive: true });
  fs.writeFileSync(path.join(runtime, 'runtime.cjs'), "module.exports = require('kit').k;\n");
  fs.writeFileSync(path.join(runtime, 'runtime.cjs.map'), '{}');
  const real = path.join(root, 'node_modules', '.pnpm', 'kit@1', 'node_modules', 'kit');
  fs.mkdirSync(path.join(real, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(real, 'index.js'), 'exports.k = 1;\n');
  fs.writeFileSync(path.join(real, 'lib', 'native.node'), 'bin', { mode: 0o755 });
  fs.writeFileSync(path.join(real, 'README.md'), 'docs');
  const pkg = path.join(root, 'node_modules', 'kit');
  fs.symlinkSync(real, pkg);
  const base = fs.mkdtempSync(path.join(tmp, 'base-'));
  return { runtime, pkg, base };
}

describe('runtimeStore', () => {
  it('copies the shared paths once to a content-named store at neutral paths; what is not needed stays out', () => {
    const { runtime, pkg, base } = checkout();
    const store = runtimeStore([runtime, pkg], base);
    const owner = process.getuid?.() === 0 ? '' : `u${process.getuid?.()}-`;
    expect(path.basename(store.root)).toMatch(new RegExp(`^${STORE_PREFIX}${owner}[0-9a-f]{32}$`));
    const entry = relocate(path.join(runtime, 'runtime.cjs'), store.moved);
    expect(entry).toBe(path.join(store.root, '0', 'runtime.cjs'));
    expect(fs.readFileSync(entry, 'utf8')).toBe("module.exports = require('kit').k;\n");
    expect(fs.existsSync(path.join(store.root, '0', 'runtime.cjs.map'))).toBe(false);
    const kit = path.join(store.root, 'node_modules', 'kit');
    expect(relocate(path.join(pkg, 'index.js'), store.moved)).toBe(path.join(kit, 'index.js'));
    expect(fs.existsSync(path.join(kit, 'README.md'))).toBe(false);
    expect(fs.statSync(path.join(kit, 'lib', 'native.node')).mode & 0o777).toBe(0o555);
    expect(fs.statSync(path.join(kit, 'index.js')).mode & 0o777).toBe(0o444);
    expect(fs.statSync(kit).mode & 0o777).toBe(0o755);
    // Node finds the package from the runtime's place.
    expect(createRequire(import.meta.url)(entry)).toBe(1);
    // Made whole: no temporary folder left.
    expect(fs.readdirSync(base)).toEqual([path.basename(store.root)]);
    // The same content elsewhere makes the same store.
    const again = checkout();
    fs.rmSync(again.base, { recursive: true });
    expect(runtimeStore([again.runtime, again.pkg], base).root).toBe(store.root);
  });

  it('makes a store again when its content no longer hashes to its name, or holds anything more', () => {
    const { runtime, pkg, base } = checkout();
    const store = runtimeStore([runtime, pkg], base);
    const file = path.join(store.root, 'node_modules', 'kit', 'index.js');
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, 'exports.k = "planted";\n');
    fs.writeFileSync(path.join(store.root, '0', 'extra.js'), 'planted');
    forgetCheckedStores();
    const checked = runtimeStore([runtime, pkg], base);
    expect(checked.root).toBe(store.root);
    expect(fs.readFileSync(file, 'utf8')).toBe('exports.k = 1;\n');
    expect(fs.existsSync(path.join(store.root, '0', 'extra.js'))).toBe(false);
  });

  it('follows changed content to a new store', () => {
    const { runtime, pkg, base } = checkout();
    const first = runtimeStore([runtime, pkg], base);
    fs.writeFileSync(path.join(runtime, 'runtime.cjs'), 'module.exports = 2;\n');
    forgetCheckedStores();
    const second = runtimeStore([runtime, pkg], base);
    expect(second.root).not.toBe(first.root);
    expect(fs.readFileSync(path.join(second.root, '0', 'runtime.cjs'), 'utf8')).toBe('module.exports = 2;\n');
  });

  it("removes a store no spawn used for STORE_MAX_IDLE_MS at the next process's first use, and keeps a used one", () => {
    const { runtime, pkg, base } = checkout();
    const idle = runtimeStore([runtime], base).root;
    const used = runtimeStore([runtime, pkg], base).root;
    const then = new Date(Date.now() - STORE_MAX_IDLE_MS - 60_000);
    fs.utimesSync(idle, then, then);
    forgetCheckedStores();
    expect(runtimeStore([runtime, pkg], base).root).toBe(used);
    expect(fs.existsSync(idle)).toBe(false);
    expect(fs.existsSync(used)).toBe(true);
  });

  it("leaves another user's idle store alone (a shared temporary folder holds every user's)", (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: making a folder owned by another user needs root');
      return ctx.skip('needs root to make a folder owned by another user');
    }
    const { runtime, base } = checkout();
    const theirs = path.join(base, `${STORE_PREFIX}u4242-${'0'.repeat(32)}`);
    fs.mkdirSync(theirs);
    fs.chownSync(theirs, 4242, 4242);
    const then = new Date(Date.now() - STORE_MAX_IDLE_MS - 60_000);
    fs.utimesSync(theirs, then, then);
    forgetCheckedStores();
    runtimeStore([runtime], base);
    expect(fs.existsSync(theirs)).toBe(true);
  });

  it('a store name taken by something this user cannot remove (another user in a shared /tmp): a name of its own, no failure', (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: mounting a tmpfs over the store name needs root');
      return ctx.skip('needs root to mount a tmpfs');
    }
    const { runtime, pkg, base } = checkout();
    // The name is predictable: the same content makes the same name (here learnt from another folder).
    const elsewhere = fs.mkdtempSync(path.join(tmp, 'learn-'));
    const predicted = path.basename(runtimeStore([runtime, pkg], elsewhere).root);
    const squatted = path.join(base, predicted);
    fs.mkdirSync(squatted);
    // A mount point: not removable even by root (EBUSY), as another user's folder in a sticky /tmp is not by this one.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'squat', squatted]);
    try {
      fs.writeFileSync(path.join(squatted, 'planted'), 'x');
      forgetCheckedStores();
      const store = runtimeStore([runtime, pkg], base);
      expect(store.root).not.toBe(squatted);
      expect(path.basename(store.root)).toMatch(new RegExp(`^${predicted}-[0-9a-f]{16}$`));
      const entry = relocate(path.join(runtime, 'runtime.cjs'), store.moved);
      expect(fs.readFileSync(entry, 'utf8')).toBe("module.exports = require('kit').k;\n");
      // The same process keeps using it.
      expect(runtimeStore([runtime, pkg], base).root).toBe(store.root);
    } finally {
      execFileSync('umount', [squatted]);
    }
  });
});
