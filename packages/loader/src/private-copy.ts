import { mkdtemp, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A private copy of verified bytes: a fresh 0700 directory holding one read-only file. */
export interface PrivateCopy {
  readonly file: string;
  /** Removes the directory (the mapped library / imported module stays usable). */
  remove(): Promise<void>;
}

/**
 * Writes `bytes` into a new directory made by mkdtemp (mode 0700: no other local user can swap the file) so that a
 * path-only API (dlopen, import) reads exactly the bytes that were verified.
 */
export async function writePrivateCopy(
  bytes: Uint8Array,
  fileName: string,
  tmpRoot: string = os.tmpdir(),
): Promise<PrivateCopy> {
  const dir = await mkdtemp(path.join(tmpRoot, 'plugward-load-'));
  const file = path.join(dir, fileName);
  try {
    // `wx`: never follow or reuse an existing entry; 0o500: nobody (including us) rewrites it while it is mapped.
    await writeFile(file, bytes, { flag: 'wx', mode: 0o500 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const remove = async (): Promise<void> => {
    // The one file, then its folder: `rm -r` would load Node's rimraf on first use (≈ 1.5 ms CPU of a plugin
    // process's cold start, issue 17). Anything unexpected in the folder: `rm -r` after all.
    try {
      await unlink(file);
      await rmdir(dir);
    } catch {
      await rm(dir, { recursive: true, force: true });
    }
  };
  return { file, remove };
}
