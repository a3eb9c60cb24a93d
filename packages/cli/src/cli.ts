import { isPluginError, type PluginErrorCode } from '@plugward/types';
import type { CliIo, Command } from './command.js';
import { doctor } from './commands/doctor.js';
import { hash } from './commands/hash.js';
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
    'check the key (--key-hex, --key-hex-env, --passphrase-env) and that this is the latest list',
  Timeout:
    'another plugward process holds the trust list lock; retry, or delete <list>.lock if none is running',
};

/** The CLI version printed by `plugward --version`. */
export const CLI_VERSION = '0.0.0';

/** Every subcommand, by name. Later issues register `inspect`, `run` and `doctor` here. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [keygen, hash, sign, verify, trust, inspect, run, doctor].map((c) => [c.name, c] as const),
);

function help(commands: ReadonlyMap<string, Command>): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length));
  const lines = [...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `usage: plugward <command> [options]   (plugward <command> --help for details)

commands:
${lines.join('\n')}

every command takes --json for machine-readable output.
exit codes: 0 ok, 1 verification failed, 2 usage error (or the wrong kind of key file), 3 file missing, unreadable or
            not a regular file, 4 trust list cannot be opened (wrong key, tampered, replayed, rollback floor missing,
            locked), 70 internal error`;
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
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${help(commands)}\n`);
    return name === undefined ? EXIT_CODES.Usage : EXIT_CODES.Ok;
  }
  const command = commands.get(name);
  if (command === undefined) {
    io.stderr.write(`plugward: unknown command ${JSON.stringify(name)}\n\n${help(commands)}\n`);
    return EXIT_CODES.Usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return EXIT_CODES.Ok;
  }
  const json = rest.includes('--json');
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isPluginError(e)) {
      const hint = HINTS[e.code];
      io.stderr.write(
        json
          ? `${JSON.stringify({ ok: false, error: e.toJSON() })}\n`
          : `plugward ${name}: ${e.message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`,
      );
      return exitCodeFor(e.code);
    }
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.stderr.write(
      json
        ? `${JSON.stringify({ ok: false, error: { name: 'Error', code: 'Internal', message: String(e) } })}\n`
        : `plugward ${name}: internal error (please report): ${message}\n`,
    );
    return EXIT_CODES.Internal;
  }
}
