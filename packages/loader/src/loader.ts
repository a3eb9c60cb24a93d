import os from 'node:os';
import path from 'node:path';
import { hashBytes, type PrivateDirectoryProblem, privateLocationProblem } from '@plugward/security';
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
import type { NativeLoadOptions } from './native-plugin.js';
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
  /**
   * Imports a JS plugin's private copy (its `file:` URL). Default: this module's own `import()`. For code that can't
   * call `import()` itself — a script compiled from a V8 code cache by `vm.Script` loses its dynamic-import callback on
   * Node 20 — so it hands in an `import()` compiled elsewhere. It must import exactly the specifier it is given.
   */
  importModule?: (specifier: string) => Promise<unknown>;
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
    assertCopiesStayPrivate(this.#options.tmpDir);
    return loadVerified(verified, { ...this.#options, trustLevel, signatureVerified: true });
  }

  /**
   * {@link loadVerified} with this loader's options, as a host loads: the folder its private copies go to (`tmpDir`,
   * else `os.tmpdir()`) must be safe from other users, else `SecurityError` (`details.reason` `copy-not-private`).
   */
  async loadVerified(verified: VerifiedArtifact, options: LoadVerifiedOptions = {}): Promise<LoadedPlugin> {
    const merged = { ...this.#options, ...options };
    assertCopiesStayPrivate(merged.tmpDir);
    return loadVerified(verified, merged);
  }
}

/**
 * A host's private copies of verified bytes go into fresh 0700 folders under `tmpDir`; whoever can write `tmpDir` or
 * a folder above it (a `TMPDIR` others can write, without the sticky bit) can rename such a folder away and put other
 * bytes at its path before they are imported or mapped. Checked by the host-facing `PluginLoader` only: the free
 * {@link loadVerified} also serves a plugin-side runtime, whose temporary folder is its sandbox's own (and where the
 * host's root-owned folders show as another user's: the user namespace maps them to the overflow uid).
 */
function assertCopiesStayPrivate(tmpDir: string = os.tmpdir()): void {
  let found: PrivateDirectoryProblem | undefined;
  try {
    found = privateLocationProblem(path.join(tmpDir, 'plugward-load-'));
  } catch (cause) {
    throw new PluginError('SecurityError', `cannot inspect the private copy folder ${tmpDir}`, { cause });
  }
  if (found === undefined) return;
  throw new PluginError(
    'SecurityError',
    `private copies of verified plugins can't go under ${tmpDir}: another user could swap them before they are loaded (${found.message}); set the loader's tmpDir (or TMPDIR) to a folder only this user can change`,
    { details: { reason: 'copy-not-private', path: found.path, problem: found.reason } },
  );
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
    case 'native': {
      // Loaded on first use: koffi (a native addon) costs every plugin process ≈ 10 ms of start-up; JS plugins never
      // need it (a sandbox's lockdown loads its own copy before the runtime, in the preload or the launcher).
      const { loadNativePlugin } = await import('./native-plugin.js');
      return loadNativePlugin(own, admission, native);
    }
    case 'js':
      return loadJsPlugin(own, admission, {
        ...(options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir }),
        ...(options.importModule === undefined ? {} : { importModule: options.importModule }),
      });
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
