import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { compileNativePlugin } from '@plugward/loader';
import {
  type PluginRegistry,
  type PluginRegistryOptions,
  PluginSecurity,
  readManifest,
  saveTrustList,
  trustEntryFromManifest,
} from '@plugward/registry';
import { generateKeyPair, toHex, writeSignedManifest } from '@plugward/security';
import {
  isPluginError,
  type PluginError,
  type PluginRequirements,
  type ResourceLimits,
  type SandboxBackend,
  type TrustedPluginEntry,
  toPluginError,
} from '@plugward/types';
import { waitForNoLeftovers } from './leftovers.js';
import { type JsAttackSource, jsAttack, type NativeAttackSource, nativeAttack } from './plugin-source.js';

/**
 * Builds the registry of one attack. The kit passes the options it needs (security, the backend under test as
 * `sandbox`, `policy: { onlyTrusted: false }`, a `log` sink it reads reports from); a factory may add to them but must
 * pass these through. Default: `new PluginRegistry(options)`.
 */
export type RegistryFactory = (options: PluginRegistryOptions) => PluginRegistry | Promise<PluginRegistry>;

/** Thrown by an attack when this machine lacks what it needs (e.g. a C compiler); the result is `skipped`. */
export class AttackSkipped extends Error {
  override readonly name = 'AttackSkipped';
}

/** One log line the registry handed to the host's `log` sink. */
export interface LogLine {
  plugin: string;
  level: string;
  message: string;
}

/** How loading an untrusted plugin ended: loaded, or refused with a (coded) error. */
export type LoadOutcome =
  | { loaded: true; name: string }
  | { loaded: false; name: string; error: PluginError };

/** What a plugin file is signed with and asks for in its manifest. */
export interface PluginFileOptions {
  requirements?: PluginRequirements;
  limits?: Partial<ResourceLimits>;
  /** Sign with the pinned publisher key and put on the trust list (default: the stranger's throwaway key). */
  trusted?: boolean;
  /** Sub-directory of the scene's directory (default `untrusted` or `trusted`). */
  subdir?: string;
  /** File name (default `<name>.mjs` / `lib<name>.so`). */
  file?: string;
}

/** What {@link Scene.start} sets up besides the probe. */
export interface StartOptions {
  /** Extra registry options (the kit's own win on conflict). */
  registryOptions?: Partial<PluginRegistryOptions>;
  /** Scan this sub-directory after the probe is loaded (name-shadowing attacks). */
  scan?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The hooks the trusted probe answers on, and what it answers. */
export const PROBE_HOOKS = Object.freeze({
  /** `ok:<input>`: the host is healthy when this comes back unchanged. */
  health: 'kit.health',
  /** `trusted(<input>)`: a chain the host never opened to untrusted plugins. */
  chain: 'kit.chain',
  /** `trusted-ok`: a trusted handler whose call must not fail because of an untrusted one. */
  fail: 'kit.fail',
  /** `late`: a hook nobody else may be registered on after their unload. */
  late: 'kit.late',
});

function probeSource(name: string): string {
  return `const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
export default {
  name: ${JSON.stringify(name)},
  version: '1.0.0',
  author: 'pwkit host',
  init() {},
  registerHooks(hooks) {
    hooks.register(${JSON.stringify(PROBE_HOOKS.health)}, 100, (d) => enc('ok:' + dec(d)));
    hooks.register(${JSON.stringify(PROBE_HOOKS.chain)}, 100, (d) => enc('trusted(' + dec(d) + ')'));
    hooks.register(${JSON.stringify(PROBE_HOOKS.fail)}, 100, () => enc('trusted-ok'));
  },
};
`;
}

/**
 * The world of one attack: a fresh directory, a pinned publisher key and a stranger's throwaway key (never pinned),
 * an encrypted trust list, a trusted in-process probe plugin, and a registry over the backend under test with
 * `policy: { onlyTrusted: false }` — the way `examples/host-demo` hosts an untrusted plugin. Everything a plugin of
 * this scene is named after carries the scene's `nonce`, so its processes and cgroups can be told from others'.
 */
export class Scene {
  /** 8 hex digits in every plugin name, file name and cgroup of this scene. */
  readonly nonce = randomBytes(4).toString('hex');
  readonly dir: string;
  readonly logs: LogLine[] = [];
  readonly publisher = generateKeyPair();
  /** The untrusted signer: a key nobody pinned. */
  readonly stranger = generateKeyPair();
  readonly probeName: string;
  #registry: PluginRegistry | undefined;
  readonly #trusted: TrustedPluginEntry[] = [];
  readonly #cleanups: (() => unknown)[] = [];
  #listeners: (() => void)[] = [];

