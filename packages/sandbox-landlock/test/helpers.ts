import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits, SandboxConfig, SandboxExit } from '@plugward/types';
import type { it } from 'vitest';
import {
  cleanupDirs,
  collectRun,
  compileFixture,
  HAS_C_COMPILER,
  itWithCompiler,
  PRELUDE,
  tempDir as tempDirWithMode,
} from '../../sandbox-common/test/sandbox-run.js';
import {
  defaultLandlockConfig,
  LandlockSandbox,
  type LandlockSandboxedProcess,
  type LandlockSandboxOptions,
} from '../dist/index.js';

export { cleanupDirs, HAS_C_COMPILER, PRELUDE };

/** A world-readable temp directory (the leased uid must read the script), removed by {@link cleanupDirs}. */
export function tempDir(prefix = 'pw-ll-'): string {
  return tempDirWithMode(prefix, 0o755);
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

/** `it` for a test that compiles C: skipped, visibly, without a compiler. */
export const itWithC: ReturnType<typeof it.skipIf> = itWithCompiler('sandbox-landlock');

/** Compiles `test/fixtures/<name>.c` into a shared object (or a program) in a temp dir. */
export function compileC(name: string, shared: boolean): string {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', `${name}.c`);
  const out = path.join(tempDir('pw-ll-c-'), shared ? `${name}.so` : name);
  compileFixture(src, out, [...(shared ? ['-shared', '-fPIC'] : []), '-O1'], ['-lpthread']);
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
  /** Arguments after the script (host paths in them are rewritten to where the sandbox sees them). */
  args?: string[];
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
    args: [file, ...(opts.args ?? [])],
    readOnlyPaths: [dir, ...(opts.readOnlyPaths ?? [])],
    config: defaultLandlockConfig(opts.config),
    limits: opts.limits,
    label: 'll-test',
  });
  const { exit, ipc, stdout, stderr } = await collectRun(proc, { onStart: opts.onStart });
  const line = ipc.split('\n').find((l) => l.trim() !== '');
  let report: Record<string, unknown> = {};
  try {
    report = line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
  } catch {
    report = { unparsable: ipc.slice(0, 200) };
  }
  return { exit, report, stdout, stderr, proc };
}
