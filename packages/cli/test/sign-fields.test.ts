// `plugward sign --manifest-fields FILE.json`: name, version, author, description, kind, requirements and limits from
// one file; a flag wins over the file; unknown fields and bad shapes are usage errors that sign nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = path.join(import.meta.dirname, '..', 'dist', 'bin.js');
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cli-fields-'));
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

function pw(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const requirements = {
  network: { mode: 'isolated' },
  filesystem: { mode: 'none' },
  context: { read: ['locale'], write: [] },
};

describe('plugward sign --manifest-fields', () => {
  it('signs the fields of the file, flags winning', () => {
    expect(pw(['keygen', 'dev']).code).toBe(0);
    fs.writeFileSync(path.join(cwd, 'plugin.js'), 'export default {};\n');
    fs.writeFileSync(
      path.join(cwd, 'fields.json'),
      JSON.stringify({
        name: 'from-file',
        version: '2.3.4',
        author: 'file author',
        description: 'from the file',
        requirements,
        limits: { maxHeapBytes: 8388608 },
      }),
    );
    const r = pw(['sign', 'plugin.js', '--key', 'dev.key', '--manifest-fields', 'fields.json', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { manifest } = JSON.parse(r.out) as { manifest: Record<string, unknown> };
    expect(manifest).toMatchObject({
      name: 'from-file',
      version: '2.3.4',
      author: 'file author',
      description: 'from the file',
      kind: 'js',
      requirements,
      limits: { maxHeapBytes: 8388608 },
    });
    const flagged = pw([
      'sign',
      'plugin.js',
      '--key',
      'dev.key',
      '--manifest-fields',
      'fields.json',
      '--version',
      '2.3.5',
      '--json',
    ]);
    expect(flagged.code).toBe(0);
    expect(JSON.parse(flagged.out).manifest).toMatchObject({ name: 'from-file', version: '2.3.5' });
  });

  it.each([
    ['an unknown field', { name: 'x', version: '1.0.0', permissions: {} }, /unknown field "permissions"/],
    ['a non-string name', { name: 7, version: '1.0.0' }, /"name" must be a string/],
    ['an array', [], /must be a JSON object/],
    [
      'partial requirements',
      { name: 'x', version: '1.0.0', requirements: { network: { mode: 'isolated' } } },
      /requirements/,
    ],
  ])('refuses %s', (_what, fields, message) => {
    fs.writeFileSync(path.join(cwd, 'bad.json'), JSON.stringify(fields));
    fs.rmSync(path.join(cwd, 'plugin.js.plugward.json'), { force: true });
    const r = pw(['sign', 'plugin.js', '--key', 'dev.key', '--manifest-fields', 'bad.json']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/hint: /);
    expect(fs.existsSync(path.join(cwd, 'plugin.js.plugward.json'))).toBe(false);
  });
});

describe('plugward sign --from-plugin', () => {
  const declaring = `const enc = new TextEncoder();
export default {
  name: 'declares', version: '1.0.0', author: 'me',
  requirements() { return ${JSON.stringify(requirements)}; },
  resourceLimits() { return { maxHeapBytes: 16777216, maxCpuTimeMs: 250 }; },
  init() {},
  async registerHooks(h) { await h.register('on_request', 200, () => enc.encode('x')); },
};
`;
  it('signs what the plugin declares in code, read in the sandbox (sandbox/process)', () => {
    if (!fs.existsSync(path.join(cwd, 'dev.key'))) expect(pw(['keygen', 'dev']).code).toBe(0);
    fs.writeFileSync(path.join(cwd, 'declares.mjs'), declaring);
    for (const where of ['sandbox', 'process']) {
      const r = pw([
        'sign',
        'declares.mjs',
        '--key',
        'dev.key',
        '--name',
        'declares',
        '--version',
        '1.0.0',
        '--from-plugin',
        where,
        '--json',
      ]);
      expect(r.code, r.err).toBe(0);
      const { manifest } = JSON.parse(r.out) as { manifest: Record<string, unknown> };
      expect(manifest).toMatchObject({ requirements, limits: { maxHeapBytes: 16777216, maxCpuTimeMs: 250 } });
    }
    const bad = pw([
      'sign',
      'declares.mjs',
      '--key',
      'dev.key',
      '--name',
      'declares',
      '--version',
      '1.0.0',
      '--from-plugin',
      'host',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--from-plugin must be sandbox or process/);
  }, 60_000);
});
