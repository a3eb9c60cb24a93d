/**
 * @plugward/cli — the `plugward` command: init, keygen, hash, sign, verify, trust add|rm|prune|ls|floor, inspect, run and
 * doctor. The programmatic entry is {@link main}; each subcommand is a {@link Command}.
 * @packageDocumentation
 */

export { CLI_VERSION, COMMANDS, main } from './cli.js';
export type { CliIo, Command } from './command.js';
export { type ManifestFields, parseManifestFields } from './commands/sign.js';
export { EXIT_CODES, exitCodeFor } from './exit-codes.js';
export {
  SCAFFOLD_LANGS,
  type Scaffold,
  type ScaffoldLang,
  type ScaffoldOptions,
  scaffoldPlugin,
} from './scaffold.js';
