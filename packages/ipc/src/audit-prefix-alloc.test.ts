// Attacker (audit, session 7b) — the host's borrowed read path (FrameDecoder.pushBorrowed, a reused read buffer): can a
// peer make the host allocate much more than it sent with length prefixes alone? A frame of at most 1 MiB cut by the
// end of a read is collected in one buffer of its size, allocated when its length arrives: at most one such frame per
// channel, so one prefix costs at most 1 MiB; a larger declared frame is kept as copies of what arrived. Passes on main
// 4ec6488. Asserted on ArrayBuffer bytes (process.memoryUsage().arrayBuffers, synchronous: nothing else allocates
// between the readings), not on time.
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType } from './frame.js';

const MiB = 1024 * 1024;
const DECODERS = 8;

/** The first `sent` bytes of a request frame declaring `total` bytes after its prefix, in a reused 64 KiB buffer. */
function prefixOf(readBuffer: Buffer, total: number, sent: number): Buffer {
  readBuffer.fill(0, 0, sent);
  readBuffer.writeUInt32LE(total, 0);
  readBuffer[4] = FrameType.Request;
  readBuffer[5] = 22;
  readBuffer.writeUInt32LE(1, 6);
  return readBuffer.subarray(0, sent);
}

/** ArrayBuffer bytes the decoders hold after each got a `sent`-byte start of a frame declaring `declared` bytes. */
function heldAfterPrefixes(declared: number, sent: number): { held: number; decoders: FrameDecoder[] } {
  const readBuffer = Buffer.alloc(64 * 1024 + 64);
  const decoders: FrameDecoder[] = [];
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < DECODERS; i++) {
    const d = new FrameDecoder(16 * MiB);
    expect(d.pushBorrowed(prefixOf(readBuffer, declared, sent), () => undefined)).toBe(0);
    expect(d.bufferedBytes).toBe(sent);
    decoders.push(d);
  }
  return { held: process.memoryUsage().arrayBuffers - before, decoders };
}

describe('audit: length prefixes on the borrowed read path', () => {
  it('a 16 MiB length prefix makes the host hold only what the peer sent', () => {
    // Eight channels, 10 bytes each (prefix and header) of a frame declaring 16 MiB.
    const { held, decoders } = heldAfterPrefixes(16 * MiB - 4, 10);
    expect(decoders).toHaveLength(DECODERS);
    // Allocating the declared frame would be 128 MiB; what was sent is 80 bytes (an allocation is at least a page here).
    expect(held).toBeLessThan(DECODERS * 64 * 1024);
  });

  it('a 1 MiB length prefix costs at most its one frame, per channel', () => {
    const { held, decoders } = heldAfterPrefixes(MiB - 4, 10);
    expect(decoders).toHaveLength(DECODERS);
    expect(held).toBeLessThanOrEqual(DECODERS * (MiB + 64 * 1024));
  });
});
