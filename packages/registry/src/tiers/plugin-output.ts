import { displayText, type LogLevel } from '@plugward/types';

/** How much of a plugin process's stdout/stderr the host passes on. */
export interface PluginOutputBudget {
  /** Bytes passed on per window and stream; the rest is read and dropped. Default 1 MiB. */
  bytesPerWindow: number;
  /** Length of the window, ms. Default 60 000. */
  windowMs: number;
  /** Longest line passed on, characters after escaping; longer lines are cut. Default 1000. */
  maxLineLength: number;
  /**
   * Lines passed on per window and stream (each is a call of the host's `log`, whatever its length: a megabyte of
   * newlines is a million lines). Default 10 000.
   */
  linesPerWindow?: number;
}

/**
 * The default {@link PluginOutputBudget}: 1 MiB and 10 000 lines per minute per stream, lines of at most 1000
 * characters.
 */
export const DEFAULT_PLUGIN_OUTPUT_BUDGET: Readonly<PluginOutputBudget> = Object.freeze({
  bytesPerWindow: 1024 * 1024,
  windowMs: 60_000,
  maxLineLength: 1000,
  linesPerWindow: 10_000,
});

/**
 * How fast output past the budget is still read (and dropped), bytes per second: enough that a chatty plugin keeps
 * running (50 MiB written at once take 1.6 s; its writes only slow down once the pipe is full), little enough that a
 * flood costs the host next to nothing (a read of 64 KiB, not decoded, 512 times a second) — reading and decoding at
 * the plugin's own rate made the host work harder than the plugin.
 */
const DRAIN_BYTES_PER_SECOND = 32 * 1024 * 1024;

/** What {@link readPluginOutput} reads: a Node readable stream (duck-typed so other backends' streams fit). */
interface OutputStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  /** Stops reading for a while (a Node readable's own; streams without it are read at their rate). */
  pause?(): unknown;
  resume?(): unknown;
}

function isOutputStream(value: unknown): value is OutputStream {
  return typeof value === 'object' && value !== null && typeof (value as { on?: unknown }).on === 'function';
}

/**
 * Reads one output pipe of a plugin process to its end, and hands each line to `log` escaped with `displayText()` (no
 * forged lines, no terminal escapes) and cut to `maxLineLength`. Past `bytesPerWindow` (or `linesPerWindow`) in a
 * window, output is dropped until the window ends, with one `warn` line saying so and `onExceeded` called once per
 * window — and read no faster than 32 MiB/s meanwhile, without decoding it: a plugin writing more only waits on its
 * full pipe, and a flood costs the host almost nothing. Memory held is one line at most. Returns the number of bytes dropped so far.
 */
export function readPluginOutput(
  stream: unknown,
  name: 'stdout' | 'stderr',
  log: (level: LogLevel, message: string) => void,
  budget: PluginOutputBudget = DEFAULT_PLUGIN_OUTPUT_BUDGET,
  onExceeded?: () => void,
): () => number {
  if (!isOutputStream(stream)) return () => 0;
  const level: LogLevel = name === 'stderr' ? 'warn' : 'info';
  const rawLimit = budget.maxLineLength * 4;
  const maxLines = budget.linesPerWindow ?? DEFAULT_PLUGIN_OUTPUT_BUDGET.linesPerWindow ?? 10_000;
  let windowStart = Date.now();
  let used = 0;
  let lines = 0;
  let dropped = 0;
  let suppressed = false;
  let line = '';
  let cut = false;
  const suppress = (why: string): void => {
    suppressed = true;
    line = '';
    cut = false;
    log('warn', `${name}: output suppressed: more than ${why} in ${budget.windowMs} ms`);
    onExceeded?.();
  };
  /** Passes one line on; false once the window's line budget is spent (the rest of the window is dropped). */
  const emit = (text: string, wasCut: boolean): boolean => {
    if (++lines > maxLines) {
      suppress(`${maxLines} lines`);
      return false;
    }
    log(level, `${name}: ${displayText(text, budget.maxLineLength)}${wasCut ? ' [line cut]' : ''}`);
    return true;
  };
  let ended = false;
  /** Past the budget: `size` bytes just read are dropped, and paid for by a pause of the pipe at the drain rate. */
  const drop = (size: number): void => {
    dropped += size;
    if (ended || stream.pause === undefined || stream.resume === undefined) return;
    stream.pause();
    setTimeout(
      () => {
        if (!ended) stream.resume?.();
      },
      Math.ceil((size * 1000) / DRAIN_BYTES_PER_SECOND),
    );
  };
  stream.on('data', (chunk) => {
    const now = Date.now();
    if (now - windowStart >= budget.windowMs) {
      windowStart = now;
      used = 0;
      lines = 0;
      suppressed = false;
    }
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (suppressed) {
      drop(size);
      return;
    }
    used += size;
    if (used > budget.bytesPerWindow) {
      suppress(`${budget.bytesPerWindow} bytes`);
      drop(size);
      return;
    }
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const piece = text.slice(start, nl === -1 ? undefined : nl);
      if (!cut) {
        line += piece;
        if (line.length > rawLimit) {
          if (!emit(line.slice(0, rawLimit), true)) break;
          line = '';
          cut = true;
        }
      }
      if (nl === -1) break;
      if (!cut && !emit(line.replace(/\r$/, ''), false)) break;
      line = '';
      cut = false;
      start = nl + 1;
    }
    if (suppressed) drop(Buffer.byteLength(text.slice(start)));
  });
  stream.on('end', () => {
    ended = true;
    if (line !== '' && !suppressed) emit(line, false);
    line = '';
  });
  stream.on('error', () => {
    ended = true;
  });
  return () => dropped;
}
