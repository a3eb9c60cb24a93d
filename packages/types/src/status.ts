import type { GrantDecision } from './grants.js';
import type { ResourceLimits } from './limits.js';
import type { PluginKind, TrustedPluginEntry } from './manifest.js';

/** Lifecycle state of a plugin in a registry. */
export const PluginStatus = Object.freeze({
  /** On disk (discovered), not loaded. */
  Available: 'Available',
  /** Loaded and serving hooks. */
  Active: 'Active',
  /** Was loaded; unloaded by the host, or automatically after violations. */
  Inactive: 'Inactive',
  /** Failed to load, or crashed; `error` says why. */
  Failed: 'Failed',
  /** Discovered but not trusted by the security policy. */
  Untrusted: 'Untrusted',
} as const);
/** See {@link PluginStatus}. */
export type PluginStatus = (typeof PluginStatus)[keyof typeof PluginStatus];

/**
 * How much a plugin is trusted: `'trusted'` — signed by a pinned key and on the trust list; `'untrusted'` — anything
 * else, which only ever runs in the sandbox tier, and only when the policy allows untrusted plugins.
 */
export type TrustLevel = 'trusted' | 'untrusted';

/** Where a plugin's code runs, fastest and least isolated first. */
export const IsolationTier = Object.freeze({
  InProcess: 'in-process',
  Worker: 'worker',
  Process: 'process',
  Sandbox: 'sandbox',
} as const);
/** See {@link IsolationTier}. */
export type IsolationTier = (typeof IsolationTier)[keyof typeof IsolationTier];

/** All tiers, least isolated first. */
export const ISOLATION_TIERS: readonly IsolationTier[] = Object.freeze([
  'in-process',
  'worker',
  'process',
  'sandbox',
]);

/**
 * How the processes of a `process`-tier plugin are held together, so that none outlives the plugin or its host.
 * `pid-namespace`: the runtime runs in a pid namespace of its own (with a user namespace when `userNamespace`: hosts
 * that are not root) whose pid 1 is a small init the host starts, ended with the plugin and by the host's death — every
 * process the plugin starts, however it detaches, ends with it. `process-group`: the fallback where no such namespace
 * can be made (`reason` says why): the runtime's process group is ended with it, but a process that leaves the group
 * (`setsid`, `setpgid`) or is still running when the host is killed with SIGKILL is not.
 */
export type ProcessContainment =
  | { mechanism: 'pid-namespace'; userNamespace: boolean }
  | { mechanism: 'process-group'; reason: string };

/** What a registry knows about one plugin: identity, state, trust, tier and process. */
export interface PluginInfo {
  name: string;
  version: string;
  author: string;
  /** Markdown. */
  description?: string;
  kind: PluginKind;
  status: PluginStatus;
  trustLevel: TrustLevel;
  /** Path of the artifact on disk. */
  path: string;
  /** SHA3-512 of the artifact, lowercase hex. */
  hash?: string;
  /** Artifact size, bytes. */
  size: number;
  /** Artifact modification time, ms since the epoch. */
  modified: number;
  /** The trust list entry that made it trusted. */
  trustInfo?: TrustedPluginEntry;
  /** Why the plugin is `Failed` / `Inactive` / `Untrusted`. */
  error?: string;
  resourceLimits: ResourceLimits;
  /** The tier it runs at, once loaded. */
  tier?: IsolationTier;
  /** Its process id at the process and sandbox tiers (as the host sees it: the runtime's, not a wrapper's). */
  pid?: number;
  /** At the `process` tier, once loaded: how its processes are ended with it (see {@link ProcessContainment}). */
  processContainment?: ProcessContainment;
  /**
   * What its manifest requested and what the host's grant policy gave it (set from discovery on; recomputed from the
   * verified manifest at load). Show it to a person before approving a grant.
   */
  grants?: GrantDecision;
  /** Other files that claimed this plugin's name and lost (trust wins), with the reason. */
  nameConflicts?: { path: string; reason: string }[];
}
