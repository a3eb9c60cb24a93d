// `plugward init` end to end, as a plugin author runs it: scaffold each language into a temp directory, then its own
// npm scripts — build → sign → trust → start (a host answering on stdin) and test (all four tiers). The @plugward
// packages are this workspace's, linked into the project's node_modules (no network).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, SCAFFOLD_LANGS } from '../dist/index.js';

const root = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(import.meta.url);
const esbuildDir = path.dirname(
  require.resolve('esbuild/package.json', {
    paths: [path.dirname(require.resolve('tsup', { paths: [root] }))],
  }),
);
const typescriptDir = path.join(root, 'node_modules', 'typescript');
const hasCargo = spawnSync('cargo', ['--version']).status === 0;
const hasCc = spawnSync('cc', ['--version']).status === 0;

let work: string;
let state: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-init-'));
  state = path.join(work, 'state');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function sink() {
  let text = '';
  const stream = Object.assign(
    new (require('node:stream').Writable)({
      write(chunk: Buffer, _enc: string, cb: () => void) {
        text += chunk.toString();
        cb();
      },
    }),
    { isTTY: false },
  );
  return { stream, text: () => text };
}

async function init(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(['init', ...args], {
    stdout: out.stream,
    stderr: err.stream,
    env: {},
    cwd: work,
  });
  return { code, out: out.text(), err: err.text() };
}

/** Links this workspace's packages and tools into the project, as `npm install` would from the registry. */
function link(dir: string): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const nm = path.join(dir, 'node_modules');
  fs.mkdirSync(path.join(nm, '@plugward'), { recursive: true });
  fs.mkdirSync(path.join(nm, '.bin'));
  for (const dep of Object.keys(pkg.devDependencies)) {
    const target = dep.startsWith('@plugward/')
      ? path.join(root, 'packages', dep.slice('@plugward/'.length))
      : dep === 'esbuild'
        ? esbuildDir
        : dep === 'typescript'
          ? typescriptDir
          : undefined;
    if (target === undefined) throw new Error(`no workspace copy of ${dep}`);
    fs.symlinkSync(target, path.join(nm, dep));
  }
  const bins: Record<string, string> = {
    plugward: '../@plugward/cli/dist/bin.js',
    esbuild: '../esbuild/bin/esbuild',
    tsc: '../typescript/bin/tsc',
  };
  for (const [name, target] of Object.entries(bins)) fs.symlinkSync(target, path.join(nm, '.bin', name));
}

function npm(dir: string, script: string, input?: string) {
  const r = spawnSync('npm', ['run', '--silent', script], {
    cwd: dir,
    input,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, PLUGWARD_STATE_DIR: state, npm_config_update_notifier: 'false' },
  });
  return { status: r.status, out: r.stdout, err: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

describe('plugward init', () => {
  it.each(SCAFFOLD_LANGS)(
    '%s: scaffolds a project whose build → sign → trust → start → test loop works',
    async (lang) => {
      if (lang === 'rust' && !hasCargo) {
        console.warn('!!! SKIPPING plugward init --lang rust: cargo is not installed here');
        return;
      }
      if ((lang === 'c' || lang === 'rust') && !hasCc) {
        console.warn(`!!! SKIPPING plugward init --lang ${lang}: no C compiler (cc) here`);
        return;
      }
      const name = `first-${lang}`;
      const made = await init([name, '--lang', lang, '--json']);
      expect(made.err).toBe('');
      expect(made.code).toBe(0);
      const result = JSON.parse(made.out) as { ok: boolean; dir: string; files: string[] };
      expect(result.ok).toBe(true);
      const dir = result.dir;
      expect(result.files).toEqual(
        expect.arrayContaining(['package.json', 'plugward.json', '.plugward/dev.key']),
      );
      expect(fs.statSync(path.join(dir, '.plugward/dev.key')).mode & 0o077).toBe(0);
      link(dir);

      const build = npm(dir, 'build');
      expect(build.status, build.all).toBe(0);
      if (lang === 'ts') {
        const tc = npm(dir, 'typecheck');
        expect(tc.status, tc.all).toBe(0);
      }
      const signed = npm(dir, 'sign');
      expect(signed.status, signed.all).toBe(0);
      expect(signed.out).toContain(`signed ${name}@0.1.0`);
      const trusted = npm(dir, 'trust');
      expect(trusted.status, trusted.all).toBe(0);
      const ran = npm(dir, 'start', 'on_request hello\n');
      expect(ran.status, ran.all).toBe(0);
      expect(ran.out).toMatch(/on_request → HELLO/);

      const tested = npm(dir, 'test');
      expect(tested.status, tested.all).toBe(0);
      expect(tested.all).toMatch(/# pass [34]\b/);
      expect(tested.all).toMatch(/# fail 0\b/);
    },
    // Five npm scripts, a compiler and four tiers: generous under a loaded 2-core CI machine.
    300_000,
  );

  it('ts: a hook name missing from the hook map fails to type-check', async () => {
    const made = await init(['typo-ts', '--lang', 'ts', '--json']);
    const dir = (JSON.parse(made.out) as { dir: string }).dir;
    link(dir);
    const src = path.join(dir, 'src/index.ts');
    fs.writeFileSync(src, fs.readFileSync(src, 'utf8').replace("'on_request',\n", "'on_reqest',\n"));
    expect(fs.readFileSync(src, 'utf8')).toContain("'on_reqest'");
    const tc = npm(dir, 'typecheck');
    expect(tc.status).not.toBe(0);
    expect(tc.all).toMatch(/error TS2345: Argument of type '"on_reqest"'/);
  }, 120_000);

  it('refuses a bad name, an unknown language and a directory that is not empty', async () => {
    expect((await init(['Bad Name'])).code).toBe(2);
    const lang = await init(['ok-name', '--lang', 'cobol']);
    expect(lang.code).toBe(2);
    expect(lang.err).toMatch(/--lang must be one of js, ts, c, rust/);
    fs.mkdirSync(path.join(work, 'taken'));
    fs.writeFileSync(path.join(work, 'taken', 'x'), '');
    const taken = await init(['taken']);
    expect(taken.code).not.toBe(0);
    expect(taken.err).toMatch(/not empty/);
    expect(taken.err).toMatch(/hint: /);
  });
});
