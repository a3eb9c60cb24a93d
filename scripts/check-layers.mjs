#!/usr/bin/env node
// Dependency-direction check (docs/architecture.md, Layers): a package may depend on, and import, only @plugward
// packages of a strictly lower layer. Reads every packages/*/package.json ("plugward": { "layer": N }) and every import/require in
// its src/ (test files included: tests must not reach upward either). A package marked "portable": true (types,
// hooks, context: they must run in browsers and workers) may not import a Node built-in outside its test files.
// A declared @plugward dependency must be used: `dependencies`/`peerDependencies` by the shipped sources (src/,
// tests excluded), `devDependencies` by any source or test; a declaration nothing imports is refused.
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE_EXT = /\.(?:[cm]?[jt]sx?)$/;
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const ANY_IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;
const IMPORT_RE =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)['"](@plugward\/[a-z0-9-]+)(?:\/[^'"]*)?['"]/g;

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(p, out);
    } else if (SOURCE_EXT.test(entry.name)) {
      out.push(p);
    }
  }
  return out;
}

/**
 * Checks the workspace at `root`. Returns a list of human-readable violations (empty when the direction holds).
 * @param {string} root
 * @returns {string[]}
 */
export function checkLayers(root) {
  const pkgDir = path.join(root, 'packages');
  const problems = [];
  const packages = new Map();
  for (const name of fs.readdirSync(pkgDir).sort()) {
    const file = path.join(pkgDir, name, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pj = JSON.parse(fs.readFileSync(file, 'utf8'));
    const layer = pj.plugward?.layer;
    if (!Number.isInteger(layer) || layer < 0) {
      problems.push(`${pj.name ?? name}: package.json lacks an integer "plugward": { "layer": N }`);
      continue;
    }
    packages.set(pj.name, { dir: path.join(pkgDir, name), layer, pj });
  }
  const allowed = (from, to) => {
    const target = packages.get(to);
    if (!target) return `unknown package ${to}`;
    if (to === from.pj.name) return undefined; // self-reference
    return target.layer < from.layer ? undefined : `layer ${from.layer} may not use layer ${target.layer}`;
  };
  for (const [name, info] of packages) {
    for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const dep of Object.keys(info.pj[field] ?? {})) {
        if (!dep.startsWith('@plugward/')) continue;
        const why = allowed(info, dep);
        if (why) problems.push(`${name}: ${field} has ${dep} (${why})`);
      }
    }
    const portable = info.pj.plugward?.portable === true;
    let portableSources = 0;
    const usedByShipped = new Set();
    const usedAnywhere = new Set();
    for (const file of walk(path.join(info.dir, 'src')).concat(walk(path.join(info.dir, 'test')))) {
      const text = fs.readFileSync(file, 'utf8');
      const shipped =
        file.startsWith(path.join(info.dir, 'src') + path.sep) && !/\.test(?:-d)?\.[cm]?[jt]sx?$/.test(file);
      for (const m of text.matchAll(IMPORT_RE)) {
        usedAnywhere.add(m[1]);
        if (shipped) usedByShipped.add(m[1]);
        const why = allowed(info, m[1]);
        if (why) problems.push(`${name}: ${path.relative(root, file)} imports ${m[1]} (${why})`);
      }
      if (!portable || !shipped) continue;
      portableSources++;
      for (const m of text.matchAll(ANY_IMPORT_RE)) {
        if (NODE_BUILTINS.has(m[1]) || m[1].startsWith('node:')) {
          problems.push(
            `${name}: ${path.relative(root, file)} imports Node built-in ${m[1]} (the package is portable)`,
          );
        }
      }
    }
    for (const field of ['dependencies', 'peerDependencies', 'devDependencies']) {
      const used = field === 'devDependencies' ? usedAnywhere : usedByShipped;
      for (const dep of Object.keys(info.pj[field] ?? {})) {
        if (!dep.startsWith('@plugward/') || dep === name || used.has(dep)) continue;
        problems.push(
          `${name}: ${field} has ${dep}, but ${field === 'devDependencies' ? 'no source or test' : 'no shipped source (src/, tests excluded)'} imports it`,
        );
      }
    }
    // The scan must actually see the sources of a portable package.
    if (portable && portableSources === 0)
      problems.push(`${name}: portable, but no source file under src/ was scanned`);
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = checkLayers(root);
  if (problems.length > 0) {
    console.error(`dependency direction violated (${problems.length}):`);
    for (const p of problems) console.error(`  - ${p}`);
    process.exit(1);
  }
  console.log('dependency direction: ok');
}
