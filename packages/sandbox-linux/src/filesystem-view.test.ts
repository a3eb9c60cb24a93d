import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyHostBinds, type ViewOp } from './filesystem-view.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-view-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// copyHostBinds keeps each walk of a settled tree for the process (issue 17): these check it never answers from a
// walk the tree no longer matches. A host path outside the system prefixes is copied file by file. `settle` dates
// every directory of a tree back (as an installed package's are), so the walk is kept.
function settle(dir: string): void {
  const past = new Date(Date.now() - 60_000);
  for (const d of [dir, ...fs.readdirSync(dir, { recursive: true }).map((n) => path.join(dir, String(n)))]) {
    if (fs.lstatSync(d).isDirectory()) fs.utimesSync(d, past, past);
  }
}
const copies = (dir: string): string[] =>
  copyHostBinds([{ op: 'ro-bind', source: dir, target: dir }])
    .filter((op): op is Extract<ViewOp, { op: 'file' }> => op.op === 'file')
    .map((op) => path.relative(dir, op.source))
    .sort();

describe('copyHostBinds', () => {
  it('copies what a folder holds now: files added, removed or renamed in a nested directory since the last spawn', () => {
    const dir = path.join(root, 'pkg');
    fs.mkdirSync(path.join(dir, 'build', 'x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.cjs'), '');
    fs.writeFileSync(path.join(dir, 'build', 'x64', 'a.node'), '');
    fs.writeFileSync(path.join(dir, 'build', 'x64', 'notes.md'), '');
    settle(dir);
    expect(copies(dir)).toEqual(['build/x64/a.node', 'index.cjs']);
    expect(copies(dir)).toEqual(['build/x64/a.node', 'index.cjs']);

    fs.writeFileSync(path.join(dir, 'build', 'x64', 'b.node'), '');
    expect(copies(dir)).toEqual(['build/x64/a.node', 'build/x64/b.node', 'index.cjs']);
    settle(dir);
    expect(copies(dir)).toEqual(['build/x64/a.node', 'build/x64/b.node', 'index.cjs']);
    fs.renameSync(path.join(dir, 'build', 'x64', 'a.node'), path.join(dir, 'build', 'x64', 'c.node'));
    expect(copies(dir)).toEqual(['build/x64/b.node', 'build/x64/c.node', 'index.cjs']);
    settle(dir);
    expect(copies(dir)).toEqual(['build/x64/b.node', 'build/x64/c.node', 'index.cjs']);
    fs.rmSync(path.join(dir, 'build'), { recursive: true });
    expect(copies(dir)).toEqual(['index.cjs']);
  });

  it('follows a folder replaced by another one at the same path', () => {
    const dir = path.join(root, 'runtime');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'old.cjs'), '');
    settle(dir);
    expect(copies(dir)).toEqual(['old.cjs']);
    fs.rmSync(dir, { recursive: true });
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'new.cjs'), '');
    settle(dir);
    expect(copies(dir)).toEqual(['new.cjs']);
  });
});
