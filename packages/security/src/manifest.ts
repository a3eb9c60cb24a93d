import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  MANIFEST_SIGNATURE_DOMAIN,
  MANIFEST_SUFFIX,
  MAX_MANIFEST_BYTES,
  MAX_PLUGIN_NAME_LENGTH,
  PLUGIN_NAME_PATTERN,
  PluginError,
  type PluginKind,
  type PluginManifest,
  type PluginRequirements,
  PluginVersion,
  RESOURCE_LIMIT_FIELDS,
  type ResourceLimits,
  type UnsignedPluginManifest,
} from '@plugward/types';
import { writeFileAtomic } from './atomic-write.js';
import { bytesOrHex, concatBytes, fromHex, toHex } from './bytes.js';
import { canonicalJson } from './canonical-json.js';
import { getPublicKey, keyId, sign, type VerifyOptions, verifySignature } from './ed25519.js';
import { calculateHash } from './hash.js';
import { openError, readFileCapped } from './regular-file.js';

const HEX128 = /^[0-9a-f]{128}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const MAX_TEXT = 256;
const MAX_DESCRIPTION = 16 * 1024;
const TOP_KEYS = new Set([
  'manifestVersion',
  'name',
  'version',
  'author',
  'description',
  'kind',
  'artifact',
  'limits',
  'requirements',
  'dependencies',
  'signature',
]);

/** `<artifact>.plugward.json`, the signed manifest beside an artifact. */
export function manifestPathFor(artifactPath: string): string {
  return `${artifactPath}${MANIFEST_SUFFIX}`;
}

function bad(message: string, field: string): PluginError {
  return new PluginError('InvalidManifest', `invalid manifest: ${message}`, { details: { field } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Errors never quote what the file holds beyond the expected fields: a manifest path may be a symlink to any file the
// host can read (a key, a config with tokens), and these messages reach logs and `plugward run`'s output.
function unknownField(allowed: Iterable<string>, field: string): PluginError {
  return bad(`unknown field${field ? ` in ${field}` : ''} (allowed: ${[...allowed].join(', ')})`, field);
}

function onlyKeys(v: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw unknownField(allowed, field);
}

function str(v: unknown, field: string, max = MAX_TEXT): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw bad(`${field} must be a non-empty string of at most ${max} characters`, field);
  }
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length > 1024) throw bad(`${field} must be an array of strings`, field);
  return v.map((x, i) => str(x, `${field}[${i}]`, 4096));
}

/**
 * Validates untrusted requirements (a manifest's, or what a plugin reports its code declares): the exact shape of
 * `PluginRequirements`, no unknown fields, bounded lists.
 * @throws PluginError `InvalidManifest` naming the field.
 */
export function validateRequirements(v: unknown): PluginRequirements {
  if (!isRecord(v)) throw bad('requirements must be an object', 'requirements');
  onlyKeys(v, ['network', 'filesystem', 'context'], 'requirements');
  const { network, filesystem, context } = v;
  if (!isRecord(network)) throw bad('requirements.network must be an object', 'requirements.network');
  switch (network.mode) {
    case 'isolated':
    case 'full':
      onlyKeys(network, ['mode'], 'requirements.network');
      break;
    case 'restricted': {
      onlyKeys(network, ['mode', 'allowedTargets'], 'requirements.network');
      const targets = network.allowedTargets;
      if (!Array.isArray(targets) || targets.length > 1024) {
        throw bad(
          'requirements.network.allowedTargets must be an array',
          'requirements.network.allowedTargets',
        );
      }
      targets.forEach((t, i) => {
        const f = `requirements.network.allowedTargets[${i}]`;
        if (!isRecord(t)) throw bad(`${f} must be an object`, f);
        onlyKeys(t, ['host', 'ports'], f);
        str(t.host, `${f}.host`);
        if (t.ports !== undefined) {
          if (!Array.isArray(t.ports) || !t.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) {
            throw bad(`${f}.ports must be port numbers 1-65535`, `${f}.ports`);
          }
        }
      });
      break;
    }
    default:
      throw bad(
        'requirements.network.mode must be isolated, restricted or full',
        'requirements.network.mode',
      );
  }
  if (!isRecord(filesystem))
    throw bad('requirements.filesystem must be an object', 'requirements.filesystem');
  switch (filesystem.mode) {
    case 'none':
      onlyKeys(filesystem, ['mode'], 'requirements.filesystem');
      break;
    case 'readOnly':
    case 'readWrite':
      onlyKeys(filesystem, ['mode', 'paths'], 'requirements.filesystem');
      strList(filesystem.paths, 'requirements.filesystem.paths');
      break;
    default:
      throw bad(
        'requirements.filesystem.mode must be none, readOnly or readWrite',
        'requirements.filesystem.mode',
      );
  }
  if (!isRecord(context)) throw bad('requirements.context must be an object', 'requirements.context');
  onlyKeys(context, ['read', 'write'], 'requirements.context');
  strList(context.read, 'requirements.context.read');
  strList(context.write, 'requirements.context.write');
  return v as unknown as PluginRequirements;
}

