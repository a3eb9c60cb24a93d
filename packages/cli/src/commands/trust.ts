import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  defaultRollbackFloorDir,
  loadTrustList,
  loadTrustListWithFloors,
  PluginSecurity,
  resetTrustListFloor,
  trustEntryFromManifest,
  updateTrustList,
} from '@plugward/security';
import { displayText, PluginError, PluginVersion, type TrustedPluginEntry } from '@plugward/types';
import { type CliIo, type Command, output, parseCommand, required } from '../command.js';
import { minVersionOption, readPublicKey, TRUST_KEY_OPTIONS, trustListKey } from '../keys.js';

const usage = `usage: plugward trust add <artifact> --pub <name.pub|HEX> --list FILE KEY [--note TEXT] [--json]
       plugward trust rm <sha3-512|name@version> --list FILE KEY [--json]
       plugward trust prune --list FILE KEY [--dry-run] [--json]
       plugward trust ls --list FILE KEY [--json]
       plugward trust floor --list FILE KEY [--reset [--forget-versions]] [--json]

KEY is exactly one of --key-file FILE (64 hex digits), --key-hex-env VAR, --passphrase-env VAR (Argon2id) or
--key-hex HEX (visible to other local users in the process list: avoid). Variables are removed from the environment
once read. --min-version N refuses a list older than N.
The list (and its directory, mode 0700) is created on first add; every change raises its list version and is written atomically under a lock, as a
change to the file's current content. add verifies the artifact against its manifest and the --pub key and lists
exactly the manifest it verified. It replaces (with a warning) an entry for the same name@version with other bytes
(a re-sign) and one for the same bytes under another name; it warns when it supersedes an older version of the same
name, which stays listed until "trust prune" drops it. prune removes every entry for which the list has a higher
version of the same name (--dry-run shows them).

Rollback floor: the highest list version seen is kept outside the list's directory ($PLUGWARD_STATE_DIR, else
$XDG_STATE_HOME/plugward, else ~/.local/state/plugward), authenticated with the list key, so an older copy of the list
put back, another list put in its place or a deleted list is refused. "trust floor" shows it; "trust floor --reset"
(needs the key) re-establishes it from the list as it is now — run it only with a list you know is the latest (after
moving a list, or when the floor record was lost); with the list deleted for good, it removes the record.
The same record keeps, per plugin name, the highest version admitted as trusted from the list (an older build is
refused even when the list still holds it); "trust floor" lists them, "--reset --forget-versions" also drops them (a
deliberate downgrade).`;

const options = { pub: { type: 'string' }, note: { type: 'string' }, ...TRUST_KEY_OPTIONS } as const;

function summary(e: TrustedPluginEntry): string {
  return `${displayText(e.name)}@${displayText(e.version)}  ${e.hash.slice(0, 16)}…  key ${displayText(e.keyId)}  added ${displayText(e.addedAt)}${e.note ? `  (${displayText(e.note)})` : ''}`;
}

/** What adding `entry` does to the others: entries it replaces (same name@version, or same bytes) and supersedes. */
export function addEffects(
  entries: readonly TrustedPluginEntry[],
  entry: TrustedPluginEntry,
): { replaced: TrustedPluginEntry[]; superseded: TrustedPluginEntry[]; kept: TrustedPluginEntry[] } {
  const replaced: TrustedPluginEntry[] = [];
  const superseded: TrustedPluginEntry[] = [];
  const kept: TrustedPluginEntry[] = [];
  const v = PluginVersion.parse(entry.version);
  for (const e of entries) {
    if (e.hash === entry.hash || (e.name === entry.name && e.version === entry.version)) {
      if (!(e.hash === entry.hash && e.name === entry.name && e.version === entry.version)) replaced.push(e);
      continue;
    }
    if (e.name === entry.name && PluginVersion.parse(e.version).compare(v) < 0) superseded.push(e);
    kept.push(e);
  }
  return { replaced, superseded, kept };
}

