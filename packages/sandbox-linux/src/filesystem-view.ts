import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PluginError } from '@plugward/types';

/** One filesystem operation of the view, in bwrap order. */
export type ViewOp =
  | { op: 'ro-bind'; source: string; target: string }
  | { op: 'bind'; source: string; target: string }
  | { op: 'symlink'; link: string; target: string };

const libCache = new Map<string, readonly string[]>();

/**
 * The shared libraries (and the dynamic loader) a binary needs, from `ldd`. Cached per binary. A static binary has
 * none; a missing `ldd` is an error, since guessing would either break the binary or widen the view.
 */
export function sharedLibrariesOf(binary: string): readonly string[] {
  const hit = libCache.get(binary);
  if (hit !== undefined) return hit;
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' } });
  } catch (cause) {
    const stdout = (cause as { stdout?: unknown }).stdout;
    if (typeof stdout === 'string' && /not a dynamic executable|statically linked/.test(stdout)) {
      libCache.set(binary, []);
      return [];
    }
    throw new PluginError('SandboxUnavailable', `ldd ${binary} failed; install libc-bin`, { cause });
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/[^\s]+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1] !== undefined) libs.push(m[1]);
    else if (/=>\s*not found/.test(line)) {
      throw new PluginError(
        'SandboxUnavailable',
        `${binary} needs a library that is missing: ${line.trim()}`,
      );
    }
  }
  libCache.set(binary, libs);
  return libs;
}

/**
 * The ops that make `hostPath` visible at the same path inside the sandbox, read-only: symlinked ancestors (merged
 * `/usr`, `/lib64`) become symlinks, and the real file is bound at its real path. `seen` de-duplicates across calls.
 */
export function mirrorReadOnly(hostPath: string, seen: Set<string>, ops: ViewOp[], depth = 0): void {
  if (depth > 32) throw new PluginError('InvalidArgument', `too many symbolic links resolving ${hostPath}`);
  if (!path.isAbsolute(hostPath)) {
    throw new PluginError('InvalidArgument', `sandbox paths must be absolute: ${hostPath}`);
  }
  let current = '/';
  const parts = path.normalize(hostPath).split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const next = path.join(current, parts[i] ?? '');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch (cause) {
      throw new PluginError('SandboxUnavailable', `a path the sandbox needs does not exist: ${hostPath}`, {
        cause,
      });
    }
    if (st.isSymbolicLink()) {
      const link = fs.readlinkSync(next);
      if (!seen.has(`symlink:${next}`)) {
        seen.add(`symlink:${next}`);
        ops.push({ op: 'symlink', link, target: next });
      }
      // Continue from where the link points; a chain of links is followed the same way.
      const resolved = path.resolve(path.dirname(next), link, ...parts.slice(i + 1));
      mirrorReadOnly(resolved, seen, ops, depth + 1);
      return;
    }
    current = next;
  }
  if (!seen.has(`bind:${current}`)) {
    seen.add(`bind:${current}`);
    ops.push({ op: 'ro-bind', source: current, target: current });
  }
}
