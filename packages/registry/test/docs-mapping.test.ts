// docs/api-reference-mapping.md can't drift from the code: every name in its "Plugward" column must be exported by the
// package its section (or cell) names — read from the built declarations, so type-only exports count — and for `A.b`,
// `A` must have a member `b` (instance or static side); every row has one of the page's statuses. Error codes quoted
// beside `PluginError` must be codes. The table parser is the page's format, kept small: | reference | Plugward | status | notes |.
// Beside it: the Markdown users read links only to files in the repository, and neither it nor the TSDoc speaks of a
// design document outside the repository or of "the seed" (the Rust API reference is named so, on the mapping page).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_ERROR_CODES } from '@plugward/types';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const page = path.join(root, 'docs/api-reference-mapping.md');

interface Row {
  line: number;
  reference: string;
  status: string;
  /** [package, name] pairs of the Plugward column. */
  names: [string, string][];
  /** Quoted spans of the Plugward and notes columns (`'LoadError'` → LoadError). */
  quoted: string[];
}

const IDENT_PATH = /^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?:\(.*\))?$/;
const PACKAGE = /^@plugward\/[a-z0-9-]+$/;
const NOT_NAMES = new Set(['true', 'false', 'null', 'undefined']);

function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** Splits a table line into cells; `\|` inside a cell is not a separator. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

function parsePage(text: string): Row[] {
  const rows: Row[] = [];
  let pkg: string | undefined;
  text.split('\n').forEach((line, i) => {
    if (line.startsWith('## ')) {
      pkg = codeSpans(line).find((s) => PACKAGE.test(s));
      return;
    }
    if (!line.startsWith('|') || /^\|\s*-/.test(line) || line.startsWith('| Rust API reference')) return;
    const [reference = '', ours = '', status = '', notes = ''] = cells(line);
    const names: [string, string][] = [];
    let current = pkg;
    for (const span of codeSpans(ours)) {
      if (PACKAGE.test(span)) {
        current = span;
        continue;
      }
      const m = IDENT_PATH.exec(span);
      if (!m || NOT_NAMES.has(span)) continue;
      if (current === undefined) throw new Error(`line ${i + 1}: no package for ${span}`);
      names.push([current, m[1] as string]);
    }
    const quoted = [...codeSpans(ours), ...codeSpans(notes)]
      .filter((s) => /^'[A-Za-z]+'$/.test(s))
      .map((s) => s.slice(1, -1));
    rows.push({ line: i + 1, reference, status, names, quoted });
  });
  return rows;
}

