import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits, SandboxConfig, SandboxExit } from '@plugward/types';
import { expect, it } from 'vitest';
import {
  defaultSandboxConfig,
  LinuxSandbox,
  type LinuxSandboxedProcess,
  type LinuxSandboxOptions,
} from '../dist/index.js';

/** Prepended to every JS plugin script: `report(obj)` sends one JSON line over fd 3, `done(obj)` sends and closes. */
export const PRELUDE = `
import net from 'node:net';
import fs from 'node:fs';
const __sock = new net.Socket({ fd: 3, readable: true, writable: true });
const report = (o) => new Promise((r) => __sock.write(JSON.stringify(o) + '\\n', r));
const done = async (o) => { await report(o); await new Promise((r) => __sock.end(r)); };
const errCode = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
`;

/** A private directory removed by {@link cleanupDirs}. */
const dirs: string[] = [];
export function tempDir(prefix = 'pw-attack-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
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

const C_COMPILER = ['/usr/bin/cc', '/usr/bin/gcc'].find((c) => fs.existsSync(c));

/** True when a C compiler is installed (the C attacks need one; `apt-get install gcc`). */
export const HAS_C_COMPILER = C_COMPILER !== undefined;
if (!HAS_C_COMPILER) {
  console.warn(
    '\n*** sandbox-linux: the C attack tests are SKIPPED: no C compiler (apt-get install gcc) ***\n',
  );
}

/** `it` for a test that compiles C: skipped, visibly (the warning above and vitest's skip count), without a compiler. */
export const itWithC: ReturnType<typeof it.skipIf> = it.skipIf(!HAS_C_COMPILER);

/** Compiles `test/fixtures/<name>.c` with cc; returns the binary's path. Run only where {@link HAS_C_COMPILER}. */
export function compileC(name: string): string {
  if (C_COMPILER === undefined) throw new Error(`no C compiler to build the fixture ${name}.c`);
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', `${name}.c`);
  const bin = path.join(tempDir('pw-c-'), name);
  try {
    execFileSync(C_COMPILER, ['-O0', '-o', bin, src], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`cc failed for ${name}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return bin;
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
