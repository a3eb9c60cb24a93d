import { isPluginError } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { ipcFailureReason } from './errors.js';
import { encodeFrame, type Frame, FrameDecoder, FrameType } from './frame.js';

function collect(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) decoder.push(c, (f) => out.push({ ...f, payload: Buffer.from(f.payload) }));
  return out;
}

describe('FrameDecoder', () => {
  const frames = [
    encodeFrame(FrameType.Request, 3, 1, Buffer.from('hello')),
    encodeFrame(FrameType.Response, 4, 0xffffffff, Buffer.alloc(0)),
    encodeFrame(FrameType.Cancel, 0, 7),
    encodeFrame(FrameType.Request, 1, 42, Buffer.alloc(70_000, 7)),
  ];
  const all = Buffer.concat(frames);

  it('decodes coalesced frames from one chunk', () => {
    const got = collect(new FrameDecoder(), [all]);
    expect(got.map((f) => [f.type, f.kind, f.id, f.payload.length])).toEqual([
      [1, 3, 1, 5],
      [2, 4, 0xffffffff, 0],
      [3, 0, 7, 0],
      [1, 1, 42, 70_000],
    ]);
    expect(got[0]?.payload.toString()).toBe('hello');
  });

  it('decodes the same frames split at every byte boundary', () => {
    const small = Buffer.concat(frames.slice(0, 3));
    for (let cut = 1; cut < small.length; cut++) {
      const got = collect(new FrameDecoder(), [small.subarray(0, cut), small.subarray(cut)]);
      expect(got.length).toBe(3);
      expect(got[0]?.payload.toString()).toBe('hello');
    }
  });

  it('decodes frames in as many pieces as an honest writer makes: one per KiB of a frame, plus a read boundary', () => {
    // 2000 rounds of the four frames, each cut as a reader may get it: the 70 000-byte frame one KiB at a time (69
    // pieces), the small ones at one read boundary (2 pieces) — none of it takes a spare piece.
    const decoder = new FrameDecoder();
    let got = 0;
    for (let round = 0; round < 2000; round++) {
      for (const f of frames) {
        const step = f.length > 1024 ? 1024 : Math.ceil(f.length / 2);
        for (let i = 0; i < f.length; i += step) decoder.push(f.subarray(i, i + step), () => got++);
      }
    }
    expect(got).toBe(8000);
    expect(decoder.bufferedBytes).toBe(0);
    // A few frames in more pieces than that are spare ones (a writer splitting the odd frame): still decoded.
    const odd = new FrameDecoder();
    const out = collect(
      odd,
      frames.flatMap((f) => Array.from({ length: f.length }, (_, i) => f.subarray(i, i + 1))).slice(0, 60),
    );
    expect(out.length).toBe(3);
  });

  it('refuses frames that keep coming a few bytes at a time (FragmentedFrame): a read per byte is the peer making the reader work', () => {
    // One large frame in 16-byte pieces: its 70 + 256 spare pieces, then refused, long before its 4376 pieces.
    const big = frames[3] as Buffer;
    const decoder = new FrameDecoder();
    let pieces = 0;
    let thrown: unknown;
    try {
      for (let i = 0; i < big.length; i += 16) {
        pieces++;
        decoder.push(big.subarray(i, i + 16), () => undefined);
      }
    } catch (e) {
      thrown = e;
    }
    expect(ipcFailureReason(thrown)).toBe('FragmentedFrame');
    expect(pieces).toBe(Math.ceil(big.length / 1024) + 1 + 256 + 1);
    // Small frames in 9 pieces each (the allowance of the first version of this check, per frame), frame after frame:
    // the spare pieces run out (≈ 6 extra a frame: after ≈ 42 frames), where the same frames whole or at one read
    // boundary never would.
    const small = frames[0] as Buffer;
    const dribbled = new FrameDecoder();
    let frameCount = 0;
    let refused: unknown;
    try {
      for (; frameCount < 1000; frameCount++) {
        for (let i = 0; i < small.length; i++) {
          if (i < 8) dribbled.push(small.subarray(i, i + 1), () => undefined);
          else {
            dribbled.push(small.subarray(i), () => undefined);
            break;
          }
        }
      }
    } catch (e) {
      refused = e;
    }
    expect(ipcFailureReason(refused)).toBe('FragmentedFrame');
    expect(frameCount).toBeLessThan(60);
  });

  it('a payload that follows its header as a chunk of its own stays a view of that chunk, not a joined copy', () => {
    const payload = Buffer.alloc(70_000, 9);
    const frame = encodeFrame(FrameType.Response, 4, 5, payload);
    const next = encodeFrame(FrameType.Cancel, 0, 8);
    for (const held of [4, 7, 10]) {
      const decoder = new FrameDecoder();
      const got: Frame[] = [];
      decoder.push(frame.subarray(0, held), (f) => got.push(f));
      const rest = Buffer.concat([frame.subarray(held), next]);
      expect(decoder.push(rest, (f) => got.push(f))).toBe(2);
      expect(got.map((f) => [f.type, f.kind, f.id, f.payload.length])).toEqual([
        [2, 4, 5, 70_000],
        [3, 0, 8, 0],
      ]);
      expect(got[0]?.payload.buffer).toBe(rest.buffer);
      expect(got[0]?.payload.every((b) => b === 9)).toBe(true);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('keeps a partial frame buffered', () => {
    const decoder = new FrameDecoder();
    expect(collect(decoder, [all.subarray(0, 12)]).length).toBe(0);
    expect(decoder.bufferedBytes).toBe(12);
  });

  it('refuses a length over the cap from its 4 bytes alone, before the frame arrives', () => {
    const decoder = new FrameDecoder(1024);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(0xffffffff);
    let thrown: unknown;
    try {
      decoder.push(prefix, () => undefined);
    } catch (e) {
      thrown = e;
    }
    expect(isPluginError(thrown, 'IpcError')).toBe(true);
    expect(ipcFailureReason(thrown)).toBe('FrameTooLarge');
    const justOver = Buffer.alloc(4);
    justOver.writeUInt32LE(1025);
    expect(() => new FrameDecoder(1024).push(justOver, () => undefined)).toThrow(/exceeds the limit/);
    const atCap = encodeFrame(1, 1, 1, Buffer.alloc(1024 - 6));
    expect(collect(new FrameDecoder(1024), [atCap]).length).toBe(1);
  });

  it('refuses a length shorter than the header', () => {
    const bad = Buffer.from([5, 0, 0, 0, 1, 1, 0, 0, 0]);
    try {
      new FrameDecoder().push(bad, () => undefined);
      expect.unreachable();
    } catch (e) {
      expect(ipcFailureReason(e)).toBe('MalformedFrame');
    }
  });

  it('rejects a bad maxFrameBytes', () => {
    expect(() => new FrameDecoder(3)).toThrow(/maxFrameBytes/);
  });

  describe('borrowed chunks (a reused read buffer)', () => {
    /** Feeds `chunks` through one reused buffer, scribbled over after every push: a frame that kept a view shows it. */
    function viaReusedBuffer(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
      const reused = Buffer.alloc(Math.max(...chunks.map((c) => c.length)));
      const out: Frame[] = [];
      for (const c of chunks) {
        c.copy(reused);
        decoder.pushBorrowed(reused.subarray(0, c.length), (f) => out.push(f));
        reused.fill(0xee);
      }
      return out;
    }
    const shape = (got: Frame[]) => got.map((f) => [f.type, f.kind, f.id, f.payload.length]);
    const expected = [
      [1, 3, 1, 5],
      [2, 4, 0xffffffff, 0],
      [3, 0, 7, 0],
      [1, 1, 42, 70_000],
    ];
    const intact = (got: Frame[]) => {
      expect(shape(got)).toEqual(expected);
      expect(got[0]?.payload.toString()).toBe('hello');
      expect(got[3]?.payload.every((b) => b === 7)).toBe(true);
    };

    it('every frame owns its bytes: whole in one chunk, split at every boundary of the small ones, in the most pieces allowed', () => {
      intact(viaReusedBuffer(new FrameDecoder(), [all]));
      const small = Buffer.concat(frames.slice(0, 3));
      for (let cut = 1; cut < small.length; cut++) {
        const decoder = new FrameDecoder();
        intact(viaReusedBuffer(decoder, [small.subarray(0, cut), small.subarray(cut), frames[3] as Buffer]));
        expect(decoder.bufferedBytes).toBe(0);
      }
      // Each frame in as many pieces as it may come in: the large one a KiB at a time, the small ones in 9.
      const decoder = new FrameDecoder();
      const pieces: Buffer[] = [];
      let off = 0;
      for (const f of frames) {
        const step = f.length > 1024 ? 1024 : Math.ceil(f.length / 9);
        for (let i = 0; i < f.length; i += step)
          pieces.push(all.subarray(off + i, off + Math.min(i + step, f.length)));
        off += f.length;
      }
      intact(viaReusedBuffer(decoder, pieces));
      expect(decoder.bufferedBytes).toBe(0);
      // …and one piece more than that is a peer dribbling its frame (FragmentedFrame), borrowed chunks as owned ones.
      const dribbled = new FrameDecoder();
      const big = frames[3] as Buffer;
      const step = 64;
      let thrown: unknown;
      try {
        for (let i = 0; i < big.length; i += step) viaReusedBuffer(dribbled, [big.subarray(i, i + step)]);
      } catch (e) {
        thrown = e;
      }
      expect(ipcFailureReason(thrown)).toBe('FragmentedFrame');
    });

    it('a frame inside the chunk is copied once, to its payload alone; one cut by the chunk end is collected in one buffer', () => {
      const got: Frame[] = [];
      const decoder = new FrameDecoder();
      decoder.pushBorrowed(all, (f) => got.push(f));
      for (const f of got) {
        expect(f.payload.buffer).not.toBe(all.buffer);
        // Never a slice of Node's shared 8 KiB pool (small copies land there by default): the payload's memory holds
        // nothing but the payload.
        expect(f.payload.buffer.byteLength).toBe(f.payload.length);
      }
      // A small frame cut by the chunk end, collected: its buffer is the frame alone.
      const cut: Frame[] = [];
      const collector = new FrameDecoder();
      const first = frames[0] as Buffer;
      collector.pushBorrowed(first.subarray(0, 9), (f) => cut.push(f));
      collector.pushBorrowed(first.subarray(9), (f) => cut.push(f));
      expect(cut[0]?.payload.toString()).toBe('hello');
      expect(cut[0]?.payload.buffer.byteLength).toBe(first.length);
      // 70,000 bytes: memory of its own, exactly its payload.
      expect(got[3]?.payload.byteOffset).toBe(0);
      expect(got[3]?.payload.buffer.byteLength).toBe(70_000);
      const big = frames[3] as Buffer;
      const parts: Frame[] = [];
      const split = new FrameDecoder();
      split.pushBorrowed(big.subarray(0, 30_000), (f) => parts.push(f));
      expect(split.bufferedBytes).toBe(30_000);
      split.pushBorrowed(big.subarray(30_000), (f) => parts.push(f));
      expect(parts).toHaveLength(1);
      expect(parts[0]?.payload.buffer.byteLength).toBe(big.length);
      expect(parts[0]?.payload.every((b) => b === 7)).toBe(true);
    });

    it('owned and borrowed chunks mix: a frame begun by one kind is finished by the other', () => {
      for (const cut of [2, 4, 8, 12, 40_000]) {
        const big = frames[3] as Buffer;
        for (const firstBorrowed of [true, false]) {
          const decoder = new FrameDecoder();
          const got: Frame[] = [];
          const first = big.subarray(0, cut);
          const rest = Buffer.concat([big.subarray(cut), frames[0] as Buffer]);
          if (firstBorrowed) {
            decoder.pushBorrowed(first, (f) => got.push(f));
            decoder.push(rest, (f) => got.push(f));
          } else {
            decoder.push(Buffer.from(first), (f) => got.push(f));
            decoder.pushBorrowed(rest, (f) => got.push(f));
          }
          expect(shape(got)).toEqual([expected[3], expected[0]]);
          expect(decoder.bufferedBytes).toBe(0);
        }
      }
    });

    it('a length over the cap is refused from its 4 bytes, even when they come one at a time', () => {
      const decoder = new FrameDecoder(1024);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(1025);
      decoder.pushBorrowed(prefix.subarray(0, 1), () => undefined);
      decoder.pushBorrowed(prefix.subarray(1, 3), () => undefined);
      expect(() => decoder.pushBorrowed(prefix.subarray(3), () => undefined)).toThrow(/exceeds the limit/);
      const short = Buffer.from([5, 0, 0, 0, 1, 1, 0, 0, 0]);
      expect(() => new FrameDecoder().pushBorrowed(short, () => undefined)).toThrow(/shorter than/);
    });

    it('a frame over 1 MiB is not allocated whole on its length alone: only what arrived is held', () => {
      const decoder = new FrameDecoder();
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(8 * 1024 * 1024);
      decoder.pushBorrowed(prefix, () => undefined);
      expect(decoder.bufferedBytes).toBe(4);
      const frame = encodeFrame(1, 1, 3, Buffer.alloc(2 * 1024 * 1024, 5));
      const got: Frame[] = [];
      const d2 = new FrameDecoder();
      for (let at = 0; at < frame.length; at += 65_536) {
        d2.pushBorrowed(frame.subarray(at, at + 65_536), (f) => got.push(f));
      }
      expect(got).toHaveLength(1);
      expect(got[0]?.payload.every((b) => b === 5)).toBe(true);
    });
  });
});
