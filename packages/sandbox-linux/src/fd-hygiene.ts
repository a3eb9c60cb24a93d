import fs from 'node:fs';
import { createRequire } from 'node:module';
import { PluginError } from '@plugward/types';

type Fcntl = (fd: number, cmd: number, arg: number) => number;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const O_CLOEXEC = 0o2000000;

let fcntl: Fcntl | undefined;

function libcFcntl(): Fcntl {
  if (fcntl !== undefined) return fcntl;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const fn = koffi.load('libc.so.6').func('int fcntl(int fd, int cmd, int arg)') as unknown as Fcntl;
    fcntl = fn;
    return fn;
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', 'cannot bind fcntl from libc.so.6 through koffi', { cause });
  }
}

/**
 * Descriptors the host inherited *without* close-on-exec (from whatever started it) would otherwise pass through
 * sh and bwrap into the sandbox: libuv and bwrap close nothing they did not open. Marks each such fd ≥ 3
 * close-on-exec; Node's own descriptors already are, and `spawn` stdio entries are dup2'ed (which clears the flag on
 * the copy), so nothing the host means to pass is affected. Returns the fds it changed.
 */
export function closeInheritedDescriptorsOnExec(): number[] {
  const changed: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc/self/fd');
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', '/proc/self/fd is not readable', { cause });
  }
  for (const name of entries) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    let flags: number;
    try {
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      flags = Number.parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? '', 8);
    } catch {
      continue; // closed meanwhile (the readdir fd itself, for one)
    }
    if (Number.isNaN(flags) || (flags & O_CLOEXEC) !== 0) continue;
    if (libcFcntl()(fd, F_SETFD, FD_CLOEXEC) === 0) changed.push(fd);
  }
  return changed;
}
