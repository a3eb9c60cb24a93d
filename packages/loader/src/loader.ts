import path from 'node:path';
import { openRegularFile } from '@plugward/security';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_SECURITY_POLICY,
  type LogLevel,
  MANIFEST_SUFFIX,
  PluginError,
  type PluginManifest,
  type SecurityPolicy,
  TrustLevel,
  toPluginError,
} from '@plugward/types';
import { sha3_512Hex } from './hash.js';
import { loadJsPlugin } from './js-plugin.js';
import type { LoadedPlugin } from './loaded-plugin.js';
import { loadNativePlugin, type NativeLoadOptions } from './native-plugin.js';
import { UntrustedPlugin } from './untrusted-plugin.js';
import type { ArtifactVerifier, ManifestReader, VerifiedArtifact } from './verified-artifact.js';

/** Options of {@link PluginLoader}. */
export interface PluginLoaderOptions {
  /** Policy overrides; defaults to `security.policy`, then DEFAULT_SECURITY_POLICY. */
  policy?: Partial<SecurityPolicy>;
  /** Manifest reader for untrusted plugins (`readManifest` of @plugward/security); defaults to `security.readManifest`. */
  readManifest?: ManifestReader;
  /** Parent of the private 0700 directories verified bytes are copied to before dlopen/import; `os.tmpdir()`. */
  tmpDir?: string;
  /**
   * dlopen a native artifact at the `artifactPath` of `loadVerified` instead of a private copy. Only for a path on a
   * read-only mount nobody can change (the plugin runtime inside a sandbox, whose writable `/tmp` is `noexec`).
   */
  loadNativeInPlace?: boolean;
  /** Largest result a native hook may return, bytes (DEFAULT_MAX_FRAME_BYTES). */
  maxHookOutputBytes?: number;
  /** Largest value a native plugin may write to the context, bytes (DEFAULT_MAX_FRAME_BYTES). */
  maxContextValueBytes?: number;
  /** Receives native plugin log lines written before `init` handed the plugin a runtime. Default: dropped. */
  log?: (level: LogLevel, message: string, plugin: string) => void;
}

/** Options of {@link PluginLoader.loadVerified}. */
export interface LoadVerifiedOptions {
  /** Trust level to report; `trusted` unless said otherwise. */
  trustLevel?: TrustLevel;
  /** Whether the signature was checked (false when a runtime received the bytes from a host). Default true. */
  signatureVerified?: boolean;
}

/**
 * Loads plugins, only ever from verified bytes: JS/ESM bundles are imported and native libraries dlopen()ed from a
 * private copy of the bytes the verifier hashed, so swapping the file after verification changes nothing.
 *
 * @example
 * ```ts
 * const loader = new PluginLoader(new PluginSecurity(policy, keys, trusted), { readManifest });
 * const plugin = await loader.load('plugins/libhello.so', TrustLevel.Trusted);
 * await plugin.init(context, runtime);
 * await plugin.registerHooks(hooks);
 * // …
 * await plugin.shutdown();
 * await plugin.unload();
 * ```
 */
export class PluginLoader {
  readonly #security: ArtifactVerifier;
  readonly #policy: Readonly<SecurityPolicy>;
  readonly #readManifest: ManifestReader | undefined;
  readonly #native: NativeLoadOptions;
  readonly #tmpDir: string | undefined;

