// Publishing basics every public package must keep: its LICENSE in the tarball, repository/homepage/bugs/keywords,
// changesets that version only public packages and say something, no "scaffold" wording left for changelogs.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
interface Pkg {
  name: string;
  private?: boolean;
  license?: string;
  files?: string[];
  repository?: { type?: string; url?: string; directory?: string };
  homepage?: string;
  bugs?: { url?: string };
  keywords?: string[];
}
const workspaceDirs = ['packages', 'examples', 'examples/plugins', 'bench'].flatMap((d) => {
  const abs = path.join(root, d);
  if (fs.existsSync(path.join(abs, 'package.json'))) return [abs];
  return fs.existsSync(abs)
    ? fs
        .readdirSync(abs)
        .map((n) => path.join(abs, n))
        .filter((p) => fs.existsSync(path.join(p, 'package.json')))
    : [];
});
const pkgs = workspaceDirs.map((dir) => ({
  dir,
  pkg: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Pkg,
}));
const publics = pkgs.filter((p) => p.pkg.private !== true);
const license = fs.readFileSync(path.join(root, 'LICENSE'), 'utf8');

describe('publishing basics', () => {
  it('the repository has the Apache-2.0 LICENSE', () => {
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(publics.length).toBeGreaterThanOrEqual(10);
  });

  it.each(publics.map((p) => [p.pkg.name, p] as const))(
    '%s ships LICENSE and full metadata',
    (_name, { dir, pkg }) => {
      const rel = path.relative(root, dir);
      expect(pkg.license).toBe('Apache-2.0');
      expect(fs.readFileSync(path.join(dir, 'LICENSE'), 'utf8')).toBe(license);
      expect(pkg.files).toContain('LICENSE');
      expect(pkg.repository).toMatchObject({
        type: 'git',
        url: expect.stringMatching(/^git\+https:\/\//),
        directory: rel,
      });
      expect(pkg.homepage).toMatch(new RegExp(`^https://.*/${rel}#readme$`));
      expect(pkg.bugs?.url).toMatch(/^https:\/\/.*\/issues$/);
      expect(pkg.keywords?.length ?? 0).toBeGreaterThanOrEqual(3);
      expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).not.toMatch(/scaffold/i);
    },
  );

  it('changesets version only public packages, and every changeset says what changed', () => {
    const config = JSON.parse(fs.readFileSync(path.join(root, '.changeset/config.json'), 'utf8')) as {
      privatePackages?: { version?: boolean };
    };
    expect(config.privatePackages?.version).toBe(false);
    const publicNames = new Set(publics.map((p) => p.pkg.name));
    const dir = path.join(root, '.changeset');
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.md') && n !== 'README.md')) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      const m = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text);
      expect(m, `${f}: front matter`).not.toBeNull();
      const names = [...(m?.[1] ?? '').matchAll(/^"([^"]+)":\s*(major|minor|patch)\s*$/gm)].map((x) => x[1]);
      expect(names.length, `${f}: names no package`).toBeGreaterThan(0);
      for (const n of names)
        expect(publicNames.has(n as string), `${f}: ${n} is not a public package`).toBe(true);
      expect((m?.[2] ?? '').trim().length, `${f}: empty body`).toBeGreaterThan(20);
      expect(text, f).not.toMatch(/scaffold/i);
    }
  });
});
