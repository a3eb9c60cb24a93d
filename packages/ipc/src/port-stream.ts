import { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { PluginError } from '@plugward/types';
import { ipcError } from './errors.js';

/** Bytes a sender may have in flight, unacknowledged by the receiving side's reader. */
const DEFAULT_WINDOW_BYTES = 1024 * 1024;
/**
 * A reader acknowledges in steps of at least this many bytes, not per message: every acknowledgement wakes the other
 * thread, and one per message doubled the cross-thread messages of a small call (issue 17). A sender's window must
 * be at least twice this, so a blocked sender always has a full step waiting to be acknowledged.
 */
const ACK_STEP_BYTES = 16 * 1024;

type PortMessage = { t: 'd'; b: Uint8Array } | { t: 'a'; n: number } | { t: 'e' };

function isPortMessage(value: unknown): value is PortMessage {
  if (value === null || typeof value !== 'object') return false;
  const m = value as { t?: unknown; b?: unknown; n?: unknown };
  return (
    (m.t === 'd' && m.b instanceof Uint8Array) ||
    (m.t === 'a' && typeof m.n === 'number' && Number.isSafeInteger(m.n) && m.n > 0) ||
    m.t === 'e'
  );
}

/**
 * A byte `Duplex` over a `MessagePort`, so the same {@link IpcChannel} serves the `worker` tier: each end of a
 * `MessageChannel` (one given to the Worker in `workerData`/`transferList`) becomes a stream. Flow control is by
 * credit: a writer has at most `windowBytes` (≥ 32 KiB) unacknowledged, and the reader acknowledges only what its
 * consumer took, in steps of 16 KiB, so a paused channel stops the other thread's writes instead of growing the
 * message queue. When the port closes
 * (the worker ended or was terminated) the stream ends.
 */
export function messagePortStream(port: MessagePort, options: { windowBytes?: number } = {}): Duplex {
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  if (!Number.isSafeInteger(windowBytes) || windowBytes < 2 * ACK_STEP_BYTES) {
    throw new PluginError('InvalidArgument', `windowBytes must be an integer ≥ ${2 * ACK_STEP_BYTES}`);
  }
  let inFlight = 0;
  let blockedWrite: (() => void) | undefined;
  let unacked = 0;
  let ended = false;

  const ack = (): void => {
    if (unacked >= ACK_STEP_BYTES) {
      port.postMessage({ t: 'a', n: unacked } satisfies PortMessage);
      unacked = 0;
    }
  };

  /** Posts bytes this stream owns (nothing else references them): their buffer is moved, not copied. */
  const send = (bytes: Uint8Array, callback: () => void): void => {
    port.postMessage({ t: 'd', b: bytes } satisfies PortMessage, [bytes.buffer as ArrayBuffer]);
    sent(bytes.length, callback);
  };
  /** Counts `bytes` in flight; the writer goes on while the window has room. */
  const sent = (bytes: number, callback: () => void): void => {
    inFlight += bytes;
    if (inFlight <= windowBytes) callback();
    else blockedWrite = callback;
  };
  /**
   * Posts a chunk the writer may still hold. A structured clone copies a view's whole buffer, and a small Buffer is a
   * slice of Node's 8 KiB pool: posting it as is copied the pool (8 KiB for a 64-byte frame, issue 17). Such a chunk
   * is copied once, to exactly its bytes, and that copy moved; a chunk that is its whole buffer is cloned (one copy).
   */
  const post = (chunk: Buffer, callback: () => void): void => {
    const buffer = chunk.buffer;
    if (buffer instanceof ArrayBuffer && chunk.byteLength < buffer.byteLength) {
      send(new Uint8Array(buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength)), callback);
      return;
    }
    port.postMessage({ t: 'd', b: chunk } satisfies PortMessage);
    sent(chunk.length, callback);
  };

  const stream = new Duplex({
    read() {
      ack();
    },
    write(chunk: Buffer, _encoding, callback) {
      post(chunk, callback);
    },
    writev(chunks: { chunk: Buffer }[], callback) {
      // Frames written in one tick (the channel corks) cross as one message: one wake-up of the other thread.
      let bytes = 0;
      for (const c of chunks) bytes += c.chunk.length;
      const joined = new Uint8Array(bytes);
      let at = 0;
      for (const c of chunks) {
        joined.set(c.chunk, at);
        at += c.chunk.length;
      }
      send(joined, callback);
    },
    final(callback) {
      port.postMessage({ t: 'e' } satisfies PortMessage);
      callback();
    },
    destroy(error, callback) {
      port.close();
      callback(error);
    },
  });

  port.on('message', (message: unknown) => {
    if (!isPortMessage(message)) {
      // A protocol violation of the other thread, reported as such (the channel's StreamError keeps it as cause).
      stream.destroy(ipcError('MalformedFrame', 'unexpected message on the IPC port'));
      return;
    }
    switch (message.t) {
      case 'd': {
        const b = message.b;
        unacked += b.length;
        // Acknowledge now if the consumer keeps up; otherwise read() acknowledges when it asks for more.
        if (stream.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) ack();
        return;
      }
      case 'a': {
        inFlight = Math.max(0, inFlight - message.n);
        if (inFlight <= windowBytes && blockedWrite !== undefined) {
          const resume = blockedWrite;
          blockedWrite = undefined;
          resume();
        }
        return;
      }
      case 'e':
        if (!ended) {
          ended = true;
          stream.push(null);
        }
        return;
    }
  });
  port.on('close', () => {
    // The other side is gone (worker ended or terminated): end the readable side; the channel then ends itself.
    if (!ended) {
      ended = true;
      stream.push(null);
    }
  });
  return stream;
}
