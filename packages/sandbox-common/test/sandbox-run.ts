/**
 * Test helpers both sandbox backends' tests share (imported by path from their `test/helpers.ts`): temp directories,
 * the C compiler of the native fixtures, the fd-3 prelude of plugin scripts, and one run of a sandboxed process with
 * its output collected.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import type { SandboxExit, SandboxedProcess } from '@plugward/types';
import { it } from 'vitest';

/**
 * Prepended to plugin scripts: `report(obj)` sends one JSON line over fd 3, `done(obj)` sends and closes it; `errCode`
 * and `errAsync` return 'ok' or the error code of a call.
 */
export const PRELUDE = `
import net from 'node:net';
import fs from 'node:fs';
const __sock = new net.Socket({ fd: 3, readable: true, writable: true });
const report = (o) => new Promise((r) => __sock.write(JSON.stringify(o) + '\\n', r));
const done = async (o) => { await report(o); await new Promise((r) => __sock.end(r)); };
const errCode = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
const errAsync = async (fn) => { try { await fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
`;

const dirs: string[] = [];

/** A temp directory (`mode` applied when given), removed by {@link cleanupDirs}. */
export function tempDir(prefix: string, mode?: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (mode !== undefined) fs.chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}

/** Removes every directory {@link tempDir} made. */
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** The C compiler of the native fixtures, when one is installed. */
export const C_COMPILER = ['/usr/bin/cc', '/usr/bin/gcc'].find((c) => fs.existsSync(c));

/** True when a C compiler is installed (`apt-get install gcc`). */
export const HAS_C_COMPILER = C_COMPILER !== undefined;

/** `it` for a test that compiles C: skipped, visibly (a warning naming `pkg` and vitest's skip count), without a compiler. */
export function itWithCompiler(pkg: string): ReturnType<typeof it.skipIf> {
  if (!HAS_C_COMPILER) {
    console.warn(
      `\n*** ${pkg}: the native-code tests are SKIPPED: no C compiler (apt-get install gcc) ***\n`,
    );
  }
  return it.skipIf(!HAS_C_COMPILER);
}

/** Compiles the C file `src` to `out` with `flags` (and `libs` after it); throws with the compiler's output. */
export function compileFixture(
  src: string,
  out: string,
  flags: readonly string[],
  libs: readonly string[] = [],
): string {
  if (C_COMPILER === undefined) throw new Error(`no C compiler to build the fixture ${src}`);
  try {
    execFileSync(C_COMPILER, [...flags, '-o', out, src, ...libs], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cc failed for ${src}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return out;
}

/** `setpriv` options that run a program as uid/gid 65534 (nobody) without supplementary groups: a non-root host. */
export const AS_NOBODY: readonly string[] = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];

/** A sandboxed process as the backends return it (its output piped). */
export type PipedProcess = SandboxedProcess<Duplex> & {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
};

/** What {@link collectRun} gathered. */
export interface CollectedRun<P> {
  exit: SandboxExit;
  /** Everything the process wrote on fd 3. */
  ipc: string;
  stdout: string;
  stderr: string;
  proc: P;
}

/**
 * Collects fd 3, stdout and stderr of `proc` until it exits; `onStart` runs once the listeners are on, and the
 * process is killed after `killAfterMs` (a safety net: tests assert on what happened before).
 */
export async function collectRun<P extends PipedProcess>(
  proc: P,
  opts: { onStart?: (proc: P) => void; killAfterMs?: number } = {},
): Promise<CollectedRun<P>> {
  let ipc = '';
  let stdout = '';
  let stderr = '';
  proc.ipc.on('data', (d: Buffer) => {
    ipc += d.toString();
  });
  proc.ipc.on('error', () => undefined);
  proc.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  opts.onStart?.(proc);
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.killAfterMs ?? 20_000);
  const exit = await proc.exit;
  clearTimeout(timer);
  return { exit, ipc, stdout, stderr, proc };
}
