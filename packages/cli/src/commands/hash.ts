import { resolve } from 'node:path';
import { calculateHash } from '@plugward/security';
import { DEFAULT_MAX_ARTIFACT_BYTES, isPluginError, PluginError, positiveInteger } from '@plugward/types';
import { type Command, output, parseCommand, required } from '../command.js';
import { hashProgress } from '../progress.js';

const usage = `usage: plugward hash <file> [--max-bytes N] [--json]

Prints the SHA3-512 of <file> (lowercase hex), as signed manifests and trust lists record it.`;

/** Parses a positive integer option. */
export function positiveInt(value: string | boolean | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  return positiveInteger(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value, what);
}

/**
 * Turns "file over the hashing limit" (a FileTooLarge with `details.max`) into a usage error whose hint names
 * `--max-bytes`: the file is not suspect, the limit is just lower than it.
 */
export function maxBytesError(e: unknown): unknown {
  if (
    isPluginError(e, 'FileTooLarge') &&
    typeof e.details?.max === 'number' &&
    typeof e.details.size === 'number'
  ) {
    return new PluginError('InvalidArgument', e.message.replace(/ \(maxBytes\)$/, ''), {
      cause: e,
      details: {
        ...e.details,
        reason: 'over-max-bytes',
        hint: `raise the limit with --max-bytes ${e.details.size} (the default is ${DEFAULT_MAX_ARTIFACT_BYTES})`,
      },
    });
  }
  return e;
}

/** `plugward hash <file>`. */
export const hash: Command = {
  name: 'hash',
  summary: 'print the SHA3-512 of a file',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, { 'max-bytes': { type: 'string' } });
    const file = required(positionals[0], '<file>', usage);
    const maxBytes = positiveInt(values['max-bytes'], '--max-bytes', DEFAULT_MAX_ARTIFACT_BYTES);
    const progress = hashProgress(io, file);
    const digest = await calculateHash(resolve(io.cwd, file), {
      maxBytes,
      ...(progress === undefined ? {} : { onProgress: progress }),
    }).catch((e: unknown) => {
      throw maxBytesError(e);
    });
    output(io, values.json, { file, sha3_512: digest }, `${digest}  ${file}`);
    return 0;
  },
};
