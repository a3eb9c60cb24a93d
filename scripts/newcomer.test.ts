// The newcomer path from the README: `pnpm demo` shows the demo (not build logs) and leaves nothing behind — no temp
// directory, no rollback-floor record in the user's state directory; `pnpm plugward …` runs the CLI from the clone,
// relative to where the user stands. Run with a private TMPDIR and HOME so "nothing left" is measured exactly.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const sandboxHome = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-newcomer-'));
const tmp = path.join(sandboxHome, 'tmp');
const home = path.join(sandboxHome, 'home');
fs.mkdirSync(tmp);
fs.mkdirSync(home);
afterAll(() => fs.rmSync(sandboxHome, { recursive: true, force: true }));

const env = () => {
  const e: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, HOME: home };
  delete e.PLUGWARD_STATE_DIR;
  delete e.XDG_STATE_HOME;
  return e;
};

describe('newcomer path', () => {
  it('pnpm demo prints the demo, not build logs, and leaves nothing in TMPDIR or ~/.local/state', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/demo.mjs')], {
      cwd: root,
      env: env(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimStart()).toMatch(/^━━ 1\. Sign the plugins/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/:build:|Tasks:|tsup|Ignored build scripts|WARN/);
    expect(fs.readdirSync(tmp)).toEqual([]);
    // (turbo keeps its own config in ~/.config/turborepo; nothing of Plugward's may be there.)
    expect(fs.readdirSync(home).filter((f) => f !== '.config')).toEqual([]);
    expect(fs.existsSync(path.join(home, '.local'))).toBe(false);
  }, 150_000);

  it('pnpm plugward runs the CLI from the clone, in the directory it was started from', () => {
    fs.writeFileSync(path.join(home, 'abc.txt'), 'abc');
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/plugward.mjs'), 'hash', 'abc.txt'], {
      cwd: root,
      env: { ...env(), INIT_CWD: home },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^b751850b1a57168a.* {2}abc\.txt\n$/);
    expect(r.stderr).toBe('');
    const bad = spawnSync(process.execPath, [path.join(root, 'scripts/plugward.mjs'), 'hash'], {
      cwd: root,
      env: env(),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(bad.status).toBe(2);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.plugward).toBe('node scripts/plugward.mjs');
    expect(pkg.scripts.demo).toBe('node scripts/demo.mjs');
  }, 150_000);
});
