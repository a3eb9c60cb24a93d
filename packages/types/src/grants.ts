import type { ContextAccess, FilesystemAccess, NetworkAccess, PluginRequirements } from './requirements.js';

/**
 * A hook an untrusted plugin may register on, and at which priorities. Lower priorities run first, so the default
 * range (`HookPriority.Low` and later) keeps an untrusted handler behind the trusted handlers of the usual bands.
 */
export interface HookGrant {
  /** The hook's name. */
  name: string;
  /** Earliest priority allowed (inclusive). Default: `HookPriority.Low` (300). */
  minPriority?: number;
  /** Latest priority allowed (inclusive). Default: no bound. */
  maxPriority?: number;
  /**
   * When true, a failure (error, timeout, bad return) of this plugin's handler fails the whole hook call, as a trusted
   * handler's would. Default false: the handler is skipped (the chain goes on with its input) and the failure is
   * reported as a `hook-error` event.
   */
  failuresFailCall?: boolean;
  /** Most handlers the plugin may have on this hook at once (each call runs them all). Default 4. */
  maxHandlers?: number;
}

/**
 * What the host grants one plugin (or every plugin of one signer). Each field is the most the plugin may get; it gets
 * the intersection of this and what its manifest requests, never more than it asked for. An absent field grants
 * nothing of that kind.
 */
export interface PluginGrant {
  network?: NetworkAccess;
  filesystem?: FilesystemAccess;
  context?: ContextAccess;
  /** For untrusted plugins: the hooks they may register on. None: every registration is refused (`GrantDenied`). */
  hooks?: readonly HookGrant[];
  /**
   * Binds the grant to one artifact (SHA3-512, lowercase hex). An untrusted plugin chooses its own name, so a grant by
   * name alone goes to any file that claims the name; set this to grant exactly the bytes you reviewed.
   */
  sha3_512?: string;
}

/** A grant to every plugin signed by one key. */
export interface SignerGrant extends PluginGrant {
  /**
   * The signer's Ed25519 public key (64 hex). The grant applies only when the plugin's manifest signature verifies
   * under this key and the key's id is the one the grant is filed under: a key id written into a manifest proves
   * nothing by itself.
   */
  publicKey: string;
}

/** The host's grant policy (`PluginRegistryOptions.grants`). */
export interface HostGrants {
  /** Grants by plugin name. Takes precedence over a signer grant that also applies. */
  plugins?: Readonly<Record<string, PluginGrant>>;
  /** Grants by signer key id (see @plugward/security `keyId`). */
  signers?: Readonly<Record<string, SignerGrant>>;
  /**
   * Caps on what a *trusted* plugin's signed manifest may obtain (the same intersection rule). Absent: a trusted
   * plugin gets its signed requirements, as the trust list approved them. Fields absent from the cap are not capped.
   */
  trustedCap?: Pick<PluginGrant, 'network' | 'filesystem' | 'context'>;
}

/** Where a plugin's effective grants came from. */
export type GrantSource = 'signed manifest' | 'trusted cap' | 'plugin grant' | 'signer grant' | 'none';

/** The outcome of the grant policy for one plugin: what it asked for, what it got, and why. */
export interface GrantDecision {
  /** What the manifest requested. */
  requested: PluginRequirements;
  /** What the plugin actually gets (sandbox, broker allow-list, context view). */
  granted: PluginRequirements;
  /** Hooks it may register on: `'any'` for trusted plugins, else the granted list (possibly empty). */
  hooks: 'any' | readonly HookGrant[];
  source: GrantSource;
  /** One sentence for a person: which grant applied and what was cut. */
  reason: string;
}