/** Entries for which the list holds a higher version of the same name (entries without a name have none). */
export function staleEntries(entries: readonly TrustedPluginEntry[]): TrustedPluginEntry[] {
  const highest = new Map<string, PluginVersion>();
  for (const e of entries) {
    if (e.name === undefined) continue;
    const v = PluginVersion.parse(e.version);
    const h = highest.get(e.name);
    if (h === undefined || v.compare(h) > 0) highest.set(e.name, v);
  }
  return entries.filter((e) => {
    const h = e.name === undefined ? undefined : highest.get(e.name);
    return h !== undefined && PluginVersion.parse(e.version).compare(h) < 0;
  });
}

async function add(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(usage, argv, options);
  const artifact = resolve(io.cwd, required(positionals[0], '<artifact>', usage));
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const pub = await readPublicKey(required(values.pub, '--pub <name.pub|HEX>', usage), io);
  const key = await trustListKey(values, io);
  // Verify before listing: hash and signature must hold (trust and downgrade are what this command decides). The
  // entry is built from the manifest object that was verified — the file is not read again.
  const verified = await new PluginSecurity({ onlyTrusted: false, allowDowngrade: true }, [
    pub,
  ]).verifyArtifact(artifact);
  const entry = trustEntryFromManifest(
    verified.manifest,
    pub,
    typeof values.note === 'string' ? values.note : undefined,
  );
  if (entry.hash !== verified.hash) {
    throw new PluginError('HashMismatch', 'internal: the entry does not name the verified bytes');
  }
  // "Created on first add" includes the directory; 0700 since it holds the list and its lock.
  await mkdir(dirname(list), { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    throw new PluginError(
      e.code === 'EACCES' ? 'PermissionDenied' : 'IoError',
      `cannot create the directory of ${list}: ${e.code}`,
      { cause: e },
    );
  });
  let effects: ReturnType<typeof addEffects> = { replaced: [], superseded: [], kept: [] };
  const saved = await updateTrustList(
    list,
    key,
    (entries) => {
      effects = addEffects(entries, entry);
      return [...effects.kept, entry];
    },
    { minListVersion: minVersionOption(values['min-version']), floorDir: defaultRollbackFloorDir(io.env) },
  );
  const warnings = [
    ...effects.replaced.map((e) =>
      e.hash === entry.hash
        ? `replaced ${summary(e)} (the same bytes, listed under another name)`
        : `replaced ${summary(e)} (the same name and version, other bytes: a re-sign?)`,
    ),
    ...effects.superseded.map(
      (e) => `supersedes ${summary(e)} (still listed: drop it with plugward trust prune)`,
    ),
  ];
  for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
  output(
    io,
    values.json,
    { listVersion: saved.listVersion, entry, replaced: effects.replaced, superseded: effects.superseded },
    `trusted ${summary(entry)}\nlist version ${saved.listVersion}`,
  );
  return 0;
}

async function rm(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(usage, argv, options);
  const given = required(positionals[0], '<sha3-512|name@version>', usage);
  // A hash is matched in any case; a name@version as written (versions such as 1.0.0-RC1 are case-sensitive).
  const target = /^[0-9a-f]{128}$/i.test(given) ? given.toLowerCase() : given;
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const key = await trustListKey(values, io);
  const at = target.lastIndexOf('@');
  const matches = (e: TrustedPluginEntry) =>
    e.hash === target || (at > 0 && e.name === target.slice(0, at) && e.version === target.slice(at + 1));
  let removed: TrustedPluginEntry[] = [];
  const saved = await updateTrustList(
    list,
    key,
    (entries) => {
      removed = entries.filter(matches);
      if (removed.length === 0) {
        throw new PluginError('NotFound', `no entry matches ${target}; see plugward trust ls`);
      }
      return entries.filter((e) => !matches(e));
    },
    {
      create: false,
      minListVersion: minVersionOption(values['min-version']),
      floorDir: defaultRollbackFloorDir(io.env),
    },
  );
  output(
    io,
    values.json,
    { listVersion: saved.listVersion, removed },
    `${removed.map((e) => `removed ${summary(e)}`).join('\n')}\nlist version ${saved.listVersion}`,
  );
  return 0;
}

