import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits, SandboxConfig, SandboxExit } from '@plugward/types';
import { it } from 'vitest';
import {
  defaultLandlockConfig,
  LandlockSandbox,
  type LandlockSandboxedProcess,
  type LandlockSandboxOptions,
} from '../dist/index.js';

/** Prepended to every plugin script: `done(obj)` sends one JSON line over fd 3 and closes it. */
export const PRELUDE = `
import net from 'node:net';
import fs from 'node:fs';
const __sock = new net.Socket({ fd: 3, readable: true, writable: true });
const done = async (o) => { await new Promise((r) => __sock.write(JSON.stringify(o) + '\\n', r)); await new Promise((r) => __sock.end(r)); };
const errCode = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
const errAsync = async (fn) => { try { await fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
`;

const dirs: string[] = [];
/** A world-readable temp directory (the leased uid must read the script), removed by {@link cleanupDirs}. */
export function tempDir(prefix = 'pw-ll-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** koffi and its native package, by real path, for scripts that load native code inside the sandbox. */
export function koffiPaths(): { entry: string; paths: string[] } {
  const req = createRequire(import.meta.url);
  const entry = fs.realpathSync(req.resolve('koffi'));
  let pkg = path.dirname(entry);
  while (!fs.existsSync(path.join(pkg, 'package.json'))) pkg = path.dirname(pkg);
  const native = path.join(path.dirname(pkg), '@koromix');
  const paths = [pkg];
  for (const e of fs.existsSync(native) ? fs.readdirSync(native) : [])
    paths.push(fs.realpathSync(path.join(native, e)));
  return { entry, paths };
}

/** True when a C compiler (`cc`) is installed: the native-plugin tests need one. */
export const HAS_C_COMPILER = ((): boolean => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!HAS_C_COMPILER) {
  console.warn(
    '\n*** sandbox-landlock: the native-code tests are SKIPPED: no C compiler (apt-get install gcc) ***\n',
  );
}

/** `it` for a test that compiles C: skipped, visibly (the warning above and vitest's skip count), without a compiler. */
export const itWithC: ReturnType<typeof it.skipIf> = it.skipIf(!HAS_C_COMPILER);

/** Compiles `test/fixtures/<name>.c` into a shared object (or a program) in a temp dir. */
export function compileC(name: string, shared: boolean): string {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', `${name}.c`);
  const out = path.join(tempDir('pw-ll-c-'), shared ? `${name}.so` : name);
  execFileSync('cc', [...(shared ? ['-shared', '-fPIC'] : []), '-O1', '-o', out, src, '-lpthread']);
  fs.chmodSync(out, 0o755);
  return out;
}

export interface RunResult {
  exit: SandboxExit;
  report: Record<string, unknown>;
  stdout: string;
  stderr: string;
  proc: LandlockSandboxedProcess;
}

export interface RunOptions {
  config?: Partial<SandboxConfig>;
  limits?: ResourceLimits;
  readOnlyPaths?: string[];
  sandbox?: LandlockSandboxOptions;
  onStart?: (proc: LandlockSandboxedProcess) => void;
}

/** Runs a JS module (PRELUDE + body) in a fresh LandlockSandbox; returns its fd-3 report, stderr and exit. */
export async function runScript(body: string, opts: RunOptions = {}): Promise<RunResult> {
  const dir = tempDir();
  const file = path.join(dir, 'plugin.mjs');
  fs.writeFileSync(file, PRELUDE + body, { mode: 0o644 });
  const sandbox = new LandlockSandbox({ stdio: 'pipe', ...opts.sandbox });
  const proc = await sandbox.spawn({
    command: process.execPath,
    args: [file],
    readOnlyPaths: [dir, ...(opts.readOnlyPaths ?? [])],
    config: defaultLandlockConfig(opts.config),
    limits: opts.limits,
    label: 'll-test',
  });
  let ipc = '';
  let stderr = '';
  let stdout = '';
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
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const exit = await proc.exit;
  clearTimeout(timer);
  const line = ipc.split('\n').find((l) => l.trim() !== '');
  let report: Record<string, unknown> = {};
  try {
    report = line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
  } catch {
    report = { unparsable: ipc.slice(0, 200) };
  }
  return { exit, report, stdout, stderr, proc };
}
