// `plugward trust floor` shows the per-name version floors a host recorded, and `--reset --forget-versions` drops
// them (a deliberate downgrade).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { PluginSecurity } from '@plugward/security';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../dist/index.js';

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-floor-versions-'));
afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));
const env = () => ({ PLUGWARD_STATE_DIR: path.join(cwd, 'state'), PW_K: key });
const key = randomBytes(32).toString('hex');
const list = path.join(cwd, 'list.enc');
const listArgs = ['--list', list, '--key-hex-env', 'PW_K'];

async function pw(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const stdout = Object.assign(
    new Writable({
      write: (c, _e, cb) => {
        out += String(c);
        cb();
      },
    }),
    { isTTY: false },
  );
  const stderr = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), { isTTY: false });
  const code = await main(args, { stdout, stderr, env: env(), cwd });
  return { code, out };
}

describe('plugward trust floor: per-name version floors', () => {
  it('lists what a host admitted as trusted; --reset --forget-versions drops it', async () => {
    expect((await pw(['keygen', 'alice'])).code).toBe(0);
    fs.writeFileSync(path.join(cwd, 'hello.mjs'), 'export default {};\n');
    expect(
      (await pw(['sign', 'hello.mjs', '--key', 'alice.key', '--name', 'hello', '--version', '1.2.0'])).code,
    ).toBe(0);
    expect((await pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...listArgs])).code).toBe(0);
    const none = await pw(['trust', 'floor', ...listArgs, '--json']);
    expect(JSON.parse(none.out)).toMatchObject({ versions: {} });

    const host = new PluginSecurity({
      trustListPath: list,
      rollbackFloorDir: path.join(cwd, 'state', 'trust-floors'),
    });
    await host.loadAndDecryptTrustList(key);
    await host.admit(path.join(cwd, 'hello.mjs'), 'trusted');

    const shown = await pw(['trust', 'floor', ...listArgs, '--json']);
    expect(JSON.parse(shown.out)).toMatchObject({ versions: { hello: '1.2.0' } });
    expect((await pw(['trust', 'floor', ...listArgs])).out).toMatch(/hello@1\.2\.0/);

    expect((await pw(['trust', 'floor', '--forget-versions', ...listArgs])).code).toBe(2);
    expect((await pw(['trust', 'floor', '--reset', ...listArgs])).code).toBe(0);
    expect(JSON.parse((await pw(['trust', 'floor', ...listArgs, '--json'])).out)).toMatchObject({
      versions: { hello: '1.2.0' },
    });
    expect((await pw(['trust', 'floor', '--reset', '--forget-versions', ...listArgs])).code).toBe(0);
    expect(JSON.parse((await pw(['trust', 'floor', ...listArgs, '--json'])).out)).toMatchObject({
      versions: {},
    });
  });
});