async function prune(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(usage, argv, { ...options, 'dry-run': { type: 'boolean' } }, false);
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const key = await trustListKey(values, io);
  const minListVersion = minVersionOption(values['min-version']);
  let removed: TrustedPluginEntry[] = [];
  let listVersion: number;
  const current = await loadTrustList(list, key, {
    minListVersion,
    floorDir: defaultRollbackFloorDir(io.env),
  });
  // Nothing stale: no write, so the list version only moves when the list changes.
  if (values['dry-run'] === true || staleEntries(current.entries).length === 0) {
    removed = staleEntries(current.entries);
    listVersion = current.listVersion;
  } else {
    const saved = await updateTrustList(
      list,
      key,
      (entries) => {
        removed = staleEntries(entries);
        return entries.filter((e) => !removed.includes(e));
      },
      { create: false, minListVersion, floorDir: defaultRollbackFloorDir(io.env) },
    );
    listVersion = saved.listVersion;
  }
  const verb = values['dry-run'] === true ? 'would remove' : 'removed';
  output(
    io,
    values.json,
    { listVersion, removed, dryRun: values['dry-run'] === true },
    removed.length === 0
      ? `nothing to prune (list version ${listVersion})`
      : `${removed.map((e) => `${verb} ${summary(e)}`).join('\n')}\nlist version ${listVersion}`,
  );
  return 0;
}

async function ls(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(usage, argv, options);
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const data = await loadTrustList(list, await trustListKey(values, io), {
    minListVersion: minVersionOption(values['min-version']),
    floorDir: defaultRollbackFloorDir(io.env),
  });
  output(
    io,
    values.json,
    { ...data },
    `list version ${data.listVersion}, ${data.entries.length} entr${data.entries.length === 1 ? 'y' : 'ies'}${data.entries.map((e) => `\n  ${summary(e)}`).join('')}`,
  );
  return 0;
}

async function floor(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(
    usage,
    argv,
    { ...options, reset: { type: 'boolean' }, 'forget-versions': { type: 'boolean' } },
    false,
  );
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const forgetVersions = values['forget-versions'] === true;
  if (forgetVersions && values.reset !== true) {
    throw new PluginError('InvalidArgument', '--forget-versions goes with --reset', {
      details: { hint: 'plugward trust floor --reset --forget-versions --list FILE KEY' },
    });
  }
  const key = await trustListKey(values, io);
  const floorDir = defaultRollbackFloorDir(io.env);
  if (values.reset === true) {
    const set = await resetTrustListFloor(list, key, {
      floorDir,
      minListVersion: minVersionOption(values['min-version']),
      forgetVersions,
    });
    output(
      io,
      values.json,
      { list, floorDir, floor: set ?? null, removed: set === undefined, forgotVersions: forgetVersions },
      set === undefined
        ? `${list} does not exist: removed its rollback floor record (a new list can be started with trust add)`
        : `rollback floor of ${list} set to its current version ${set} (record in ${floorDir})${forgetVersions ? '; per-plugin version floors dropped' : ''}`,
    );
    return 0;
  }
  const { data, versions } = await loadTrustListWithFloors(list, key, { floorDir });
  const names = Object.keys(versions).sort();
  output(
    io,
    values.json,
    {
      list,
      floorDir,
      listVersion: data.listVersion,
      listId: data.listId ?? null,
      versions: Object.fromEntries(names.map((n) => [n, versions[n]])),
    },
    `${list}: version ${data.listVersion}, at or above its rollback floor (record in ${floorDir})${
      names.length === 0
        ? '\nno plugin admitted as trusted from it yet'
        : `\nhighest versions admitted as trusted (older ones are refused):${names
            .map((n) => `\n  ${displayText(n)}@${displayText(versions[n] ?? '')}`)
            .join('')}`
    }`,
  );
  return 0;
}

/** `plugward trust add|rm|ls|floor`. */
export const trust: Command = {
  name: 'trust',
  summary: 'add, remove, prune or list entries of an encrypted trust list',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'add':
        return add(rest, io);
      case 'rm':
        return rm(rest, io);
      case 'ls':
        return ls(rest, io);
      case 'prune':
        return prune(rest, io);
      case 'floor':
        return floor(rest, io);
      default:
        throw new PluginError(
          'InvalidArgument',
          `unknown trust subcommand ${JSON.stringify(sub ?? '')}\n\n${usage}`,
        );
    }
  },
};
