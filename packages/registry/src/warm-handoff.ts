// The one message a warm sandbox gets before it is a plugin process: which copy in its read-only warm folder to load.
// Host side: the warm pool (warm-pool.ts); plugin side: the runtime (runtime.ts), before its IPC channel exists.
import type { Duplex } from 'node:stream';
import { PluginError } from '@plugward/types';

/** Runtime argument of a warm start: `runtime.cjs --plugward-warm <warm folder> [trace flag]`. */
export const WARM_ARG = '--plugward-warm';

/** Longest hand-off line, bytes (two file names and a little JSON). */
export const MAX_HANDOFF_BYTES = 4096;

const PREFIX = 'plugward-load ';

/**
 * What a warm runtime writes on its socket once it is booted (lockdown applied, runtime evaluated) and waits for its
 * hand-off: the pool counts a sandbox as warm only from then on.
 */
export const WARM_READY = Buffer.from('plugward-warm-ready\n');

/** What the host hands a warm runtime: a folder inside its warm folder, and the artifact file in it. */
export interface Handoff {
  dir: string;
  file: string;
}

/** A single path component: no separators, not `.`/`..`, no NUL, bounded. */
function isName(s: unknown): s is string {
  return (
    typeof s === 'string' && s.length > 0 && s.length <= 255 && !/[/\0]/.test(s) && s !== '.' && s !== '..'
  );
}

/** The hand-off line the host writes on the warm sandbox's IPC socket, before the first frame. */
export function encodeHandoff(h: Handoff): Buffer {
  if (!isName(h.dir) || !isName(h.file)) {
    throw new PluginError('InvalidArgument', 'a warm hand-off names a folder and a file, not paths');
  }
  const line = Buffer.from(`${PREFIX}${JSON.stringify({ dir: h.dir, file: h.file })}\n`);
  if (line.length > MAX_HANDOFF_BYTES) throw new PluginError('InvalidArgument', 'warm hand-off too long');
  return line;
}

/**
 * Reads the hand-off line from `socket` and puts back whatever came after it (the host's first frame may share the
 * read), so an `IpcChannel` made on the socket next sees the stream from its first frame. The socket is left paused:
 * the caller resumes it once that channel listens. Rejects when the socket ends first (the host went away, or closed
 * the pool) or the line is malformed.
 */
export function readHandoff(socket: Duplex): Promise<Handoff> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (error: Error | undefined, h?: Handoff, rest?: Buffer): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      if (error) reject(error);
      else resolve(h as Handoff);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_HANDOFF_BYTES) done(new PluginError('IpcError', 'warm hand-off line too long'));
        return;
      }
      const line = buf.subarray(0, nl).toString('utf8');
      let h: unknown;
      try {
        h = line.startsWith(PREFIX) ? JSON.parse(line.slice(PREFIX.length)) : undefined;
      } catch {
        h = undefined;
      }
      const parsed = h as Partial<Handoff> | undefined;
      if (!parsed || !isName(parsed.dir) || !isName(parsed.file)) {
        done(new PluginError('IpcError', 'malformed warm hand-off'));
        return;
      }
      done(undefined, { dir: parsed.dir, file: parsed.file }, buf.subarray(nl + 1));
    };
    const onEnd = (): void => done(new PluginError('IpcError', 'the host closed the warm sandbox'));
    const onError = (e: Error): void => done(e);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/**
 * Resolves once `socket` delivered exactly {@link WARM_READY}; rejects when it ends first, sends anything else, or
 * `timeoutMs` passes. The socket stays flowing with no listener: the runtime sends nothing more before its hand-off.
 */
export function awaitWarmReady(socket: Duplex, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < WARM_READY.length) {
        if (!WARM_READY.subarray(0, buf.length).equals(buf))
          done(new PluginError('IpcError', 'not a warm runtime'));
        return;
      }
      done(
        buf.equals(WARM_READY)
          ? undefined
          : new PluginError('IpcError', 'a warm runtime said more than ready'),
      );
    };
    const onEnd = (): void => done(new PluginError('IpcError', 'the warm runtime ended before it was ready'));
    const onError = (e: Error): void => done(e);
    const timer = setTimeout(
      () => done(new PluginError('Timeout', `the warm runtime was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}
