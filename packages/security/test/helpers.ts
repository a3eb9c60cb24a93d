import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, type KeyPair, writeSignedManifest } from '../src/index.js';

/** A fresh temp dir per test file. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pw-${prefix}-`));
}

/** Writes an artifact and signs its manifest with `keys` (fresh keys when absent). */
export async function signedArtifact(
  dir: string,
  file: string,
  content: string,
  meta: { name?: string; version?: string; keys?: KeyPair } = {},
): Promise<{ path: string; keys: KeyPair }> {
  const keys = meta.keys ?? generateKeyPair();
  const path = join(dir, file);
  writeFileSync(path, content);
  await writeSignedManifest(
    {
      artifactPath: path,
      name: meta.name ?? 'hello',
      version: meta.version ?? '1.0.0',
      author: 'Plugward tests',
      kind: 'js',
    },
    keys.privateKey,
  );
  return { path, keys };
}
