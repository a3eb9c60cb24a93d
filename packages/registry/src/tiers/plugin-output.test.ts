import { PassThrough } from 'node:stream';
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

  it('past the budget reads no faster than 32 MiB/s: a flood waits on its own pipe, the host does not read it all', async () => {
    const c = collect({ bytesPerWindow: 1000, windowMs: 60_000, maxLineLength: 20 });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 1024; i++) c.stream.write(chunk); // 64 MiB at once (the same buffer: little memory)
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const elapsed = (Date.now() - started) / 1000;
    // At most the drain rate over the time passed, plus the chunk that crossed the budget and one more.
    expect(c.dropped()).toBeLessThanOrEqual(32 * 1024 * 1024 * elapsed + 2 * chunk.length);
    expect(c.dropped()).toBeGreaterThan(0);
    expect(c.exceeded()).toBe(1);
    c.stream.destroy();
  });

  it('ignores what is not a stream', () => {
    expect(readPluginOutput(null, 'stderr', () => undefined)()).toBe(0);
  });
});
