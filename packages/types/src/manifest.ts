import type { ResourceLimits } from './limits.js';
import type { PluginRequirements } from './requirements.js';

/** What an artifact is: a native shared library or a single-file ESM bundle. */
export type PluginKind = 'native' | 'js';

/** A dependency on another plugin. */
export interface PluginDependency {
  name: string;
  /** A semver range (`^1.2.0`). */
  version: string;
}

/** The signature block of a manifest. */
export interface ManifestSignature {
  algorithm: 'ed25519';
  /** Key id of the signing key (see @plugward/security `keyId`). */
  keyId: string;
  /** 64-byte Ed25519 signature, lowercase hex. */
  value: string;
}

/**
 * The signed manifest `<artifact>.plugward.json`. The signature covers the canonical JSON
 * (RFC 8785) of every field but `signature`, prefixed with MANIFEST_SIGNATURE_DOMAIN.
 */
export interface PluginManifest {
  /** Format version of the manifest; 1. */
  manifestVersion: 1;
  name: string;
  version: string;
  author: string;
  /** Markdown. */
  description?: string;
  kind: PluginKind;
  artifact: {
    /** File name of the artifact, beside the manifest (no directories). */
    file: string;
    /** SHA3-512 of the artifact, lowercase hex. */
    sha3_512: string;
    /** Size in bytes. */
    size: number;
  };
  limits?: Partial<ResourceLimits>;
  requirements?: PluginRequirements;
  dependencies?: readonly PluginDependency[];
  signature: ManifestSignature;
}

/** A manifest before signing. */
export type UnsignedPluginManifest = Omit<PluginManifest, 'signature'>;

/**
 * One entry of the trust list: this exact artifact, at this version, is trusted. The Rust API reference's shape —
 * `{ hash, version, signature, note? }` — is accepted as it is; the other fields are what Plugward records when it
 * knows them (`trustEntryFromManifest` fills them all) and make the entry stricter:
 * - `name`: the manifest must name this plugin (and the name is reserved for trusted plugins).
 * - `keyId` + `publicKey` (together): the manifest must be signed by this key, which is then accepted even if not
 *   pinned. Without them the signer must be one of the host's pinned keys.
 */
export interface TrustedPluginEntry {
  /** SHA3-512 of the artifact, lowercase hex. */
  hash: string;
  /** The version (semver) the manifest must state. */
  version: string;
  /** The manifest signature, lowercase hex; when present the manifest's signature must be exactly this one. */
  signature?: string;
  /** Free text (who approved it, a ticket). */
  note?: string;
  /** The plugin name the manifest must state. */
  name?: string;
  /** Key id of the key that signed it (with `publicKey`). */
  keyId?: string;
  /** The Ed25519 public key that signed it, lowercase hex (with `keyId`). */
  publicKey?: string;
  /** ISO 8601 time it was added. */
  addedAt?: string;
}

/** The host's security policy. */
export interface SecurityPolicy {
  /** Refuse plugins not on the trust list (default true). */
  onlyTrusted: boolean;
  /** Where the encrypted trust list lives. */
  trustListPath: string;
  /** Allow loading a plugin at a lower version than the highest trusted one (default false). */
  allowDowngrade: boolean;
  /** Refuse artifacts bigger than this, bytes. */
  maxArtifactBytes: number;
  /** Refuse a trust list older than this list version (replay protection); 0 accepts any. */
  minTrustListVersion: number;
  /**
   * Where the trust list's persistent rollback floor records live (@plugward/security; default
   * `$PLUGWARD_STATE_DIR/trust-floors` or `~/.local/state/plugward/trust-floors`); `false` turns the persistent floor
   * off, leaving only `minTrustListVersion` and the in-memory version.
   */
  rollbackFloorDir?: string | false;
}

/** `{ onlyTrusted: true, trustListPath: 'data/plugin_trust_list.enc', … }`, frozen. */
export const DEFAULT_SECURITY_POLICY: Readonly<SecurityPolicy> = Object.freeze({
  onlyTrusted: true,
  trustListPath: 'data/plugin_trust_list.enc',
  allowDowngrade: false,
  maxArtifactBytes: 256 * 1024 * 1024,
  minTrustListVersion: 0,
});
