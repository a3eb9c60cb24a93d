import { fileURLToPath, pathToFileURL } from 'node:url';

/** A `[host path, path inside the sandbox]` pair: a host path the sandbox sees elsewhere (a copy). */
export type MovedPath = readonly [string, string];

/** `arg` with a host path that was moved (copied to another path inside the sandbox) rewritten to where it is. */
export function relocate(arg: string, moved: readonly MovedPath[]): string {
  for (const [host, inside] of moved) {
    if (arg === host) return inside;
    if (arg.startsWith(`${host}/`)) return inside + arg.slice(host.length);
  }
  return arg;
}

/** {@link relocate} for a path or a `file:` URL (`--import file:///…`). */
export function relocateArg(arg: string, moved: readonly MovedPath[]): string {
  if (moved.length === 0) return arg;
  if (!arg.startsWith('file://')) return relocate(arg, moved);
  const p = fileURLToPath(arg);
  const r = relocate(p, moved);
  return r === p ? arg : pathToFileURL(r).href;
}
