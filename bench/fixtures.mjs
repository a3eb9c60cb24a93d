// The plugin every registry-path bench loads: a trusted JS `echo` plugin (hook `echo` returns its input), signed by a
// fresh key, with the PluginSecurity that trusts it, in a temp folder of its own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkSandboxSupport,
  LinuxSandbox,
  PluginSecurity,
  readManifest,
  trustEntryFromManifest,
} from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';

/**
 * Writes and signs one echo plugin per name (`<name>.mjs`, hook `echo`, one signer) under a new `<prefix>…` temp
 * folder; returns `{ dir, artifacts, security }` with a PluginSecurity that trusts them all.
 */
export async function echoPluginsFixture(prefix, names) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const keys = generateKeyPair();
  const artifacts = [];
  const trust = [];
  for (const name of names) {
    const artifact = path.join(dir, `${name}.mjs`);
    fs.writeFileSync(
      artifact,
      `export default { name: '${name}', version: '1.0.0', author: 'bench', init() {},
     registerHooks(h) { h.register('echo', 200, (d) => d); } };`,
    );
    await writeSignedManifest(
      { artifactPath: artifact, name, version: '1.0.0', author: 'bench', kind: 'js' },
      keys.privateKey,
    );
    artifacts.push(artifact);
    trust.push(trustEntryFromManifest(await readManifest(artifact), keys.publicKey));
  }
  const security = new PluginSecurity({ onlyTrusted: true }, [toHex(keys.publicKey)], trust);
  return { dir, artifacts, security };
}

/** Writes and signs the echo plugin under a new `<prefix>…` temp folder; returns `{ dir, artifact, security }`. */
export async function echoPluginFixture(prefix) {
  const { dir, artifacts, security } = await echoPluginsFixture(prefix, ['echo']);
  return { dir, artifact: artifacts[0], security };
}

/**
 * The bubblewrap sandbox the benches' sandbox rows use, or why there is none: `{ sandbox }` where it works here,
 * `{ unsupported }` (the missing features, for the row's reason) where it doesn't.
 */
export async function benchSandbox() {
  const support = await checkSandboxSupport();
  if (support.supported) return { sandbox: new LinuxSandbox(), unsupported: undefined };
  const missing = support.features
    .filter((f) => !f.available)
    .map((f) => `${f.feature} (${f.detail})`)
    .join('; ');
  return { sandbox: undefined, unsupported: `sandbox unsupported here: ${missing}` };
}
