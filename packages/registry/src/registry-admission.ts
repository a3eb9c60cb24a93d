// The registry's loading seam, one function per step: admission (`admitArtifact`, security's one decision), identity
// (`claimName`: the name checks and its reservation), grants and placement (`placeAndGrant`), the start at a tier
// (`start`, in registry-start.ts, with the plugin's registration wiring), then `markActive` / `markLoadFailed`, and the
// watch on an unexpected exit (`watchExit`). `loadArtifact` and `load` run the steps in that order.
// Internal to @plugward/registry: src/index.ts exports none of it.
import os from 'node:os';
import path from 'node:path';
import { mergeLimits } from '@plugward/limits';
import { defaultRollbackFloorDir, readManifest, type VerifiedArtifact } from '@plugward/security';
import {
  displayText,
  type GrantDecision,
  type IsolationTier,
  isPluginError,
  PluginError,
  type TrustLevel,
  toPluginError,
} from '@plugward/types';
import { applicableGrant, decideGrants, type HostState, resolveGrantedPaths } from './grant-policy.js';
import { placePlugin } from './placement.js';
import { grantInput, reservedByTrust } from './registry-discovery.js';
import { watchExit } from './registry-ending.js';
import { discardStarted } from './registry-lifecycle.js';
import { start } from './registry-start.js';
import {
  assertOpen,
  displayError,
  type Entry,
  emit,
  infoFrom,
  MAX_ERROR_CHARS,
  newEntry,
  type RegistryState,
  statOf,
} from './registry-state.js';
import { codeCacheDir } from './runtime-code-cache.js';
import type { TierHandle } from './tiers/tier.js';

/**
 * Loads a plugin found earlier by `scanDirectory`/`discoverPlugin`, by name. The file is verified again; if its
 * verified manifest names another plugin (it was swapped since discovery) the load fails with `NameConflict`.
 */
export async function loadByName(s: RegistryState, name: string): Promise<string> {
  assertOpen(s);
  const entry = s.entries.get(name);
  if (!entry) throw new PluginError('NotFound', `no plugin named ${name} was discovered`, { plugin: name });
  const trust =
    entry.info.trustLevel === 'trusted' && entry.info.status !== 'Untrusted' ? 'trusted' : 'untrusted';
  return track(s, loadArtifact(s, entry.info.path, trust, name));
}

/**
 * Tracked from the very start, so an unloadAll()/close() that begins while this load still verifies waits for it
 * too (and then unloads it), instead of missing it.
 */
export async function track(s: RegistryState, work: Promise<string>): Promise<string> {
  s.loading.add(work);
  try {
    return await work;
  } finally {
    s.loading.delete(work);
  }
}

/** The load itself: admission (`PluginSecurity.admit`), the name checks and its reservation, then `load`. */
export async function loadArtifact(
  s: RegistryState,
  artifactPath: string,
  trustLevel: TrustLevel,
  expected: string | undefined,
): Promise<string> {
  assertOpen(s);
  let verified: VerifiedArtifact;
  try {
    verified = await admitArtifact(s, artifactPath, trustLevel);
  } catch (e) {
    await recordVerifyFailure(s, artifactPath, trustLevel, e, expected);
    throw isPluginError(e) ? displayError(e) : e;
  }
  // From the name checks to `e.busy = work` nothing awaits: the check and the reservation of the name are one step, so
  // of two concurrent loads exactly one gets AlreadyLoaded (an await in between let both through).
  const e = claimName(s, verified, artifactPath, trustLevel, expected);
  const name = e.info.name;
  const work = load(s, e, verified, artifactPath, trustLevel);
  e.busy = work;
  s.entries.set(name, e);
  try {
    await work;
    return name;
  } finally {
    e.busy = undefined;
  }
}

/** Admission is security's one decision (`PluginSecurity.admit`): trusted = verified and listed. */
function admitArtifact(
  s: RegistryState,
  artifactPath: string,
  trustLevel: TrustLevel,
): Promise<VerifiedArtifact> {
  return s.security.admit(artifactPath, trustLevel, { onlyTrusted: s.policy.onlyTrusted });
}

