// The plugin every registry-path bench loads: a trusted JS `echo` plugin (hook `echo` returns its input), signed by a
// fresh key, with the PluginSecurity that trusts it, in a temp folder of its own.
import { spawn } from 'node:child_process';
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

/** The cpuacct usage of the cgroup `pid` is in, ms (undefined without one). */
export function cgroupCpuMs(pid) {
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers = '', rel = ''] = line.split(':');
    if (!controllers.split(',').includes('cpuacct')) continue;
    return Number(fs.readFileSync(`/sys/fs/cgroup/${controllers}/${rel}/cpuacct.usage`, 'utf8')) / 1e6;
  }
  return undefined;
}

/**
 * The environment of every bare-node baseline: what the registry gives a plugin process (the sandbox clears it all).
 * Never the bench's own: a host environment can make Node's start several times dearer — `NODE_EXTRA_CA_CERTS` (set
 * on this machine kind) has every node parse that CA bundle at start, 30 → 79 ms CPU for `node -e 0` — which a
 * baseline would pay and a plugin runtime would not, flattering every ratio against it.
 */
export const BARE_NODE_ENV = Object.freeze({ PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' });

/** A bare `node -e 0` (in {@link BARE_NODE_ENV}): wall time spawn → exit, ms, and the CPU time (ms) it reports at its end. */
export async function bareNode() {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ['-e', 'const u = process.cpuUsage(); process.stdout.write(String(u.user + u.system))'],
    { stdio: ['ignore', 'pipe', 'ignore'], env: BARE_NODE_ENV },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((r) => child.on('exit', r));
  return { wall: performance.now() - t0, cpu: Number(out) / 1000 };
}
