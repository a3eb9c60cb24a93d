import type { Duplex } from 'node:stream';
import { MessagePort } from 'node:worker_threads';
import { PluginError } from '@plugward/types';
import { ipcError } from './errors.js';

/** What a transport reports to its {@link IpcChannel}. */
export interface TransportSink {
  /** Bytes of the peer's frame stream, in order (any split: the channel's decoder joins and checks them). */
  data(chunk: Buffer): void;
  /** The peer ended its side (or went away); the channel checks for a frame cut short. */
  end(): void;
  /** The transport failed. */
  error(err: unknown): void;
  /** The transport closed under the channel. */
  close(): void;
  /** {@link FrameTransport.needDrain} went from true to false. */
  drain(): void;
}

/**
 * What {@link IpcChannel} reads and writes frames through: a Node `Duplex` (a Unix socket) or a `MessagePort` (the
 * worker tier). Frames given to `write` are the channel's own and never touched again: a transport may move them.
 */
export interface FrameTransport {
  readonly destroyed: boolean;
  /** True while the peer has not taken enough of what was written: the channel then queues frames (bounded). */
  readonly needDrain: boolean;
  /**
   * True when `write` only reads the bytes (a socket copies them to the kernel): the channel may then write a hook
   * result it did not make, as it is, after its frame header. False when the transport moves buffers (a port).
   */
  readonly borrows: boolean;
  attach(sink: TransportSink): void;
  /** Stops reporting to the sink (errors are still swallowed: none may become an uncaught exception). */
  detach(): void;
  /** Writes one whole frame (or a part of one); frames written in one tick leave together. */
  write(frame: Uint8Array): void;
  /** Sends what was written, then ends (the peer sees its end); `done` once flushed or after `flushMs`. */
  end(flushMs: number): void;
  /** Ends at once, dropping what was not sent. */
  destroy(): void;
}

/** What {@link IpcChannel} runs on: a byte stream (fd 3 of a plugin process, a socket) or a worker's `MessagePort`. */
export type IpcTransport = Duplex | MessagePort;

/** The transport of `io`: a `MessagePort` directly (no stream on either thread), anything else as a `Duplex`. */
export function transportOf(io: IpcTransport): FrameTransport {
  return io instanceof MessagePort ? new PortTransport(io) : new StreamTransport(io);
}