function validateUnsigned(v: Record<string, unknown>): UnsignedPluginManifest {
  if (v.manifestVersion !== 1) throw bad('manifestVersion must be 1', 'manifestVersion');
  const name = str(v.name, 'name', MAX_PLUGIN_NAME_LENGTH);
  if (!PLUGIN_NAME_PATTERN.test(name)) {
    throw bad(`name must match ${PLUGIN_NAME_PATTERN}`, 'name');
  }
  const version = str(v.version, 'version');
  if (!PluginVersion.isValid(version)) throw bad('version is not strict semver', 'version');
  str(v.author, 'author');
  if (v.description !== undefined) str(v.description, 'description', MAX_DESCRIPTION);
  if (v.kind !== 'native' && v.kind !== 'js') throw bad('kind must be "native" or "js"', 'kind');
  const a = v.artifact;
  if (!isRecord(a)) throw bad('artifact must be an object', 'artifact');
  onlyKeys(a, ['file', 'sha3_512', 'size'], 'artifact');
  const file = str(a.file, 'artifact.file');
  if (file.includes('/') || file.includes('\\') || file === '.' || file === '..' || file.includes('\0')) {
    throw bad('artifact.file must be a bare file name (no directories)', 'artifact.file');
  }
  if (typeof a.sha3_512 !== 'string' || !HEX128.test(a.sha3_512)) {
    throw bad('artifact.sha3_512 must be 128 lowercase hex digits', 'artifact.sha3_512');
  }
  if (typeof a.size !== 'number' || !Number.isSafeInteger(a.size) || a.size < 0) {
    throw bad('artifact.size must be a non-negative integer', 'artifact.size');
  }
  if (v.limits !== undefined) {
    if (!isRecord(v.limits)) throw bad('limits must be an object', 'limits');
    onlyKeys(v.limits, RESOURCE_LIMIT_FIELDS, 'limits');
    for (const [k, n] of Object.entries(v.limits)) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
        throw bad(`limits.${k} must be a non-negative integer`, `limits.${k}`);
      }
    }
  }
  if (v.requirements !== undefined) validateRequirements(v.requirements);
  if (v.dependencies !== undefined) {
    if (!Array.isArray(v.dependencies) || v.dependencies.length > 256) {
      throw bad('dependencies must be an array', 'dependencies');
    }
    v.dependencies.forEach((d, i) => {
      if (!isRecord(d)) throw bad(`dependencies[${i}] must be an object`, `dependencies[${i}]`);
      onlyKeys(d, ['name', 'version'], `dependencies[${i}]`);
      str(d.name, `dependencies[${i}].name`, MAX_PLUGIN_NAME_LENGTH);
      str(d.version, `dependencies[${i}].version`);
    });
  }
  return v as unknown as UnsignedPluginManifest;
}

/**
 * Validates the shape of an untrusted manifest value (types, sizes, no unknown fields). Does NOT check the signature.
 * @throws PluginError `InvalidManifest` naming the offending field.
 */
export function validateManifest(value: unknown): PluginManifest {
  if (!isRecord(value)) throw bad('top level must be a JSON object', '');
  for (const k of Object.keys(value)) if (!TOP_KEYS.has(k)) throw unknownField(TOP_KEYS, '');
  validateUnsigned(value);
  const s = value.signature;
  if (!isRecord(s)) throw bad('signature must be an object', 'signature');
  onlyKeys(s, ['algorithm', 'keyId', 'value'], 'signature');
  if (s.algorithm !== 'ed25519') throw bad('signature.algorithm must be "ed25519"', 'signature.algorithm');
  if (typeof s.keyId !== 'string' || !HEX16.test(s.keyId)) {
    throw bad('signature.keyId must be 16 lowercase hex digits', 'signature.keyId');
  }
  if (typeof s.value !== 'string' || !HEX128.test(s.value)) {
    throw bad('signature.value must be 128 lowercase hex digits (64 bytes)', 'signature.value');
  }
  return value as unknown as PluginManifest;
}

