// `--sandbox` of doctor (and run): which backend runs untrusted plugins, and why; a forced one never falls back.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');
const pw = (args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('plugward doctor --sandbox', () => {
  it('auto reports both backends and picks bwrap here (it can create namespaces), saying why', () => {
    const r = pw(['doctor', '--json']);
    const v = JSON.parse(r.out) as { sandbox: { id: string; reason: string }; backends: { id: string }[] };
    expect(v.backends.map((b) => b.id)).toEqual(['bwrap', 'landlock']);
    expect(v.sandbox.id).toBe('bwrap');
    expect(v.sandbox.reason).toMatch(/strongest/);
    expect(r.code).toBe(0);
  });

  it('landlock can be forced and says so', () => {
    const r = pw(['doctor', '--sandbox', 'landlock']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/the sandbox can run here: landlock — landlock \(ABI \d+/);
    expect(r.out).toMatch(/forced by the host/);
  });

  it('refuses an unknown backend', () => {
    const r = pw(['doctor', '--sandbox', 'gvisor']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--sandbox must be auto, bwrap or landlock/);
  });
});
