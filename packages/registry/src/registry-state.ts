// The state `PluginRegistry` shares with the files of its seams, and the small helpers over it.
// Internal to @plugward/registry: src/index.ts exports none of it.
import type { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { mergeLimits, ViolationTracker, type ViolationTrackerOptions } from '@plugward/limits';
import type { FetchBrokerOptions } from '@plugward/sandbox-linux';
import {
  displayText,
  type HostGrants,
  type IsolationTier,
  PluginError,
  type PluginInfo,
  type PluginManifest,
  type PluginMetrics,
  type ResourceLimits,
  type TrustLevel,
  toPluginError,
  type UnmountBehavior,
} from '@plugward/types';
import type { RegistryEventName, RegistryEvents } from './events.js';
import type { PluginQuotaOptions } from './quotas.js';
import type { PluginRegistry } from './registry.js';
import type { TierHandle } from './tiers/tier.js';

/**
 * The registry's internal state, shared by the files of its seams (discovery, admission, lifecycle, violations,
 * monitoring): one object per `PluginRegistry`, created by its constructor and never exported from the package. The
 * functions of each seam take it as their first argument instead of reaching into the class's private fields.
 */
export interface RegistryState
  extends Pick<
    PluginRegistry,
    'security' | 'loader' | 'hooks' | 'context' | 'sandbox' | 'warmPool' | 'policy'
  > {
  readonly events: EventEmitter;
  /** Every plugin the registry knows, by name. */
  readonly entries: Map<string, Entry>;
  readonly defaultTier: IsolationTier;
  readonly overrides: Readonly<Record<string, IsolationTier>>;
  readonly hostLimits: ResourceLimits;
  /** The default unmount behaviour (`setUnmountBehavior(b)`). */
  unmount: UnmountBehavior;
  /** Per-plugin unmount behaviours, by plugin name (`setUnmountBehavior(name, b)`). */
  readonly unmountByName: Map<string, UnmountBehavior>;
  readonly violationRules: ViolationTrackerOptions;
  /** Aborted by close(): cuts the grace period of pending automatic unmounts short. */
  readonly closing: AbortController;
  readonly log: (plugin: string, level: string, message: string) => void;
  readonly fetchBrokerOptions: Omit<FetchBrokerOptions, 'allowedTargets'>;
  readonly grants: HostGrants;
  readonly quotas: PluginQuotaOptions;
  closed: boolean;
  readonly monitors: Set<AbortController>;
  /** Every loadPlugin call in progress, from its first line. */
  readonly loading: Set<Promise<string>>;
}

/** One plugin the registry knows, in any state. */
export interface Entry {
  info: PluginInfo;
  handle?: TierHandle;
  tracker: ViolationTracker;
  /** Set while a load or unload of this name is in progress. */
  busy?: Promise<unknown>;
  /** False once unloading started: wrapped handlers refuse to call into the plugin. */
  alive: boolean;
  inFlight: number;
  idle?: () => void;
  /** The monitor's previous reading (CPU time is judged between two readings). */
  lastMetrics?: PluginMetrics;
  /** An automatic unmount started by a violation, until it is done. */
  unmounting?: Promise<void>;
  /** True from the start of its load until its unload starts: the only time its hook registrations are accepted. */
  registrationsOpen: boolean;
}

/** Longest plugin-controlled text the default log printer shows, characters. */
export const MAX_LOG_MESSAGE_CHARS = 2000;
/**
 * Longest `PluginInfo.error`, characters. Errors can carry text the plugin chose (its init error, over IPC): stored
 * escaped by `displayText`, so a host can print the info as is.
 */
export const MAX_ERROR_CHARS = 500;

/**
 * `err` with its message bounded and escaped (a plugin writes error messages: an init or hook failure that comes back
 * over IPC carries its text). The original stays reachable as `cause`.
 */
export function displayError(err: PluginError): PluginError {
  const shown = displayText(err.message, MAX_ERROR_CHARS);
  if (shown === err.message) return err;
  return new PluginError(err.code, shown, {
    cause: err,
    ...(err.plugin === undefined ? {} : { plugin: displayText(err.plugin) }),
    ...(err.details === undefined ? {} : { details: err.details }),
  });
}

/** Emits a registry event to every listener; a throwing listener is logged, never thrown to the caller. */
export function emit<E extends RegistryEventName>(
  s: RegistryState,
  event: E,
  payload: RegistryEvents[E],
): void {
  // A throwing listener must not break the registry's own bookkeeping.
  for (const l of s.events.listeners(event)) {
    try {
      (l as (p: RegistryEvents[E]) => void)(payload);
    } catch (e) {
      s.log('registry', 'error', `listener of ${event} threw: ${(e as Error).message}`);
    }
  }
}

/** The one query over the entries: copies of the infos that match. */
export function select(s: RegistryState, match: (info: PluginInfo) => boolean): PluginInfo[] {
  const out: PluginInfo[] = [];
  for (const e of s.entries.values()) if (match(e.info)) out.push({ ...e.info });
  return out;
}

/** How many entries match. */
export function count(s: RegistryState, match: (info: PluginInfo) => boolean): number {
  let n = 0;
  for (const e of s.entries.values()) if (match(e.info)) n++;
  return n;
}

/** The entry of `name`; `NotFound` for a name the registry doesn't know. */
export function mustGet(s: RegistryState, name: string): Entry {
  const e = s.entries.get(name);
  if (!e) throw new PluginError('NotFound', `no plugin named ${name}`, { plugin: name });
  return e;
}

/** Throws `LoadError` once the registry is closed. */
export function assertOpen(s: RegistryState): void {
  if (s.closed) throw new PluginError('LoadError', 'the registry is closed');
}

/** A fresh entry for `info`, with its own violation tracker. */
export function newEntry(s: RegistryState, info: PluginInfo): Entry {
  return {
    info,
    tracker: new ViolationTracker(s.violationRules),
    alive: false,
    inFlight: 0,
    registrationsOpen: false,
  };
}

/** The `PluginInfo` a manifest describes (status `Available`, limits capped by the host's). */
export function infoFrom(
  s: RegistryState,
  manifest: PluginManifest,
  artifactPath: string,
  stat: { size: number; mtimeMs: number },
  trustLevel: TrustLevel,
): PluginInfo {
  return {
    name: manifest.name,
    version: manifest.version,
    author: manifest.author,
    ...(manifest.description === undefined ? {} : { description: manifest.description }),
    kind: manifest.kind,
    status: 'Available',
    trustLevel,
    path: path.resolve(artifactPath),
    hash: manifest.artifact.sha3_512,
    size: stat.size,
    modified: stat.mtimeMs,
    resourceLimits: mergeLimits(manifest.limits ?? {}, s.hostLimits),
  };
}

/** The unmount behaviour of plugin `name` (its own, else the default), or the default without a name. */
export function unmountBehaviorOf(s: RegistryState, name?: string): UnmountBehavior {
  return { ...((name === undefined ? undefined : s.unmountByName.get(name)) ?? s.unmount) };
}

/** Size and modification time of a file; `IoError` when it can't be read. */
export async function statOf(p: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await fs.stat(p);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (e) {
    throw toPluginError(e, 'IoError', `cannot stat ${p}`);
  }
}
