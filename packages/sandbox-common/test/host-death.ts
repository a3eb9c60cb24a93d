// Shared by both backends' host-death tests: a host started under a subreaper and killed at a chosen moment.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const koffiPath = createRequire(import.meta.url).resolve('koffi');

/** Pids of the processes (zombies left out) running as a uid of `range`: what a test's sandboxes left running. */
export function pidsOfUidRange(range: { first: number; count: number }): number[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const st = fs.readFileSync(`/proc/${n}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(st)?.[1]);
      return !/^State:\s+Z/m.test(st) && uid >= range.first && uid < range.first + range.count
        ? [Number(n)]
        : [];
    } catch {
      return [];
    }
  });
}

/** The command lines of `pid`'s children (empty once it is gone); `live` leaves zombies out. */
export function childCommands(pid: number, live = false): string[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .flatMap((c) => {
        try {
          if (live && /^State:\s+Z/m.test(fs.readFileSync(`/proc/${c}/status`, 'utf8'))) return [];
          return [`${c}: ${fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').replaceAll('\0', ' ')}`];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

/** A host killed below its subreaper: the subreaper lives on (and keeps any orphan as its child) until `end()`. */
export interface KilledHost {
  hostPid: number;
  /**
   * What the host left running: waits up to `waitMs` for the subreaper to have no live child (the host's launcher or
   * sandbox, reparented to it), and returns those still running then. Call it before another host starts: a later
   * host's sweep would kill them.
   */
  orphans(waitMs: number): Promise<string[]>;
  /** Ends the subreaper (an orphan whose parent-death signal was armed while the subreaper was its parent dies then). */
  end(): Promise<void>;
}

/**
 * Runs `node hostScript` below a process that made itself a child subreaper (PR_SET_CHILD_SUBREAPER, as tini,
 * dumb-init or systemd are): a launcher whose host dies is reparented to it, not to pid 1 — a check for "parent is
 * pid 1" misses that. Kills the host with SIGKILL `delayMs` after it printed `armed` (or, with a negative delay, once
 * it printed `done`) and resolves once the host is gone; the subreaper stays until `end()`, so what it took over can
 * be looked for.
 */
export async function killHostUnderSubreaper(
  hostScript: string,
  delayMs: number,
  armed: string | ((hostPid: number) => boolean),
  done: string,
): Promise<KilledHost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-subreaper-'));
  const reaper = path.join(dir, 'subreaper.cjs');
  fs.writeFileSync(
    reaper,
    `const koffi = require(${JSON.stringify(koffiPath)});
const prctl = koffi.load('libc.so.6').func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
if (prctl(36, 1, 0, 0, 0) !== 0) { console.error('PR_SET_CHILD_SUBREAPER failed'); process.exit(2); }
const host = require('node:child_process').spawn(process.execPath, [${JSON.stringify(hostScript)}], { stdio: ['ignore', 'pipe', 'inherit'] });
process.stdout.write('host ' + host.pid + '\\n');
host.stdout.pipe(process.stdout, { end: false });
host.on('exit', () => process.stdout.write('host gone\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();`,
  );
  const child = spawn(process.execPath, [reaper], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let hostPid = 0;
  await new Promise<void>((resolve) => {
    let text = '';
    let killing = false;
    const kill = (): void => {
      if (!killing && hostPid > 0) process.kill(hostPid, 'SIGKILL');
      killing = true;
    };
    let poll: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      hostPid ||= Number(/^host (\d+)$/m.exec(text)?.[1] ?? 0);
      if (delayMs >= 0 && typeof armed === 'function' && hostPid > 0 && poll === undefined) {
        poll = setInterval(() => {
          if (!armed(hostPid)) return;
          clearInterval(poll);
          setTimeout(kill, delayMs);
        }, 1);
      }
      if (delayMs >= 0 && typeof armed === 'string' && text.includes(armed) && !killing)
        setTimeout(kill, delayMs);
      if (text.includes('host gone')) clearInterval(poll);
      if (text.includes(done)) kill();
      if (text.includes('host gone')) resolve();
    });
    void exited.then(() => resolve());
  });
  return {
    hostPid,
    orphans: async (waitMs) => {
      const until = Date.now() + waitMs;
      while (childCommands(child.pid as number, true).length > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return childCommands(child.pid as number, true);
    },
    end: async () => {
      child.stdin.end();
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What a SIGKILLed host left of its sandboxes: the subreaper's live children after up to 5 s (`orphans`), then every
 * process still running as a uid of `range` after up to 5 s more (`left`). Whatever is left is killed and the
 * subreaper ended before this returns, so a failing test leaves nothing behind. Call it before another host starts (its
 * sweeps would hide what was left).
 */
export async function leftAfterHostDeath(
  killed: KilledHost,
  range: { first: number; count: number },
): Promise<{ orphans: string[]; left: number[] }> {
  try {
    const orphans = await killed.orphans(5000);
    for (let i = 0; i < 100 && pidsOfUidRange(range).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { orphans, left: pidsOfUidRange(range) };
  } finally {
    for (const pid of pidsOfUidRange(range)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await killed.end();
  }
}
