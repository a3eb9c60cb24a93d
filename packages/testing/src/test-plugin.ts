import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  chooseSandboxBackend,
  type IsolationTier,
  PluginError,
  type PluginInfo,
  type PluginKind,
  PluginRegistry,
  type PluginRequirements,
  PluginSecurity,
  type ResourceLimits,
  readPluginDeclarations,
  type SandboxPreference,
  saveTrustList,
  trustEntryFromManifest,
} from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';
import { isPlugin } from '@plugward/types';

/** Options of {@link testPlugin}. */
export interface TestPluginOptions {
  /** Where the plugin runs (default `in-process`). Requirements asking for network/filesystem raise it out of process. */
  tier?: IsolationTier;
  /** `js` or `native`; default: `native` for `.so`/`.dylib`/`.dll`, else `js`. */
  kind?: PluginKind;
  /**
   * The identity the manifest is signed with. A JS plugin's own `name`/`version`/`author`, `requirements()` and
   * `resourceLimits()` are read from its default export when these are absent (the file is imported once in this
   * process for that); a native plugin needs `name` and `version` here.
   */
  name?: string;
  version?: string;
  author?: string;
  /** Requirements to sign into the manifest (the only place a plugin's grants come from). */
  requirements?: PluginRequirements;
  /** Limits to sign into the manifest. */
  limits?: Partial<ResourceLimits>;
  /** Context values set before the plugin's `init` (the plugin needs the matching `requirements.context` keys). */
  context?: Readonly<Record<string, unknown>>;
  /** Which sandbox backend runs the `sandbox` tier (default `auto`). */
  sandbox?: SandboxPreference;
  /** Where the plugin's log lines go (default: nowhere). The text is the plugin's: escape it before printing. */
  log?: (plugin: string, level: string, message: string) => void;
}