/** Frames over a Node `Duplex`; frames written in one tick leave in one writev (one syscall per batch). */
class StreamTransport implements FrameTransport {
  readonly borrows = true;
  readonly #stream: Duplex;
  #sink: TransportSink | undefined;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#stream.uncork();
  };
  /** The stream's events, passed on to the sink while attached ('data' last: the others are in place first). */
  readonly #listeners: [string, (arg: unknown) => void][] = [
    ['error', (err) => this.#sink?.error(err)],
    ['end', () => this.#sink?.end()],
    ['close', () => this.#sink?.close()],
    ['drain', () => this.#sink?.drain()],
    ['data', (chunk) => this.#sink?.data(chunk as Buffer)],
  ];

  constructor(stream: Duplex) {
    this.#stream = stream;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  get needDrain(): boolean {
    return this.#stream.writableNeedDrain;
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    for (const [event, listener] of this.#listeners) this.#stream.on(event, listener);
  }

  detach(): void {
    this.#sink = undefined;
    // The 'error' listener stays (the sink is gone): an error emitted after the end must not become uncaught.
    for (const [event, listener] of this.#listeners) if (event !== 'error') this.#stream.off(event, listener);
  }

  write(frame: Uint8Array): void {
    if (!this.#corked) {
      // Frames written in the same tick leave in one writev: pipelined calls cost one syscall per batch, not per frame.
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(this.#uncork);
    }
    this.#stream.write(frame);
  }

  end(flushMs: number): void {
    const stream = this.#stream;
    const timer = setTimeout(() => stream.destroy(), flushMs);
    timer.unref?.();
    stream.end(() => {
      clearTimeout(timer);
      stream.destroy();
    });
  }

  destroy(): void {
    this.#stream.destroy();
  }
}

/** Bytes a sender may have in flight on a port, unacknowledged by the other thread's channel. */
const PORT_WINDOW_BYTES = 1024 * 1024;
/**
 * A reader acknowledges in steps of at least this many bytes, not per message: every acknowledgement wakes the other
 * thread, and one per message doubled the cross-thread messages of a small call (issue 17).
 */
const ACK_STEP_BYTES = 16 * 1024;
/** Frames of one tick up to this many bytes in all are joined into one buffer; larger batches travel as a list. */
const JOIN_BYTES = 64 * 1024;

/**
 * Frames over a `MessagePort`, one `postMessage` per tick, with no stream on either thread. The messages:
 * - a `Uint8Array` (its buffer moved, not copied): bytes of the frame stream — from an honest peer whole frames, but
 *   the channel decodes them exactly as bytes from a socket, so a split, oversize or garbage frame is caught the same
 *   way;
 * - an array of `Uint8Array`s: the same, several chunks in order;
 * - a positive integer: the reader's channel took that many bytes (credit: a writer has at most 1 MiB unacknowledged,
 *   past it the channel's own bounded queue takes over, and `PeerNotReading` ends a peer that does not read);
 * - `null`: the peer ended its side.
 * Anything else — a view of a `SharedArrayBuffer` too — ends the channel (`MalformedFrame`). When the port closes (the
 * worker ended or was terminated) the channel sees the end.
 */
class PortTransport implements FrameTransport {
  readonly borrows = false;
  readonly #port: MessagePort;
  #sink: TransportSink | undefined;
  #destroyed = false;
  #ended = false;
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #scheduled = false;
  #inFlight = 0;
  #unacked = 0;
  readonly #flush = (): void => this.#send();
  readonly #onMessage = (message: unknown): void => this.#receive(message);
  readonly #onClose = (): void => {
    this.#destroyed = true;
    this.#peerEnded();
  };

  constructor(port: MessagePort) {
    this.#port = port;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get needDrain(): boolean {
    return this.#inFlight > PORT_WINDOW_BYTES;
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    this.#port.on('message', this.#onMessage);
    this.#port.on('close', this.#onClose);
  }

  detach(): void {
    this.#sink = undefined;
    this.#port.off('message', this.#onMessage);
    this.#port.off('close', this.#onClose);
  }

  write(frame: Uint8Array): void {
    if (this.#destroyed) return;
    this.#batch.push(frame);
    this.#batchBytes += frame.length;
    this.#inFlight += frame.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  end(_flushMs: number): void {
    if (this.#destroyed) return;
    this.#send();
    this.#post(null);
    this.destroy();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#port.close();
  }

  #post(message: unknown, transfer?: ArrayBuffer[]): void {
    try {
      this.#port.postMessage(message, transfer);
    } catch (e) {
      this.#sink?.error(e);
    }
  }

  /** Posts the frames written since the last send: moved, never copied when a frame owns its buffer. */
  #send(): void {
    this.#scheduled = false;
    const frames = this.#batch;
    if (frames.length === 0 || this.#destroyed) return;
    const bytes = this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    if (frames.length === 1) {
      const one = owned(frames[0] as Uint8Array);
      this.#post(one, [one.buffer as ArrayBuffer]);
    } else if (bytes <= JOIN_BYTES) {
      const joined = new Uint8Array(bytes);
      let at = 0;
      for (const f of frames) {
        joined.set(f, at);
        at += f.length;
      }
      this.#post(joined, [joined.buffer]);
    } else {
      const list = frames.map(owned);
      this.#post(
        list,
        list.map((f) => f.buffer as ArrayBuffer),
      );
    }
  }

  #receive(message: unknown): void {
    const sink = this.#sink;
    if (sink === undefined || this.#ended) return;
    if (isBytes(message)) {
      this.#take(sink, message);
    } else if (typeof message === 'number' && Number.isSafeInteger(message) && message > 0) {
      // More than was sent would be credit for bytes the peer never got: a lie that would let it grow our queue.
      if (message > this.#inFlight) {
        sink.error(
          ipcError('MalformedFrame', `acknowledgement of ${message} bytes, ${this.#inFlight} in flight`),
        );
        return;
      }
      const blocked = this.needDrain;
      this.#inFlight -= message;
      if (blocked && !this.needDrain) sink.drain();
    } else if (message === null) {
      this.#peerEnded();
    } else if (Array.isArray(message) && message.every(isBytes)) {
      for (const m of message as Uint8Array[]) {
        if (this.#sink === undefined) return;
        this.#take(sink, m);
      }
    } else {
      // A protocol violation of the other thread, reported as such (the channel's StreamError keeps it as cause).
      sink.error(ipcError('MalformedFrame', 'unexpected message on the IPC port'));
    }
  }

  #take(sink: TransportSink, bytes: Uint8Array): void {
    this.#unacked += bytes.byteLength;
    sink.data(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    // The channel consumes synchronously: what it took is acknowledged, in steps.
    if (this.#unacked >= ACK_STEP_BYTES && !this.#destroyed) {
      this.#post(this.#unacked);
      this.#unacked = 0;
    }
  }

  #peerEnded(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink?.end();
  }
}

/**
 * Bytes the other thread gave up: a `Uint8Array` on an `ArrayBuffer` of its own. A view of a `SharedArrayBuffer` is
 * refused: the other thread could change the bytes while this one checks and decodes them.
 */
function isBytes(message: unknown): message is Uint8Array {
  return message instanceof Uint8Array && message.buffer instanceof ArrayBuffer;
}

/**
 * `frame` as a view that is its whole buffer, so moving the buffer moves exactly the frame. A small Buffer is a slice
 * of Node's shared 8 KiB pool, which must not be moved (and a clone would copy all of it): such a frame is copied
 * once, to exactly its bytes.
 */
function owned(frame: Uint8Array): Uint8Array {
  const buffer = frame.buffer;
  if (frame.byteOffset === 0 && frame.byteLength === buffer.byteLength) return frame;
  if (!(buffer instanceof ArrayBuffer)) {
    throw new PluginError('InvalidArgument', 'a frame on a SharedArrayBuffer cannot be moved');
  }
  return new Uint8Array(buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength));
}
