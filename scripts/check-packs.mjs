#!/usr/bin/env node
// Packs every public package as it would be published and checks each tarball as a consumer would meet it:
//   publint (packaging errors), are-the-types-wrong (types for every resolution mode), then an install of the tarball
//   alone in an empty directory (its @plugward dependencies from their own tarballs, nothing from the workspace),
//   an ESM import, a CommonJS require, and a type-check of a CommonJS consumer under node16 without skipLibCheck
//   (what a koffi type in a public .d.cts broke: TS1479).
// Third-party dependencies come from the pnpm store the workspace install filled (--prefer-offline: the registry is
// asked only for metadata the store lacks). `pnpm build` first.
// Usage: node scripts/check-packs.mjs [package-dir-name ...]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const only = process.argv.slice(2);
const CONCURRENCY = 2;

function run(cmd, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', (e) => resolve({ code: 1, out: `${out}\n${e.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

let chain = Promise.resolve();
/** Runs `fn` after every earlier `serially` call has settled. */
function serially(fn) {
  const next = chain.then(fn, fn);
  chain = next.then(
    () => undefined,
    () => undefined,
  );
  return next;
}

/** Runs `fn` over `items`, `n` at a time. */
async function pool(items, n, fn) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

const publics = fs
  .readdirSync(path.join(root, 'packages'))
  .sort()
  .map((d) => ({ dir: path.join(root, 'packages', d), short: d }))
  .filter((p) => fs.existsSync(path.join(p.dir, 'package.json')))
  .map((p) => ({ ...p, pj: JSON.parse(fs.readFileSync(path.join(p.dir, 'package.json'), 'utf8')) }))
  .filter((p) => p.pj.private !== true);
const selected = only.length === 0 ? publics : publics.filter((p) => only.includes(p.short));
const typesNode = JSON.parse(
  fs.readFileSync(path.join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8'),
).version;
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-packs-'));
const failures = [];
const started = performance.now();
try {
  // 1. Pack all public packages (their closure must be packed for any one install).
  const packs = path.join(work, 'tarballs');
  fs.mkdirSync(packs);
  const tarballs = new Map();
  const packOne = async (p) => {
    const r = await run('pnpm', ['pack', '--pack-destination', packs], p.dir);
    const file = r.out
      .trim()
      .split('\n')
      .reverse()
      .find((l) => l.trim().endsWith('.tgz'));
    if (r.code !== 0 || file === undefined) failures.push(`${p.pj.name}: pnpm pack failed\n${r.out}`);
    else tarballs.set(p.pj.name, path.resolve(p.dir, file.trim()));
  };
  await pool(publics, 4, packOne);
  const overrides = Object.fromEntries([...tarballs].map(([n, f]) => [n, `file:${f}`]));

  // 2. Check each selected package, two at a time.
  const check = async (p) => {
    const name = p.pj.name;
    const tgz = tarballs.get(name);
    if (tgz === undefined) return;
    const problems = [];
    const lint = await run(bin('publint'), ['run', tgz, '--strict'], work);
    if (lint.code !== 0 || /\n\s*\d+\.\s/.test(lint.out)) problems.push(`publint:\n${lint.out}`);
    // Entry points that are no module (loader's ./plugward.h) have no types to check.
    const notModules = Object.entries(p.pj.exports ?? {})
      .filter(([, v]) => typeof v === 'string' && !/\.(?:[cm]?js|json)$/.test(v))
      .map(([k]) => k);
    const attw = await run(
      bin('attw'),
      [
        tgz,
        '--format',
        'ascii',
        '--no-emoji',
        '--no-color',
        // node10 (no "exports") can't reach subpath entry points such as ./vitest; Node 20 consumers never use it.
        '--profile',
        'node16',
        ...(notModules.length > 0 ? ['--exclude-entrypoints', ...notModules] : []),
      ],
      work,
    );
    if (attw.code !== 0) problems.push(`are-the-types-wrong:\n${attw.out}`);

    const dir = path.join(work, p.short);
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        dependencies: { [name]: `file:${tgz}`, '@types/node': typesNode },
        pnpm: { overrides, onlyBuiltDependencies: ['koffi', 'esbuild'] },
      }),
    );
    // One install at a time: concurrent pnpm installs into one store have failed here without saying why.
    const install = await serially(async () => {
      const args = [
        'install',
        '--prefer-offline',
        '--ignore-workspace',
        '--config.confirmModulesPurge=false',
      ];
      const r = await run('pnpm', args, dir);
      const there = fs.existsSync(path.join(dir, 'node_modules', ...name.split('/'), 'package.json'));
      return there
        ? r
        : { code: r.code || 1, out: `${r.out}\n(${name} is not in node_modules after the install)` };
    });
    if (install.code !== 0) {
      problems.push(`install of the tarball alone failed:\n${install.out}`);
    } else {
      const esm = await run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error('no exports');`,
        ],
        dir,
      );
      if (esm.code !== 0) problems.push(`ESM import failed:\n${esm.out}`);
      const cjs = await run(
        process.execPath,
        [
          '-e',
          `const m = require(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error('no exports');`,
        ],
        dir,
      );
      if (cjs.code !== 0) problems.push(`CJS require failed:\n${cjs.out}`);
      fs.writeFileSync(
        path.join(dir, 'consumer.cts'),
        `import pkg = require(${JSON.stringify(name)});\nexport const keys: string[] = Object.keys(pkg);\n`,
      );
      fs.writeFileSync(
        path.join(dir, 'consumer.mts'),
        `import * as pkg from ${JSON.stringify(name)};\nexport const keys: string[] = Object.keys(pkg);\n`,
      );
      fs.writeFileSync(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'node16',
            moduleResolution: 'node16',
            target: 'ES2022',
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
          },
          files: ['consumer.cts', 'consumer.mts'],
        }),
      );
      const types = await run(process.execPath, [tsc, '-p', '.'], dir);
      if (types.code !== 0)
        problems.push(`node16 consumers (CJS and ESM, no skipLibCheck) do not type-check:\n${types.out}`);
    }
    const status = problems.length === 0 ? 'ok' : 'FAILED';
    console.log(`${status.padEnd(6)} ${name}`);
    if (problems.length > 0) failures.push(`${name}:\n${problems.join('\n')}`);
  };
  await pool(selected, CONCURRENCY, check);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const seconds = ((performance.now() - started) / 1000).toFixed(0);
if (failures.length > 0) {
  console.error(`\n${failures.join('\n\n')}`);
  console.error(`\npacks: ${failures.length} of ${selected.length} packages FAILED (${seconds} s)`);
  process.exit(1);
}
console.log(
  `packs: all ${selected.length} public packages pack, lint, install alone and import (ESM + CJS) (${seconds} s)`,
);