/** A plugin loaded by {@link testPlugin}. Close it (or `await using` it) to unload and remove every temp file. */
export interface TestedPlugin extends AsyncDisposable {
  /** The plugin's name (from its manifest). */
  readonly name: string;
  /** The tier it actually runs at. */
  readonly tier: IsolationTier;
  /** The pid of its process (`process`/`sandbox` tiers), else this process's pid. */
  readonly pid: number;
  /** The registry hosting it, for anything the helpers below don't cover (context, metrics, events). */
  readonly registry: PluginRegistry;
  /** Its `PluginInfo` now. */
  info(): PluginInfo;
  /** Runs the hook chain `hook` on `data` (a string is UTF-8 encoded) and returns the bytes it produced. */
  call(hook: string, data?: Uint8Array | string): Promise<Uint8Array>;
  /** The same, decoded as UTF-8. */
  callText(hook: string, data?: Uint8Array | string): Promise<string>;
  /** The same with JSON in and out. */
  callJson<T = unknown>(hook: string, value: unknown): Promise<T>;
  /** Unloads the plugin (its `shutdown` runs), ends its process and removes the temp directory. Idempotent. */
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const NATIVE_RE = /\.(so|dylib|dll)(\.\d+)*$/;

interface Identity {
  name: string;
  version: string;
  author: string;
  requirements?: PluginRequirements;
  limits?: Partial<ResourceLimits>;
}

/** Reads a JS plugin's declarations from its default export (the author's own code, imported in this process). */
async function jsIdentity(file: string): Promise<Partial<Identity>> {
  const url = `${pathToFileURL(file).href}?plugward-testing=${randomBytes(6).toString('hex')}`;
  const mod = (await import(url)) as { default?: unknown };
  if (!isPlugin(mod.default)) {
    throw new PluginError(
      'InvalidPlugin',
      `${file}: its default export is not a plugin (name, init, registerHooks)`,
    );
  }
  const p = mod.default as unknown as {
    name: string;
    version?: unknown;
    author?: unknown;
    requirements?: () => PluginRequirements | undefined;
    resourceLimits?: () => Partial<ResourceLimits> | undefined;
  };
  const requirements = p.requirements?.();
  const limits = p.resourceLimits?.();
  return {
    name: p.name,
    ...(typeof p.version === 'string' ? { version: p.version } : {}),
    ...(typeof p.author === 'string' ? { author: p.author } : {}),
    ...(requirements === undefined ? {} : { requirements }),
    ...(limits === undefined ? {} : { limits }),
  };
}

async function identityOf(
  file: string,
  kind: PluginKind,
  tier: IsolationTier,
  options: TestPluginOptions,
  sandbox: Awaited<ReturnType<typeof chooseSandboxBackend>>['backend'],
): Promise<Identity> {
  const missing = options.name === undefined || options.version === undefined;
  if (missing && kind === 'js' && tier !== 'in-process') {
    // Reading them would mean importing the plugin here, in the host, with less isolation than the tier asked for.
    throw new PluginError(
      'InvalidArgument',
      `testPlugin(${file}): at the ${tier} tier give the name and version options (the plugin's code runs only at that tier, never in this process)`,
    );
  }
  let declared: Partial<Identity> = kind === 'js' && missing ? await jsIdentity(file) : {};
  if (
    tier !== 'in-process' &&
    (options.requirements === undefined || options.limits === undefined) &&
    options.name !== undefined &&
    options.version !== undefined
  ) {
    // The code's declarations, read at the tier's isolation (the sandbox for `sandbox`, else a child process).
    const d = await readPluginDeclarations(file, {
      name: options.name,
      version: options.version,
      kind,
      ...(sandbox === undefined ? { tier: 'process' as const } : { tier: 'sandbox' as const, sandbox }),
    });
    declared = { requirements: d.requirements, limits: d.limits };
  }
  const name = options.name ?? declared.name;
  const version = options.version ?? declared.version;
  if (name === undefined || version === undefined) {
    throw new PluginError(
      'InvalidArgument',
      `testPlugin(${file}): a native plugin needs the name and version options`,
    );
  }
  const requirements = options.requirements ?? declared.requirements;
  const limits = options.limits ?? declared.limits;
  return {
    name,
    version,
    author: options.author ?? declared.author ?? 'plugward-testing',
    ...(requirements === undefined ? {} : { requirements }),
    ...(limits === undefined ? {} : { limits }),
  };
}

function bytesOf(data: Uint8Array | string | undefined): Uint8Array {
  return typeof data === 'string' ? enc.encode(data) : (data ?? new Uint8Array(0));
}

/**
 * Loads the plugin at `file` (a JS bundle or a native library, unsigned) in a fresh `PluginRegistry` at `options.tier`:
 * it copies the file into a private temp directory, signs it there with a throwaway Ed25519 key, puts it on a
 * throwaway encrypted trust list and loads it as a trusted plugin — the same path a host takes, so a test that passes
 * at a tier here passes in a host at that tier. `close()` leaves nothing behind (no process, no temp file, no trust
 * floor record).
 *
 * @example
 * ```ts
 * for (const tier of ['in-process', 'worker', 'process', 'sandbox'] as const) {
 *   const p = await testPlugin('dist/plugin.js', { tier });
 *   try {
 *     expect(await p.callText('on_request', 'hi')).toBe('HI');
 *   } finally {
 *     await p.close();
 *   }
 * }
 * ```
 * @throws PluginError from loading (`InvalidPlugin`, `LoadError`, `SandboxUnavailable` when the `sandbox` tier can't
 * run here, …); nothing is left behind when it throws.
 */
export async function testPlugin(file: string, options: TestPluginOptions = {}): Promise<TestedPlugin> {
  const source = path.resolve(file);
  const kind: PluginKind = options.kind ?? (NATIVE_RE.test(source) ? 'native' : 'js');
  const tier = options.tier ?? 'in-process';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-testing-'));
  let registry: PluginRegistry | undefined;
  let name = '';
  const cleanup = async (): Promise<void> => {
    try {
      await registry?.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    let sandbox: Awaited<ReturnType<typeof chooseSandboxBackend>>['backend'];
    if (tier === 'sandbox') {
      const choice = await chooseSandboxBackend({ prefer: options.sandbox ?? 'auto' });
      if (choice.backend === undefined) {
        throw new PluginError('SandboxUnavailable', `the sandbox tier can't run here: ${choice.reason}`);
      }
      sandbox = choice.backend;
    }
    const id = await identityOf(source, kind, tier, options, sandbox);
    const artifact = path.join(dir, path.basename(source));
    fs.copyFileSync(source, artifact);
    const keys = generateKeyPair();
    const manifest = await writeSignedManifest(
      {
        artifactPath: artifact,
        name: id.name,
        version: id.version,
        author: id.author,
        kind,
        ...(id.requirements === undefined ? {} : { requirements: id.requirements }),
        ...(id.limits === undefined ? {} : { limits: id.limits }),
      },
      keys.privateKey,
    );
    const listPath = path.join(dir, 'trust.enc');
    const listKey = randomBytes(32).toString('hex');
    const floorDir = path.join(dir, 'floors');
    await saveTrustList(
      listPath,
      { listVersion: 1, entries: [trustEntryFromManifest(manifest, keys.publicKey)] },
      listKey,
      { floorDir },
    );
    const security = new PluginSecurity(
      { onlyTrusted: true, trustListPath: listPath, rollbackFloorDir: floorDir },
      [toHex(keys.publicKey)],
      [],
    );
    await security.loadAndDecryptTrustList(listKey);
    if (sandbox === undefined && id.requirements !== undefined && tier !== 'process') {
      sandbox = (await chooseSandboxBackend({ prefer: options.sandbox ?? 'auto' })).backend;
    }
    registry = new PluginRegistry({
      security,
      defaultTier: tier,
      tierOverrides: { [id.name]: tier },
      ...(sandbox === undefined ? {} : { sandbox }),
      log: options.log ?? (() => undefined),
    });
    for (const [key, value] of Object.entries(options.context ?? {})) registry.context.set(key, value);
    name = await registry.loadPlugin(artifact, 'trusted');
  } catch (e) {
    await cleanup();
    throw e;
  }
  const reg = registry;
  const current = (): PluginInfo => {
    const info = reg.getPluginInfo(name);
    if (info === undefined) throw new PluginError('NotFound', `plugin ${name} is no longer in its registry`);
    return info;
  };
  const info = current();
  let closed: Promise<void> | undefined;
  const call = (hook: string, data?: Uint8Array | string) => reg.hooks.execute(hook, bytesOf(data));
  return {
    name,
    tier: info.tier ?? tier,
    pid: info.pid ?? process.pid,
    registry: reg,
    info: current,
    call,
    callText: async (hook, data) => dec.decode(await call(hook, data)),
    callJson: async <T>(hook: string, value: unknown) =>
      JSON.parse(dec.decode(await call(hook, JSON.stringify(value)))) as T,
    close() {
      closed ??= cleanup();
      return closed;
    },
    [Symbol.asyncDispose]() {
      closed ??= cleanup();
      return closed;
    },
  };
}
