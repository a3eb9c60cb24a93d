import { hashBytes } from '@plugward/security';
import {
  DEFAULT_MAX_FRAME_BYTES,
  type LogLevel,
  PluginError,
  type PluginManifest,
  positiveInteger,
  type TrustLevel,
  toPluginError,
} from '@plugward/types';
import { loadJsPlugin } from './js-plugin.js';
import type { LoadedPlugin } from './loaded-plugin.js';
import { loadNativePlugin, type NativeLoadOptions } from './native-plugin.js';
import { UntrustedPlugin } from './untrusted-plugin.js';
import type { ArtifactVerifier, VerifiedArtifact } from './verified-artifact.js';

/** Options of {@link PluginLoader}. */
export interface PluginLoaderOptions {
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

/** Options of {@link loadVerified} (and {@link PluginLoader.loadVerified}, which adds the loader's own options). */
export interface LoadVerifiedOptions extends PluginLoaderOptions {
  /**
   * Trust level to report. Default: what the artifact shows — `trusted` when it carries a trust list entry (only a
   * trusted admission gives it one), `untrusted` otherwise (an untrusted admission, or bytes a runtime received).
   */
  trustLevel?: TrustLevel;
  /**
   * Whether the signature was checked (false when a runtime received the bytes from a host). Default: whether the
   * artifact carries a trust list entry (a trusted admission checked the signature).
   */
  signatureVerified?: boolean;
}

/**
 * Loads plugins, only ever from verified bytes: JS/ESM bundles are imported and native libraries dlopen()ed from a
 * private copy of the bytes the verifier hashed, so swapping the file after verification changes nothing.
 *
 * @example
 * ```ts
 * const loader = new PluginLoader(new PluginSecurity(policy, keys, trusted));
 * const plugin = await loader.load('plugins/libhello.so', 'trusted');
 * await plugin.init(context, runtime);
 * await plugin.registerHooks(hooks);
 * // …
 * await plugin.shutdown();
 * await plugin.unload();
 * ```
 */
export class PluginLoader {
  readonly #security: ArtifactVerifier;
  readonly #options: PluginLoaderOptions;

  /**
   * @param security - the admission gate: `PluginSecurity` of @plugward/security (anything with its `admit`).
   * @throws PluginError `InvalidArgument` for a verifier without `admit`, or an option that is not a positive integer.
   */
  constructor(security: ArtifactVerifier, options: PluginLoaderOptions = {}) {
    if (security === null || typeof security !== 'object' || typeof security.admit !== 'function') {
      throw new PluginError('InvalidArgument', 'PluginLoader needs a verifier with admit(path, trustLevel)');
    }
    nativeOptions(options); // validate now, not at the first native load
    this.#security = security;
    this.#options = { ...options };
  }

  /**
   * Admits and loads the artifact at `artifactPath`. The decision is the verifier's `admit` (`PluginSecurity.admit`):
   *
   * - `trusted`: hash, signature and trust entry must check out; the verified bytes are loaded here.
   * - `untrusted`: refused (`UntrustedPlugin`) under `onlyTrusted`; otherwise the bytes are hashed against the manifest
   *   and a handle with `mustSandbox: true` is returned — no plugin code runs here.
   *
   * @throws PluginError (`SecurityError`, `HashMismatch`, `UnknownSigner`, `InvalidSignature`, `UntrustedPlugin`,
   *   `SymbolNotFound`, `AbiIncompatible`, `InvalidPlugin`, `LoadError`, …).
   */
  async load(artifactPath: string, trustLevel: TrustLevel): Promise<LoadedPlugin> {
    if (typeof artifactPath !== 'string' || artifactPath.length === 0) {
      throw new PluginError('InvalidArgument', 'artifact path must be a non-empty string');
    }
    if (trustLevel !== 'trusted' && trustLevel !== 'untrusted') {
      throw new PluginError('InvalidArgument', `unknown trust level ${JSON.stringify(trustLevel)}`);
    }
    let verified: VerifiedArtifact;
    try {
      verified = await this.#security.admit(artifactPath, trustLevel);
    } catch (e) {
      throw toPluginError(e, 'SecurityError', `refusing to load ${artifactPath}: verification failed`);
    }
    if (trustLevel === 'untrusted') return new UntrustedPlugin(verified);
    return loadVerified(verified, { ...this.#options, trustLevel, signatureVerified: true });
  }

  /** {@link loadVerified} with this loader's options. */
  loadVerified(verified: VerifiedArtifact, options: LoadVerifiedOptions = {}): Promise<LoadedPlugin> {
    return loadVerified(verified, { ...this.#options, ...options });
  }
}

/**
 * Loads already-verified bytes: what `PluginLoader.load` does after admission, and what a plugin-side runtime does
 * with the copy the host verified and sent it. The bytes are first copied, the *copy* is hashed and must equal
 * `verified.hash` and the manifest's hash and size, and the copy is what gets loaded: neither a hand-made
 * VerifiedArtifact nor a caller that keeps changing its buffer after this call can smuggle other bytes in.
 * @throws PluginError `HashMismatch`, `InvalidManifest`, `UnbundledImport` (JS), `LoadError`, …
 */
export async function loadVerified(
  verified: VerifiedArtifact,
  options: LoadVerifiedOptions = {},
): Promise<LoadedPlugin> {
  const manifest = checkArtifactShape(verified);
  const native = nativeOptions(options);
  // Copy first, then hash: the caller's buffer may be changed at any await below, the copy can't.
  const bytes = verified.bytes.slice();
  const hash = hashBytes(bytes);
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
  // Never more trust than the artifact shows: an artifact without a trust entry is not reported as trusted by default.
  const listed = verified.trustEntry !== undefined;
  const admission = {
    trustLevel: options.trustLevel ?? (listed ? 'trusted' : 'untrusted'),
    signatureVerified: options.signatureVerified ?? listed,
  };
  switch (manifest.kind) {
    case 'native':
      return loadNativePlugin(own, admission, native);
    case 'js':
      return loadJsPlugin(own, admission, options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir });
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

function nativeOptions(options: PluginLoaderOptions): NativeLoadOptions {
  const maxHookOutputBytes = positiveInteger(
    options.maxHookOutputBytes ?? DEFAULT_MAX_FRAME_BYTES,
    'PluginLoader option maxHookOutputBytes',
  );
  const maxContextValueBytes = positiveInteger(
    options.maxContextValueBytes ?? DEFAULT_MAX_FRAME_BYTES,
    'PluginLoader option maxContextValueBytes',
  );
  return {
    tmpDir: options.tmpDir,
    inPlace: options.loadNativeInPlace === true,
    maxHookOutputBytes,
    maxContextValueBytes,
    log: options.log ?? (() => undefined),
  };
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
