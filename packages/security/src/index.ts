/**
 * @plugward/security — SHA3-512 hashing, strict Ed25519 signatures, signed manifests (RFC 8785 + domain separation),
 * the encrypted trust list (XChaCha20-Poly1305, Argon2id) and `PluginSecurity`, the trust gate of a Plugward host.
 * @packageDocumentation
 */

// The one check of "only this user can change what is here" lives in @plugward/host-state (the sandbox packages use
// it too); re-exported because the floor directory and key files are checked with it.
export {
  type PrivateDirectoryProblem,
  privateDirectoryProblem,
  privateFileProblem,
  privateLocationProblem,
} from '@plugward/host-state';
export { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, aeadOpen, aeadSeal } from './aead.js';
export { writeFileAtomic } from './atomic-write.js';
export { fromHex, toHex } from './bytes.js';
export { canonicalJson } from './canonical-json.js';
export {
  assertValidPublicKey,
  defaultSignatureBackend,
  generateKeyPair,
  getPublicKey,
  type KeyPair,
  keyId,
  publicKeyProblem,
  type SignatureBackend,
  sign,
  type VerifyOptions,
  verifySignature,
} from './ed25519.js';
export {
  calculateHash,
  defaultHashBackend,
  type HashBackend,
  type HashFileOptions,
  hashBytes,
  sha3_512,
} from './hash.js';
export {
  decodeKeyFile,
  ENCRYPTED_SECRET_KEY_HEADER,
  encodePublicKeyFile,
  encodeSecretKeyFile,
  type KeyFileContent,
  type KeyFileOptions,
  PUBLIC_KEY_HEADER,
  passphraseWeakness,
  SECRET_KEY_HEADER,
} from './key-file.js';
export {
  manifestPathFor,
  manifestSigningBytes,
  parseManifest,
  readManifest,
  signManifest,
  validateManifest,
  validateRequirements,
  verifyManifestSignature,
  type WriteSignedManifestOptions,
  writeSignedManifest,
} from './manifest.js';
export {
  PluginSecurity,
  trustEntryFromManifest,
  type VerifiedArtifact,
} from './plugin-security.js';
export { openRegularFile, readFileCapped } from './regular-file.js';
export {
  defaultRollbackFloorDir,
  type FloorLookup,
  MAX_REVOKED,
  type RollbackFloorRecord,
  readRollbackFloor,
  rollbackFloorPath,
} from './rollback-floor.js';
export {
  type Argon2Params,
  DEFAULT_ARGON2_PARAMS,
  decryptTrustList,
  encryptTrustList,
  type LoadTrustListOptions,
  loadTrustList,
  loadTrustListWithFloors,
  MAX_HEADER_ARGON2_PARAMS,
  MAX_TRUST_LIST_BYTES,
  parseTrustListKeyHex,
  resetTrustListFloor,
  saveTrustList,
  TRUST_LIST_FORMAT_VERSION,
  TRUST_LIST_HEADER_BYTES,
  TRUST_LIST_MAGIC,
  type TrustListData,
  type TrustListFailure,
  type TrustListKey,
  type UpdateTrustListOptions,
  updateTrustList,
  validateTrustEntry,
  withListLock,
} from './trust-list.js';
