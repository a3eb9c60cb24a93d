import { resolve } from 'node:path';
import { displayText, PluginError } from '@plugward/types';
import { type Command, output, parseCommand, required } from '../command.js';
import { securityFromOptions, VERIFY_KEY_OPTIONS } from '../keys.js';

const usage = `usage: plugward verify <artifact> --pub <name.pub|HEX> [--pub ...]
                       [--list FILE (--key-file FILE | --key-hex-env VAR | --passphrase-env VAR | --key-hex HEX)
                       [--min-version N]] [--json]

Checks that <artifact> matches its signed manifest and that the manifest is signed by one of the --pub keys.
With --list, the artifact must also be on that encrypted trust list (exact hash, name, version and key), and a lower
version than the highest trusted one is refused. Exit 0 when valid, 1 when not.`;

/** `plugward verify <artifact> --pub <p>`. */
export const verify: Command = {
  name: 'verify',
  summary: 'verify an artifact against its signed manifest, pinned keys and optionally a trust list',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, VERIFY_KEY_OPTIONS);
    const artifactArg = required(positionals[0], '<artifact>', usage);
    const pubs = values.pub ?? [];
    if (pubs.length === 0 && values.list === undefined) {
      throw new PluginError('InvalidArgument', `give at least one --pub key (or --list)\n\n${usage}`);
    }
    const { security } = await securityFromOptions(values, io, values.list !== undefined);
    const artifact = resolve(io.cwd, artifactArg);
    const verified = await security.verifyArtifact(artifact);
    const m = verified.manifest;
    output(
      io,
      values.json,
      {
        ok: true,
        artifact,
        name: m.name,
        version: m.version,
        kind: m.kind,
        sha3_512: verified.hash,
        keyId: m.signature.keyId,
        trusted: verified.trustEntry !== undefined,
      },
      `OK ${displayText(m.name)}@${displayText(m.version)} (${m.kind}) signed by ${m.signature.keyId}${verified.trustEntry ? ', on the trust list' : ''}`,
    );
    return 0;
  },
};
