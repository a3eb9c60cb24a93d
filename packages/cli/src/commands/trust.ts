import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  loadTrustList,
  PluginSecurity,
  readManifest,
  trustEntryFromManifest,
  updateTrustList,
} from '@plugward/security';
import { PluginError, type TrustedPluginEntry } from '@plugward/types';
import { type CliIo, COMMON_OPTIONS, type Command, output, required, withUsage } from '../command.js';
import { readPublicKey, TRUST_KEY_OPTIONS, trustListKey } from '../keys.js';

const usage = `usage: plugward trust add <artifact> --pub <name.pub|HEX> --list FILE KEY [--note TEXT] [--json]
       plugward trust rm <sha3-512|name@version> --list FILE KEY [--json]
       plugward trust ls --list FILE KEY [--json]

KEY is exactly one of --key-hex HEX (64 hex digits), --key-hex-env VAR or --passphrase-env VAR (Argon2id).
The list is created on first add; every change raises its list version and is written atomically under a lock.
add verifies the artifact against its manifest and the --pub key before listing its exact hash.`;

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
  const key = trustListKey(values, io);
  // Verify before listing: hash and signature must hold (trust and downgrade are what this command decides).
  await new PluginSecurity({ onlyTrusted: false, allowDowngrade: true }, [pub]).verifyArtifact(artifact);
  const entry = trustEntryFromManifest(
    await readManifest(artifact),
    pub,
    typeof values.note === 'string' ? values.note : undefined,
  );
  const saved = await updateTrustList(list, key, (entries) => [
    ...entries.filter((e) => e.hash !== entry.hash),
    entry,
  ]);
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
  const key = trustListKey(values, io);
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
    { create: false },
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
  const data = await loadTrustList(list, trustListKey(values, io));
  output(
    io,
    values.json,
    data,
    `list version ${data.listVersion}, ${data.entries.length} entr${data.entries.length === 1 ? 'y' : 'ies'}${data.entries.map((e) => `\n  ${summary(e)}`).join('')}`,
  );
  return 0;
}

/** `plugward trust add|rm|ls`. */
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
      default:
        throw new PluginError(
          'InvalidArgument',
          `unknown trust subcommand ${JSON.stringify(sub ?? '')}\n\n${usage}`,
        );
    }
  },
};
