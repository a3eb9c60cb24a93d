import type { PluginError, PluginInfo, TrustLevel } from '@plugward/types';

/** What `scanDirectory` found. */
export interface ScanReport {
  /** The plugins recorded (one per name), as `getPluginInfo` now shows them. */
  found: PluginInfo[];
  /** Files not recorded, with why: unreadable manifests, and `NameConflict` for a name another file holds by trust. */
  skipped: { path: string; error: PluginError }[];
}

/** One side of a name claim. */
export interface NameClaim {
  path: string;
  trustLevel: TrustLevel;
  /** Loaded or being loaded/unloaded: its entry must not change under it. */
  inUse: boolean;
}

/** Who keeps a name two files claim, and why. */
export type NameArbitration = { keep: 'existing' | 'incoming'; reason: string };

/**
 * Identity first: trusted names are reserved by trust, whatever the scan order. A trusted claim beats an
 * untrusted one; an entry in use is never replaced; between equals the later file wins (a rescan sees the newest
 * copy). Pure; the loser is reported as a `NameConflict`.
 */
export function arbitrateName(name: string, existing: NameClaim, incoming: NameClaim): NameArbitration {
  if (existing.inUse) {
    return { keep: 'existing', reason: `plugin ${name} from ${existing.path} is in use` };
  }
  if (existing.path === incoming.path) return { keep: 'incoming', reason: 'same file, rediscovered' };
  if (existing.trustLevel === 'trusted' && incoming.trustLevel === 'untrusted') {
    return { keep: 'existing', reason: `the name ${name} belongs to the trusted plugin at ${existing.path}` };
  }
  if (existing.trustLevel === 'untrusted' && incoming.trustLevel === 'trusted') {
    return { keep: 'incoming', reason: `the name ${name} belongs to the trusted plugin at ${incoming.path}` };
  }
  return { keep: 'incoming', reason: `the later file ${incoming.path} claims ${name} too` };
}
