/**
 * @plugward/security — SHA3-512 hashing, Ed25519 signatures, signed manifests and the encrypted trust list (PluginSecurity).
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 1;
