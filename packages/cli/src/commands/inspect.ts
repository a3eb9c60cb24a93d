import fs from 'node:fs/promises';
import { resolve } from 'node:path';
import { calculateHash, readManifest } from '@plugward/security';
import { DEFAULT_RESOURCE_LIMITS, displayText, isPluginError, MINIMAL_REQUIREMENTS } from '@plugward/types';
import { type Command, output, parseCommand, required } from '../command.js';
import { securityFromOptions, VERIFY_KEY_OPTIONS } from '../keys.js';

const usage = `usage: plugward inspect <artifact> [--pub <name.pub|HEX> ...]
                        [--list FILE (--key-file FILE | --key-hex-env VAR | --passphrase-env VAR | --key-hex HEX)
                        [--min-version N]] [--json]

Shows what a plugin is without running any of its code: its manifest, the artifact's SHA3-512 (and whether it
matches), the signature status against the --pub keys, the trust status against --list, and the limits and
requirements it declares. Exit 0 when the artifact verifies (or nothing was asked to verify it against), 1 when not.`;

/** `plugward inspect <artifact>`: manifest, hash, signature and trust status, declared limits — no code runs. */
export const inspect: Command = {
  name: 'inspect',
  summary: 'show a plugin (manifest, hash, signature, trust, limits) without running it',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, VERIFY_KEY_OPTIONS);
    const artifact = resolve(io.cwd, required(positionals[0], '<artifact>', usage));
    const manifest = await readManifest(artifact);
    const { security, keys, listPath } = await securityFromOptions(values, io, false);

    const expected = manifest.artifact.sha3_512;
    let integrity: { ok: boolean; expected: string; actual: string | null; error?: string };
    try {
      const hash = (await security.verifyIntegrity(artifact)).hash;
      integrity = { ok: true, expected, actual: hash };
    } catch (e) {
      // Show what is there next to what was signed, so a stale manifest is told apart from swapped bytes.
      // Never through a symbolic link: a link planted in a plugin folder to a file only root can read would make a
      // root-run inspect print that file's hash (an offline oracle for short secrets).
      const link = await fs.lstat(artifact).then(
        (st) => st.isSymbolicLink() || !st.isFile(),
        () => true,
      );
      const actual = link ? null : await calculateHash(artifact).catch(() => null);
      integrity = {
        ok: false,
        expected,
        actual,
        error: isPluginError(e) ? `${e.code}: ${e.message}` : String(e),
      };
    }
    const asked = keys.length > 0 || listPath !== undefined;
    let signature: { status: 'valid' | 'invalid' | 'not-checked'; error?: string } = {
      status: 'not-checked',
    };
    let trusted: boolean | undefined;
    if (asked && integrity.ok) {
      try {
        const v = await security.verifyArtifact(artifact);
        signature = { status: 'valid' };
        trusted = v.trustEntry !== undefined;
      } catch (e) {
        signature = { status: 'invalid', error: isPluginError(e) ? `${e.code}: ${e.message}` : String(e) };
        trusted = false;
      }
    }
    const limits = { ...DEFAULT_RESOURCE_LIMITS, ...manifest.limits };
    const requirements = manifest.requirements ?? MINIMAL_REQUIREMENTS;
    const failed = !integrity.ok || signature.status === 'invalid' || (listPath !== undefined && !trusted);
    const result = {
      ok: !failed,
      ...(failed
        ? {
            error: {
              code: !integrity.ok
                ? 'HashMismatch'
                : signature.status === 'invalid'
                  ? 'SignatureError'
                  : 'UntrustedPlugin',
              message: integrity.error ?? signature.error ?? 'not on the trust list',
            },
          }
        : {}),
      artifact,
      manifest,
      integrity,
      signature,
      trusted: listPath === undefined ? null : trusted,
      limits,
      requirements,
    };
    // Every field of the manifest is the publisher's text (and the file name the attacker's choice): escaped and
    // bounded, so a manifest can't forge lines or drive the terminal of the person inspecting it.
    const show = (v: unknown, max?: number) => displayText(v, max);
    const list = (keys: readonly string[]) =>
      show(keys.slice(0, 32).join(', ') + (keys.length > 32 ? `, … (${keys.length} in all)` : ''), 600);
    const paths = requirements.filesystem.mode === 'none' ? '' : ` [${list(requirements.filesystem.paths)}]`;
    const lines = [
      `${show(manifest.name, 214)}@${show(manifest.version, 64)} (${show(manifest.kind, 16)}) by ${show(manifest.author)}`,
      ...(manifest.description ? [`  ${show(manifest.description.split('\n')[0], 400)}`] : []),
      `artifact   ${show(manifest.artifact.file)}, ${manifest.artifact.size} bytes`,
      `sha3-512   ${show(expected, 200)}${integrity.ok ? '' : ' (expected, from the manifest)'}`,
      ...(integrity.ok
        ? []
        : [
            `actual     ${integrity.actual ?? '(not shown: unreadable, not a regular file, or a symbolic link)'}`,
          ]),
      `integrity  ${integrity.ok ? 'matches the manifest' : `MISMATCH — ${show(integrity.error, 600)}`}`,
      `signature  key ${manifest.signature.keyId}: ${signature.status}${signature.error ? ` — ${show(signature.error, 600)}` : ''}`,
      `trust      ${listPath === undefined ? 'not checked (give --list)' : trusted ? 'on the trust list' : 'NOT trusted'}`,
      `limits     heap ${limits.maxHeapBytes} B, cpu ${limits.maxCpuTimeMs} ms/call, fds ${limits.maxFileDescriptors}, threads ${limits.maxThreads}, connections ${limits.maxConnections}`,
      `requires   network ${requirements.network.mode}, filesystem ${requirements.filesystem.mode}${paths}, context read [${list(requirements.context.read)}] write [${list(requirements.context.write)}]`,
    ];
    output(io, values.json, result, lines.join('\n'));
    return failed ? 1 : 0;
  },
};