/** Exported names of each package's built declarations, with the members of each (type and value side). */
function exportsOf(packages: string[]): Map<string, Map<string, Set<string>>> {
  const files = packages.map((p) =>
    path.join(root, 'packages', p.replace('@plugward/', ''), 'dist/index.d.ts'),
  );
  for (const f of files) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: run pnpm build first`);
  }
  const program = ts.createProgram(files, {
    noEmit: true,
    skipLibCheck: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const isObject = (t: ts.Type): boolean =>
    t.isUnion()
      ? t.types.every(isObject)
      : (t.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) !== 0;
  const out = new Map<string, Map<string, Set<string>>>();
  packages.forEach((pkg, i) => {
    const source = program.getSourceFile(files[i] as string);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`no module symbol for ${pkg}`);
    const names = new Map<string, Set<string>>();
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const s = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const members = new Set<string>();
      const add = (t: ts.Type) => {
        if (isObject(t)) for (const p of checker.getPropertiesOfType(t)) members.add(p.name);
      };
      if (s.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
        add(checker.getDeclaredTypeOfSymbol(s));
      }
      const decl = s.valueDeclaration ?? s.declarations?.[0];
      if (s.flags & ts.SymbolFlags.Value && decl) add(checker.getTypeOfSymbolAtLocation(s, decl));
      names.set(exported.name, members);
    }
    out.set(pkg, names);
  });
  return out;
}

const rows = parsePage(fs.readFileSync(page, 'utf8'));
const packages = [...new Set(rows.flatMap((r) => r.names.map(([p]) => p)))].sort();
const exported = exportsOf(packages);

function problem(pkg: string, name: string): string | undefined {
  const [head = '', member] = name.split('.');
  const members = exported.get(pkg)?.get(head);
  if (members === undefined) return `${pkg} does not export ${head}`;
  if (member !== undefined && !members.has(member)) return `${pkg} ${head} has no member ${member}`;
  return undefined;
}

describe('docs/api-reference-mapping.md', () => {
  it('has a row for each area of the Rust API reference', () => {
    for (const item of [
      'Plugin',
      'PluginRegistry::new',
      'PluginLoader::new',
      'PluginSecurity::new',
      'PluginContext::new',
      'HookRegistry::new',
      'ResourceLimits::default()',
      'PluginMetrics',
      'SandboxConfig',
      'IpcChannel',
      'PluginError',
    ]) {
      expect(rows.some((r) => r.reference.includes(`\`${item}`))).toBe(true);
    }
    expect(rows.length).toBeGreaterThan(100);
  });

  it.each(rows.map((r) => [r.line, r.reference, r] as const))('line %i: %s', (_line, _ref, row) => {
    expect(['same', 'idiom', 'differs', 'added']).toContain(row.status.split(/\s/)[0]);
    expect(row.names.length, 'the Plugward column names something').toBeGreaterThan(0);
    expect(row.names.map(([p, n]) => problem(p, n)).filter(Boolean)).toEqual([]);
  });

  it('every name of the page is also exported by @plugward/registry, the one install for a host', () => {
    const registry = exported.get('@plugward/registry');
    expect(registry).toBeDefined();
    const heads = new Set(rows.flatMap((r) => r.names.map(([, n]) => n.split('.')[0] as string)));
    expect([...heads].filter((n) => !registry?.has(n))).toEqual([]);
  });

  it('quotes only real error codes', () => {
    const codes = new Set<string>(PLUGIN_ERROR_CODES);
    const quoted = rows.filter((r) => r.reference.includes('PluginError')).flatMap((r) => r.quoted);
    expect(quoted.length).toBeGreaterThan(12);
    expect(quoted.filter((c) => !codes.has(c))).toEqual([]);
  });
});

/** Markdown files users read: the root README, docs/ and each package's README. */
function userDocs(): string[] {
  const packagesDir = path.join(root, 'packages');
  return [
    path.join(root, 'README.md'),
    ...fs
      .readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join(root, 'docs', f)),
    ...fs
      .readdirSync(packagesDir)
      .map((p) => path.join(packagesDir, p, 'README.md'))
      .filter((f) => fs.existsSync(f)),
  ];
}

/** Source files whose comments become TSDoc users read (tests excluded). */
function publicSources(dir = path.join(root, 'packages'), out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!['node_modules', 'dist', 'test'].includes(entry.name)) publicSources(p, out);
    } else if (
      /\.ts$/.test(entry.name) &&
      !/\.test\.ts$/.test(entry.name) &&
      p.includes(`${path.sep}src${path.sep}`)
    ) {
      out.push(p);
    }
  }
  return out;
}

describe('documentation users read', () => {
  it('links only to files in the repository', () => {
    const broken: string[] = [];
    for (const file of userDocs()) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (m[1] as string).split('#')[0] as string;
        if (target === '' || /^[a-z]+:/i.test(target)) continue;
        if (!fs.existsSync(path.resolve(path.dirname(file), target))) {
          broken.push(`${path.relative(root, file)} → ${m[1]}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('speaks of the Rust API reference by that name, and of no design document outside the repository', () => {
    const hits: string[] = [];
    for (const file of [...userDocs(), ...publicSources()]) {
      fs.readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/DESIGN\.md|\bthe seed\b|\bseed's\b/i.test(line))
            hits.push(`${path.relative(root, file)}:${i + 1}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