  constructor(
    readonly backend: SandboxBackend<Duplex>,
    readonly registryFactory: RegistryFactory,
    readonly attackId: string,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwkit-'));
    this.probeName = this.pluginName('probe');
  }

  /** A plugin name of this scene: `kit-<tag>-<nonce>`. */
  pluginName(tag: string): string {
    return `kit-${tag}-${this.nonce}`;
  }

  /** The registry (after {@link start}). */
  get registry(): PluginRegistry {
    if (!this.#registry) throw new Error(`attack ${this.attackId}: scene.start() was not called`);
    return this.#registry;
  }

  get started(): boolean {
    return this.#registry !== undefined;
  }

  /** Runs `fn` when the scene closes (servers, host-side resources), before the directory goes. */
  onClose(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  /** Writes a hostile JS plugin and signs it (by the stranger unless `trusted`); returns the artifact path. */
  async jsPlugin(src: JsAttackSource, opts: PluginFileOptions = {}): Promise<string> {
    return this.jsFile(jsAttack(src), src.name, opts);
  }

  /** Writes any JS plugin text and signs it; returns the artifact path. */
  async jsFile(text: string, name: string, opts: PluginFileOptions = {}): Promise<string> {
    const dest = path.join(
      this.dir,
      opts.subdir ?? (opts.trusted ? 'trusted' : 'untrusted'),
      opts.file ?? `${name}.mjs`,
    );
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, text);
    await this.#sign(dest, name, 'js', opts);
    return dest;
  }

  /**
   * Compiles a hostile native plugin with the system C compiler and signs it; returns the artifact path.
   * @throws AttackSkipped when there is no C compiler.
   */
  async nativePlugin(src: NativeAttackSource, opts: PluginFileOptions = {}): Promise<string> {
    const dest = path.join(
      this.dir,
      opts.subdir ?? (opts.trusted ? 'trusted' : 'untrusted'),
      opts.file ?? `lib${src.name}.so`,
    );
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const c = path.join(this.dir, `${src.name}.c`);
    fs.writeFileSync(c, nativeAttack(src));
    try {
      await compileNativePlugin({ sources: [c], output: dest });
    } catch (e) {
      if (isPluginError(e, 'Unsupported'))
        throw new AttackSkipped(`native attack needs a C compiler: ${e.message}`);
      throw e;
    }
    await this.#sign(dest, src.name, 'native', opts);
    return dest;
  }

  async #sign(dest: string, name: string, kind: 'js' | 'native', opts: PluginFileOptions): Promise<void> {
    await writeSignedManifest(
      {
        artifactPath: dest,
        name,
        version: '1.0.0',
        author: opts.trusted ? 'pwkit host' : 'pwkit attacker',
        kind,
        ...(opts.limits ? { limits: opts.limits } : {}),
        ...(opts.requirements ? { requirements: opts.requirements } : {}),
      },
      (opts.trusted ? this.publisher : this.stranger).privateKey,
    );
    if (opts.trusted)
      this.#trusted.push(trustEntryFromManifest(await readManifest(dest), this.publisher.publicKey));
  }

