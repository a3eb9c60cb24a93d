import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  defaultRollbackFloorDir,
  loadTrustList,
  PluginSecurity,
  resetTrustListFloor,
  trustEntryFromManifest,
  updateTrustList,
} from '@plugward/security';
import { PluginError, type TrustedPluginEntry } from '@plugward/types';
import { type CliIo, COMMON_OPTIONS, type Command, output, required, withUsage } from '../command.js';
import { minVersionOption, readPublicKey, TRUST_KEY_OPTIONS, trustListKey } from '../keys.js';

const usage = `usage: plugward trust add <artifact> --pub <name.pub|HEX> --list FILE KEY [--note TEXT] [--json]
       plugward trust rm <sha3-512|name@version> --list FILE KEY [--json]
       plugward trust ls --list FILE KEY [--json]
       plugward trust floor --list FILE KEY [--reset] [--json]

KEY is exactly one of --key-file FILE (64 hex digits), --key-hex-env VAR, --passphrase-env VAR (Argon2id) or
--key-hex HEX (visible to other local users in the process list: avoid). Variables are removed from the environment
once read. --min-version N refuses a list older than N.
The list is created on first add; every change raises its list version and is written atomically under a lock, as a
change to the file's current content. add verifies the artifact against its manifest and the --pub key and lists
exactly the manifest it verified.

Rollback floor: the highest list version seen is kept outside the list's directory ($PLUGWARD_STATE_DIR, else
$XDG_STATE_HOME/plugward, else ~/.local/state/plugward), authenticated with the list key, so an older copy of the list
put back, another list put in its place or a deleted list is refused. "trust floor" shows it; "trust floor --reset"
(needs the key) re-establishes it from the list as it is now — run it only with a list you know is the latest (after
moving a list, or when the floor record was lost); with the list deleted for good, it removes the record.`;

const options = { pub: { type: 'string' }, note: { type: 'string' }, ...TRUST_KEY_OPTIONS } as const;

function summary(e: TrustedPluginEntry): string {
  return `${e.name}@${e.version}  ${e.hash.slice(0, 16)}…  key ${e.keyId}  added ${e.addedAt}${e.note ? `  (${e.note})` : ''}`;
}

async function add(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = withUsage(usage, () =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    }),
  );
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
  const saved = await updateTrustList(
    list,
    key,
    (entries) => [...entries.filter((e) => e.hash !== entry.hash), entry],
    { minListVersion: minVersionOption(values['min-version']) },
  );
  output(
    io,
    values.json,
    { listVersion: saved.listVersion, entry },
    `trusted ${summary(entry)}\nlist version ${saved.listVersion}`,
  );
  return 0;
}

async function rm(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = withUsage(usage, () =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    }),
  );
  const target = required(positionals[0], '<sha3-512|name@version>', usage).toLowerCase();
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
    { create: false, minListVersion: minVersionOption(values['min-version']) },
  );
  output(
    io,
    values.json,
    { listVersion: saved.listVersion, removed },
    `${removed.map((e) => `removed ${summary(e)}`).join('\n')}\nlist version ${saved.listVersion}`,
  );
  return 0;
}

async function ls(argv: string[], io: CliIo): Promise<number> {
  const { values } = withUsage(usage, () =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    }),
  );
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const data = await loadTrustList(list, await trustListKey(values, io), {
    minListVersion: minVersionOption(values['min-version']),
  });
  output(
    io,
    values.json,
    data,
    `list version ${data.listVersion}, ${data.entries.length} entr${data.entries.length === 1 ? 'y' : 'ies'}${data.entries.map((e) => `\n  ${summary(e)}`).join('')}`,
  );
  return 0;
}

async function floor(argv: string[], io: CliIo): Promise<number> {
  const { values } = withUsage(usage, () =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options, reset: { type: 'boolean' } },
      allowPositionals: false,
      strict: true,
    }),
  );
  const list = resolve(io.cwd, required(values.list, '--list FILE', usage));
  const key = await trustListKey(values, io);
  const floorDir = defaultRollbackFloorDir(io.env);
  if (values.reset === true) {
    const set = await resetTrustListFloor(list, key, {
      floorDir,
      minListVersion: minVersionOption(values['min-version']),
    });
    output(
      io,
      values.json,
      { list, floorDir, floor: set ?? null, removed: set === undefined },
      set === undefined
        ? `${list} does not exist: removed its rollback floor record (a new list can be started with trust add)`
        : `rollback floor of ${list} set to its current version ${set} (record in ${floorDir})`,
    );
    return 0;
  }
  const data = await loadTrustList(list, key, { floorDir });
  output(
    io,
    values.json,
    { list, floorDir, listVersion: data.listVersion, listId: data.listId ?? null },
    `${list}: version ${data.listVersion}, at or above its rollback floor (record in ${floorDir})`,
  );
  return 0;
}

/** `plugward trust add|rm|ls|floor`. */
export const trust: Command = {
  name: 'trust',
  summary: 'add, remove or list entries of an encrypted trust list',
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
