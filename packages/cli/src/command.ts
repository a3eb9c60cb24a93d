import { type ParseArgsConfig, parseArgs } from 'node:util';
import { PluginError } from '@plugward/types';

/** Where a command writes: injectable so `main` can run in-process too. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** One subcommand of `plugward`. The registry issue adds `inspect`, `run` and `doctor` as more of these. */
export interface Command {
  name: string;
  /** One line for `plugward --help`. */
  summary: string;
  /** Full usage text for `plugward <name> --help`. */
  usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: string[], io: CliIo): Promise<number>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Runs `parseArgs` (pass `fn`) turning its TypeError into PluginError `InvalidArgument`, so usage mistakes exit 2.
 */
export function withUsage<T>(usage: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new PluginError('InvalidArgument', `${(e as Error).message}\n\n${usage}`);
  }
}

/** The options a command declares (those of `parseArgs`). */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** The `parseArgs` configuration {@link parseCommand} builds from a command's options. */
type CommandArgsConfig<O extends CommandOptions> = {
  args: string[];
  options: typeof COMMON_OPTIONS & O;
  allowPositionals: boolean;
  strict: true;
};

/** What {@link parseCommand} returns: `values` typed from the options, and the positionals. */
export type ParsedCommand<O extends CommandOptions> = ReturnType<typeof parseArgs<CommandArgsConfig<O>>>;

/**
 * A command's arguments: `parseArgs` (strict) with {@link COMMON_OPTIONS} besides `options`, positionals allowed unless
 * `positionals` is false; a usage mistake is PluginError `InvalidArgument` with the usage (exit 2).
 */
export function parseCommand<const O extends CommandOptions>(
  usage: string,
  argv: string[],
  options: O,
  positionals = true,
): ParsedCommand<O> {
  return withUsage(usage, () =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: positionals,
      strict: true,
    }),
  );
}

/** Throws a usage error unless `value` is a non-empty string. */
export function required(value: string | boolean | undefined, what: string, usage: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new PluginError('InvalidArgument', `missing ${what}\n\n${usage}`);
  }
  return value;
}

/**
 * Writes a result: with --json the one envelope every command uses, `{ "ok": true, ...value }` (`ok` from `value` wins,
 * for a command that reports a failed check with a result), else the human text.
 */
export function output(
  io: CliIo,
  json: boolean | undefined,
  value: Readonly<Record<string, unknown>>,
  human: string,
): void {
  io.stdout.write(json ? `${JSON.stringify({ ok: true, ...value }, null, 2)}\n` : `${human}\n`);
}
