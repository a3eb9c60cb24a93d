#!/usr/bin/env node
// Every code block of the READMEs and the guides runs in CI, from the Markdown itself (no hand-kept copies).
//
// Code blocks are fenced blocks tagged js, mjs, ts, sh, bash or c. Each one runs, unless the line before its fence is
//   <!-- doc-block: skip: REASON -->
// with a reason a reader would accept (it installs from the registry, it is a fragment of a larger file, ...).
// Two more markers:
//   <!-- doc-block: file NAME -->   the block is not run but written as NAME beside the next blocks of that file
//                                   (a two-file example: the plugin and the host that starts it)
//   <!-- doc-block: stdout -->      before a block right after a code block: each of its non-empty lines must appear,
//                                   in order, in what the code block printed js/mjs run as an ES module, ts is stripped of types first (esbuild), sh runs in bash -e;
// all with a fresh temp directory as cwd, every workspace package importable as @plugward/<name> (and esbuild), and
// `plugward` on PATH. A c block can
// only be skipped (fragments of plugward.h). Untagged blocks are output samples and are not run.
//
// Usage: node scripts/doc-blocks.mjs [--list] [file.md ...]   (pnpm build first)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CODE = new Set(['js', 'mjs', 'javascript', 'ts', 'typescript', 'sh', 'bash', 'c']);
const SKIP_RE = /^<!--\s*doc-block:\s*skip:\s*(\S.*?)\s*-->$/;
const FILE_RE = /^<!--\s*doc-block:\s*file\s+([\w.-]+)\s*-->$/;
const STDOUT_RE = /^<!--\s*doc-block:\s*stdout\s*-->$/;

/** The Markdown files whose blocks run: every README of the workspace and the guides. */
export function docFiles() {
  const files = [path.join(root, 'README.md')];
  for (const group of ['packages', 'examples', 'examples/plugins']) {
    const dir = path.join(root, group);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const readme = path.join(dir, name, 'README.md');
      if (fs.existsSync(readme)) files.push(readme);
    }
  }
  const docs = path.join(root, 'docs');
  if (fs.existsSync(docs)) {
    for (const name of fs.readdirSync(docs).sort()) {
      if (name.endsWith('.md')) files.push(path.join(docs, name));
    }
  }
  const guides = path.join(root, 'docs', 'guides');
  if (fs.existsSync(guides)) {
    for (const name of fs.readdirSync(guides).sort()) {
      if (name.endsWith('.md')) files.push(path.join(guides, name));
    }
  }
  return files;
}

/**
 * The fenced code blocks of a Markdown text: `{ line, lang, code, skip?, file?, stdout? }` (line of the opening fence,
 * 1-based; `file`: written beside later blocks instead of run; `stdout`: lines its output must contain).
 * @param {string} text
 */