/**
 * Identity: the verified manifest's name must be the one discovery recorded (when loading by name), an untrusted
 * plugin may not take a name reserved by trust, and a name already loaded or loading is refused (`AlreadyLoaded`, or
 * `NameConflict` at another trust level). Synchronous, so the caller reserves the name in the same step.
 * @returns the name's entry (a new one when the registry had none).
 */
function claimName(
  s: RegistryState,
  verified: VerifiedArtifact,
  artifactPath: string,
  trustLevel: TrustLevel,
  expected: string | undefined,
): Entry {
  const manifest = verified.manifest;
  const name = manifest.name;
  if (expected !== undefined && name !== expected) {
    throw new PluginError(
      'NameConflict',
      `${artifactPath} was discovered as ${expected} but its verified manifest names ${name}: refusing to load it under either name`,
      { plugin: expected, details: { verifiedName: name, path: path.resolve(artifactPath) } },
    );
  }
  if (trustLevel === 'untrusted' && reservedByTrust(s, name, path.resolve(artifactPath))) {
    throw new PluginError(
      'NameConflict',
      `untrusted plugin ${artifactPath} claims the name ${name}, which belongs to a trusted plugin`,
      { plugin: name, details: { path: path.resolve(artifactPath) } },
    );
  }
  const entry = s.entries.get(name);
  if (entry?.busy || entry?.info.status === 'Active') {
    throw new PluginError(
      entry.info.trustLevel !== trustLevel ? 'NameConflict' : 'AlreadyLoaded',
      `plugin ${name} is already ${entry.busy ? 'being loaded' : 'loaded'}${
        entry.info.trustLevel !== trustLevel ? ` (as ${entry.info.trustLevel}, from ${entry.info.path})` : ''
      }`,
      { plugin: name },
    );
  }
  const stat = { size: verified.bytes.byteLength, mtimeMs: 0 };
  return entry ?? newEntry(s, infoFrom(s, manifest, artifactPath, stat, trustLevel));
}

/**
 * A load that failed verification is recorded on the entry of the name it claims — only when that entry is this
 * same file and idle (a failing file must not relabel another plugin's entry), or no entry has the name yet.
 */
async function recordVerifyFailure(
  s: RegistryState,
  artifactPath: string,
  trustLevel: TrustLevel,
  e: unknown,
  expected: string | undefined,
): Promise<void> {
  const manifest = await readManifest(artifactPath).catch(() => undefined);
  const name = expected ?? manifest?.name;
  if (name === undefined) return;
  const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
  const entry = s.entries.get(name);
  const resolved = path.resolve(artifactPath);
  if (entry && (entry.busy || entry.info.status === 'Active' || entry.info.path !== resolved)) return;
  if (!entry && (!manifest || (trustLevel === 'untrusted' && reservedByTrust(s, name, resolved)))) return;
  const e2 =
    entry ??
    newEntry(
      s,
      infoFrom(s, manifest!, artifactPath, { size: manifest!.artifact.size, mtimeMs: 0 }, trustLevel),
    );
  e2.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
  e2.info.error = displayText(err.message, MAX_ERROR_CHARS);
  s.entries.set(name, e2);
  emit(s, 'failed', { name, error: err });
}

/** Starts a verified plugin at its tier and marks it Active; on failure records the error and releases what it got. */
async function load(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  artifactPath: string,
  trustLevel: TrustLevel,
): Promise<void> {
  entry.tracker.reset();
  entry.lastMetrics = undefined;
  try {
    const { decision, tier } = await placeAndGrant(s, entry, verified, artifactPath, trustLevel);
    entry.alive = true;
    entry.registrationsOpen = true;
    entry.handle = await start(s, entry, verified, tier, decision);
    markActive(s, entry, entry.handle, tier);
  } catch (e) {
    throw await markLoadFailed(s, entry, e);
  }
}

/**
 * Grants and placement: the entry's info from the verified manifest, what the plugin is granted (`decideGrants`, with
 * the host's grant policy), where it runs (`placePlugin`) and the limits in force (manifest capped by the host's).
 */
