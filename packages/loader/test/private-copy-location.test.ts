// Another local user attacks the host's private copies: with TMPDIR (or the loader's tmpDir) in a folder others can
// write and no sticky bit, they can rename the fresh 0700 copy folder away between the write and the import and put
// their own module at its path. A host's PluginLoader refuses such a folder before writing anything.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  generateKeyPair,
  PluginSecurity,
  readManifest,
  toHex,
  trustEntryFromManifest,
  writeSignedManifest,
} from '@plugward/security';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginLoader } from '../src/index.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-copy-location-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

async function trustedPlugin() {
  const keys = generateKeyPair();
  const artifact = path.join(base, 'hello.mjs');
  fs.writeFileSync(
    artifact,
    "export default { name: 'hello', version: '1.0.0', author: 't', async init() {}, async shutdown() {}, registerHooks() {} };\n",
  );
  await writeSignedManifest(
    { artifactPath: artifact, name: 'hello', version: '1.0.0', author: 't', kind: 'js' },
    keys.privateKey,
  );
  const entry = trustEntryFromManifest(await readManifest(artifact), keys.publicKey);
  const security = new PluginSecurity(
    { onlyTrusted: true, rollbackFloorDir: false },
    [toHex(keys.publicKey)],
    [entry],
  );
  return { artifact, security };
}

function folder(name: string, mode: number): string {
  const d = path.join(base, name);
  fs.mkdirSync(d);
  fs.chmodSync(d, mode);
  return d;
}

describe('attack: private copies under a folder others can write', () => {
  it('PluginLoader refuses a world-writable, non-sticky tmpDir (load and loadVerified), writing nothing there', async () => {
    const { artifact, security } = await trustedPlugin();
    const open = folder('open', 0o777);
    const loader = new PluginLoader(security, { tmpDir: open });
    const refused = {
      code: 'SecurityError',
      details: expect.objectContaining({ reason: 'copy-not-private', path: open }),
    };
    await expect(loader.load(artifact, 'trusted')).rejects.toMatchObject(refused);
    const verified = await security.admit(artifact, 'trusted');
    await expect(loader.loadVerified(verified)).rejects.toMatchObject(refused);
    expect(fs.readdirSync(open)).toEqual([]);
  });

  it('a sticky world-writable folder (like /tmp) and a private one are accepted', async () => {
    const { artifact, security } = await trustedPlugin();
    for (const dir of [folder('sticky', 0o1777), folder('private', 0o700)]) {
      const plugin = await new PluginLoader(security, { tmpDir: dir }).load(artifact, 'trusted');
      expect(plugin.name).toBe('hello');
      await plugin.unload();
    }
  });
});
