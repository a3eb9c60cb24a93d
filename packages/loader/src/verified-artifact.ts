import type { PluginManifest, SecurityPolicy, TrustedPluginEntry } from '@plugward/types';

/**
 * An artifact whose hash, signature and trust entry were checked, with the exact bytes that were checked.
 * Same shape as `VerifiedArtifact` of @plugward/security (the loader re-declares it so it only needs the type).
 */
export interface VerifiedArtifact {
  /** The signed manifest. */
  manifest: PluginManifest;
  /** The exact verified bytes; the loader loads these, never the path again. */
  bytes: Uint8Array;
  /** SHA3-512 of `bytes`, lowercase hex. */
  hash: string;
  artifactPath: string;
  manifestPath: string;
  /** The trust list entry that made it trusted. */
  trustEntry?: TrustedPluginEntry;
}

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
