import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type PluginOutputBudget, readPluginOutput } from './plugin-output.js';

function collect(budget: PluginOutputBudget = { bytesPerWindow: 1000, windowMs: 60_000, maxLineLength: 20 }) {
  const stream = new PassThrough();
  const lines: [string, string][] = [];
  let exceeded = 0;
  const dropped = readPluginOutput(
    stream,
    'stdout',
    (l, m) => lines.push([l, m]),
    budget,
    () => exceeded++,
  );
  return { stream, lines, dropped, exceeded: () => exceeded };
}

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

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

const flush = () => new Promise((r) => setImmediate(r));
/** Ends the stream and waits until everything written was read (past the budget the reader paces itself). */
const drained = (stream: PassThrough) =>
  new Promise((r) => {
    stream.on('end', r);
    stream.end();
  });

describe('readPluginOutput', () => {
  it('splits lines across chunks, escapes them and passes a final partial line on end', async () => {
    const c = collect();
    c.stream.write('one\ntw');
    c.stream.write('o\r\n\u001b[2Jthree\n[registry] forged');
    c.stream.end();
    await flush();
    expect(c.lines.map((l) => l[1])).toEqual([
      'stdout: one',
      'stdout: two',
      'stdout: \\x1b[2Jthree',
      'stdout: [registry] forged',
    ]);
    expect(c.lines.every(([level]) => level === 'info')).toBe(true);
  });

  it('cuts a long line once and skips the rest of it, holding no more than one line', async () => {
    const c = collect({ bytesPerWindow: 10_000, windowMs: 60_000, maxLineLength: 20 });
    c.stream.write('x'.repeat(500));
    c.stream.write(`${'y'.repeat(500)}\nnext\n`);
    await flush();
    expect(c.lines).toHaveLength(2);
    expect(c.lines[0]?.[1]).toMatch(/^stdout: x{20}… \[line cut\]$/);
    expect(c.lines[1]?.[1]).toBe('stdout: next');
  });

  it('drops everything past the budget with one warning per window and counts it', async () => {
    const c = collect({ bytesPerWindow: 100, windowMs: 60_000, maxLineLength: 200 });
    for (let i = 0; i < 50; i++) c.stream.write(`${'z'.repeat(9)}\n`);
    await drained(c.stream);
    const warnings = c.lines.filter(([l]) => l === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toMatch(/output suppressed/);
    expect(c.lines.filter(([l]) => l === 'info')).toHaveLength(10);
    expect(c.exceeded()).toBe(1);
    expect(c.dropped()).toBe(400);
  });

  it('bounds lines too: a megabyte of newlines is not a million log calls', async () => {
    const c = collect({ bytesPerWindow: 2 << 20, windowMs: 60_000, maxLineLength: 20, linesPerWindow: 100 });
    c.stream.write('\n'.repeat(1 << 20));
    c.stream.write('more\n');
    await drained(c.stream);
    expect(c.lines.filter(([l]) => l === 'info')).toHaveLength(100);
    const warnings = c.lines.filter(([l]) => l === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toMatch(/output suppressed: more than 100 lines/);
    expect(c.exceeded()).toBe(1);
    expect(c.dropped()).toBe((1 << 20) - 100 + 5);
  });

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
    const start = performance.now();
    await sleepMs(1000);
    const first = pipe.read();
    const firstSeconds = (performance.now() - start) / 1000;
    const firstPauses = pipe.pauses();
    // Burst: about 32 MiB in the first second (a turn's overdraft of one chunk aside), in ≈ 10 turns.
    expect(first).toBeGreaterThan(8 * MiB);
    expect(first).toBeLessThanOrEqual(32 * MiB * firstSeconds + 3.3 * MiB);
    expect(firstPauses).toBeLessThanOrEqual(10 * firstSeconds + 2);
    // The rest of the burst goes (polled: a loaded machine stretches the turns), then the slow rate: measured over the
    // second after it.
    for (let waited = 0; pipe.read() < 64 * MiB && waited < 15_000; waited += 100) await sleepMs(100);
    expect(pipe.read()).toBeGreaterThanOrEqual(64 * MiB);
    await sleepMs(200);
    const before = pipe.read();
    const t0 = performance.now();
    await sleepMs(1000);
    const slow = pipe.read() - before;
    // 1 MiB/s over the time that passed, plus a turn's share and the chunk that overdrew it.
    expect(slow).toBeLessThanOrEqual((MiB * (performance.now() - t0)) / 1000 + 0.2 * MiB);
    expect(slow).toBeGreaterThan(0);
    // Dropped, not passed on; said once.
    expect(dropped()).toBeGreaterThan(64 * MiB);
    expect(exceeded).toBe(1);
    expect(lines.filter((l) => l.includes('output suppressed'))).toHaveLength(1);
    expect(lines.join('').length).toBeLessThan(2048);
    pipe.stop();
    await sleepMs(150);
  });

  it('a stream destroyed while paused is not resumed', async () => {
    const pipe = floodingPipe();
    readPluginOutput(pipe.stream, 'stderr', () => {}, {
      bytesPerWindow: 1024,
      windowMs: 60_000,
      maxLineLength: 100,
    });
    await sleepMs(50);
    let resumed = 0;
    const resume = pipe.stream.resume.bind(pipe.stream);
    pipe.stream.destroy();
    pipe.stream.resume = () => {
      resumed++;
      return resume();
    };
    await sleepMs(200);
    expect(resumed).toBe(0);
  });

  it('ignores what is not a stream', () => {
    expect(readPluginOutput(null, 'stderr', () => undefined)()).toBe(0);
  });
});
