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

  it('decodes frames in as many pieces as an honest writer makes: up to one per KiB of a frame, plus 8', () => {
    // The 70 000-byte frame one KiB at a time (69 pieces), the small ones a byte at a time (≤ 15 bytes: ≤ 8 + 1 pieces).
    const decoder = new FrameDecoder();
    const chunks: Buffer[] = [];
    let off = 0;
    for (const f of frames) {
      const step = f.length > 1024 ? 1024 : Math.ceil(f.length / 9);
      for (let i = 0; i < f.length; i += step)
        chunks.push(all.subarray(off + i, off + Math.min(i + step, f.length)));
      off += f.length;
    }
    const got = collect(decoder, chunks);
    expect(got.length).toBe(4);
    expect(got[3]?.payload.every((b) => b === 7)).toBe(true);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('refuses a frame written a few bytes at a time (FragmentedFrame): a read per byte is the peer making the reader work', () => {
    for (const frame of [frames[0] as Buffer, frames[3] as Buffer]) {
      const decoder = new FrameDecoder();
      let thrown: unknown;
      let pieces = 0;
      try {
        for (let i = 0; i < frame.length; i += 16) {
          pieces++;
          decoder.push(frame.subarray(i, i + 16), () => undefined);
        }
      } catch (e) {
        thrown = e;
      }
      if (frame.length <= 16 * 9) {
        expect(thrown).toBeUndefined(); // "hello" in 2 pieces
        continue;
      }
      expect(ipcFailureReason(thrown)).toBe('FragmentedFrame');
      // Refused as soon as the count is past, not after the whole frame was taken in.
      expect(pieces).toBe(Math.ceil(frame.length / 1024) + 8 + 1);
    }
    // Before its length is known: 8 pieces of 0 bytes' worth, then refused.
    const decoder = new FrameDecoder();
    const prefix = (frames[3] as Buffer).subarray(0, 3);
    decoder.push(prefix.subarray(0, 1), () => undefined);
    expect(() => {
      for (let i = 0; i < 9; i++) decoder.push(Buffer.alloc(0), () => undefined);
    }).toThrow(/pieces/);
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
});
