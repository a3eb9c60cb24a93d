import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownPidNamespace } from '@plugward/host-state';
import { withFileLock } from '../src/file-lock.js';
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

/** A pid no process has now (a child that ran and was reaped). */
export function freePid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

/** A lock file left by a holder of this pid namespace that is gone. */
export function deadHolderLock(lock: string): void {
  writeFileSync(lock, `${freePid()}-12345-p${ownPidNamespace()}-00ff00ff00ff00ff`);
}

/**
 * `waiters` calls of `withFileLock(lock)` at once, each holding it for a moment. @returns how many were inside at
 * once at most (1 when the lock holds) and how many got in.
 */
export async function lockWaiters(lock: string, waiters: number): Promise<{ most: number; entered: number }> {
  let inside = 0;
  let most = 0;
  let entered = 0;
  await Promise.all(
    Array.from({ length: waiters }, () =>
      withFileLock(
        lock,
        async () => {
          inside++;
          entered++;
          most = Math.max(most, inside);
          await sleep(2);
          inside--;
        },
        { timeoutMs: 60_000 },
      ),
    ),
  );
  return { most, entered };
}