  constructor(security: ArtifactVerifier, options: PluginLoaderOptions = {}) {
    if (security === null || typeof security !== 'object' || typeof security.verifyArtifact !== 'function') {
      throw new PluginError('InvalidArgument', 'PluginLoader needs a verifier with verifyArtifact(path)');
    }
    this.#security = security;
    this.#policy = Object.freeze({ ...DEFAULT_SECURITY_POLICY, ...security.policy, ...options.policy });
    this.#readManifest = options.readManifest ?? security.readManifest?.bind(security);
    this.#tmpDir = options.tmpDir;
    const maxHookOutputBytes = options.maxHookOutputBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const maxContextValueBytes = options.maxContextValueBytes ?? DEFAULT_MAX_FRAME_BYTES;
    for (const [k, v] of [
      ['maxHookOutputBytes', maxHookOutputBytes],
      ['maxContextValueBytes', maxContextValueBytes],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new PluginError('InvalidArgument', `PluginLoader option ${k} must be a positive integer`);
      }
    }
    this.#native = {
      ...(options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir }),
      ...(options.loadNativeInPlace === true ? { inPlace: true } : {}),
      maxHookOutputBytes,
      maxContextValueBytes,
      log: options.log ?? (() => undefined),
    };
  }

  /** The policy in force (merged with the defaults). */
  get policy(): Readonly<SecurityPolicy> {
    return this.#policy;
  }

  /**
   * Verifies and loads the artifact at `artifactPath`.
   *
   * - `trusted`: the verifier checks hash, signature and trust entry; any failure, or a result without a trust entry,
   *   refuses the load with its reason.
   * - `untrusted`: refused (`UntrustedPlugin`) when the policy says `onlyTrusted`; otherwise the manifest is read and
   *   the bytes hashed against it, and a handle with `mustSandbox: true` is returned — no plugin code runs here.
   *
   * @throws PluginError (`SecurityError`, `SignatureError`, `UntrustedPlugin`, `SymbolNotFound`, `AbiIncompatible`,
   *   `InvalidPlugin`, `LoadError`, …).
   */
  async load(artifactPath: string, trustLevel: TrustLevel): Promise<LoadedPlugin> {
    if (typeof artifactPath !== 'string' || artifactPath.length === 0) {
      throw new PluginError('InvalidArgument', 'artifact path must be a non-empty string');
    }
    switch (trustLevel) {
      case TrustLevel.Trusted: {
        let verified: VerifiedArtifact;
        try {
          verified = await this.#security.verifyArtifact(artifactPath);
        } catch (e) {
          throw toPluginError(e, 'SecurityError', `refusing to load ${artifactPath}: verification failed`);
        }
        // Trusted means signed by a pinned key *and* on the trust list. A verifier under `onlyTrusted: false` lets a
        // signed but unlisted artifact through without a trust entry: that one may only run sandboxed.
        if (verified.trustEntry === undefined) {
          throw new PluginError(
            'UntrustedPlugin',
            `refusing to load ${verified.manifest?.name ?? artifactPath} as trusted: it verified but is not on the trust list (load it as untrusted to sandbox it)`,
            { plugin: verified.manifest?.name },
          );
        }
        return this.loadVerified(verified, { trustLevel: TrustLevel.Trusted, signatureVerified: true });
      }
      case TrustLevel.Untrusted:
        return this.#admitUntrusted(artifactPath);
      default:
        throw new PluginError('InvalidArgument', `unknown trust level ${JSON.stringify(trustLevel)}`);
    }
  }

  /**
   * Loads already-verified bytes (what a plugin-side runtime does with the copy the host sent it). The bytes are first
   * copied, the *copy* is re-hashed and must equal `verified.hash` and the manifest's hash, and the copy is what gets
   * loaded: neither a hand-made VerifiedArtifact nor a caller that keeps changing its buffer after this call can
   * smuggle other bytes in.
   * @throws PluginError `HashMismatch`, `InvalidManifest`, `UnbundledImport` (JS), `LoadError`, …
   */
  async loadVerified(verified: VerifiedArtifact, options: LoadVerifiedOptions = {}): Promise<LoadedPlugin> {
    const manifest = checkArtifactShape(verified);
    // Copy first, then hash: the caller's buffer may be changed at any await below, the copy can't.
    const bytes = verified.bytes.slice();
    const hash = sha3_512Hex(bytes);
    if (
      hash !== verified.hash ||
      hash !== manifest.artifact.sha3_512 ||
      bytes.length !== manifest.artifact.size
    ) {
      throw new PluginError(
        'HashMismatch',
        `plugin ${manifest.name}: the bytes to load do not match the verified hash/size`,
        { plugin: manifest.name },
      );
    }
    const own: VerifiedArtifact = { ...verified, bytes, hash };
    const admission = {
      trustLevel: options.trustLevel ?? TrustLevel.Trusted,
      signatureVerified: options.signatureVerified ?? true,
    };
    switch (manifest.kind) {
      case 'native':
        return loadNativePlugin(own, admission, this.#native);
      case 'js':
        return loadJsPlugin(own, admission, this.#tmpDir === undefined ? {} : { tmpDir: this.#tmpDir });
      default:
        throw new PluginError(
          'InvalidManifest',
          `plugin ${manifest.name}: unknown kind ${String(manifest.kind)}`,
          {
            plugin: manifest.name,
          },
        );
    }
  }

  async #admitUntrusted(artifactPath: string): Promise<LoadedPlugin> {
    if (this.#policy.onlyTrusted) {
      throw new PluginError(
        'UntrustedPlugin',
        `refusing untrusted plugin ${artifactPath}: the security policy allows only trusted plugins`,
      );
    }
    const readManifest = this.#readManifest;
    if (readManifest === undefined) {
      throw new PluginError(
        'Unsupported',
        'loading untrusted plugins needs a manifest reader: pass { readManifest } (from @plugward/security)',
      );
    }
    let manifest: PluginManifest;
    try {
      manifest = await readManifest(artifactPath);
    } catch (e) {
      throw toPluginError(e, 'InvalidManifest', `cannot read the manifest of ${artifactPath}`);
    }
    const bytes = await readCapped(artifactPath, this.#policy.maxArtifactBytes);
    const hash = sha3_512Hex(bytes);
    if (hash !== manifest.artifact.sha3_512 || bytes.length !== manifest.artifact.size) {
      throw new PluginError(
        'HashMismatch',
        `untrusted plugin ${manifest.name}: artifact does not match its manifest hash`,
        {
          plugin: manifest.name,
        },
      );
    }
    return new UntrustedPlugin({
      manifest,
      bytes,
      hash,
      artifactPath,
      manifestPath: `${artifactPath}${MANIFEST_SUFFIX}`,
    });
  }
}

function checkArtifactShape(v: VerifiedArtifact): PluginManifest {
  if (v === null || typeof v !== 'object' || !(v.bytes instanceof Uint8Array) || typeof v.hash !== 'string') {
    throw new PluginError('InvalidArgument', 'loadVerified needs { manifest, bytes: Uint8Array, hash, … }');
  }
  const m = v.manifest;
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.name !== 'string' ||
    typeof m.version !== 'string' ||
    m.artifact === null ||
    typeof m.artifact !== 'object' ||
    typeof m.artifact.sha3_512 !== 'string'
  ) {
    throw new PluginError(
      'InvalidManifest',
      'loadVerified: the manifest lacks name, version or artifact hash',
    );
  }
  return m;
}

/** Reads a whole file, refusing more than `max` bytes (checked before and while reading). */
async function readCapped(file: string, max: number): Promise<Uint8Array> {
  // Non-blocking open + fstat of the fd: a FIFO or device in place of the artifact is refused, never waited on.
  const fh = await openRegularFile(file, 'artifact', (e) =>
    toPluginError(e, 'IoError', `cannot open ${path.basename(file)}`),
  );
  try {
    const { size } = await fh.stat();
    if (size > max) {
      throw new PluginError(
        'SecurityError',
        `${path.basename(file)} is ${size} bytes, more than the ${max}-byte limit`,
      );
    }
    const buf = new Uint8Array(size + 1);
    let off = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
      if (off === buf.length) {
        throw new PluginError('SecurityError', `${path.basename(file)} grew while it was read`);
      }
    }
    return buf.slice(0, off);
  } finally {
    await fh.close();
  }
}
