import fs from 'node:fs';
import path from 'node:path';

/**
 * Processes (other than this one) whose command line contains `token`, or that are in a cgroup whose path contains it
 * (a warm sandbox's command line names no plugin and, inside bubblewrap, no host path: its cgroup names its host), as
 * `pid: command` strings.
 */
export function processesMatching(token: string): string[] {
  const found: string[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (!cmd.includes(token) && !fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(token)) continue;
      // A zombie has exited; only its parent's wait is missing, it holds nothing.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^\d+ \(.*\) [ZX]/.test(stat)) continue;
      found.push(`${pid}: ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Cgroup directories (v1 `/sys/fs/cgroup/<controller>/<parent>/*`, v2 `/sys/fs/cgroup/<parent>/*`) naming `token`. */
export function cgroupsMatching(token: string, parent = 'plugward'): string[] {
  const root = '/sys/fs/cgroup';
  const bases: string[] = [path.join(root, parent)];
  try {
    for (const c of fs.readdirSync(root)) bases.push(path.join(root, c, parent));
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const base of bases) {
    try {
      for (const d of fs.readdirSync(base)) if (d.includes(token)) found.push(path.join(base, d));
    } catch {
      // no such controller/parent
    }
  }
  return found;
}

/** Polls until neither a process nor a cgroup names one of `tokens` (or `timeoutMs` passed); returns what is left. */
export async function waitForNoLeftovers(
  tokens: string | readonly string[],
  timeoutMs = 3000,
): Promise<{ processes: string[]; cgroups: string[] }> {
  const list = typeof tokens === 'string' ? [tokens] : tokens;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const processes = [...new Set(list.flatMap(processesMatching))];
    const cgroups = [...new Set(list.flatMap((t) => cgroupsMatching(t)))];
    if ((processes.length === 0 && cgroups.length === 0) || Date.now() > deadline)
      return { processes, cgroups };
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Directories `/tmp/plugward-*` (the registry's private copies) holding a file whose name contains `token`. */
export function privateCopiesMatching(token: string, tmp: string): string[] {
  const found: string[] = [];
  let dirs: string[];
  try {
    dirs = fs.readdirSync(tmp).filter((d) => d.startsWith('plugward-'));
  } catch {
    return found;
  }
  for (const d of dirs) {
    try {
      if (fs.readdirSync(path.join(tmp, d)).some((f) => f.includes(token))) found.push(path.join(tmp, d));
    } catch {
      // removed meanwhile, or not a directory
    }
  }
  return found;
}
