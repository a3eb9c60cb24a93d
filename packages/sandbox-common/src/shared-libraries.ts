import { execFileSync } from 'node:child_process';
import { PluginError } from '@plugward/types';

const libCache = new Map<string, readonly string[]>();

/**
 * The shared libraries (and the dynamic loader) a binary needs, from `ldd`, as `ldd` names them. Cached per binary.
 * A static binary has none; a missing `ldd` or a library `ldd` can't find is `SandboxUnavailable`, since guessing would
 * either break the binary or widen the sandbox's view.
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
