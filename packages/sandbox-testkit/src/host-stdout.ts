import { createRequire } from 'node:module';

type KoffiModule = typeof import('koffi');

interface Libc {
  dup: (fd: number) => number;
  dup2: (from: number, to: number) => number;
  open: (path: string, flags: number, mode: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
  const lib = koffi.load('libc.so.6');
  libc = {
    dup: lib.func('int dup(int)') as Libc['dup'],
    dup2: lib.func('int dup2(int, int)') as Libc['dup2'],
    open: lib.func('int open(const char *, int, int)') as Libc['open'],
    close: lib.func('int close(int)') as Libc['close'],
  };
  return libc;
}

const O_WRONLY = 0o1;
const O_APPEND = 0o2000;

/**
 * Runs `fn` while this process's fd 1 and 2 are `file` (opened for append), as for a host started with
 * `node host.js >>host.log 2>&1`: anything spawned meanwhile inherits the log file, as it would in that host. The
 * original fds are restored afterwards, whatever `fn` did.
 */
export async function withHostStdoutIn<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const c = load();
  const fd = c.open(file, O_WRONLY | O_APPEND, 0o600);
  if (fd < 0) throw new Error(`cannot open ${file} for the host's stdout`);
  const saved1 = c.dup(1);
  const saved2 = c.dup(2);
  try {
    c.dup2(fd, 1);
    c.dup2(fd, 2);
    return await fn();
  } finally {
    c.dup2(saved1, 1);
    c.dup2(saved2, 2);
    c.close(saved1);
    c.close(saved2);
    c.close(fd);
  }
}
