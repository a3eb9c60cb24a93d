import path from 'node:path';
import type { Duplex } from 'node:stream';
import { hashBytes, readFileCapped, validateManifest } from '@plugward/security';
import {
  DEFAULT_MAX_ARTIFACT_BYTES,
  DEFAULT_RESOURCE_LIMITS,
  MANIFEST_SUFFIX,
  MINIMAL_REQUIREMENTS,
  type PluginContextApi,
  PluginError,
  type PluginKind,
  type SandboxBackend,
} from '@plugward/types';
import { type CodeDeclarations, codeDeclarations } from './declarations.js';
import { startOutOfProcess } from './tiers/out-of-process.js';

/** Options of {@link readPluginDeclarations}. */
export interface ReadDeclarationsOptions {
  /** The name and version the plugin must identify as (what the manifest will say). */
  name: string;
  version: string;
  /** Default: `native` for `.so`/`.dylib`/`.dll` files, else `js`. */
  kind?: PluginKind;
  /**
   * Where the plugin is loaded: `sandbox` (needs `sandbox`; the default when one is given) or `process` (a child
   * process that is not sandboxed: only when asked for by name).
   */
  tier?: 'process' | 'sandbox';
  sandbox?: SandboxBackend<Duplex>;
  /** Largest artifact read, bytes (DEFAULT_MAX_ARTIFACT_BYTES). */
  maxBytes?: number;
  /** Longest the plugin's `init` may take, ms (10 s). */
  timeoutMs?: number;
}

const NO_CONTEXT: PluginContextApi = {
  get: (key) => {
    throw new PluginError('ContextError', `context key ${String(key)} is not set (reading declarations)`);
  },
  set: () => undefined,
  remove: () => false,
  has: () => false,
  keys: () => [],
};

/**
 * What a plugin's code declares (`requirements()`, `resourceLimits()`; a native plugin's limits struct), read by
 * loading it as the registry would — in the sandbox, or in a child process where no sandbox exists — with the minimal
 * grants, so an author states them once in the code and `plugward sign` can copy them into the manifest. The artifact
 * needs no manifest yet (nothing is verified: it is the author's own build); it is started, initialised (its `init`
 * and `registerHooks` run, with an empty context) and stopped.
 * @throws PluginError `SandboxUnavailable`, `InvalidManifest` (bad name/version), `InvalidPlugin` (the plugin
 *   identifies as another name or version, or reports malformed declarations), `LoadError`, `Timeout`, …
 */
export async function readPluginDeclarations(
  artifactPath: string,
  options: ReadDeclarationsOptions,
): Promise<CodeDeclarations> {
  if (options.tier === undefined && options.sandbox === undefined) {
    // Never silently unsandboxed: a child process is the host's uid with its files and network.
    throw new PluginError(
      'SandboxUnavailable',
      'reading declarations needs a sandbox backend, or tier: "process" to read them in a child process that is not sandboxed',
    );
  }
  const tier = options.tier ?? 'sandbox';
  if (tier === 'sandbox' && options.sandbox === undefined) {
    throw new PluginError(
      'SandboxUnavailable',
      'reading declarations in the sandbox needs a sandbox backend',
    );
  }
  const kind = options.kind ?? (/\.(so|dylib|dll)(\.\d+)*$/.test(artifactPath) ? 'native' : 'js');
  const bytes = await readFileCapped(
    artifactPath,
    options.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES,
    'artifact',
  );
  const hash = hashBytes(bytes);
  // An unsigned stand-in manifest: the runtime loads only bytes that match a manifest, and checks the plugin's name.
  const manifest = validateManifest({
    manifestVersion: 1,
    name: options.name,
    version: options.version,
    author: 'unknown',
    kind,
    artifact: { file: path.basename(artifactPath), sha3_512: hash, size: bytes.length },
    signature: { algorithm: 'ed25519', keyId: '0'.repeat(16), value: '0'.repeat(128) },
  });
  let declared: unknown;
  const handle = await startOutOfProcess({
    tier,
    verified: { manifest, bytes, hash, artifactPath, manifestPath: artifactPath + MANIFEST_SUFFIX },
    requirements: MINIMAL_REQUIREMENTS,
    limits: { ...DEFAULT_RESOURCE_LIMITS },
    registrar: { register: () => undefined },
    context: NO_CONTEXT,
    log: () => undefined,
    sandbox: options.sandbox,
    initTimeoutMs: options.timeoutMs ?? 10_000,
    onInitialized: (d) => {
      declared = d;
    },
  });
  try {
    await handle.shutdown(2000);
  } catch {
    // The declarations were read; a failing shutdown of this throwaway load changes nothing.
  } finally {
    await handle.release(2000);
  }
  return codeDeclarations(declared, options.name);
}