  /**
   * Saves the trust list, builds the registry (through the factory) and loads the trusted probe in process. Trusted
   * plugins other than the probe must be written before this.
   */
  async start(opts: StartOptions = {}): Promise<PluginRegistry> {
    if (this.#registry) return this.#registry;
    const probe = await this.jsFile(probeSource(this.probeName), this.probeName, { trusted: true });
    const listPath = path.join(this.dir, 'trust.enc');
    const listKey = randomBytes(32).toString('hex');
    await saveTrustList(listPath, { listVersion: 1, entries: [...this.#trusted] }, listKey);
    const security = new PluginSecurity(
      { onlyTrusted: false, trustListPath: listPath },
      [toHex(this.publisher.publicKey)],
      [],
    );
    await security.loadAndDecryptTrustList(listKey);
    const registry = await this.registryFactory({
      ...opts.registryOptions,
      security,
      sandbox: this.backend,
      policy: { ...opts.registryOptions?.policy, onlyTrusted: false },
      tierOverrides: { ...opts.registryOptions?.tierOverrides, [this.probeName]: 'in-process' },
      log: (plugin, level, message) => {
        this.logs.push({ plugin, level, message });
        for (const l of this.#listeners) l();
      },
    });
    this.#registry = registry;
    await registry.loadPlugin(probe, 'trusted');
    if (opts.scan) await registry.scanDirectory(path.join(this.dir, opts.scan));
    return registry;
  }

  /** Loads a plugin file as untrusted (it may only run in the sandbox); a refusal is an outcome, not a throw. */
  async loadUntrusted(artifactPath: string): Promise<LoadOutcome> {
    return this.load(artifactPath, 'untrusted');
  }

  /** Loads a plugin file at a trust level; a refusal is an outcome, not a throw. */
  async load(artifactPath: string, trustLevel: 'trusted' | 'untrusted'): Promise<LoadOutcome> {
    const name = (await readManifest(artifactPath)).name;
    try {
      await this.registry.loadPlugin(artifactPath, trustLevel);
      return { loaded: true, name };
    } catch (e) {
      return { loaded: false, name, error: toPluginError(e, 'LoadError', `loading ${name} failed`) };
    }
  }

  /** The `PWKIT` reports of `plugin` so far: key → last value. */
  reports(plugin: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const l of this.logs) {
      if (l.plugin !== plugin && !l.plugin.includes(plugin)) continue;
      const at = l.message.indexOf('PWKIT ');
      if (at < 0) continue;
      const rest = l.message.slice(at + 6);
      const sp = rest.indexOf(' ');
      out[sp < 0 ? rest : rest.slice(0, sp)] = sp < 0 ? '' : rest.slice(sp + 1);
    }
    return out;
  }

  /** Waits until `plugin` reported `key` (default `done`) or `timeoutMs` passed; returns its reports either way. */
  async waitForReport(plugin: string, key = 'done', timeoutMs = 5000): Promise<Record<string, string>> {
    const deadline = Date.now() + timeoutMs;
    while (this.reports(plugin)[key] === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(1, Math.min(200, deadline - Date.now())));
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.#listeners.push(done);
      });
      this.#listeners = [];
    }
    return this.reports(plugin);
  }

  /** Loads a plugin (untrusted unless said otherwise) and waits for its init reports. */
  async attack(
    artifactPath: string,
    timeoutMs = 8000,
    trustLevel: 'trusted' | 'untrusted' = 'untrusted',
  ): Promise<{ load: LoadOutcome; reports: Record<string, string> }> {
    const load = await this.load(artifactPath, trustLevel);
    const reports = load.loaded
      ? await this.waitForReport(load.name, 'done', timeoutMs)
      : this.reports(load.name);
    return { load, reports };
  }

  /**
   * The health check of an attack that closes the registry itself (it tests `close()`): taken by the attack just
   * before it closes, and used instead of the check after the attack.
   */
  healthBeforeClose: { ok: boolean; evidence: string } | undefined;

  /** (2) The host is healthy: the trusted probe answers its hook unchanged and the host's own context writes work. */
  async checkHealth(): Promise<{ ok: boolean; evidence: string }> {
    const registry = this.registry;
    const problems: string[] = [];
    try {
      const input = `h-${this.nonce}`;
      const out = dec.decode(
        await withTimeout(registry.hooks.execute(PROBE_HOOKS.health, enc.encode(input)), 5000, 'health hook'),
      );
      if (out !== `ok:${input}`) problems.push(`probe answered ${JSON.stringify(out.slice(0, 60))}`);
    } catch (e) {
      problems.push(`probe hook failed: ${(e as Error).message}`);
    }
    if (!registry.isLoaded(this.probeName)) problems.push('the trusted probe is no longer loaded');
    try {
      const key = `kit.host.${this.nonce}`;
      registry.context.set(key, enc.encode('host'));
      if (!registry.context.has(key)) problems.push("the host's context.set did not stick");
      registry.context.remove(key);
    } catch (e) {
      problems.push(`the host's own context.set failed: ${(e as Error).message}`);
    }
    return problems.length === 0
      ? { ok: true, evidence: 'the trusted in-process probe answered and the host context accepts writes' }
      : { ok: false, evidence: problems.join('; ') };
  }

  /** Closes the registry and the scene's own resources. */
  async close(): Promise<void> {
    if (this.#registry) await withTimeout(this.#registry.close(), 60_000, 'registry.close()').catch(() => {});
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  }

  /**
   * (3) Nothing of this scene is left: no process whose command line names its nonce, no cgroup naming it — nor a
   * sandbox of its registry's warm pool (started before any plugin was known, it names no nonce: its cgroup and warm
   * folder name the pool's id), idle or serving a plugin.
   */
  async checkLeftovers(): Promise<{ ok: boolean; evidence: string }> {
    const pool = this.#registry?.warmPool?.id;
    const left = await waitForNoLeftovers(
      pool === undefined ? [this.nonce] : [this.nonce, `-${pool}-`],
      3000,
    );
    if (left.processes.length === 0 && left.cgroups.length === 0)
      return { ok: true, evidence: 'no plugin process or cgroup left after registry.close()' };
    return {
      ok: false,
      evidence: `left after registry.close(): ${[...left.processes, ...left.cgroups].slice(0, 3).join('; ')}`,
    };
  }

  /** Removes the scene's directory. */
  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Rejects after `ms` unless `p` settled. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}