export function extractBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```([\w-]*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const lang = open[1].toLowerCase();
    let prev = start - 1;
    while (prev >= 0 && lines[prev].trim() === '') prev--;
    const marker = prev >= 0 ? lines[prev].trim() : '';
    const skip = SKIP_RE.exec(marker)?.[1];
    const file = FILE_RE.exec(marker)?.[1];
    const code = lines.slice(start + 1, end).join('\n');
    if (STDOUT_RE.test(marker) && blocks.length > 0) {
      blocks[blocks.length - 1].stdout = code.split('\n').filter((l) => l.trim() !== '');
    } else if (CODE.has(lang)) {
      blocks.push({ line: start + 1, lang, code, skip, file });
    }
    i = end;
  }
  return blocks;
}

let modulesDir;
/** A directory whose node_modules holds every workspace package (symlinked), where block modules are written. */
function blockHome() {
  if (modulesDir) return modulesDir;
  modulesDir = path.join(root, '.tmp', 'doc-blocks');
  const scope = path.join(modulesDir, 'node_modules', '@plugward');
  fs.mkdirSync(scope, { recursive: true });
  for (const name of fs.readdirSync(path.join(root, 'packages'))) {
    const pj = path.join(root, 'packages', name, 'package.json');
    if (!fs.existsSync(pj)) continue;
    const link = path.join(scope, name);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join(root, 'packages', name), link);
  }
  // The bundler the guides use, and the `plugward` command as an installed package would put it on PATH.
  const esbuild = path.join(modulesDir, 'node_modules', 'esbuild');
  if (!fs.existsSync(esbuild))
    fs.symlinkSync(path.dirname(tsupRequire().resolve('esbuild/package.json')), esbuild);
  const binDir = path.join(modulesDir, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  const plugward = path.join(binDir, 'plugward');
  if (!fs.existsSync(plugward))
    fs.symlinkSync(path.join(root, 'packages', 'cli', 'dist', 'bin.js'), plugward);
  return modulesDir;
}

function tsupRequire() {
  return createRequire(fs.realpathSync(path.join(root, 'node_modules', 'tsup', 'package.json')));
}

function toModule(block) {
  if (block.lang === 'ts' || block.lang === 'typescript') {
    const esbuild = tsupRequire()('esbuild');
    return esbuild.transformSync(block.code, { loader: 'ts', format: 'esm', target: 'node20' }).code;
  }
  return block.code;
}

/**
 * Runs one block; returns `{ ok, output }`. Every block gets its own temp directory (its cwd, under a node_modules
 * with the workspace packages), removed after; `files` (name → text) are written there first.
 * @param {{ lang: string, code: string, stdout?: string[] }} block
 * @param {{ timeoutMs?: number, files?: Record<string, string> }} [options]
 */
export function runBlock(block, options = {}) {
  const cwd = fs.mkdtempSync(path.join(blockHome(), 'run-'));
  for (const [name, text] of Object.entries(options.files ?? {}))
    fs.writeFileSync(path.join(cwd, name), text);
  const env = {
    ...process.env,
    PATH: [path.join(blockHome(), 'bin'), path.join(root, 'node_modules', '.bin'), process.env.PATH].join(
      path.delimiter,
    ),
    PLUGWARD_STATE_DIR: path.join(cwd, '.state'),
  };
  try {
    let r;
    if (block.lang === 'sh' || block.lang === 'bash') {
      r = spawnSync('bash', ['-euo', 'pipefail', '-c', block.code], {
        cwd,
        env,
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 120_000,
      });
    } else if (block.lang === 'c') {
      return { ok: false, output: 'a c block can only be skipped (<!-- doc-block: skip: REASON -->)' };
    } else {
      const file = path.join(cwd, '.doc-block.mjs');
      fs.writeFileSync(file, toModule(block));
      r = spawnSync(process.execPath, [file], {
        cwd,
        env,
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 120_000,
      });
    }
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
    if (r.status !== 0) return { ok: false, output };
    let at = 0;
    for (const want of block.stdout ?? []) {
      const found = (r.stdout ?? '').indexOf(want.trim(), at);
      if (found < 0)
        return {
          ok: false,
          output: `${output}\n(expected in stdout, in order: ${JSON.stringify(want.trim())})`,
        };
      at = found + want.trim().length;
    }
    return { ok: true, output };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const list = args.includes('--list');
  const files = args.filter((a) => a !== '--list').map((f) => path.resolve(f));
  let failed = 0;
  let ran = 0;
  let skipped = 0;
  for (const file of files.length > 0 ? files : docFiles()) {
    const written = {};
    for (const block of extractBlocks(fs.readFileSync(file, 'utf8'))) {
      const where = `${path.relative(root, file)}:${block.line} (${block.lang})`;
      if (block.file !== undefined) {
        written[block.file] = block.code;
        if (list) console.log(`file ${where}: ${block.file}`);
        continue;
      }
      if (block.skip !== undefined) {
        skipped++;
        if (list) console.log(`skip ${where}: ${block.skip}`);
        continue;
      }
      if (list) {
        console.log(`run  ${where}`);
        continue;
      }
      const r = runBlock(block, { files: written });
      ran++;
      console.log(`${r.ok ? 'ok    ' : 'FAILED'} ${where}`);
      if (!r.ok) {
        failed++;
        console.log(r.output.replace(/^/gm, '    '));
      }
    }
  }
  if (!list) console.log(`\n${ran - failed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed > 0 ? 1 : 0);
}
