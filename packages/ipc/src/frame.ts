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

/** One decoded frame. `payload` is a view into the received bytes (no copy). */
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
 * Incremental frame decoder: feed it stream chunks of any size (partial frames, many frames coalesced in one chunk).
 * The declared length is checked against `maxFrameBytes` as soon as its 4 bytes arrive, before anything is allocated
 * for the frame; the partial frame is kept as the received chunks, and joined once, when complete.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Total bytes (prefix included) of the frame being received, or -1 while its length is unknown. */
  #need = -1;
  /** Chunks the frame being received came in so far. */
  #pieces = 0;

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
    return this.#buffered;
  }

  /**
   * Consumes `chunk`, calling `onFrame` for each complete frame in order. Returns the number of frames completed.
   * @throws PluginError `IpcError` (`FrameTooLarge`, `MalformedFrame`, `FragmentedFrame`: a frame in more than one
   * chunk per KiB of it, plus 8); the decoder is unusable afterwards.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): number {
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
      if (++this.#pieces > maxPieces(this.#need)) {
        throw ipcError(
          'FragmentedFrame',
          `frame of ${this.#need < 0 ? 'unknown length' : `${this.#need} bytes`} still incomplete after ${this.#pieces} pieces (${this.#buffered} bytes)`,
        );
      }
      if (this.#buffered < (this.#need < 0 ? FRAME_PREFIX_BYTES : this.#need)) return 0;
      buf = Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
      this.#pieces = 0;
    }
    let off = 0;
    let frames = 0;
    for (;;) {
      const left = buf.length - off;
      if (left < FRAME_PREFIX_BYTES) {
        this.#need = -1;
        break;
      }
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
      const total = FRAME_PREFIX_BYTES + length;
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
      this.#pieces = 1;
    }
    return frames;
  }
}

/**
 * The most chunks a frame of `need` bytes (-1: length not known yet) may arrive in: one per KiB begun, plus 8. A
 * writer sends a frame with one or two writes, and the kernel hands it over in pages or more; only a peer writing a few
 * bytes at a time goes past it.
 */
function maxPieces(need: number): number {
  return need < 0 ? FRAGMENT_SLACK : Math.ceil(need / 1024) + FRAGMENT_SLACK;
}
const FRAGMENT_SLACK = 8;
