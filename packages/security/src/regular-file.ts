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

/** The error of every size-capped read of Plugward: the file (or what was read of it so far) is over `max` bytes. */
export function fileTooLarge(path: string, size: number, max: number): PluginError {
  return new PluginError('FileTooLarge', `${path} is ${size} bytes, larger than the ${max}-byte limit`, {
    details: { size, max },
  });
}

/**
 * Reads a whole regular file through one descriptor ({@link openRegularFile}: no FIFO, device or socket), refusing
 * more than `maxBytes`: checked on the opened file's size before reading, and again while reading, so a file that
 * grows after the `fstat` can't make the read exceed the cap or return bytes the size check never saw. Every
 * size-capped file read of Plugward (artifacts, manifests, the trust list, a runtime's private copy) is this one.
 * @param errorFor - maps an errno failure of `open` (ENOENT, EACCES…) to the caller's PluginError.
 * @throws PluginError `FileTooLarge`, `SecurityError` (the file changed size while it was read), `NotRegularFile`,
 *   `IoError`, or what `errorFor` returns.
 */
export async function readFileCapped(
  path: string,
  maxBytes: number,
  what = 'file',
  errorFor: (e: unknown) => PluginError = (e) => openError(path, e),
): Promise<Uint8Array> {
  const fh = await openRegularFile(path, what, errorFor);
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw fileTooLarge(path, size, maxBytes);
    // One byte of slack detects a file that grew between fstat and read.
    const out = new Uint8Array(size + 1);
    let total = 0;
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(out, total, out.length - total, null));
      } catch (e) {
        throw openError(path, e);
      }
      if (n === 0) break;
      total += n;
      if (total > size) {
        throw new PluginError('SecurityError', `${path} changed size while it was being read`);
      }
    }
    return out.subarray(0, total);
  } finally {
    await fh.close();
  }
}

/** The PluginError of a failed open or read: `NotFound`, `PermissionDenied` or `IoError`. */
export function openError(path: string, e: unknown): PluginError {
  const code = (e as { code?: unknown }).code;
  if (code === 'ENOENT') return new PluginError('NotFound', `file not found: ${path}`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') {
    return new PluginError('PermissionDenied', `cannot read ${path}: permission denied`, { cause: e });
  }
  return new PluginError('IoError', `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
  });
}
