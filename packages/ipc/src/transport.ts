import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MessagePort } from 'node:worker_threads';
import { DEFAULT_MAX_FRAME_BYTES, PluginError } from '@plugward/types';
import { ipcError } from './errors.js';
import { FRAME_PREFIX_BYTES } from './frame.js';

/** What a transport reports to its {@link IpcChannel}. */
export interface TransportSink {
  /**
   * Bytes of the peer's frame stream, in order (any split: the channel's decoder joins and checks them). `borrowed`:
   * the bytes are valid only during this call (a reused read buffer), so nothing may keep a view of them.
   */
  data(chunk: Buffer, borrowed?: boolean): void;
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
 * worker tier).
 */
export interface FrameTransport {
  readonly destroyed: boolean;
  /** True while the peer has not taken enough of what was written: the channel then queues frames (bounded). */
  readonly needDrain: boolean;
  attach(sink: TransportSink): void;
  /** Stops reporting to the sink (errors are still swallowed: none may become an uncaught exception). */
  detach(): void;
  /**
   * Memory for a frame of `bytes` the channel is about to write: from the transport's pool of send buffers where it
   * has one (a socket: the buffer comes back once the kernel took the frame), else new.
   */
  allocate(bytes: number): Buffer;
  /**
   * Writes one whole frame (or a part of one); frames written in one tick leave together. A frame is the channel's
   * own and never touched again (a transport may move its buffer), unless `borrowed`: bytes the channel did not make
   * (a hook result after its header), only read — a socket copies them to the kernel, a port clones them. `more`:
   * another part follows at once (a hook result's header, before its bytes), so the two leave together.
   */
  write(frame: Uint8Array, borrowed?: boolean, more?: boolean): void;
  /** Sends what was written, then ends (the peer sees its end); `done` once flushed or after `flushMs`. */
  end(flushMs: number): void;
  /** Ends at once, dropping what was not sent. */
  destroy(): void;
}

/** What {@link IpcChannel} runs on: a byte stream (fd 3 of a plugin process, a socket) or a worker's `MessagePort`. */
export type IpcTransport = Duplex | MessagePort;

/**
 * The transport of `io`: a `MessagePort` directly (no stream on either thread), anything else as a `Duplex`.
 * `maxFrameBytes` is the channel's: a port's reader bounds what an honest writer may have in flight by it.
 */
export function transportOf(
  io: IpcTransport,
  maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
): FrameTransport {
  return io instanceof MessagePort ? new PortTransport(io, maxFrameBytes) : new StreamTransport(io);
}

/**
 * Bytes one read of a socket may take: a 64 KiB hook call with its frame header arrives in one read, not two (issue
 * 17); otherwise about Node's own 64 KiB per read. Not more: a read is decoded in one go, and a request the host
 * answers asynchronously holds its serving slot until then, so a larger read hands the channel more of a request
 * flood at once (past `maxConcurrentRequests` + `maxQueuedRequests`: `QuotaExceeded`). Log lines, the flood a trusted
 * plugin may make, are answered synchronously (`PluginProcessClient`) and never queue. A frame over one read costs
 * nothing extra: the decoder collects it into a buffer of its size.
 */
const READ_BUFFER_BYTES = 64 * 1024 + 64;

/**
 * The read buffer of every socket transport of this thread. One is enough: a socket's read lands in it and is handed
 * to the channel's decoder synchronously, which copies what it keeps before the thread reads anything else.
 */
let threadReadBuffer: Buffer | undefined;

/** `net.Socket`'s own names for the buffer and callback of its `onread` option, or null where they are not found. */
let onreadKeys: { buffer: symbol; callback: symbol; generator: symbol } | null | undefined;

function socketOnreadKeys(): typeof onreadKeys {
  if (onreadKeys === undefined) {
    // Every Socket has them (null unless made with `onread`); a new, unconnected one has no handle and costs nothing.
    const symbols = Object.getOwnPropertySymbols(new Socket());
    const named = (name: string) => symbols.find((k) => k.description === name);
    const buffer = named('kBuffer');
    const callback = named('kBufferCb');
    const generator = named('kBufferGen');
    onreadKeys =
      buffer !== undefined && callback !== undefined && generator !== undefined
        ? { buffer, callback, generator }
        : null;
  }
  return onreadKeys;
}

