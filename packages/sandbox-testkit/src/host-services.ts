import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import type { Scene } from './scene.js';

/** A host HTTP service an attacker wants to reach: it counts requests and peak concurrent connections. */
export interface HostService {
  port: number;
  secret: string;
  hits: number;
  peakConnections: number;
}

/**
 * Starts an HTTP service on the host (`host` 127.0.0.1 by default) answering `secret=<random>` after `delayMs`, with a
 * `bodyBytes` body; closed with the scene.
 */
export async function hostHttpService(
  scene: Scene,
  opts: { host?: string; delayMs?: number; bodyBytes?: number } = {},
): Promise<HostService> {
  const svc: HostService = { port: 0, secret: randomBytes(12).toString('hex'), hits: 0, peakConnections: 0 };
  let open = 0;
  const body = Buffer.alloc(Math.max(opts.bodyBytes ?? 0, 64), 0x2e);
  Buffer.from(`secret=${svc.secret}\n`).copy(body);
  const server = http.createServer((_req, res) => {
    svc.hits++;
    setTimeout(() => res.end(body), opts.delayMs ?? 0);
  });
  server.on('connection', (s) => {
    open++;
    svc.peakConnections = Math.max(svc.peakConnections, open);
    s.on('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  svc.port = (server.address() as net.AddressInfo).port;
  scene.onClose(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return svc;
}

/** A host service on an abstract unix socket (`\0<name>`), counting connections; closed with the scene. */
export async function hostAbstractSocket(scene: Scene): Promise<{ name: string; hits: number }> {
  const name = `pwkit-${scene.nonce}`;
  return Object.assign(await hostUnixSocket(scene, `\0${name}`), { name });
}

/**
 * A host service on a unix socket at `address` (a path, or `\0<name>` for an abstract one) answering `secret` to every
 * connection and counting them; closed with the scene.
 */
export async function hostUnixSocket(scene: Scene, address: string): Promise<{ hits: number }> {
  const svc = { hits: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    svc.hits++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.end('secret\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address, resolve);
  });
  scene.onClose(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return svc;
}

/** The host's first private (RFC 1918) IPv4 address, if it has one. */
export function hostPrivateIPv4(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      if (/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(a.address)) return a.address;
    }
  }
  return undefined;
}
