import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AttackDefinition } from '../attack.js';

/** Every text of `error` and its causes (what a host or a CLI may print or serialise). */
function errorTexts(error: unknown, depth = 0): string[] {
  if (depth > 4 || typeof error !== 'object' || error === null) return [];
  const e = error as { message?: unknown; cause?: unknown; details?: unknown };
  return [
    typeof e.message === 'string' ? e.message : '',
    e.details === undefined ? '' : JSON.stringify(e.details),
    ...errorTexts(e.cause, depth + 1),
  ];
}

/** Attacks from the plugin directory: files an attacker who can write there (but not read the host's secrets) plants. */
export const supplyChainAttacks: readonly AttackDefinition[] = [
  {
    id: 'supply-chain.manifest-symlink-secret',
    class: 'supply-chain',
    title: "a manifest symlinked to a host secret does not bring the secret's bytes into errors or logs",
    tries:
      'plants <x>.plugward.json as a symlink to a root-only key file (64 hex digits) and to a root-only JSON config, so that the host reads them as root while scanning and quotes them when it reports the bad manifest',
    async run(scene) {
      const secretsDir = path.join(scene.dir, 'host-secrets');
      fs.mkdirSync(secretsDir, { mode: 0o700 });
      const hex = randomBytes(32).toString('hex');
      const keyFile = path.join(secretsDir, 'publisher.key');
      fs.writeFileSync(keyFile, `${hex}\n`, { mode: 0o600 });
      const token = `tok${randomBytes(12).toString('hex')}`;
      const jsonFile = path.join(secretsDir, 'config.json');
      fs.writeFileSync(jsonFile, JSON.stringify({ [token]: { auth: token } }), { mode: 0o600 });
      const plant = path.join(scene.dir, 'plant');
      fs.mkdirSync(plant);
      for (const [file, target] of [
        ['a.mjs', keyFile],
        ['b.mjs', jsonFile],
      ] as const) {
        fs.writeFileSync(path.join(plant, file), 'export default {};\n');
        fs.symlinkSync(target, path.join(plant, `${file}.plugward.json`));
      }
      const registry = await scene.start();
      let texts: string[];
      try {
        const report = await registry.scanDirectoryReport(plant);
        texts = report.skipped.flatMap((s) => errorTexts(s.error));
      } catch (e) {
        texts = errorTexts(e);
      }
      for (const file of ['a.mjs', 'b.mjs']) {
        try {
          await registry.discoverPlugin(path.join(plant, file));
        } catch (e) {
          texts.push(...errorTexts(e));
        }
      }
      texts.push(...scene.logs.map((l) => l.message));
      // Any 8 characters of a secret in a host-visible text is a leak (40 bits of a key in the issue that found it).
      const pieces = (s: string) => Array.from({ length: s.length - 7 }, (_, i) => s.slice(i, i + 8));
      const leaked = texts.filter(
        (t) => pieces(hex).some((p) => t.includes(p)) || t.includes(token.slice(0, 11)),
      );
      return {
        escaped: leaked.length > 0,
        evidence: leaked.length
          ? `the host quoted a secret it read through the symlink: ${JSON.stringify(leaked[0]!.slice(0, 140))}`
          : `${texts.length} host-visible texts, none quotes the secrets (e.g. ${JSON.stringify((texts.find(Boolean) ?? '').slice(0, 100))})`,
      };
    },
  },
  {
    id: 'supply-chain.artifact-symlink-hash-oracle',
    class: 'supply-chain',
    title: "an artifact symlinked to a host secret does not make the host reveal the secret's hash",
    tries:
      'plants an artifact that is a symlink to a root-only, low-entropy secret (a 6-digit PIN) beside a stranger-signed manifest, so that the host hashes the secret as root and reports the hash it found (brute-forced offline in a second)',
    async run(scene) {
      const secretsDir = path.join(scene.dir, 'host-secrets');
      fs.mkdirSync(secretsDir, { mode: 0o700 });
      const pin = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const secret = path.join(secretsDir, 'pin');
      fs.writeFileSync(secret, pin, { mode: 0o600 });
      const found = createHash('sha3-512').update(pin).digest('hex');
      const name = scene.pluginName('oracle');
      // Signed over a decoy, then the decoy is swapped for the symlink: the attacker can't read the secret.
      const artifact = await scene.jsPlugin({ name }, { subdir: 'plant' });
      fs.rmSync(artifact);
      fs.symlinkSync(secret, artifact);
      const registry = await scene.start();
      const texts: string[] = [];
      try {
        const report = await registry.scanDirectoryReport(path.dirname(artifact));
        texts.push(...report.skipped.flatMap((s) => errorTexts(s.error)));
      } catch (e) {
        texts.push(...errorTexts(e));
      }
      const load = await scene.loadUntrusted(artifact);
      if (!load.loaded) texts.push(...errorTexts(load.error));
      texts.push(...scene.logs.map((l) => l.message));
      texts.push(...registry.getAllPlugins().map((p) => `${p.error ?? ''} ${p.hash ?? ''}`));
      const leaked = texts.filter((t) => t.includes(found.slice(0, 16)));
      return {
        escaped: leaked.length > 0 || load.loaded,
        evidence: load.loaded
          ? 'the host loaded a plugin whose artifact is a host secret'
          : leaked.length
            ? `the host reported the secret's SHA3-512 (${found.slice(0, 16)}…): ${JSON.stringify(leaked[0]!.slice(0, 120))}`
            : `refused (${load.error.code}); ${texts.length} host-visible texts, none carries the secret's hash`,
      };
    },
  },
];