/**
 * Makes `socket` read into the thread's reused buffer and hand each read to `callback` (what Node's `onread` socket
 * option does, for a socket made without it: the one `child_process` made for a plugin's fd 3, which the host reads).
 * False, changing nothing, where this Node's sockets can't (then the socket reads as before: a new buffer per read) or
 * the socket already reads into a buffer of its owner's.
 */
function readIntoReusedBuffer(socket: Socket, callback: (bytes: number, buffer: Buffer) => boolean): boolean {
  const keys = socketOnreadKeys();
  if (keys === null || keys === undefined) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[keys.buffer] !== null || fields[keys.generator] !== null) return false;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null })
    ._handle;
  // No handle yet (a connecting socket): Node applies the buffer when the handle comes.
  if (handle !== null && handle !== undefined && typeof handle.useUserBuffer !== 'function') return false;
  threadReadBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  fields[keys.buffer] = threadReadBuffer;
  fields[keys.callback] = callback;
  handle?.useUserBuffer?.(threadReadBuffer);
  return true;
}

/** Frames from this size on are written from a socket transport's pool of send buffers. */
const POOLED_FRAME_BYTES = 16 * 1024;
/** Idle send buffers a socket transport keeps. */
const POOL_BUFFERS = 4;
/** Most bytes of frames a socket transport holds while it handles a chunk (see `StreamTransport.#held`). */
const HOLD_BYTES = 16 * 1024;

/**
 * Frames over a Node `Duplex`: a lone frame (the first since the last read, nothing waiting) is written at once; more
 * frames in one tick leave in one writev (one syscall per batch), so a burst costs two syscalls. Large frames
 * are encoded into a few reused send buffers instead of a new buffer each (every new `ArrayBuffer` counts as external
 * memory, whose growth drives V8's full collections: the 64 KiB tail, issue 17); a buffer returns to the pool when its
 * write completed — the kernel has the bytes — and only the channel ever sees it. A socket reads into one reused
 * buffer too (not a new 64 KiB buffer per read, and a join for a frame split across two): its bytes are lent to the
 * channel, whose decoder copies each frame once, to memory the frame owns.
 */
