import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits, SandboxConfig, SandboxExit } from '@plugward/types';
import { expect, type it } from 'vitest';
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
  defaultSandboxConfig,
  LinuxSandbox,
  type LinuxSandboxedProcess,
  type LinuxSandboxOptions,
} from '../dist/index.js';

export { cleanupDirs, HAS_C_COMPILER, PRELUDE };

/** A private directory removed by {@link cleanupDirs}. */
export function tempDir(prefix = 'pw-attack-'): string {
  return tempDirWithMode(prefix);
}

export interface RunResult {
  exit: SandboxExit;
  messages: Record<string, unknown>[];
  stdout: string;
  stderr: string;
  cgroupPaths: Readonly<Record<string, string>>;
  proc: LinuxSandboxedProcess;
}

export interface RunOptions {
  config?: Partial<SandboxConfig>;
  limits?: ResourceLimits;
  readOnlyPaths?: string[];
  sandbox?: LinuxSandboxOptions;
  /** Called once the process runs (e.g. to serve IPC requests or start a watchdog). */
  onStart?: (proc: LinuxSandboxedProcess) => void;
  /** Kill the sandbox after this long (a safety net; tests assert on what happened before). */
  killAfterMs?: number;
}

/** Starts a command in a fresh LinuxSandbox and collects fd-3 JSON lines, stdout and stderr until it exits. */
export async function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const sandbox = new LinuxSandbox({ stdio: 'pipe', ...opts.sandbox });
  const proc = await sandbox.spawn({
    command,
    args,
    readOnlyPaths: opts.readOnlyPaths ?? [],
    config: defaultSandboxConfig(opts.config),
    limits: opts.limits,
    label: 'attack',
  });
  const { exit, ipc, stdout, stderr } = await collectRun(proc, opts);
  const messages = ipc
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { exit, messages, stdout, stderr, cgroupPaths: proc.cgroupPaths, proc };
}

/** Runs a JS plugin script (the PRELUDE is prepended) with the node binary inside a sandbox. */
export async function runScript(source: string, opts: RunOptions = {}): Promise<RunResult> {
  const dir = tempDir();
  const file = path.join(dir, 'plugin.mjs');
  fs.writeFileSync(file, PRELUDE + source);
  return runCommand(process.execPath, [file], {
    ...opts,
    readOnlyPaths: [dir, ...(opts.readOnlyPaths ?? [])],
  });
}

/** The first fd-3 message, failing with the sandbox's stderr when there is none. */
export function firstMessage(r: RunResult): Record<string, unknown> {
  const m = r.messages[0];
  if (m === undefined)
    throw new Error(`no report from the sandbox (exit ${JSON.stringify(r.exit)}): ${r.stderr}`);
  return m;
}

/** `it` for a test that compiles C: skipped, visibly, without a compiler. */
export const itWithC: ReturnType<typeof it.skipIf> = itWithCompiler('sandbox-linux');

/** Compiles `test/fixtures/<name>.c` with cc; returns the binary's path. Run only where {@link HAS_C_COMPILER}. */
export function compileC(name: string): string {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', `${name}.c`);
  return compileFixture(src, path.join(tempDir('pw-c-'), name), ['-O0']);
}

/**
 * Host health after an attack: the host can still fork and exec, write a temp file, its load didn't explode, and the
 * sandbox's cgroup directories are gone (so nothing of the plugin is left running).
 */
export function expectHostHealthy(r?: RunResult): void {
  const t = spawnSync('/bin/true');
  expect(t.status).toBe(0);
  const probe = path.join(tempDir('pw-health-'), 'probe');
  fs.writeFileSync(probe, 'ok');
  expect(fs.readFileSync(probe, 'utf8')).toBe('ok');
  expect(os.freemem()).toBeGreaterThan(16 * 1024 * 1024);
  if (r !== undefined) {
    for (const dir of Object.values(r.cgroupPaths)) expect(fs.existsSync(dir)).toBe(false);
  }
}
