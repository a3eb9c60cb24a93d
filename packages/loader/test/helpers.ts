// Test support: a real verifier (SHA3-512 + Ed25519 over the manifest, node:crypto), a recording HookRegistrar, a
// Map-backed PluginContextApi, and a C compiler wrapper. Fixtures are generated here, never committed.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileCapped } from '@plugward/security';
import {
  type AnyContextKey,
  contextKeyName,
  type HookHandler,
  type HookRegistrar,
  type LogLevel,
  MANIFEST_SIGNATURE_DOMAIN,
  MANIFEST_SUFFIX,
  MAX_MANIFEST_BYTES,
  type PluginContextApi,
  PluginError,
  type PluginKind,
  type PluginManifest,
  type PluginRuntimeApi,
  type UnsignedPluginManifest,
} from '@plugward/types';
import type { ArtifactVerifier, VerifiedArtifact } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const INCLUDE_DIR = path.resolve(here, '..', 'native');
export const EXAMPLES_DIR = path.resolve(here, '..', '..', '..', 'examples', 'plugins');

export function tempDir(prefix = 'pw-loader-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Compiles C source text (or a .c file path) into `<dir>/<name>.so` with the system compiler. */
export function compileC(
  dir: string,
  name: string,
  source: { code?: string; file?: string; defines?: readonly string[] },
): string {
  const src = source.file ?? path.join(dir, `${name}.c`);
  if (source.code !== undefined) writeFileSync(src, source.code);
  const out = path.join(dir, `${name}.so`);
  const defs = (source.defines ?? []).map((d) => `-D${d}`);
  execFileSync(
    'cc',
    [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-Werror',
      '-Wno-unused-function',
      ...defs,
      `-I${INCLUDE_DIR}`,
      '-o',
      out,
      src,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return out;
}

export function sha3(bytes: Uint8Array): string {
  return createHash('sha3-512').update(bytes).digest('hex');
}

// Deterministic JSON (sorted keys) as the signed encoding; the real one (RFC 8785) lives in @plugward/security.
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * A real verifier for tests: reads the artifact once, hashes it with SHA3-512, checks the manifest's hash, size and
 * Ed25519 signature, and that the hash is on its trust set. Throws PluginError on any failure.
 */
export class TestVerifier implements ArtifactVerifier {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly trusted = new Set<string>();
  readonly policy: { onlyTrusted: boolean };
  verifications = 0;

  constructor(onlyTrusted = true) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
    this.policy = { onlyTrusted };
  }

  /** Writes a signed manifest beside `artifactPath`; `trust` adds its hash to the trust set. */
  signArtifact(
    artifactPath: string,
    meta: { name: string; version: string; kind: PluginKind; author?: string },
    trust = true,
  ): PluginManifest {
    const bytes = readFileSync(artifactPath);
    const unsigned: UnsignedPluginManifest = {
      manifestVersion: 1,
      name: meta.name,
      version: meta.version,
      author: meta.author ?? 'test',
      kind: meta.kind,
      artifact: { file: path.basename(artifactPath), sha3_512: sha3(bytes), size: bytes.length },
    };
    const sig = sign(null, Buffer.from(MANIFEST_SIGNATURE_DOMAIN + canonical(unsigned)), this.#privateKey);
    const manifest: PluginManifest = {
      ...unsigned,
      signature: { algorithm: 'ed25519', keyId: 'test', value: sig.toString('hex') },
    };
    writeFileSync(`${artifactPath}${MANIFEST_SUFFIX}`, JSON.stringify(manifest, null, 2));
    if (trust) this.trusted.add(manifest.artifact.sha3_512);
    return manifest;
  }

  readManifest = async (artifactPath: string): Promise<PluginManifest> => {
    const text = await readFile(`${artifactPath}${MANIFEST_SUFFIX}`, 'utf8');
    if (text.length > MAX_MANIFEST_BYTES) throw new PluginError('InvalidManifest', 'manifest too large');
    return JSON.parse(text) as PluginManifest;
  };

  /** Admission as `PluginSecurity.admit` decides it (trusted = verified and listed; untrusted = allowed + hash). */
  async admit(artifactPath: string, trustLevel: string): Promise<VerifiedArtifact> {
    if (trustLevel === 'trusted') {
      const v = await this.verifyArtifact(artifactPath);
      if (!v.trustEntry)
        throw new PluginError('UntrustedPlugin', `${v.manifest.name} is not on the trust list`);
      return v;
    }
    if (this.policy.onlyTrusted) {
      throw new PluginError('UntrustedPlugin', 'the security policy allows only trusted plugins');
    }
    const manifest = await this.readManifest(artifactPath);
    const bytes = await readFileCapped(artifactPath, 1 << 28);
    const hash = sha3(bytes);
    if (hash !== manifest.artifact.sha3_512 || bytes.length !== manifest.artifact.size) {
      throw new PluginError('HashMismatch', `hash mismatch for ${path.basename(artifactPath)}`);
    }
    return { manifest, bytes, hash, artifactPath, manifestPath: `${artifactPath}${MANIFEST_SUFFIX}` };
  }

  async verifyArtifact(artifactPath: string): Promise<VerifiedArtifact> {
    this.verifications++;
    const manifest = await this.readManifest(artifactPath);
    const bytes = new Uint8Array(await readFile(artifactPath));
    const hash = sha3(bytes);
    if (hash !== manifest.artifact.sha3_512 || bytes.length !== manifest.artifact.size) {
      throw new PluginError('HashMismatch', `hash mismatch for ${path.basename(artifactPath)}`);
    }
    const { signature, ...unsigned } = manifest;
    const ok = verify(
      null,
      Buffer.from(MANIFEST_SIGNATURE_DOMAIN + canonical(unsigned)),
      this.#publicKey,
      Buffer.from(signature.value, 'hex'),
    );
    if (!ok) throw new PluginError('InvalidSignature', `bad manifest signature for ${manifest.name}`);
    const listed = this.trusted.has(hash);
    if (!listed && this.policy.onlyTrusted) {
      throw new PluginError('UntrustedPlugin', `${manifest.name} is not on the trust list`);
    }
    return {
      manifest,
      bytes,
      hash,
      artifactPath,
      manifestPath: `${artifactPath}${MANIFEST_SUFFIX}`,
      // Like PluginSecurity: a trust entry only for listed artifacts (unlisted ones pass when onlyTrusted is false).
      ...(listed
        ? {
            trustEntry: {
              name: manifest.name,
              version: manifest.version,
              hash,
              keyId: signature.keyId,
              publicKey: this.#publicKey
                .export({ format: 'der', type: 'spki' })
                .subarray(-32)
                .toString('hex'),
              signature: signature.value,
              addedAt: new Date(0).toISOString(),
            },
          }
        : {}),
    };
  }
}

interface Entry {
  id: number;
  name: string;
  priority: number;
  handler: HookHandler;
}

/** A minimal HookRegistrar: records registrations, runs them in priority order, supports unregister. */
export class TestRegistrar implements HookRegistrar {
  readonly entries: Entry[] = [];
  #next = 1;

  register(name: string, priority: number, handler: HookHandler) {
    const entry: Entry = { id: this.#next++, name, priority, handler };
    this.entries.push(entry);
    return {
      id: entry.id,
      unregister: (): boolean => {
        const i = this.entries.indexOf(entry);
        if (i === -1) return false;
        this.entries.splice(i, 1);
        return true;
      },
    };
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** Chains the handlers of `name`, lowest priority first. */
  async execute(name: string, data: Uint8Array): Promise<Uint8Array> {
    const chain = this.entries.filter((e) => e.name === name).sort((a, b) => a.priority - b.priority);
    let cur = data;
    for (const e of chain) cur = await e.handler(cur, { hookName: name });
    return cur;
  }
}

/** A synchronous Map-backed context (what the in-process PluginContext view behaves like). */
export class MapContext implements PluginContextApi {
  readonly map = new Map<string, unknown>();
  readonly denied = new Set<string>();

  #check(key: AnyContextKey): string {
    const k = contextKeyName(key);
    if (this.denied.has(k)) throw new PluginError('PermissionDenied', `key ${k} not granted`);
    return k;
  }
  get<T>(key: AnyContextKey<T>): T {
    return this.map.get(this.#check(key)) as T;
  }
  set<T>(key: AnyContextKey<T>, value: T): void {
    this.map.set(this.#check(key), value);
  }
  remove(key: AnyContextKey): boolean {
    return this.map.delete(this.#check(key));
  }
  has(key: AnyContextKey): boolean {
    return this.map.has(this.#check(key));
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
}

/** An asynchronous context (what an out-of-process proxy looks like). */
export class AsyncMapContext implements PluginContextApi {
  readonly map = new Map<string, unknown>();
  async get<T>(key: AnyContextKey<T>): Promise<T> {
    return this.map.get(contextKeyName(key)) as T;
  }
  async set<T>(key: AnyContextKey<T>, value: T): Promise<void> {
    this.map.set(contextKeyName(key), value);
  }
  async remove(key: AnyContextKey): Promise<boolean> {
    return this.map.delete(contextKeyName(key));
  }
  async has(key: AnyContextKey): Promise<boolean> {
    return this.map.has(contextKeyName(key));
  }
  async keys(): Promise<string[]> {
    return [...this.map.keys()];
  }
}

/** A runtime that records log lines. */
export function recordingRuntime(): PluginRuntimeApi & { lines: [LogLevel, string][] } {
  const lines: [LogLevel, string][] = [];
  return { tier: 'in-process', lines, log: (level, message) => lines.push([level, message]) };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
export const le64 = (b: Uint8Array): bigint =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
