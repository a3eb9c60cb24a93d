import { randomBytes } from 'node:crypto';
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
];
