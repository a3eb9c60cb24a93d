import { DEFAULT_MAX_FRAME_BYTES, PluginError } from '@plugward/types';
import { ipcError } from './errors.js';

/*
 * Wire frame: u32 LE length of everything after it, then a 6-byte header and the payload.
 *
 *   offset 0  u32 LE  length = 6 + payload bytes
 *          4  u8      frame type (FrameType)
 *          5  u8      message kind (protocol.ts tables)
 *          6  u32 LE  request id (correlation; a response carries its request's id)
 *         10  ...     payload
 */

/** Bytes of the length prefix. */
export const FRAME_PREFIX_BYTES = 4;
/** Bytes of the header after the length prefix: type, kind, request id. */
export const FRAME_HEADER_BYTES = 6;
/** Offset of the payload in an encoded frame. */
export const FRAME_PAYLOAD_OFFSET = FRAME_PREFIX_BYTES + FRAME_HEADER_BYTES;

/** Frame types. */
export const FrameType = Object.freeze({
  Request: 1,
  Response: 2,
  /** The sender no longer waits for the request of this id (timeout or abort); the payload is empty. */
  Cancel: 3,
});

/**
 * One decoded frame. `payload` is a view into the received bytes (no copy) of an owned chunk, or memory of its own
 * (see {@link FrameDecoder.pushBorrowed}).
 */
export interface Frame {
  type: number;
  kind: number;
  id: number;
  payload: Buffer;
}

/**
 * Allocates a frame of `payloadBytes` with its prefix and header written; the caller fills the payload from
 * {@link FRAME_PAYLOAD_OFFSET}. One allocation and one copy of the payload per message. With `followingBytes`, the
 * length prefix also counts that many bytes the caller sends right after this frame (a payload sent as it is). With
 * `allocate`, the frame's memory comes from it (a transport's pool of send buffers) instead of `Buffer.allocUnsafe`.
 */
export function allocFrame(
  type: number,
  kind: number,
  id: number,
  payloadBytes: number,
  followingBytes = 0,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const frame = allocate(FRAME_PAYLOAD_OFFSET + payloadBytes);
  frame.writeUInt32LE(FRAME_HEADER_BYTES + payloadBytes + followingBytes, 0);
  frame[4] = type;
  frame[5] = kind;
  frame.writeUInt32LE(id >>> 0, 6);
  return frame;
}

/** Encodes a whole frame from a payload. */
export function encodeFrame(type: number, kind: number, id: number, payload?: Uint8Array): Buffer {
  const frame = allocFrame(type, kind, id, payload?.length ?? 0);
  if (payload !== undefined) frame.set(payload, FRAME_PAYLOAD_OFFSET);
  return frame;
}

/**
 * A copy of `bytes` in memory of its own: never a slice of Node's shared allocation pool (`Buffer.from` and
 * `allocUnsafe` under 4 KiB), whose 8 KiB slab holds whatever else the process put there — an answer's `.buffer` must
 * hold nothing but what its plugin sent.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * Frames up to this size (prefix included) cut by the end of a borrowed chunk are collected in one buffer of their
 * size, allocated when their length arrives; a larger one is kept as copies of what arrived and joined when complete,
 * so a peer's 4-byte length prefix never makes the decoder allocate much more than the peer actually sent.
 */
const COLLECT_FRAME_BYTES = 1024 * 1024;

