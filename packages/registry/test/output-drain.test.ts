// Output past a plugin's budget is drained, not followed: the host reads it in 100 ms turns (one pause per turn, not per
// read — pausing after each 64 KiB read cost ≈ 3.5× the CPU per byte), at 32 MiB/s for a window's first 64 MiB (a chatty
// plugin's 50 MiB at init still pass in ≈ 1.6 s) and at 1 MiB/s after that (a plugin flooding for as long as it lives
// costs the host next to nothing, however many there are). Stream-level: a Readable that always has 64 KiB ready
// stands for a plugin writing as fast as it can.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readPluginOutput } from '../src/tiers/plugin-output.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function floodingPipe(): { stream: Readable; pauses: () => number; read: () => number; stop: () => void } {
  let read = 0;
  let pauses = 0;
  let stopped = false;
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (stopped) this.push(null);
      else {
        read += CHUNK.byteLength;
        this.push(CHUNK);
      }
    },
  });
  const pause = stream.pause.bind(stream);
  stream.pause = () => {
    pauses++;
    return pause();
  };
  return { stream, pauses: () => pauses, read: () => read, stop: () => (stopped = true) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('output past the budget is drained at a bounded rate', () => {
  it('32 MiB/s in 100 ms turns for the first 64 MiB of a window, then 1 MiB/s', {
    timeout: 20_000,
  }, async () => {
    const pipe = floodingPipe();
    const lines: string[] = [];
    let exceeded = 0;
    const dropped = readPluginOutput(
      pipe.stream,
      'stdout',
      (_level, message) => lines.push(message),
      { bytesPerWindow: 1024, windowMs: 60_000, maxLineLength: 100 },
      () => exceeded++,
    );
    await sleep(1000);
    const first = pipe.read();
    const firstPauses = pipe.pauses();
    // Burst: about 32 MiB in the first second (a turn's overdraft of one chunk aside), in ≈ 10 turns.
    expect(first).toBeGreaterThan(16 * MiB);
    expect(first).toBeLessThanOrEqual(36 * MiB);
    expect(firstPauses).toBeLessThanOrEqual(12);
    // The rest of the burst goes, then the slow rate: measured over the second after it.
    await sleep(1500);
    expect(pipe.read()).toBeGreaterThanOrEqual(64 * MiB);
    await sleep(200);
    const before = pipe.read();
    await sleep(1000);
    const slow = pipe.read() - before;
    expect(slow).toBeLessThanOrEqual(1.5 * MiB);
    expect(slow).toBeGreaterThan(0);
    // Dropped, not passed on; said once.
    expect(dropped()).toBeGreaterThan(64 * MiB);
    expect(exceeded).toBe(1);
    expect(lines.filter((l) => l.includes('output suppressed'))).toHaveLength(1);
    expect(lines.join('').length).toBeLessThan(2048);
    pipe.stop();
    await sleep(150);
  });

  it('a stream destroyed while paused is not resumed', async () => {
    const pipe = floodingPipe();
    readPluginOutput(pipe.stream, 'stderr', () => {}, {
      bytesPerWindow: 1024,
      windowMs: 60_000,
      maxLineLength: 100,
    });
    await sleep(50);
    let resumed = 0;
    const resume = pipe.stream.resume.bind(pipe.stream);
    pipe.stream.destroy();
    pipe.stream.resume = () => {
      resumed++;
      return resume();
    };
    await sleep(200);
    expect(resumed).toBe(0);
  });
});
