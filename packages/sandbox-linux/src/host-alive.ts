import { requireKoffi } from '@plugward/sandbox-common';

type Fn = (...args: unknown[]) => unknown;

const POLLHUP = 0x10;
const POLLERR = 0x8;
const POLLNVAL = 0x20;
const POLLRDHUP = 0x2000;

/**
 * Exits (code 125) when the host that started this sandbox is gone: fd `fd` is the host's end of the sandbox's IPC
 * socket, and its peer has hung up (a `poll` with no wait; nothing is read). Meant for the first thing a sandboxed
 * process runs, after bwrap armed its parent-death signal: a host that dies after this check takes the sandbox with
 * it through that signal; one that died before — while bwrap was still setting the sandbox up, before it armed the
 * signal — is caught here, and nothing of the command runs. Returns quietly when `fd` is not open or poll is not
 * available (then there is no host end to check).
 */
export function exitIfHostGone(fd = 3): void {
  let poll: Fn;
  try {
    poll = (requireKoffi() as typeof import('koffi'))
      .load('libc.so.6')
      .func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)') as Fn;
  } catch {
    return;
  }
  // struct pollfd { int fd; short events; short revents; }
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLRDHUP, 4);
  if ((poll(pfd, 1, 0) as number) < 0) return;
  const revents = pfd.readUInt16LE(6);
  if (revents & POLLNVAL) return;
  if (revents & (POLLHUP | POLLRDHUP | POLLERR)) process.exit(125);
}
