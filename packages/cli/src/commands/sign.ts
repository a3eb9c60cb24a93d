import { resolve } from 'node:path';
import { type CodeDeclarations, readPluginDeclarations } from '@plugward/registry';
import { manifestPathFor, openRegularFile, writeSignedManifest } from '@plugward/security';
import { DEFAULT_MAX_ARTIFACT_BYTES, PluginError, type PluginManifest } from '@plugward/types';
import { type Command, output, parseCommand, required } from '../command.js';
import { readPrivateKey } from '../keys.js';
import { hashProgress } from '../progress.js';
import { pickSandbox, SANDBOX_OPTION } from '../sandbox-choice.js';
import { maxBytesError, positiveInt } from './hash.js';

const usage = `usage: plugward sign <artifact> --key <name.key> (--name <plugin-name> --version <semver> | --manifest-fields FILE.json)
                     [--passphrase-env VAR] [--author TEXT] [--kind js|native] [--description TEXT]
                     [--limits FILE.json] [--requirements FILE.json] [--from-plugin sandbox|process]
                     [--sandbox auto|bwrap|landlock] [--max-bytes N] [--json]

Hashes <artifact>, signs its manifest and writes <artifact>.plugward.json beside it.
--manifest-fields FILE.json gives the fields in one file: { "name", "version", "author"?, "description"?, "kind"?,
"requirements"?, "limits"? } (the same shapes as --requirements and --limits files; any other field is refused). A
flag given as well wins over the file's field.
--from-plugin takes the requirements and limits the plugin's own code declares (requirements(), resourceLimits()),
read by loading the build with no grants: in the sandbox (--from-plugin sandbox), or in a child process that is not
sandboxed (--from-plugin process: only for your own build). --requirements/--limits and the fields file win over it.
--key is the secret key file from plugward keygen (a public .pub file is refused); --passphrase-env VAR unlocks an
encrypted one. --kind defaults to native for .so/.dylib/.dll files and js otherwise; --author defaults to "unknown".`;

async function readJson(path: string, what: string, cwd: string): Promise<unknown> {
  const full = resolve(cwd, path);
  const fh = await openRegularFile(full, `${what} file`, (e) => {
    const code = (e as { code?: unknown }).code === 'ENOENT' ? 'NotFound' : 'IoError';
    return new PluginError(code, `cannot read ${what} file ${path}`, { cause: e });
  });
  let text: string;
  try {
    text = await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the start of the file: never repeat it (the file may be a secret key).
    throw new PluginError('InvalidArgument', `${what} file ${path} is not valid JSON`);
  }
}

const FIELD_NAMES = ['name', 'version', 'author', 'description', 'kind', 'requirements', 'limits'] as const;

/** The fields of a `--manifest-fields` file. */
export interface ManifestFields {
  name?: string;
  version?: string;
  author?: string;
  description?: string;
  kind?: string;
  requirements?: unknown;
  limits?: unknown;
}

/**
 * Checks a parsed `--manifest-fields` file: an object with only the known fields, text fields as strings. The
 * requirements and limits are checked where every manifest's are, when it is signed.
 * @throws PluginError `InvalidArgument` naming the file and the field.
 */
export function parseManifestFields(value: unknown, file: string): ManifestFields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PluginError('InvalidArgument', `--manifest-fields ${file}: must be a JSON object`);
  }
  const known = new Set<string>(FIELD_NAMES);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) {
      throw new PluginError(
        'InvalidArgument',
        `--manifest-fields ${file}: unknown field ${JSON.stringify(k.slice(0, 64))} (known: ${FIELD_NAMES.join(', ')})`,
      );
    }
    if (k !== 'requirements' && k !== 'limits' && typeof v !== 'string') {
      throw new PluginError('InvalidArgument', `--manifest-fields ${file}: "${k}" must be a string`);
    }
    out[k] = v;
  }
  return out as ManifestFields;
}