/**
 * What no read-write grant may cover: the trust list's folder, the floor records' and the code cache; and on a host
 * that is not root (its sandboxes run as its own user) its temporary folder, where its private copies, the Landlock
 * runtime store and sandbox folders live.
 */
function hostState(s: RegistryState): HostState {
  const policy = s.security.policy;
  const floors = policy.rollbackFloorDir;
  return {
    private: [
      ...(policy.trustListPath ? [path.dirname(path.resolve(policy.trustListPath))] : []),
      ...(floors === false ? [] : [floors ?? defaultRollbackFloorDir()]),
      codeCacheDir(),
    ],
    sharedTemp: process.getuid?.() === 0 ? [] : [os.tmpdir()],
  };
}

async function placeAndGrant(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  artifactPath: string,
  trustLevel: TrustLevel,
): Promise<{ decision: GrantDecision; tier: IsolationTier }> {
  const manifest = verified.manifest;
  const name = manifest.name;
  const stat = await statOf(artifactPath).catch(() => ({ size: verified.bytes.byteLength, mtimeMs: 0 }));
  entry.info = {
    ...infoFrom(s, manifest, artifactPath, stat, trustLevel),
    nameConflicts: entry.info.nameConflicts,
  };
  if (entry.info.nameConflicts === undefined) delete entry.info.nameConflicts;
  if (verified.trustEntry) entry.info.trustInfo = verified.trustEntry;
  entry.info.hash = verified.hash;
  const input = grantInput(s, manifest, trustLevel, verified.hash, verified.trustEntry);
  const decision = await resolveGrantedPaths(
    decideGrants(input),
    applicableGrant(input),
    s.grants,
    othersWritable(s, entry),
    hostState(s),
  );
  entry.info.grants = decision;
  const placement = placePlugin({
    name,
    trustLevel,
    kind: manifest.kind,
    requirements: decision.granted,
    defaultTier: s.defaultTier,
    override: Object.hasOwn(s.overrides, name) ? s.overrides[name] : undefined,
    sandboxAvailable: s.sandbox !== undefined,
  });
  entry.info.tier = placement.tier;
  entry.info.resourceLimits = mergeLimits(manifest.limits ?? {}, s.hostLimits);
  return { decision, tier: placement.tier };
}

/**
 * The read-write paths other plugins of this registry were granted (a trusted plugin without a cap gets what its signed
 * manifest asked for, outside the host's grants): writers a bind must not lie below either.
 */
function othersWritable(s: RegistryState, self: Entry): string[] {
  const out: string[] = [];
  for (const e of s.entries.values()) {
    const fsGrant = e === self ? undefined : e.info.grants?.granted.filesystem;
    if (fsGrant?.mode === 'readWrite') out.push(...fsGrant.paths);
  }
  return out;
}

/** The plugin started: Active, watched for an unexpected exit, announced (`loaded`). */
function markActive(s: RegistryState, entry: Entry, handle: TierHandle, tier: IsolationTier): void {
  const name = entry.info.name;
  if (s.closed) throw new PluginError('LoadError', 'registry closed during load', { plugin: name });
  entry.info.pid = handle.pid;
  entry.info.processContainment = handle.containment;
  entry.info.status = 'Active';
  entry.info.error = undefined;
  watchExit(s, entry, handle);
  emit(s, 'loaded', { name, version: entry.info.version, tier, pid: handle.pid });
}

/**
 * The load failed after admission: hooks, process and context released (a plugin that had started — the registry closed
 * during its load — first gets its shutdown, as at any unload), the entry Failed (or Untrusted) with the error, `failed`
 * emitted. @returns the error to throw (its text escaped for display).
 */
async function markLoadFailed(s: RegistryState, entry: Entry, e: unknown): Promise<PluginError> {
  const name = entry.info.name;
  const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
  entry.alive = false;
  entry.registrationsOpen = false;
  s.hooks.unregisterAll(name);
  if (entry.handle) await discardStarted(s, name, entry.handle);
  entry.handle = undefined;
  s.context.releasePlugin(name);
  entry.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
  entry.info.error = displayText(err.message, MAX_ERROR_CHARS);
  entry.info.pid = undefined;
  const shown = displayError(err);
  emit(s, 'failed', { name, error: shown });
  return shown;
}