/** Parses manifest bytes (UTF-8 JSON, at most MAX_MANIFEST_BYTES) and validates the shape. */
export function parseManifest(bytes: Uint8Array): PluginManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new PluginError('InvalidManifest', `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new PluginError('InvalidManifest', 'manifest is not valid UTF-8', { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON.parse's message (nor it as the cause): it quotes the start of the text, which may be a secret.
    throw new PluginError('InvalidManifest', 'manifest is not valid JSON');
  }
  return validateManifest(value);
}

/**
 * Reads and validates `<artifact>.plugward.json` (size-capped; the artifact file name must match). No signature
 * check: discovery uses this to list plugins without trusting them.
 * @throws PluginError `NotFound` (no manifest), `InvalidManifest`, `NotRegularFile`, `IoError`.
 */
export async function readManifest(artifactPath: string): Promise<PluginManifest> {
  const path = manifestPathFor(artifactPath);
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES, 'manifest', (e) =>
    (e as { code?: unknown }).code === 'ENOENT'
      ? new PluginError(
          'NotFound',
          `no signed manifest beside the artifact: ${path} (sign it with plugward sign)`,
          {
            cause: e,
          },
        )
      : openError(path, e),
  );
  const manifest = parseManifest(bytes);
  if (manifest.artifact.file !== basename(artifactPath)) {
    throw new PluginError(
      'InvalidManifest',
      `manifest ${path} describes another file than ${JSON.stringify(basename(artifactPath))}`,
      { details: { field: 'artifact.file' } },
    );
  }
  return manifest;
}

function unsignedPart(manifest: UnsignedPluginManifest | PluginManifest): UnsignedPluginManifest {
  const { signature: _ignored, ...rest } = manifest as PluginManifest;
  return rest;
}

/** The exact bytes an Ed25519 manifest signature covers: MANIFEST_SIGNATURE_DOMAIN ‖ RFC 8785 JSON (signature removed). */
export function manifestSigningBytes(manifest: UnsignedPluginManifest | PluginManifest): Uint8Array {
  const enc = new TextEncoder();
  return concatBytes(
    enc.encode(MANIFEST_SIGNATURE_DOMAIN),
    enc.encode(canonicalJson(unsignedPart(manifest))),
  );
}

/**
 * Signs a manifest: validates it, then adds `signature` (Ed25519 over {@link manifestSigningBytes}, key id of the
 * signer). Any existing signature is replaced.
 * @throws PluginError `InvalidManifest`, `InvalidArgument` (bad key).
 */
export function signManifest(
  unsigned: UnsignedPluginManifest,
  privateKey: Uint8Array | string,
): PluginManifest {
  const seed = bytesOrHex(privateKey, 'private key', 32);
  const body = unsignedPart(unsigned);
  const withPlaceholder = {
    ...body,
    signature: { algorithm: 'ed25519', keyId: '0'.repeat(16), value: '0'.repeat(128) },
  };
  validateManifest(withPlaceholder);
  const value = toHex(sign(manifestSigningBytes(body), seed));
  return { ...body, signature: { algorithm: 'ed25519', keyId: keyId(getPublicKey(seed)), value } };
}

/**
 * True when `manifest.signature` is a valid strict Ed25519 signature by `publicKey` over the manifest, and its key id
 * is that key's. False for any mismatch (moved to another file, name or version; another key; tampered field).
 */
export function verifyManifestSignature(
  manifest: PluginManifest,
  publicKey: Uint8Array | string,
  options: VerifyOptions = {},
): boolean {
  const key = bytesOrHex(publicKey, 'public key', 32);
  if (manifest.signature?.keyId !== keyId(key)) return false;
  let sig: Uint8Array;
  try {
    sig = fromHex(manifest.signature.value, 'signature', 64);
  } catch {
    return false;
  }
  return verifySignature(manifestSigningBytes(manifest), sig, key, options);
}

/** What {@link writeSignedManifest} needs besides the key. */
export interface WriteSignedManifestOptions {
  artifactPath: string;
  name: string;
  version: string;
  author: string;
  kind: PluginKind;
  description?: string;
  limits?: Partial<ResourceLimits>;
  requirements?: PluginRequirements;
  dependencies?: PluginManifest['dependencies'];
  /** Cap on the artifact size (default DEFAULT_MAX_ARTIFACT_BYTES). */
  maxBytes?: number;
  /** Progress of hashing large artifacts. */
  onProgress?: (hashed: number, total: number) => void;
}

/**
 * Hashes the artifact, builds and signs its manifest, and writes `<artifact>.plugward.json` atomically.
 * @returns the signed manifest written.
 */
export async function writeSignedManifest(
  options: WriteSignedManifestOptions,
  privateKey: Uint8Array | string,
): Promise<PluginManifest> {
  const sha = await calculateHash(options.artifactPath, {
    maxBytes: options.maxBytes,
    onProgress: options.onProgress,
  });
  const { size } = await stat(options.artifactPath);
  const unsigned: UnsignedPluginManifest = {
    manifestVersion: 1,
    name: options.name,
    version: options.version,
    author: options.author,
    ...(options.description === undefined ? {} : { description: options.description }),
    kind: options.kind,
    artifact: { file: basename(options.artifactPath), sha3_512: sha, size },
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.requirements === undefined ? {} : { requirements: options.requirements }),
    ...(options.dependencies === undefined ? {} : { dependencies: options.dependencies }),
  };
  const manifest = signManifest(unsigned, privateKey);
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeFileAtomic(manifestPathFor(options.artifactPath), new TextEncoder().encode(text), 0o644);
  return manifest;
}