/** `plugward sign <artifact> ...`. */
export const sign: Command = {
  name: 'sign',
  summary: 'hash an artifact and write its signed manifest (<artifact>.plugward.json)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, {
      key: { type: 'string' },
      'passphrase-env': { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      author: { type: 'string' },
      kind: { type: 'string' },
      description: { type: 'string' },
      limits: { type: 'string' },
      requirements: { type: 'string' },
      'max-bytes': { type: 'string' },
      'manifest-fields': { type: 'string' },
      'from-plugin': { type: 'string' },
      ...SANDBOX_OPTION,
    });
    const artifact = resolve(io.cwd, required(positionals[0], '<artifact>', usage));
    const keyFile = required(values.key, '--key <name.key>', usage);
    const fieldsFile = values['manifest-fields'];
    const fields =
      typeof fieldsFile === 'string'
        ? parseManifestFields(await readJson(fieldsFile, '--manifest-fields', io.cwd), fieldsFile)
        : {};
    const name = required(values.name ?? fields.name, '--name <plugin-name>', usage);
    const version = required(values.version ?? fields.version, '--version <semver>', usage);
    const author = values.author ?? fields.author;
    const description = values.description ?? fields.description;
    const kind = values.kind ?? fields.kind ?? (/\.(so|dylib|dll)(\.\d+)*$/.test(artifact) ? 'native' : 'js');
    if (kind !== 'js' && kind !== 'native') {
      throw new PluginError('InvalidArgument', `--kind must be js or native, got ${String(kind)}`);
    }
    const fromPlugin = values['from-plugin'];
    let declared: CodeDeclarations | undefined;
    if (fromPlugin !== undefined) {
      if (fromPlugin !== 'sandbox' && fromPlugin !== 'process') {
        throw new PluginError(
          'InvalidArgument',
          `--from-plugin must be sandbox or process, got ${JSON.stringify(fromPlugin)}`,
        );
      }
      const sandbox =
        fromPlugin === 'sandbox'
          ? (await pickSandbox(values.sandbox, (line) => io.stderr.write(`${line}\n`))).backend
          : undefined;
      if (fromPlugin === 'sandbox' && sandbox === undefined) {
        throw new PluginError(
          'SandboxUnavailable',
          "no sandbox backend can run here to read the plugin's declarations (plugward doctor says why); --from-plugin process reads them in a child process that is not sandboxed",
        );
      }
      declared = await readPluginDeclarations(artifact, {
        name,
        version,
        kind,
        ...(sandbox === undefined ? { tier: 'process' as const } : { tier: 'sandbox' as const, sandbox }),
      });
    }
    const privateKey = await readPrivateKey(
      keyFile,
      io,
      typeof values['passphrase-env'] === 'string' ? values['passphrase-env'] : undefined,
    );
    const progress = hashProgress(io, artifact);
    let manifest: PluginManifest;
    try {
      manifest = await writeSignedManifest(
        {
          artifactPath: artifact,
          name,
          version,
          author: typeof author === 'string' ? author : 'unknown',
          kind,
          ...(typeof description === 'string' ? { description } : {}),
          ...(typeof values.limits === 'string'
            ? { limits: (await readJson(values.limits, '--limits', io.cwd)) as PluginManifest['limits'] }
            : fields.limits !== undefined
              ? { limits: fields.limits as PluginManifest['limits'] }
              : declared !== undefined && Object.keys(declared.limits).length > 0
                ? { limits: declared.limits as PluginManifest['limits'] }
                : {}),
          ...(typeof values.requirements === 'string'
            ? {
                requirements: (await readJson(values.requirements, '--requirements', io.cwd)) as NonNullable<
                  PluginManifest['requirements']
                >,
              }
            : fields.requirements !== undefined
              ? { requirements: fields.requirements as NonNullable<PluginManifest['requirements']> }
              : declared !== undefined
                ? { requirements: declared.requirements as NonNullable<PluginManifest['requirements']> }
                : {}),
          maxBytes: positiveInt(values['max-bytes'], '--max-bytes', DEFAULT_MAX_ARTIFACT_BYTES),
          ...(progress === undefined ? {} : { onProgress: progress }),
        },
        privateKey,
      );
    } catch (e) {
      const over = maxBytesError(e);
      if (over !== e) throw over;
      // A bad --name/--version is the user's input, not a broken manifest on disk.
      if (e instanceof PluginError && e.code === 'InvalidManifest') {
        throw new PluginError('InvalidArgument', e.message, { cause: e });
      }
      throw e;
    }
    const manifestPath = manifestPathFor(artifact);
    output(
      io,
      values.json,
      { manifestPath, manifest },
      `signed ${manifest.name}@${manifest.version} (key ${manifest.signature.keyId})\nwrote ${manifestPath}`,
    );
    return 0;
  },
};
