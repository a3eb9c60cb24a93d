import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { PluginError } from '@plugward/types';

/**
 * Opens `path` for reading without ever blocking, then checks the *opened* descriptor: `O_NONBLOCK` so a FIFO (or a
 * device) can't hang the open, `fstat` of the fd (not of the path, which may be swapped) so only a regular file is
 * read. Symlinks are followed, but the file they lead to must itself be regular. A socket fails open with ENXIO and is
 * reported the same way.
 * @param errorFor - maps an errno failure of `open` (ENOENT, EACCES…) to the caller's PluginError.
 * @throws PluginError `NotRegularFile` for a FIFO, socket, device or directory.
 */
export async function openRegularFile(
  path: string,
  what: string,
  errorFor: (e: unknown) => PluginError,
): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENXIO' || code === 'EISDIR') throw notRegular(path, what, e);
    throw errorFor(e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notRegular(path, what);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

function notRegular(path: string, what: string, cause?: unknown): PluginError {
  return new PluginError(
    'NotRegularFile',
    `${what} ${path} is not a regular file (a FIFO, socket, device or directory is refused)`,
    cause === undefined ? {} : { cause },
  );
}
