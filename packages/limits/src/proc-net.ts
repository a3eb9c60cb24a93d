import { readlinkSync } from 'node:fs';
import { isErrno, NET_TABLE_LIMIT, readOptional, readOptionalSync } from './read-file.js';

/** TCP state 0x0A, a listening socket: not a connection. */
export const TCP_LISTEN = 0x0a;

/**
 * Inodes of the sockets that count as connections in one network namespace: TCP sockets in any state but LISTEN,
 * and every UDP socket.
 */
export type SocketTable = Set<number>;

/** Adds the connection inodes of one /proc/net/{tcp,udp}[6] table to `table` (columns: sl local rem st … inode). */
export function parseNetTable(
  text: string,
  proto: 'tcp' | 'tcp6' | 'udp' | 'udp6',
  table: SocketTable,
): void {
  const tcp = proto === 'tcp' || proto === 'tcp6';
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const cols = (lines[i] as string).trim().split(/\s+/);
    if (cols.length < 10) continue;
    const state = Number.parseInt(cols[3] as string, 16);
    const inode = Number(cols[9]);
    if (!Number.isSafeInteger(inode) || inode <= 0 || Number.isNaN(state)) continue;
    if (tcp && state === TCP_LISTEN) continue;
    table.add(inode);
  }
}

/**
 * The connection table of the network namespace `pid` lives in. A `cache` keyed by the namespace lets one monitor
 * tick read each namespace's tables once for many processes.
 */
export function socketTableFor(pid: number, cache?: Map<string, SocketTable>): SocketTable {
  const ns = netNamespaceOf(pid); // a per-pid key when the namespace can't be seen: never shared
  const hit = cache?.get(ns);
  if (hit) return hit;
  const table: SocketTable = new Set();
  const inUse = socketsInUse(pid);
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    // Reading /proc/net/tcp walks the whole connection hash (~3 ms here even when empty); sockstat says for free
    // whether a family has any socket in this namespace at all.
    if (inUse.get(proto) === 0) continue;
    const text = readOptionalSync(`/proc/${pid}/net/${proto}`, NET_TABLE_LIMIT);
    if (text !== undefined) parseNetTable(text, proto, table);
  }
  cache?.set(ns, table);
  return table;
}

/** The connection table of `pid`'s network namespace if `cache` holds it already (one readlink), else `undefined`. */
export function cachedSocketTable(pid: number, cache: Map<string, SocketTable>): SocketTable | undefined {
  return cache.get(netNamespaceOf(pid));
}

/** The network namespace id of `pid` (`net:[…]`), or a per-pid key when it can't be seen. */
function netNamespaceOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch (e) {
    if (!isErrno(e, 'EACCES', 'EPERM')) throw e;
    return `pid:${pid}`;
  }
}

/**
 * Fills `cache` with the connection table of `pid`'s network namespace, reading the kernel tables asynchronously (a
 * read of `/proc/net/tcp` walks the whole connection hash, milliseconds on a busy host: off the event loop). A later
 * {@link socketTableFor} with the same cache then costs one readlink. Shared by every process of one monitor sweep.
 */
export async function loadSocketTable(pid: number, cache: Map<string, SocketTable>): Promise<void> {
  const ns = netNamespaceOf(pid);
  if (cache.has(ns)) return;
  const table: SocketTable = new Set();
  const inUse = socketsInUse(pid);
  const texts = await Promise.all(
    (['tcp', 'tcp6', 'udp', 'udp6'] as const).map(async (proto) =>
      inUse.get(proto) === 0
        ? undefined
        : { proto, text: await readOptional(`/proc/${pid}/net/${proto}`, NET_TABLE_LIMIT) },
    ),
  );
  for (const t of texts) if (t?.text !== undefined) parseNetTable(t.text, t.proto, table);
  cache.set(ns, table);
}

/** Counts the socket inodes (of a process' fds) that are connections in `table`. */
export function countConnections(inodes: readonly number[], table: SocketTable): number {
  let n = 0;
  for (const inode of inodes) if (table.has(inode)) n++;
  return n;
}

/** Sockets in use per protocol in the namespace of `pid`, from /proc/<pid>/net/sockstat{,6}; missing = unknown. */
export function socketsInUse(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const file of ['sockstat', 'sockstat6']) {
    const text = readOptionalSync(`/proc/${pid}/net/${file}`, undefined, true);
    if (text === undefined) continue;
    for (const line of text.split('\n')) {
      const m = /^(TCP6?|UDP6?): inuse (\d+)/.exec(line);
      if (m) out.set((m[1] as string).toLowerCase(), Number(m[2]));
    }
  }
  return out;
}