class StreamTransport implements FrameTransport {
  readonly #stream: Duplex;
  #sink: TransportSink | undefined;
  #corked = false;
  /**
   * A frame went out by itself since this side last read (see `write`): the next one corks. Reset by each read and
   * each uncork — in a call-and-answer exchange every frame is the first after a read.
   */
  #wrote = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#wrote = false;
    this.#stream.uncork();
  };
  /** The stream's events, passed on to the sink while attached ('data' last: the others are in place first). */
  readonly #listeners: [string, (arg: unknown) => void][] = [
    ['error', (err) => this.#sink?.error(err)],
    ['end', () => this.#sink?.end()],
    ['close', () => this.#sink?.close()],
    ['drain', () => this.#sink?.drain()],
    ['data', (chunk) => this.#receive(chunk as Buffer)],
  ];
  /**
   * A chunk is being handled: small frames written meanwhile (a synchronous handler's answer) are held and leave
   * right after it — one alone as a plain write, several in one writev — instead of corking the stream until the next
   * tick (issue 17). Past {@link HOLD_BYTES} they go to the stream at once, so its `writableNeedDrain` stays true to
   * what waits.
   */
  #receiving = false;
  #held: Uint8Array[] = [];
  #heldBytes = 0;

  /** Idle send buffers, and those lent to frames being written. */
  readonly #pool: Buffer[] = [];
  readonly #lent = new WeakMap<ArrayBufferLike, Buffer>();

  readonly #socket: boolean;
  /** Reads land in the thread's reused buffer (see {@link readIntoReusedBuffer}). */
  #reusedReads = false;
  readonly #onRead = (bytes: number, buffer: Buffer): boolean => {
    this.#wrote = false;
    this.#sink?.data(buffer.subarray(0, bytes), true);
    return true;
  };

  constructor(stream: Duplex) {
    this.#stream = stream;
    this.#socket = stream instanceof Socket;
  }

  /** True when the socket's reads land in the thread's reused buffer, lent to the sink. */
  get reusesReadBuffer(): boolean {
    return this.#reusedReads;
  }

  allocate(bytes: number): Buffer {
    // Only a socket: its write completes once the kernel has the bytes. Another Duplex (an in-memory pair) may still
    // hold the very buffer after its write completed.
    if (bytes < POOLED_FRAME_BYTES || !this.#socket) return Buffer.allocUnsafe(bytes);
    let buffer: Buffer | undefined;
    for (let i = 0; i < this.#pool.length; i++) {
      const b = this.#pool[i] as Buffer;
      // Not much larger than asked: a frame's bytes go out as a view, but the pool holds whole buffers.
      if (b.length >= bytes && b.length <= 2 * bytes) {
        buffer = b;
        this.#pool.splice(i, 1);
        break;
      }
    }
    buffer ??= Buffer.allocUnsafeSlow(bytes);
    this.#lent.set(buffer.buffer, buffer);
    return buffer.subarray(0, bytes);
  }

  /** A lent send buffer back from a completed write. */
  #giveBack(buffer: Buffer): void {
    if (this.#pool.length < POOL_BUFFERS && !this.#stream.destroyed) this.#pool.push(buffer);
  }

  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  get needDrain(): boolean {
    return this.#stream.writableNeedDrain;
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    if (this.#socket && !this.#reusedReads) {
      this.#reusedReads = readIntoReusedBuffer(this.#stream as Socket, this.#onRead);
    }
    // 'data' still: what the socket read before (and a socket that can't lend its reads).
    for (const [event, listener] of this.#listeners) this.#stream.on(event, listener);
  }

  detach(): void {
    this.#sink = undefined;
    // The 'error' listener stays (the sink is gone): an error emitted after the end must not become uncaught.
    for (const [event, listener] of this.#listeners) if (event !== 'error') this.#stream.off(event, listener);
  }

  #receive(chunk: Buffer): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    this.#wrote = false;
    this.#receiving = true;
    try {
      sink.data(chunk);
    } finally {
      this.#receiving = false;
    }
    if (this.#held.length > 0) this.#release();
  }

  /** The held frames, to the stream: one alone as a plain write, several corked (one writev). */
  #release(): void {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    if (this.#stream.destroyed) return;
    if (held.length === 1) {
      this.#send(held[0] as Uint8Array);
      return;
    }
    this.#stream.cork();
    for (const frame of held) this.#send(frame);
    this.#stream.uncork();
  }

  write(frame: Uint8Array, _borrowed?: boolean, more = false): void {
    if (this.#receiving && !this.#corked) {
      if (this.#heldBytes + frame.length <= HOLD_BYTES) {
        this.#held.push(frame);
        this.#heldBytes += frame.length;
        return;
      }
    }
    if (
      !this.#corked &&
      !more &&
      !this.#wrote &&
      this.#held.length === 0 &&
      this.#stream.writableLength === 0
    ) {
      // The first frame since the last read, with nothing waiting: written at once, no cork and tick (issue 17: a host's
      // lone call). A second frame before the next read corks the rest of its tick, which keeps a burst to two syscalls.
      this.#wrote = true;
      this.#send(frame);
      return;
    }
    if (!this.#corked) {
      // Frames written in the same tick leave in one writev: pipelined calls cost one syscall per batch, not per frame.
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(this.#uncork);
      // Held frames were written first: they lead the batch.
      if (this.#held.length > 0) {
        for (const h of this.#held) this.#send(h);
        this.#held = [];
        this.#heldBytes = 0;
      }
    }
    this.#send(frame);
  }

  #send(frame: Uint8Array): void {
    const lent = this.#lent.get(frame.buffer);
    if (lent === undefined) {
      this.#stream.write(frame);
    } else {
      this.#lent.delete(frame.buffer);
      // Back once written (a failed write ends the channel: the buffer is then simply dropped).
      this.#stream.write(frame, (err) => {
        if (err == null) this.#giveBack(lent);
      });
    }
  }

  end(flushMs: number): void {
    if (this.#held.length > 0) this.#release();
    const stream = this.#stream;
    const timer = setTimeout(() => stream.destroy(), flushMs);
    timer.unref?.();
    stream.end(() => {
      clearTimeout(timer);
      stream.destroy();
    });
  }

  destroy(): void {
    this.#held = [];
    this.#heldBytes = 0;
    this.#stream.destroy();
  }
}

/** Bytes a sender may have in flight on a port, unacknowledged by the other thread's channel. */
const PORT_WINDOW_BYTES = 1024 * 1024;
/**
 * What one port message counts for in the window besides its bytes: a flood of tiny messages is bounded too (each
 * costs the receiving thread a queue entry whatever it carries).
 */
const MESSAGE_COST_BYTES = 256;
/**
 * A reader acknowledges in steps of at least this many bytes, not per message: every acknowledgement wakes the other
 * thread, and one per message doubled the cross-thread messages of a small call (issue 17).
 */
const ACK_STEP_BYTES = 16 * 1024;
/** Frames of one tick up to this many bytes in all are joined into one buffer; larger batches travel as a list. */
const JOIN_BYTES = 64 * 1024;
/**
 * Frames under this size are written into reused send buffers of their exact size and cloned when posted (see
 * `PortTransport.allocate`); larger frames are moved (a clone copies them twice).
 */
const CLONED_FRAME_BYTES = 16 * 1024;
/** Send buffers a port transport keeps for reuse (one per frame size seen lately). */
const SEND_BUFFERS = 8;
/** Send buffers a port transport tracks while their frames wait to be posted (the channel's queue may hold more). */
const MAX_LENT_BUFFERS = 64;

/**
 * Frames over a `MessagePort`, one `postMessage` per tick, with no stream on either thread. The messages:
 * - a `Uint8Array` (its buffer moved, not copied): bytes of the frame stream — from an honest peer whole frames, but
 *   the channel decodes them exactly as bytes from a socket, so a split, oversize or garbage frame is caught the same
 *   way;
 * - an array of `Uint8Array`s and at most one positive integer: the same, several chunks in order, and the credit (see
 *   next) riding along;
 * - a positive integer, the credit: the reader's channel took that many bytes (each message counted as
 *   {@link MESSAGE_COST_BYTES} more). A writer has at most {@link PORT_WINDOW_BYTES} unacknowledged, past it the
 *   channel's own bounded queue takes over, and `PeerNotReading` ends a peer that does not read. Credit rides on the
 *   next frames out when there are some (an echo costs two messages, as a bare `postMessage` echo does), else leaves
 *   alone once the reader's thread turns (`setImmediate`);
 * - `null`: the peer ended its side.
 * Anything else — a view of a `SharedArrayBuffer` too — ends the channel (`MalformedFrame`). So does a writer that
 * ignores its window (code posting on the port itself): the port's queue lives in the reader's memory, and what a
 * reader received since it last gave credit is never more than an honest writer may have in flight (the window plus
 * one frame); beyond that, `WindowExceeded`. When the port closes (the worker ended or was terminated) the channel sees
 * the end.
 */
class PortTransport implements FrameTransport {
  readonly #port: MessagePort;
  /** Most a reader may receive between two credits it gives (see the class comment). */
  readonly #receiveLimit: number;
  #sink: TransportSink | undefined;
  #destroyed = false;
  #ended = false;
  #batch: Uint8Array[] = [];
  /**
   * The batch while it is one frame of our own — an answer, a call: the common case — kept out of `#batch`, so a
   * post makes no array (issue 17: a batch array, a list and a transfer list per post were ≈ 300 B of garbage).
   */
  #one: Uint8Array | undefined;
  /** The transfer list of a lone frame, reused: `postMessage` reads it before it returns. */
  readonly #transferOne: ArrayBuffer[] = [];
  /** Idle send buffers of small frames (see {@link CLONED_FRAME_BYTES}), newest last. */
  readonly #idle: Buffer[] = [];
  /** Send buffers written with a frame that was not posted yet: cloned when posted, then idle again. */
  readonly #lent: Buffer[] = [];
  #batchBytes = 0;
  /** The batch has borrowed frames (cloned when posted, never moved; see `write`). */
  #borrowed: Set<Uint8Array> | undefined;
  #scheduled = false;
  #inFlight = 0;
  /** Bytes (and message costs) taken since this side last gave credit. */
  #unacked = 0;
  #ackTimer: ReturnType<typeof setImmediate> | undefined;
  readonly #flush = (): void => this.#send();
  readonly #ackNow = (): void => {
    this.#ackTimer = undefined;
    if (this.#unacked >= ACK_STEP_BYTES && !this.#destroyed) {
      // A bare credit is a message like any other: the reader counts it, so it is in flight here too.
      this.#inFlight += MESSAGE_COST_BYTES;
      this.#post(this.#takeCredit());
    }
  };
  /** A message is being handled: frames written meanwhile leave when it is done, not a tick later (see `write`). */
  #receiving = false;
  readonly #onMessage = (message: unknown): void => {
    this.#receiving = true;
    try {
      this.#receive(message);
    } finally {
      this.#receiving = false;
    }
    if (this.#one !== undefined || this.#batch.length > 0) this.#send();
  };
  readonly #onClose = (): void => {
    this.#destroyed = true;
    this.#peerEnded();
  };

  constructor(port: MessagePort, maxFrameBytes: number) {
    this.#port = port;
    // The window plus one frame, and the message costs of the last batch: an honest batch has at most two elements per
    // 4 KiB (joined runs, borrowed answers of at least 4 KiB each with their header), an eighth of its bytes in costs.
    const bytes = PORT_WINDOW_BYTES + FRAME_PREFIX_BYTES + maxFrameBytes;
    this.#receiveLimit = bytes + Math.ceil(bytes / 4) + 4 * MESSAGE_COST_BYTES;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get needDrain(): boolean {
    return this.#inFlight > PORT_WINDOW_BYTES;
  }

  /**
   * New memory of exactly `bytes`, never a slice of Node's shared pool: a port moves the frames it writes (a frame's
   * buffer leaves this thread), and a frame that is its whole buffer moves as it is, where a pool slice is first copied
   * out (issue 17: one allocation and copy less per small frame).
   */
  allocate(bytes: number): Buffer {
    if (bytes >= CLONED_FRAME_BYTES) return Buffer.allocUnsafeSlow(bytes);
    const idle = this.#idle;
    let buffer: Buffer | undefined;
    // Exactly the frame's size: a clone copies a view's whole buffer (and nothing but this frame may travel).
    for (let i = idle.length - 1; i >= 0; i--) {
      if ((idle[i] as Buffer).length === bytes) {
        buffer = idle[i] as Buffer;
        // Out of the list without `splice` (which makes an array of what it removes, per frame).
        idle[i] = idle[idle.length - 1] as Buffer;
        idle.pop();
        break;
      }
    }
    buffer ??= Buffer.allocUnsafeSlow(bytes);
    // Bounded: a frame the channel allocated but then refused to write is forgotten here (one posted later that is
    // no longer tracked is simply moved, as any other).
    if (this.#lent.length >= MAX_LENT_BUFFERS) this.#lent.shift();
    this.#lent.push(buffer);
    return buffer;
  }

  /** Whether `frame` is a send buffer of this transport (cloned when posted, never moved). */
  #isLent(frame: Uint8Array): boolean {
    const lent = this.#lent;
    for (let i = lent.length - 1; i >= 0; i--) if (lent[i] === frame) return true;
    return false;
  }

  /** A send buffer whose frame was posted (cloned by now): idle again, for the next frame of its size. */
  #giveBack(frame: Uint8Array): void {
    const lent = this.#lent;
    for (let i = lent.length - 1; i >= 0; i--) {
      if (lent[i] !== frame) continue;
      lent[i] = lent[lent.length - 1] as Buffer;
      lent.pop();
      if (this.#destroyed) return;
      const idle = this.#idle;
      if (idle.length >= SEND_BUFFERS) idle.shift();
      idle.push(frame as Buffer);
      return;
    }
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

  write(frame: Uint8Array, borrowed = false): void {
    if (this.#destroyed) return;
    if (!borrowed && this.#one === undefined && this.#batch.length === 0) {
      this.#one = frame;
    } else {
      if (this.#one !== undefined) {
        this.#batch.push(this.#one);
        this.#one = undefined;
      }
      this.#batch.push(frame);
    }
    if (borrowed) {
      this.#borrowed ??= new Set();
      this.#borrowed.add(frame);
    }
    this.#batchBytes += frame.length;
    this.#inFlight += frame.length;
    // While a message is handled, what it causes to be written (a synchronous handler's answer, with the credit for
    // the message) leaves as one post right after it, without a tick of its own (issue 17).
    if (!this.#scheduled && !this.#receiving) {
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
    this.#one = undefined;
    this.#batchBytes = 0;
    this.#borrowed = undefined;
    this.#idle.length = 0;
    this.#lent.length = 0;
    if (this.#ackTimer !== undefined) clearImmediate(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#port.close();
  }

  #post(message: unknown, transfer?: ArrayBuffer[]): void {
    try {
      this.#port.postMessage(message, transfer);
    } catch (e) {
      this.#sink?.error(e);
    }
  }

  /** The credit owed to the writer, now given. */
  #takeCredit(): number {
    const credit = this.#unacked;
    this.#unacked = 0;
    return credit;
  }

  /**
   * Posts the frames written since the last send: moved, never copied when a frame owns its buffer; a borrowed frame
   * cloned (no allocation on this thread: the other one gets the copy); with the credit owed to the other side when it
   * is due.
   */
  #send(): void {
    this.#scheduled = false;
    const one = this.#one;
    if (one !== undefined) {
      this.#one = undefined;
      this.#batchBytes = 0;
      if (this.#destroyed) return;
      // A send buffer of ours is cloned (exactly its size), anything else moved.
      const lent = this.#lent.length > 0 && this.#isLent(one);
      const frame = lent ? one : owned(one);
      if (this.#unacked >= ACK_STEP_BYTES) {
        this.#inFlight += MESSAGE_COST_BYTES * 2;
        this.#post([frame, this.#takeCredit()], lent ? undefined : [frame.buffer as ArrayBuffer]);
      } else {
        this.#inFlight += MESSAGE_COST_BYTES;
        if (lent) {
          this.#post(frame);
        } else {
          // The slot keeps the moved (now empty) buffer until the next post: nothing to free.
          this.#transferOne[0] = frame.buffer as ArrayBuffer;
          this.#post(frame, this.#transferOne);
        }
      }
      if (lent) this.#giveBack(one);
      return;
    }
    const frames = this.#batch;
    if (frames.length === 0 || this.#destroyed) return;
    const bytes = this.#batchBytes;
    const borrowed = this.#borrowed;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#borrowed = undefined;
    let list: Uint8Array[];
    const transfer: ArrayBuffer[] = [];
    if (frames.length === 1 && borrowed === undefined) {
      list = [owned(frames[0] as Uint8Array)];
    } else if (bytes <= JOIN_BYTES && borrowed === undefined) {
      list = [joined(frames, bytes)];
    } else {
      // Runs of our own frames joined up to JOIN_BYTES (a large one moved as it is), borrowed frames cloned: the reader
      // counts every element, so a batch of many small frames must not become as many elements.
      list = [];
      let run: Uint8Array[] = [];
      let runBytes = 0;
      const endRun = (): void => {
        if (run.length === 1) list.push(owned(run[0] as Uint8Array));
        else if (run.length > 1) list.push(joined(run, runBytes));
        run = [];
        runBytes = 0;
      };
      for (const f of frames) {
        if (borrowed?.has(f)) {
          endRun();
          list.push(clonable(f));
          continue;
        }
        if (run.length > 0 && runBytes + f.length > JOIN_BYTES) endRun();
        run.push(f);
        runBytes += f.length;
      }
      endRun();
    }
    const lent = this.#lent.length > 0;
    // Our send buffers posted as they are (not joined) are cloned, never moved: they are reused.
    for (const f of list) {
      if (!borrowed?.has(f) && !(lent && this.#isLent(f))) transfer.push(f.buffer as ArrayBuffer);
    }
    // The reader counts every element of what is posted (see #receive): so is it in flight here.
    if (this.#unacked >= ACK_STEP_BYTES) {
      this.#inFlight += MESSAGE_COST_BYTES * (list.length + 1);
      this.#post([...list, this.#takeCredit()], transfer);
    } else {
      this.#inFlight += MESSAGE_COST_BYTES * list.length;
      this.#post(list.length === 1 ? list[0] : list, transfer);
    }
    // Posted (cloned or copied into a joined buffer): their send buffers can take the next frames.
    if (lent) for (const f of frames) this.#giveBack(f);
  }

  #receive(message: unknown): void {
    const sink = this.#sink;
    if (sink === undefined || this.#ended) return;
    if (isBytes(message)) {
      if (this.#count(sink, message.byteLength)) this.#take(sink, message);
    } else if (isCredit(message)) {
      // Counted like any message: else credits of 1, one message each, would be free work for this thread.
      if (this.#count(sink, 0, 1)) this.#credit(sink, message);
    } else if (message === null) {
      this.#peerEnded();
    } else if (
      Array.isArray(message) &&
      message.length > 0 &&
      // Each element counts (below): a list longer than the window allows is refused before it is walked.
      message.length * MESSAGE_COST_BYTES <= this.#receiveLimit &&
      isChunkList(message)
    ) {
      let bytes = 0;
      for (const m of message) if (typeof m !== 'number') bytes += m.byteLength;
      if (!this.#count(sink, bytes, message.length)) return;
      for (const m of message) {
        if (this.#sink === undefined) return;
        if (typeof m === 'number') this.#credit(sink, m);
        else this.#take(sink, m);
      }
    } else {
      // A protocol violation of the other thread, reported as such (the channel's StreamError keeps it as cause).
      sink.error(ipcError('MalformedFrame', 'unexpected message on the IPC port'));
    }
  }

  /** Counts a message of `bytes` against what the writer may have in flight; false (and the sink told) past it. */
  #count(sink: TransportSink, bytes: number, messages = 1): boolean {
    this.#unacked += bytes + messages * MESSAGE_COST_BYTES;
    if (this.#unacked <= this.#receiveLimit) return true;
    sink.error(
      ipcError(
        'WindowExceeded',
        `the other thread sent ${this.#unacked} bytes without waiting for credit (at most ${this.#receiveLimit})`,
      ),
    );
    return false;
  }

  #credit(sink: TransportSink, credit: number): void {
    // More than was sent would be credit for bytes the peer never got: a lie that would let it grow our queue. Less
    // than a step is never given by an honest reader (it acknowledges in ACK_STEP_BYTES steps): a stream of tiny
    // credits would be free work for this thread.
    if (credit > this.#inFlight || (credit < ACK_STEP_BYTES && credit !== this.#inFlight)) {
      sink.error(
        ipcError('MalformedFrame', `acknowledgement of ${credit} bytes, ${this.#inFlight} in flight`),
      );
      return;
    }
    const blocked = this.needDrain;
    this.#inFlight -= credit;
    if (blocked && !this.needDrain) sink.drain();
  }

  #take(sink: TransportSink, bytes: Uint8Array): void {
    sink.data(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    // The channel consumes synchronously: what it took is acknowledged, in steps, with the next frames out or alone
    // once this thread turns.
    if (this.#unacked >= ACK_STEP_BYTES && this.#ackTimer === undefined && !this.#destroyed) {
      this.#ackTimer = setImmediate(this.#ackNow);
    }
  }

  #peerEnded(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink?.end();
  }
}

/** `frames` (of `bytes` in all) in one new buffer of their own. */
function joined(frames: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/** A credit: a positive safe integer. */
function isCredit(message: unknown): message is number {
  return typeof message === 'number' && Number.isSafeInteger(message) && message > 0;
}

/** Chunks of bytes (none empty: an honest writer posts frames) with at most one credit among them. */
function isChunkList(message: unknown[]): message is (Uint8Array | number)[] {
  let credits = 0;
  for (const m of message) {
    if (isCredit(m)) credits++;
    else if (!isBytes(m) || m.byteLength === 0) return false;
  }
  return credits <= 1;
}

/**
 * Bytes the other thread gave up: a `Uint8Array` on an `ArrayBuffer` of its own. A view of a `SharedArrayBuffer` is
 * refused: the other thread could change the bytes while this one checks and decodes them.
 */
function isBytes(message: unknown): message is Uint8Array {
  return message instanceof Uint8Array && message.buffer instanceof ArrayBuffer;
}

/** Bytes a borrowed frame's buffer may hold beyond it and still be cloned whole (the clone copies all of them). */
const CLONE_SLACK_BYTES = 4096;

/**
 * A borrowed frame as it can be cloned: itself when its buffer is about its size (postMessage clones a view's whole
 * buffer), else a copy of exactly its bytes (moved, then: the copy is ours). Never a view of shared memory.
 */
function clonable(frame: Uint8Array): Uint8Array {
  if (
    frame.buffer instanceof ArrayBuffer &&
    frame.buffer.byteLength - frame.byteLength <= CLONE_SLACK_BYTES
  ) {
    return frame;
  }
  return new Uint8Array(frame);
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
