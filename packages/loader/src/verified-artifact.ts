import type { PluginManifest, SecurityPolicy } from '@plugward/types';

/**
 * An artifact whose hash, signature and trust entry were checked, with the exact bytes that were checked (the type of
 * @plugward/security, re-exported so loader users need no second import).
 */
export type { VerifiedArtifact } from '@plugward/security';

import type { VerifiedArtifact } from '@plugward/security';

/**
 * What the loader needs from @plugward/security: `PluginSecurity` satisfies it. `verifyArtifact` must throw a
 * PluginError on any failure.
 */
export interface ArtifactVerifier {
  verifyArtifact(artifactPath: string): Promise<VerifiedArtifact>;
  /** Parses and validates `<artifact>.plugward.json` without checking its signature (used for untrusted plugins). */
  readManifest?(artifactPath: string): Promise<PluginManifest>;
  /** The policy in force; `onlyTrusted` decides whether untrusted plugins are refused. */
  readonly policy?: Readonly<Partial<SecurityPolicy>>;
}

/** Reads a manifest without checking its signature (`readManifest` of @plugward/security). */
export type ManifestReader = (artifactPath: string) => Promise<PluginManifest>;
