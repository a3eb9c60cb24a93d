import fs from 'node:fs';
import path from 'node:path';
import { PluginError } from '@plugward/types';
import { koffiModule } from './koffi-module.js';

type KoffiModule = ReturnType<typeof koffiModule>;
type Fn = (...args: unknown[]) => unknown;

// Syscall numbers of the calls added after 4.20 are the same on every architecture (the unified table).
const SYS_OPEN_TREE = 428;
const SYS_OPENAT2 = 437;
// Not in fs.constants; the same value on x86_64 and arm64.
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const O_NOFOLLOW = 0o400000;
const O_DIRECTORY = 0o200000;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const OPEN_TREE_CLONE = 1;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const AT_FDCWD = -100;
const ENOSYS = 38;
const E2BIG = 7;
const ENOENT = 2;
const ENOTDIR = 20;
const ELOOP = 40;

interface Calls {
  syscall: Fn;
  openat: Fn;
  close: Fn;
  errno: () => number;
}

let calls: Calls | undefined;

function libc(): Calls {
  if (calls !== undefined) return calls;
  let koffi: KoffiModule;
  let lib: ReturnType<KoffiModule['load']>;
  try {
    koffi = koffiModule();
    lib = koffi.load('libc.so.6');
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', 'libc.so.6 could not be loaded through koffi', { cause });
  }
  calls = {
    syscall: lib.func('long syscall(long number, ...)') as Fn,
    openat: lib.func('int openat(int dirfd, const char *path, int flags, ...)') as Fn,
    close: lib.func('int close(int fd)') as Fn,
    errno: koffi.errno as () => number,
  };
  return calls;
}

/** Whether openat2 answered ENOSYS once (kernels before 5.6, or a filter that hides it): the walk is used from then on. */
let openat2Missing = false;

function openat2(file: string): number {
  const c = libc();
  // struct open_how { u64 flags; u64 mode; u64 resolve; }
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O_PATH | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), 16);
  return Number(c.syscall(SYS_OPENAT2, 'int', AT_FDCWD, 'str', file, 'void *', how, 'size_t', how.length));
}

/** The openat2 fallback: one `openat(O_PATH | O_NOFOLLOW)` per component, each beneath the previous one. */
function walk(file: string): number {
  const c = libc();
  const parts = file.split('/').filter((x) => x !== '');
  let fd = Number(c.openat(AT_FDCWD, '/', O_PATH | O_CLOEXEC | O_DIRECTORY));
  if (fd < 0) return fd;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    // O_NOFOLLOW on the last component opens a symbolic link itself (refused below); O_DIRECTORY on the others makes
    // a symbolic link there fail (ENOTDIR), magic links of /proc included.
    const next = Number(c.openat(fd, parts[i], O_PATH | O_CLOEXEC | O_NOFOLLOW | (last ? 0 : O_DIRECTORY)));
    const errno = c.errno();
    c.close(fd);
    if (next < 0) {
      // close() may have changed errno: report the openat's.
      return -errno;
    }
    fd = next;
  }
  return fd;
}

/**
 * Opens `file` as an `O_PATH | O_CLOEXEC` handle without following any symbolic link on the way
 * (`openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`; where the kernel has no openat2, a component-by-component
 * `openat(O_PATH | O_NOFOLLOW)` walk). The handle names the object that was there when it was opened, whatever is
 * renamed, swapped or mounted at that path afterwards: check it (`fstat`, {@link mountIdOf}) and hand it on instead of
 * the path. `file` must be absolute and canonical (`fs.realpathSync`): a symbolic link on the way is refused, not
 * followed. Throws `InvalidArgument` with the errno when it can't be opened so. `walkOnly` forces the fallback (tests).
 */
export function openPathHandle(file: string, walkOnly = false): number {
  if (!path.isAbsolute(file) || file.includes('\0')) {
    throw new PluginError('InvalidArgument', `not an absolute path: ${JSON.stringify(file)}`);
  }
  const normal = path.normalize(file);
  let fd = -1;
  let errno = 0;
  if (!walkOnly && !openat2Missing) {
    fd = openat2(normal);
    errno = fd < 0 ? libc().errno() : 0;
    // E2BIG: an open_how this kernel does not know (never for the size above; treated as missing).
    if (fd < 0 && (errno === ENOSYS || errno === E2BIG)) openat2Missing = true;
  }
  if (walkOnly || openat2Missing) {
    fd = walk(normal);
    errno = fd < 0 ? -fd : 0;
  }
  if (fd < 0) {
    const why =
      errno === ENOENT
        ? 'it does not exist'
        : errno === ELOOP || errno === ENOTDIR
          ? 'a symbolic link is on its way (give the real path)'
          : `errno ${errno}`;
    throw new PluginError(
      'InvalidArgument',
      `cannot open ${normal} without following a symbolic link: ${why}`,
      {
        details: { errno },
      },
    );
  }
  // The walk opens a final symbolic link itself (O_PATH | O_NOFOLLOW): refuse it as openat2 would.
  if (fs.fstatSync(fd).isSymbolicLink()) {
    fs.closeSync(fd);
    throw new PluginError('InvalidArgument', `${normal} is a symbolic link`, { details: { errno: ELOOP } });
  }
  return fd;
}

/** The id of the mount an fd lies on (`mnt_id` of `/proc/self/fdinfo/<fd>`), the `mountId` of `parseMountInfo`. */
export function mountIdOf(fd: number): number {
  const text = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^mnt_id:\s*(\d+)$/m.exec(text);
  if (m?.[1] === undefined) throw new PluginError('SandboxError', `no mnt_id in /proc/self/fdinfo/${fd}`);
  return Number(m[1]);
}

/**
 * A detached copy of the mount tree at `fd` (`open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`, close-on-exec): the object
 * `fd` names, with the mounts below it, attachable by `mount --move /proc/self/fd/N` in any mount namespace of the
 * caller's (a bind of `/proc/self/fd/N` itself is refused across mount namespaces). Needs `CAP_SYS_ADMIN` (root hosts)
 * and Linux ≥ 5.2; throws `SandboxUnavailable` otherwise.
 */
export function cloneMountTree(fd: number): number {
  const c = libc();
  const tree = Number(
    c.syscall(
      SYS_OPEN_TREE,
      'int',
      fd,
      'str',
      '',
      'uint32_t',
      OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE,
    ),
  );
  if (tree < 0) {
    const errno = c.errno();
    throw new PluginError(
      'SandboxUnavailable',
      `open_tree failed (errno ${errno}; Linux ≥ 5.2 and root needed)`,
      {
        details: { errno },
      },
    );
  }
  return tree;
}
