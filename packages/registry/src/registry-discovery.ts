// The registry's discovery seam: manifests and trust status only, never plugin code (who wins a name is
// `discovery.ts`).
// Internal to @plugward/registry: src/index.ts exports none of it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { readManifest, type VerifiedArtifact } from '@plugward/security';
import {
  displayText,
  type GrantDecision,
  MANIFEST_SUFFIX,
  PluginError,
  type PluginInfo,
  type PluginManifest,
  type TrustLevel,
  toPluginError,
} from '@plugward/types';
import { arbitrateName, type ScanReport } from './discovery.js';
import { decideGrants, type GrantInput, grantInputFor } from './grant-policy.js';
import {
  type Entry,
  infoFrom,
  MAX_ERROR_CHARS,
  newEntry,
  type RegistryState,
  statOf,
} from './registry-state.js';

/**
 * Like {@link scanDirectory}, with the details: the plugins recorded and the files skipped. Trust wins a name: an
 * untrusted file claiming the name of a trusted plugin is skipped with `NameConflict` (in either file order), and
 * the conflict is also listed in the trusted plugin's `nameConflicts`.
 */
export async function scanDirectoryReport(s: RegistryState, dir: string): Promise<ScanReport> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    throw toPluginError(e, 'IoError', `cannot read plugin directory ${dir}`);
  }
  const found = new Set<string>();
  const skipped: ScanReport['skipped'] = [];
  for (const file of names.sort()) {
    if (!file.endsWith(MANIFEST_SUFFIX)) continue;
    const artifact = path.join(dir, file.slice(0, -MANIFEST_SUFFIX.length));
    try {
      const { info, displaced } = await discover(s, artifact);
      found.add(info.name);
      if (displaced) skipped.push(displaced);
    } catch (e) {
      const error = toPluginError(e, 'LoadError', `cannot read ${artifact}`);
      skipped.push({ path: path.resolve(artifact), error });
      s.log('registry', 'warn', `skipping ${artifact}: ${error.code}: ${error.message}`);
    }
  }
  // Whatever the order, the holder of a name lists the files that claimed it and lost.
  for (const skip of skipped) {
    const holder =
      skip.error.code === 'NameConflict' && skip.error.plugin ? s.entries.get(skip.error.plugin) : undefined;
    if (holder && holder.info.path !== skip.path) noteConflict(holder, skip.path, skip.error.message);
  }
  return {
    found: [...found].flatMap((n) => {
      const e = s.entries.get(n);
      return e ? [{ ...e.info }] : [];
    }),
    skipped,
  };
}

/** Records one artifact from its manifest and trust status; `displaced` names the entry it replaced, if any. */
export async function discover(
  s: RegistryState,
  artifactPath: string,
): Promise<{ info: PluginInfo; displaced?: ScanReport['skipped'][number] }> {
  // The manifest shown is the verified one when verification succeeds (the unverified read only names a failure).
  let manifest = await readManifest(artifactPath);
  const stat = await statOf(artifactPath);
  let trustLevel: TrustLevel = 'untrusted';
  let error: string | undefined;
  let trustInfo: PluginInfo['trustInfo'];
  let verified: VerifiedArtifact | undefined;
  try {
    verified = await s.security.verifyArtifact(artifactPath);
    manifest = verified.manifest;
    if (verified.trustEntry) {
      trustLevel = 'trusted';
      trustInfo = verified.trustEntry;
    } else {
      error = 'signed but not on the trust list';
    }
  } catch (e) {
    error = displayText((e as Error).message, MAX_ERROR_CHARS);
  }
  const name = manifest.name;
  const info = infoFrom(s, manifest, artifactPath, stat, trustLevel);
  info.status = trustLevel === 'trusted' ? 'Available' : 'Untrusted';
  if (trustInfo) info.trustInfo = trustInfo;
  if (error !== undefined) info.error = error;
  info.grants = decide(s, manifest, trustLevel, verified?.hash ?? manifest.artifact.sha3_512, trustInfo);
  if (trustLevel === 'untrusted' && reservedByTrust(s, name, info.path)) {
    // The trusted plugin's own file that no longer verifies (tampered, delisted): its entry says so.
    const own = s.entries.get(name);
    if (own && own.info.path === info.path && own.info.status !== 'Active' && !own.busy) {
      own.info.status = 'Failed';
      own.info.error = error ?? 'no longer trusted';
    }
    throw new PluginError(
      'NameConflict',
      `${artifactPath} is not trusted (${error ?? 'untrusted'}) and claims the name ${name}, which belongs to a trusted plugin`,
      { plugin: name, details: { path: info.path } },
    );
  }
  const existing = s.entries.get(name);
  let displaced: ScanReport['skipped'][number] | undefined;
  if (existing) {
    const verdict = arbitrateName(
      name,
      {
        path: existing.info.path,
        trustLevel: existing.info.trustLevel,
        inUse: existing.info.status === 'Active' || existing.busy !== undefined,
      },
      { path: info.path, trustLevel, inUse: false },
    );
    if (verdict.keep === 'existing') {
      if (existing.info.path === info.path) return { info: { ...existing.info } };
      noteConflict(existing, info.path, verdict.reason);
      throw new PluginError('NameConflict', `${artifactPath} not recorded: ${verdict.reason}`, {
        plugin: name,
        details: { path: info.path, holder: existing.info.path },
      });
    }
    if (existing.info.path !== info.path) {
      displaced = {
        path: existing.info.path,
        error: new PluginError('NameConflict', `${existing.info.path} replaced: ${verdict.reason}`, {
          plugin: name,
        }),
      };
      info.nameConflicts = [{ path: existing.info.path, reason: verdict.reason }];
    } else if (existing.info.nameConflicts) {
      info.nameConflicts = existing.info.nameConflicts;
    }
  }
  const entry = existing ?? newEntry(s, info);
  entry.info = info;
  s.entries.set(name, entry);
  return displaced ? { info: { ...info }, displaced } : { info: { ...info } };
}

function noteConflict(entry: Entry, otherPath: string, reason: string): void {
  const list = entry.info.nameConflicts ?? [];
  if (!list.some((c) => c.path === otherPath) && list.length < 32) list.push({ path: otherPath, reason });
  entry.info.nameConflicts = list;
}

/**
 * Whether `name` is reserved for a trusted plugin: named on the trust list or admitted as trusted on this host
 * (`PluginSecurity.isReservedName`, which remembers admissions across restarts), or recorded as trusted from another
 * file. An untrusted file may never take it.
 */
export function reservedByTrust(s: RegistryState, name: string, claimant: string): boolean {
  if (s.security.isReservedName(name)) return true;
  const e = s.entries.get(name);
  return e !== undefined && e.info.trustLevel === 'trusted' && e.info.path !== claimant;
}

/** The grant decision for a manifest; the signer counts only when its signature was verified. */
function decide(
  s: RegistryState,
  manifest: PluginManifest,
  trustLevel: TrustLevel,
  hash: string,
  trustEntry: PluginInfo['trustInfo'],
): GrantDecision {
  return decideGrants(grantInput(s, manifest, trustLevel, hash, trustEntry));
}

/** The input of `decideGrants` for a manifest, with the host's grant policy. */
export function grantInput(
  s: RegistryState,
  manifest: PluginManifest,
  trustLevel: TrustLevel,
  hash: string,
  trustEntry: PluginInfo['trustInfo'],
): GrantInput {
  return grantInputFor(manifest, trustLevel, hash, trustEntry?.keyId, s.grants);
}
