import fs from 'node:fs';

/**
 * The environment variable that carries, into a sandbox whose binds bwrap resolves by name (non-root hosts), the
 * identity of each bind source the host opened and checked: JSON `[target, dev, ino][]` (decimal strings).
 */
export const BIND_IDENTITY_ENV = 'PLUGWARD_BIND_IDENTITIES';

/**
 * Exits (code 125, one line on stderr) unless every bind named in {@link BIND_IDENTITY_ENV} shows, at its target, the
 * object the host opened and checked (same device and inode): bwrap resolved the source again by name, and a writer
 * on the way may have swapped it for a symbolic link since. Part of the strict preload, so it runs before anything of
 * the command; removes the variable. Returns quietly when it is not set.
 */
export function exitIfBindsSwapped(): void {
  const raw = process.env[BIND_IDENTITY_ENV];
  if (raw === undefined) return;
  delete process.env[BIND_IDENTITY_ENV];
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    entries = undefined;
  }
  if (!Array.isArray(entries)) fail('unreadable bind identities');
  for (const e of entries as unknown[]) {
    if (!Array.isArray(e) || e.length !== 3 || !e.every((x) => typeof x === 'string'))
      fail('bad bind identity');
    const [target, dev, ino] = e as [string, string, string];
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(target, { bigint: true });
    } catch {
      fail(`bind ${target} is missing`);
    }
    if (String(st.dev) !== dev || String(st.ino) !== ino) {
      fail(
        `bind ${target} is not the object the host checked (its source was swapped before bwrap bound it)`,
      );
    }
  }
}

function fail(why: string): never {
  process.stderr.write(`plugward-sandbox: ${why}\n`);
  process.exit(125);
}
