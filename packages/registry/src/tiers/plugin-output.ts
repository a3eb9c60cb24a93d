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
 * How fast output past the budget is still read (and dropped), bytes per second, for the first
 * {@link DRAIN_BURST_BYTES} of a window: enough that a chatty plugin keeps running (50 MiB written at once take 1.6 s;
 * its writes only slow down once the pipe is full). Past that burst, a window's output is read at
 * {@link DRAIN_SLOW_BYTES_PER_SECOND}, so a plugin that floods for as long as it lives costs the host next to nothing,
 * however many such plugins there are. It is read in turns of {@link DRAIN_TURN_MS}: up to a turn's share as fast as it
 * comes, then the pipe is paused until the turn ends. (Pausing after every 64 KiB read cost the host ≈ 3.5× more CPU
 * per byte: most of it is waking up, not reading.)
 */
const DRAIN_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** Bytes past the budget drained at {@link DRAIN_BYTES_PER_SECOND} per window; the rest at the slow rate. */
const DRAIN_BURST_BYTES = 64 * 1024 * 1024;
/** The drain rate once a window's burst is spent, bytes per second. */
const DRAIN_SLOW_BYTES_PER_SECOND = 1024 * 1024;
/** One drain turn, ms. */
const DRAIN_TURN_MS = 100;
/**
 * After a read of fewer bytes than this from a pipe, the pipe is held for {@link GATHER_MS}, so what the plugin writes
 * meanwhile arrives in one read: a plugin writing a byte at a time otherwise makes the host wake up and read once per
 * byte (a host read per write, ≈ the plugin's own CPU, for as long as it lives). ≤ 100 small reads a second per stream;
 * a line is passed on at most 10 ms later.
 */
const GATHER_BELOW_BYTES = 16 * 1024;
const GATHER_MS = 10;

/**
 * The libuv handle under a Node socket or pipe stream (internal to Node): `pause()` alone only stops `'data'` events —
 * the handle keeps reading until the stream's `highWaterMark` (16 KiB) is buffered, 16 384 reads of one byte each. A
 * hold stops the handle itself, as `net.Socket#pause()` does only for sockets made with `onread`.
 */
interface ReadingHandle {
  reading?: boolean;
  readStop?(): number;
  readStart?(): number;
}

/** What {@link readPluginOutput} reads: a Node readable stream (duck-typed so other backends' streams fit). */
interface OutputStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  /** Stops reading for a while (a Node readable's own; streams without it are read at their rate). */
  pause?(): unknown;
  resume?(): unknown;
  /** A Node pipe's handle (see {@link ReadingHandle}). */
  _handle?: ReadingHandle | null;
}

function isOutputStream(value: unknown): value is OutputStream {
  return typeof value === 'object' && value !== null && typeof (value as { on?: unknown }).on === 'function';
}

/**
 * Reads one output pipe of a plugin process to its end, and hands each line to `log` escaped with `displayText()` (no
 * forged lines, no terminal escapes) and cut to `maxLineLength`. Past `bytesPerWindow` (or `linesPerWindow`) in a
 * window, output is dropped until the window ends, with one `warn` line saying so and `onExceeded` called once per
 * window — and read no faster than 32 MiB/s meanwhile (1 MiB/s past the window's first 64 MiB), in 100 ms turns,
 * without decoding it: a plugin writing more only waits on its full pipe, and a flood costs the host almost nothing.
 * A pipe is read at most once per 10 ms after a read of less than 16 KiB, so a plugin writing a byte at a time does not
 * cost a host read per byte. Memory held is one line at most. Returns the number of bytes dropped so far.
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
  let turnStart = 0;
  let credit = 0;
  let burst = DRAIN_BURST_BYTES;
  let heldUntil = 0;
  let wakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The pipe's reading handle, when the stream is one (a pipe to a plugin process, not an in-memory stream). */
  const handle = (): ReadingHandle | undefined => {
    const h = stream._handle;
    return h !== null &&
      h !== undefined &&
      typeof h.readStop === 'function' &&
      typeof h.readStart === 'function'
      ? h
      : undefined;
  };
  /** Reads nothing more from the pipe before `until` (ms since the epoch): no `'data'` and no read of the handle. */
  const hold = (until: number): void => {
    if (ended || stream.pause === undefined || stream.resume === undefined) return;
    heldUntil = Math.max(heldUntil, until);
    stream.pause();
    const h = handle();
    if (h?.reading === true) {
      h.reading = false;
      h.readStop?.();
    }
    if (wakeTimer !== undefined) return;
    const wake = (): void => {
      const left = heldUntil - Date.now();
      if (left > 0) {
        wakeTimer = setTimeout(wake, left);
        return;
      }
      wakeTimer = undefined;
      if (ended) return;
      const again = handle();
      if (again?.reading === false) {
        again.reading = true;
        again.readStart?.();
      }
      stream.resume?.();
    };
    wakeTimer = setTimeout(wake, Math.max(1, heldUntil - Date.now()));
  };
  /**
   * Past the budget: `size` bytes just read are dropped. They are paid from the current drain turn's share; once it is
   * spent, the pipe is held until the turn ends (plus the overdraft at the drain rate).
   */
  const drop = (size: number, now: number): void => {
    dropped += size;
    const rate = burst > 0 ? DRAIN_BYTES_PER_SECOND : DRAIN_SLOW_BYTES_PER_SECOND;
    burst -= size;
    if (now - turnStart >= DRAIN_TURN_MS) {
      turnStart = now;
      credit = (rate * DRAIN_TURN_MS) / 1000;
    }
    credit -= size;
    if (credit <= 0) hold(turnStart + DRAIN_TURN_MS + Math.ceil((-credit * 1000) / rate));
  };
  stream.on('data', (chunk) => {
    const now = Date.now();
    if (now - windowStart >= budget.windowMs) {
      windowStart = now;
      used = 0;
      lines = 0;
      suppressed = false;
      burst = DRAIN_BURST_BYTES;
    }
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (size < GATHER_BELOW_BYTES && handle() !== undefined) hold(now + GATHER_MS);
    if (suppressed) {
      drop(size, now);
      return;
    }
    used += size;
    if (used > budget.bytesPerWindow) {
      suppress(`${budget.bytesPerWindow} bytes`);
      drop(size, now);
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
    if (suppressed) drop(Buffer.byteLength(text.slice(start)), now);
  });
  const finish = (): void => {
    ended = true;
    clearTimeout(wakeTimer);
  };
  stream.on('end', () => {
    finish();
    if (line !== '' && !suppressed) emit(line, false);
    line = '';
  });
  stream.on('error', finish);
  stream.on('close', finish);
  return () => dropped;
}
