import { isPluginError, type PluginErrorCode } from '@plugward/types';
import type { CliIo, Command } from './command.js';
import { doctor } from './commands/doctor.js';
import { hash } from './commands/hash.js';
import { init } from './commands/init.js';
import { inspect } from './commands/inspect.js';
import { keygen } from './commands/keygen.js';
import { run } from './commands/run.js';
import { sign } from './commands/sign.js';
import { trust } from './commands/trust.js';
import { verify } from './commands/verify.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';

// What to do next, printed under the error in human mode.
const HINTS: Partial<Record<PluginErrorCode, string>> = {
  SignatureError: 'check that --pub is the key of whoever signed the manifest (see its signature.keyId)',
  UnknownSigner: 'check that --pub is the key of whoever signed the manifest (see its signature.keyId)',
  InvalidSignature:
    'the manifest was changed after it was signed (or signed by another key with the same id): re-sign it or fetch the original',
  HashMismatch:
    'the artifact is not what was signed or listed: re-sign it (plugward sign) or fetch the original',
  SecurityError:
    'the artifact is not what was signed or listed: re-sign it (plugward sign) or fetch the original',
  TrustListRollback:
    'an older or another copy of the trust list is in place: restore the latest list (if you replaced it on purpose: plugward trust floor --reset)',
  RollbackFloorMissing:
    'the rollback floor record is missing or does not authenticate: if this list is the latest, run plugward trust floor --reset --list <file> <key option>',
  KeyFileError:
    'give --key the secret .key file and --pub the .pub file made by plugward keygen (see plugward keygen --help)',
  NotRegularFile: 'plugin files, manifests, key files and trust lists must be regular files',
  UnbundledImport:
    'bundle the plugin into one file, e.g. npx esbuild src/index.ts --bundle --platform=node --format=esm --outfile=plugin.mjs',
  UntrustedPlugin: 'add it with: plugward trust add <artifact> --pub <key> --list <file> ...',
  VersionDowngrade: 'a newer version is trusted; remove it (plugward trust rm) if the downgrade is intended',
  InvalidManifest: 're-create the manifest with plugward sign',
  TrustListError:
    'check the key (--key-file, --key-hex-env, --passphrase-env, --key-hex) and that this is the latest list',
  Timeout:
    'another plugward process holds the trust list lock; retry, or delete <list>.lock if none is running',
  NotFound: 'check the path (relative paths are resolved from the current directory)',
  IoError: 'check that the path exists and that you may read (or write) it',
  PermissionDenied: 'check the file permissions, or run as the user who owns the file',
  LoadError: 'see the lines above for why each plugin did not load',
  InitializationError: 'see the lines above for why each plugin did not load',
};

/** The hint for an error: its own (`details.hint`) when it has one, else by code, else where to read the usage. */
function hintFor(
  e: { code: PluginErrorCode; details?: Readonly<Record<string, unknown>> | undefined },
  name: string,
) {
  const own = e.details?.hint;
  if (typeof own === 'string') return own;
  if (e.code === 'TrustListError' && e.details?.reason === 'not-found') {
    return 'no trust list at that path: check --list, or create it with plugward trust add <artifact> --pub <key> --list <file> <key option>';
  }
  return HINTS[e.code] ?? `see plugward ${name} --help`;
}

/** The CLI version printed by `plugward --version`. */
export const CLI_VERSION = '0.0.0';

/** Every subcommand, by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [init, keygen, hash, sign, verify, trust, inspect, run, doctor].map((c) => [c.name, c] as const),
);

function help(commands: ReadonlyMap<string, Command>): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length));
  const lines = [...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `usage: plugward <command> [options]   (plugward help <command> or plugward <command> --help for details)

commands:
${lines.join('\n')}

every command takes --json: one JSON object on stdout, { "ok": true, ... }; errors as { "ok": false, "error" } on stderr.
exit codes: 0 ok, 1 verification failed, 2 usage error (or the wrong kind of key file), 3 file missing, unreadable or
            not a regular file (or no trust list at --list), 4 trust list cannot be opened (wrong key, tampered,
            replayed, rollback floor missing, locked), 5 run: no plugin loaded or one failed to load, 70 internal error`;
}

/**
 * Runs `plugward` with `argv` (without `node` and the script) and resolves to the exit code. Errors are printed to
 * stderr (as JSON under --json) and mapped to {@link EXIT_CODES}.
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() },
  commands: ReadonlyMap<string, Command> = COMMANDS,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    io.stdout.write(`plugward ${CLI_VERSION}\n`);
    return EXIT_CODES.Ok;
  }
  const json = rest.includes('--json');
  const unknown = (what: string) => {
    io.stderr.write(
      json
        ? `${JSON.stringify({ ok: false, error: { name: 'PluginError', code: 'InvalidArgument', message: `unknown command ${JSON.stringify(what)}`, details: { hint: 'see plugward --help' } } })}\n`
        : `plugward: unknown command ${JSON.stringify(what)}\nhint: see plugward --help for the commands\n`,
    );
    return EXIT_CODES.Usage;
  };
  if (name === 'help' && rest[0] !== undefined && !rest[0].startsWith('-')) {
    const target = commands.get(rest[0]);
    if (target === undefined) return unknown(rest[0]);
    io.stdout.write(`${target.usage}\n`);
    return EXIT_CODES.Ok;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${help(commands)}\n`);
    return name === undefined ? EXIT_CODES.Usage : EXIT_CODES.Ok;
  }
  const command = commands.get(name);
  if (command === undefined) return unknown(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return EXIT_CODES.Ok;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isPluginError(e)) {
      const hint = hintFor(e, name);
      const error = e.toJSON();
      io.stderr.write(
        json
          ? `${JSON.stringify({ ok: false, error: { ...error, details: { ...(error.details ?? {}), hint } } })}\n`
          : `plugward ${name}: ${e.message}\nhint: ${hint}\n`,
      );
      return exitCodeFor(e.code, e.details?.reason);
    }
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.stderr.write(
      json
        ? `${JSON.stringify({ ok: false, error: { name: 'Error', code: 'Internal', message: String(e), details: { hint: 'this is a bug: please report it with the command line and this message' } } })}\n`
        : `plugward ${name}: internal error (please report): ${message}\nhint: this is a bug: please report it with the command line and this message\n`,
    );
    return EXIT_CODES.Internal;
  }
}
