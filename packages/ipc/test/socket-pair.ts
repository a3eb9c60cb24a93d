import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** Two connected Unix-socket ends, through a listener in a private temp dir (no fixed paths, parallel-safe). */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-ipc-'));
  const sockPath = path.join(dir, 's');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(sockPath);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const other = await accepted;
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return [client, other];
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until true or `timeoutMs` passes; returns its last value (robust under a loaded CI machine). */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition() && Date.now() < end) await delay(5);
  return condition();
}

/** The raw end of a transport a test writes hostile bytes to: a socket, or a port speaking the wire by hand. */
export interface RawPeer {
  write(bytes: Uint8Array | string): unknown;
  end(bytes?: Uint8Array): unknown;
  /** Stops reading (a port: stops acknowledging, so the channel's credit runs out as a socket's buffer fills). */
  pause(): unknown;
  destroy(): unknown;
}

/**
 * One end of a `MessageChannel` for an `IpcChannel` and the other as a {@link RawPeer} that posts what a worker could:
 * bytes (a `Uint8Array` message), acknowledgements of what it read (a number), its end (`null`).
 */
export function portPair(): [MessagePort, RawPeer & { port: MessagePort }] {
  const { port1, port2 } = new MessageChannel();
  let paused = false;
  // Acknowledges as an honest reader does: every element's bytes plus its cost (256), in steps of 16 KiB.
  let owed = 0;
  port2.on('message', (m: unknown) => {
    if (paused) return;
    if (m instanceof Uint8Array) owed += m.byteLength + 256;
    else if (Array.isArray(m))
      for (const b of m as unknown[]) owed += (b instanceof Uint8Array ? b.byteLength : 0) + 256;
    else return;
    if (owed >= 16 * 1024) {
      port2.postMessage(owed);
      owed = 0;
    }
  });
  const write = (bytes: Uint8Array | string): void => {
    port2.postMessage(new Uint8Array(Buffer.from(bytes)));
  };
  return [
    port1,
    {
      port: port2,
      write,
      end(bytes?: Uint8Array) {
        if (bytes !== undefined) write(bytes);
        port2.postMessage(null);
      },
      pause() {
        paused = true;
      },
      destroy() {
        port2.close();
      },
    },
  ];
}