/**
 * Incremental frame decoder: feed it stream chunks of any size (partial frames, many frames coalesced in one chunk).
 * The declared length is checked against `maxFrameBytes` as soon as its 4 bytes arrive, before anything is allocated
 * for the frame. Chunks come in two kinds:
 * - owned ({@link push}): the frame's payload is a view of the chunk; a partial frame is kept as the received chunks,
 *   and joined once, when complete;
 * - borrowed ({@link pushBorrowed}, a reused read buffer): bytes valid only during the call, so every frame handed on
 *   is copied exactly once into memory of its own — a frame inside the chunk as its payload alone, a frame cut by the
 *   chunk's end into one buffer of its size that the next chunks fill.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Total bytes (prefix included) of the frame being received, or -1 while its length is unknown. */
  #need = -1;
  /** Borrowed chunks: the frame being collected (its whole size), and how much of it arrived. */
  #collect: Buffer | undefined;
  #filled = 0;
  /** Chunks the frame being received came in so far. */
  #pieces = 0;
  /** Pieces past a frame's free ones this decoder may still take (refilled over time), and when that was counted. */
  #spare = SPARE_PIECES_BURST;
  #spareAt = performance.now();

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    if (
      !Number.isSafeInteger(maxFrameBytes) ||
      maxFrameBytes < FRAME_HEADER_BYTES ||
      maxFrameBytes > 0xffffffff
    ) {
      throw new PluginError(
        'InvalidArgument',
        `maxFrameBytes must be an integer in [${FRAME_HEADER_BYTES}, 2^32-1]`,
      );
    }
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of an incomplete frame held; 0 at a frame boundary. */
  get bufferedBytes(): number {
    return this.#collect === undefined ? this.#buffered : this.#filled;
  }

  /**
   * Consumes `chunk`, whose bytes are valid only during this call (a reused read buffer), calling `onFrame` for each
   * complete frame in order; each frame's payload is memory of its own, never a view of `chunk`. Returns the number
   * of frames completed.
   * @throws PluginError `IpcError` (`FrameTooLarge`, `MalformedFrame`, `FragmentedFrame`); the decoder is unusable
   * afterwards.
   */
  pushBorrowed(chunk: Buffer, onFrame: (frame: Frame) => void): number {
    // Owned chunks held (a partial frame of the other kind): go on the same way, from a copy.
    if (this.#buffered > 0) return this.push(ownCopy(chunk), onFrame);
    let off = 0;
    let frames = 0;
    const collect = this.#collect;
    if (collect !== undefined) {
      this.#countPiece(this.#filled < FRAME_PREFIX_BYTES ? -1 : collect.length);
      if (this.#filled < FRAME_PREFIX_BYTES) {
        // Only part of the length arrived: the buffer is the prefix's, until the length is known.
        const take = Math.min(FRAME_PREFIX_BYTES - this.#filled, chunk.length);
        chunk.copy(collect, this.#filled, 0, take);
        this.#filled += take;
        off = take;
        if (this.#filled < FRAME_PREFIX_BYTES) return 0;
        this.#collect = undefined;
        this.#filled = 0;
        const prefix = collect;
        const total = FRAME_PREFIX_BYTES + this.#length(prefix, 0);
        // The frame goes on as if its prefix had come with the rest.
        if (total > COLLECT_FRAME_BYTES) {
          this.#need = -1;
          this.push(ownCopy(prefix), onFrame);
          return this.push(ownCopy(chunk.subarray(off)), onFrame);
        }
        this.#collect = Buffer.allocUnsafeSlow(total);
        prefix.copy(this.#collect, 0);
        this.#filled = FRAME_PREFIX_BYTES;
      }
      const frame = this.#collect as Buffer;
      const take = Math.min(frame.length - this.#filled, chunk.length - off);
      chunk.copy(frame, this.#filled, off, off + take);
      this.#filled += take;
      off += take;
      if (this.#filled < frame.length) return 0;
      this.#collect = undefined;
      this.#filled = 0;
      this.#pieces = 0;
      frames++;
      onFrame({
        type: frame[4] as number,
        kind: frame[5] as number,
        id: frame.readUInt32LE(6),
        payload: frame.subarray(FRAME_PAYLOAD_OFFSET),
      });
    }
    while (off < chunk.length) {
      const left = chunk.length - off;
      if (left < FRAME_PREFIX_BYTES) {
        this.#collect = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
        chunk.copy(this.#collect, 0, off);
        this.#filled = left;
        this.#pieces = 1;
        break;
      }
      const total = FRAME_PREFIX_BYTES + this.#length(chunk, off);
      if (left < total) {
        if (total > COLLECT_FRAME_BYTES) return frames + this.push(ownCopy(chunk.subarray(off)), onFrame);
        this.#collect = Buffer.allocUnsafeSlow(total);
        chunk.copy(this.#collect, 0, off);
        this.#filled = left;
        this.#pieces = 1;
        break;
      }
      const payload = Buffer.allocUnsafeSlow(total - FRAME_PAYLOAD_OFFSET);
      chunk.copy(payload, 0, off + FRAME_PAYLOAD_OFFSET, off + total);
      frames++;
      onFrame({
        type: chunk[off + 4] as number,
        kind: chunk[off + 5] as number,
        id: chunk.readUInt32LE(off + 6),
        payload,
      });
      off += total;
    }
    return frames;
  }

  /**
   * Counts one more chunk of the frame being received, of `need` bytes (-1: length not known yet). A frame may come in
   * one piece per KiB of it plus one (a read boundary) for free; every piece beyond that takes one of this decoder's
   * spare pieces ({@link SPARE_PIECES_BURST} at once, {@link SPARE_PIECES_PER_SECOND} a second after that).
   * @throws PluginError `IpcError` `FragmentedFrame` once the spare pieces are spent.
   */
  #countPiece(need: number): void {
    if (++this.#pieces <= freePieces(need)) return;
    const now = performance.now();
    this.#spare = Math.min(
      SPARE_PIECES_BURST,
      this.#spare + ((now - this.#spareAt) * SPARE_PIECES_PER_SECOND) / 1000,
    );
    this.#spareAt = now;
    if (--this.#spare >= 0) return;
    throw ipcError(
      'FragmentedFrame',
      `frames keep arriving in more pieces than their size explains (this one: ${this.#pieces} pieces, ${need < 0 ? 'length unknown' : `${need} bytes`}; ${this.bufferedBytes} bytes so far)`,
    );
  }

  /** The checked length field of the frame at `off` of `buf` (its 4 bytes are there). */
  #length(buf: Buffer, off: number): number {
    const length = buf.readUInt32LE(off);
    if (length > this.maxFrameBytes) {
      throw ipcError(
        'FrameTooLarge',
        `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes} bytes`,
      );
    }
    if (length < FRAME_HEADER_BYTES) {
      throw ipcError(
        'MalformedFrame',
        `frame length ${length} is shorter than the ${FRAME_HEADER_BYTES}-byte header`,
      );
    }
    return length;
  }

  /**
   * Consumes `chunk`, calling `onFrame` for each complete frame in order. Returns the number of frames completed.
   * @throws PluginError `IpcError` (`FrameTooLarge`, `MalformedFrame`, `FragmentedFrame`: frames that keep arriving in
   * more chunks than one per KiB of them plus one — past 256 such extra chunks at once, 64 a second); the decoder is
   * unusable afterwards.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): number {
    // A frame of borrowed chunks is being collected: this one goes into it too.
    if (this.#collect !== undefined) return this.pushBorrowed(chunk, onFrame);
    let buf: Buffer;
    if (this.#buffered === 0) {
      buf = chunk;
    } else if (
      this.#need > 0 &&
      this.#buffered <= FRAME_PAYLOAD_OFFSET &&
      this.#buffered + chunk.length >= this.#need
    ) {
      // Only (part of) the header is held and this chunk completes the frame: its payload stays a view of the chunk,
      // not joined into a copy (a large payload that follows its header as a chunk of its own).
      const held = this.#buffered;
      const header = Buffer.concat([...this.#chunks, chunk.subarray(0, FRAME_PAYLOAD_OFFSET - held)]);
      const end = this.#need - held;
      this.#chunks = [];
      this.#buffered = 0;
      this.#need = -1;
      this.#pieces = 0;
      onFrame({
        type: header[4] as number,
        kind: header[5] as number,
        id: header.readUInt32LE(6),
        payload: chunk.subarray(FRAME_PAYLOAD_OFFSET - held, end),
      });
      return end < chunk.length ? 1 + this.push(chunk.subarray(end), onFrame) : 1;
    } else {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#countPiece(this.#need);
      if (this.#buffered < (this.#need < 0 ? FRAME_PREFIX_BYTES : this.#need)) return 0;
      buf = Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
    }
    let off = 0;
    let frames = 0;
    for (;;) {
      const left = buf.length - off;
      if (left < FRAME_PREFIX_BYTES) {
        this.#need = -1;
        break;
      }
      const total = FRAME_PREFIX_BYTES + this.#length(buf, off);
      if (left < total) {
        this.#need = total;
        break;
      }
      frames++;
      onFrame({
        type: buf[off + 4] as number,
        kind: buf[off + 5] as number,
        id: buf.readUInt32LE(off + 6),
        payload: buf.subarray(off + FRAME_PAYLOAD_OFFSET, off + total),
      });
      off += total;
    }
    if (off < buf.length) {
      this.#chunks = [off === 0 ? buf : buf.subarray(off)];
      this.#buffered = buf.length - off;
      // A new frame's first piece; or the same frame still incomplete (its length just became known, or its first
      // pieces came borrowed): its count goes on.
      this.#pieces = frames > 0 ? 1 : Math.max(this.#pieces, 1);
    } else {
      this.#pieces = 0;
    }
    return frames;
  }
}

/**
 * The chunks a frame of `need` bytes (-1: length not known yet) may arrive in without taking a spare one: one per KiB
 * begun, plus one — a writer sends a frame with one write (a large payload: two), and the kernel hands it over in pages
 * or more, cut once by the end of a read. Only a peer writing a frame a few bytes at a time goes past it, frame after
 * frame: each of its extra pieces costs the reader a wake-up and a read at the peer's pace.
 */
function freePieces(need: number): number {
  return need < 0 ? 2 : Math.ceil(need / 1024) + 1;
}
/** Pieces past {@link freePieces} a decoder accepts at once… */
const SPARE_PIECES_BURST = 256;
/** …and a second after that. */
const SPARE_PIECES_PER_SECOND = 64;
