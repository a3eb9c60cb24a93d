// The plugin every registry-path bench loads: a trusted JS `echo` plugin (hook `echo` returns its input), signed by a
// fresh key, with the PluginSecurity that trusts it, in a temp folder of its own.
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
} from '@plugward/registry';

/** Writes and signs the echo plugin under a new `<prefix>…` temp folder; returns `{ dir, artifact, security }`. */
export async function echoPluginFixture(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const artifact = path.join(dir, 'echo.mjs');
  fs.writeFileSync(
    artifact,
    `export default { name: 'echo', version: '1.0.0', author: 'bench', init() {},
     registerHooks(h) { h.register('echo', 200, (d) => d); } };`,
  );
  const keys = generateKeyPair();
  await writeSignedManifest(
    { artifactPath: artifact, name: 'echo', version: '1.0.0', author: 'bench', kind: 'js' },
    keys.privateKey,
  );
  const security = new PluginSecurity(
    { onlyTrusted: true },
    [toHex(keys.publicKey)],
    [trustEntryFromManifest(await readManifest(artifact), keys.publicKey)],
  );
  return { dir, artifact, security };
}
