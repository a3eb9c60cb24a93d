import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DEFAULT_SECURITY_POLICY,
  PluginError,
  type PluginManifest,
  PluginVersion,
  type SecurityPolicy,
  type TrustedPluginEntry,
  type TrustLevel,
} from '@plugward/types';
import { bytesOrHex, fromHex, toHex } from './bytes.js';
import { assertValidPublicKey, keyId, verifySignature } from './ed25519.js';
import { calculateHash, hashBytes } from './hash.js';
import { manifestPathFor, readManifest, verifyManifestSignature } from './manifest.js';
import { readFileCapped } from './regular-file.js';
import type { FloorKey } from './rollback-floor.js';
import {
  checkVersionFloor,
  type LoadTrustListOptions,
  type OpenedTrustList,
  openTrustList,
  raiseVersionFloor,
  readRevocations,
  readVersionFloors,
  type TrustListKey,
  updateOpenTrustList,
  validateTrustEntry,
} from './trust-list.js';

/** A change made to the in-memory list, replayed onto the file's current content at the next save. */
type TrustChange = { op: 'add'; entry: TrustedPluginEntry } | { op: 'remove'; hash: string };

/** An artifact that passed every check, with the exact bytes that were verified (load these, not the path). */
export interface VerifiedArtifact {
  manifest: PluginManifest;
  /** The exact verified bytes. */
  bytes: Uint8Array;
  /** SHA3-512 of `bytes`, lowercase hex. */
  hash: string;
  artifactPath: string;
  manifestPath: string;
  /** The trust list entry, when the artifact is trusted; absent for an untrusted plugin the policy lets through. */
  trustEntry?: TrustedPluginEntry;
}

/**
 * The trust gate: SHA3-512 of the artifact must match its manifest, the manifest must be
 * signed by a pinned key, and (under `onlyTrusted`) the exact hash, name, version and key must be on the trust list.
 *
 * @example
 * ```ts
 * const security = new PluginSecurity({ onlyTrusted: true }, [publisherKeyHex]);
 * await security.loadAndDecryptTrustList(process.env.TRUST_KEY!);
 * const verified = await security.verifyArtifact('plugins/hello.mjs'); // throws PluginError if anything is off
 * ```
 */
export class PluginSecurity {
  /** The effective policy (defaults filled in). */
  readonly policy: Readonly<SecurityPolicy>;
  readonly #pinned = new Map<string, Uint8Array>();
  #entries: TrustedPluginEntry[] = [];
  #version = 0;
  // Unsaved changes, as operations: a save applies them to what is on disk *then*, so it can't undo another process's
  // update (a `trust rm` done while this host ran stays removed).
  #pending: TrustChange[] = [];
  // Highest version verified per name in this process: a downgrade within one host run is refused too.
  readonly #seen = new Map<string, PluginVersion>();
  // Highest version admitted as trusted per name, from the signed manifest whatever the trust entry names: this run's
  // admissions and, for a list kept in a file, those recorded in its rollback floor record by earlier runs.
  readonly #admitted = new Map<string, PluginVersion>();
  // Authenticates the list's floor record: derived (HKDF, a label of its own) from the list key, which this instance
  // never keeps — a heap dump or a debugger of the host yields no key that opens or re-seals the list. Set once a list
  // was loaded or saved with the persistent floor on: only then are admissions recorded for later runs.
  #floorKey: FloorKey | undefined;

  /**
   * @param policy - overrides of DEFAULT_SECURITY_POLICY.
   * @param hardcodedPublicKeys - Ed25519 public keys (bytes or hex) whose signatures are accepted.
   * @param trustedPlugins - initial trust entries (usually loaded later with {@link loadAndDecryptTrustList}).
   * @throws PluginError `SignatureError` for a small-order or non-canonical key, `TrustListError` for a bad entry.
   */
  constructor(
    policy: Partial<SecurityPolicy> = {},
    hardcodedPublicKeys: readonly (Uint8Array | string)[] = [],
    trustedPlugins: readonly TrustedPluginEntry[] = [],
  ) {
    this.policy = Object.freeze({ ...DEFAULT_SECURITY_POLICY, ...policy });
    for (const k of hardcodedPublicKeys) this.pinKey(k);
    for (const e of trustedPlugins) this.addTrustedPlugin(e);
  }

  /** Pins another public key. @returns its key id. */
  pinKey(publicKey: Uint8Array | string): string {
    const bytes = assertValidPublicKey(publicKey, 'pinned public key');
    const id = keyId(bytes);
    this.#pinned.set(id, bytes);
    return id;
  }

  /** Key ids of the pinned keys. */
  get pinnedKeyIds(): string[] {
    return [...this.#pinned.keys()];
  }

  /** A copy of the trust entries. */
  get trustedPlugins(): TrustedPluginEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  /** The list version last loaded or saved (0 before either). */
  get listVersion(): number {
    return this.#version;
  }

  /** SHA3-512 of a file, capped at `policy.maxArtifactBytes`. */
  calculateHash(path: string): Promise<string> {
    return calculateHash(path, { maxBytes: this.policy.maxArtifactBytes });
  }

  /** Strict Ed25519 verification (see the free function `verifySignature`). */
  verifySignature(
    message: Uint8Array,
    signature: Uint8Array | string,
    publicKey: Uint8Array | string,
  ): boolean {
    let sig: Uint8Array;
    let key: Uint8Array;
    try {
      sig = typeof signature === 'string' ? fromHex(signature, 'signature') : signature;
      key = typeof publicKey === 'string' ? fromHex(publicKey, 'public key') : publicKey;
    } catch {
      return false;
    }
    return verifySignature(message, sig, key);
  }

  /** True when an entry with this SHA3-512 hash is on the trust list. */
  isTrustedHash(hash: string): boolean {
    return this.#entries.some((e) => e.hash === hash.toLowerCase());
  }

  /**
   * The trust entry of this artifact hash, if any (the Rust API reference's `get_plugin_info` of `PluginSecurity`).
   * Keyed by the SHA3-512 *hash* of the artifact — unlike `PluginRegistry.getPluginInfo(name)`, which is keyed by the
   * plugin's name and returns its `PluginInfo`.
   */
  getPluginInfo(hash: string): TrustedPluginEntry | undefined {
    const e = this.#entries.find((x) => x.hash === hash.toLowerCase());
    return e === undefined ? undefined : { ...e };
  }

  /**
   * Adds (or replaces, by hash) a trust entry after validating it (key canonical and not of small order, key id
   * matching). Call {@link encryptAndSaveTrustList} to persist.
   */
  addTrustedPlugin(entry: TrustedPluginEntry): void {
    const e = validateTrustEntry(entry);
    this.#entries = [...this.#entries.filter((x) => x.hash !== e.hash), e];
    this.#pending.push({ op: 'add', entry: e });
  }

  /** Removes the entry with this hash. @returns whether one was removed. */
  removeTrustedPlugin(hash: string): boolean {
    const h = hash.toLowerCase();
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((x) => x.hash !== h);
    this.#pending.push({ op: 'remove', hash: h });
    return this.#entries.length !== before;
  }

  /**
   * Saves the changes made since the last load or save ({@link addTrustedPlugin}, {@link removeTrustedPlugin}) to
   * `policy.trustListPath`: under the list's lock it reads the file as it is *now* (checked against the rollback
   * floor and the version this instance knows), applies those changes to it, and writes it with the next list version
   * (atomic write). Changes made by other processes in the meantime are kept — an entry they removed does not come
   * back unless this instance re-added it. The in-memory entries become the saved list.
   * @param key - 64 hex digits, 32 bytes, or `{ passphrase }`.
   * @returns the new list version.
   * @throws PluginError `TrustListError`, `TrustListRollback`, `RollbackFloorMissing`, `IoError`, `Timeout` (lock).
   */
  async encryptAndSaveTrustList(key: TrustListKey): Promise<number> {
    const path = this.policy.trustListPath;
    await mkdir(dirname(path), { recursive: true });
    const changes = this.#pending;
    const saved = await updateOpenTrustList(
      path,
      key,
      (onDisk) => {
        let entries = onDisk;
        for (const c of changes) {
          if (c.op === 'add') entries = [...entries.filter((x) => x.hash !== c.entry.hash), c.entry];
          else entries = entries.filter((x) => x.hash !== c.hash);
        }
        return entries;
      },
      { ...this.#listOptions(), minListVersion: this.#minVersion() },
    );
    this.#pending = this.#pending.slice(changes.length);
    this.#entries = saved.data.entries.map((e) => ({ ...e }));
    this.#version = saved.data.listVersion;
    this.#keepFloor(saved);
    return saved.data.listVersion;
  }

  /**
   * Loads `policy.trustListPath`, refusing (`TrustListRollback`) a list older than `policy.minTrustListVersion`, than
   * the version this instance already loaded or saved, or than the list's persistent rollback floor; a missing floor
   * record fails closed (`RollbackFloorMissing`). Replaces the in-memory entries and drops unsaved changes.
   * @returns the loaded entries (copies), as in the Rust API reference; the list version is {@link listVersion}.
   * @throws PluginError `TrustListError` (details.reason says why), `TrustListRollback`, `RollbackFloorMissing`,
   *   `IoError`.
   */
  async loadAndDecryptTrustList(key: TrustListKey): Promise<TrustedPluginEntry[]> {
    const opened = await openTrustList(this.policy.trustListPath, key, {
      ...this.#listOptions(),
      minListVersion: this.#minVersion(),
    });
    this.#entries = opened.data.entries;
    this.#version = opened.data.listVersion;
    this.#pending = [];
    this.#keepFloor(opened);
    return this.trustedPlugins;
  }

  #keepFloor(opened: OpenedTrustList): void {
    if (this.policy.rollbackFloorDir !== false) this.#floorKey = opened.floorKey;
    for (const [name, version] of Object.entries(opened.versions)) this.#raiseAdmitted(name, version);
  }

  #raiseAdmitted(name: string, version: string): void {
    const v = PluginVersion.parse(version);
    const prev = this.#admitted.get(name);
    if (prev === undefined || v.compare(prev) > 0) this.#admitted.set(name, v);
  }

  /**
   * Whether `name` belongs to a trusted plugin, so an untrusted plugin may not take it: a trust entry names it, or a
   * plugin of that name was admitted as trusted — in this run, or (for a list kept in a file) in an earlier run, as
   * recorded beside the list's rollback floor. The second part covers entries of the Rust API reference's shape
   * (`{ hash, version, signature }`), which name no plugin: before the first admission of such a plugin on this host
   * its name is not known, so give entries a `name` to reserve it from the start.
   */
  isReservedName(name: string): boolean {
    return this.#admitted.has(name) || this.#entries.some((e) => e.name === name);
  }

  #minVersion(): number {
    return Math.max(this.policy.minTrustListVersion, this.#version);
  }

  #listOptions(): LoadTrustListOptions {
    const dir = this.policy.rollbackFloorDir;
    return dir === undefined ? {} : { floorDir: dir };
  }

  /**
   * Verifies an artifact and returns the exact bytes that were checked. Steps: read and validate the manifest; read
   * the artifact once (size-capped) and hash those bytes; compare with the manifest; verify the signature against a
   * pinned key (or the key of a matching trust entry); check the trust list (hash, name, version, key, signature);
   * refuse downgrades — below what this instance has seen and below what the list's floor record holds now (another
   * host may have admitted a newer build since this one loaded the list).
   * @throws PluginError `InvalidManifest`, `NotFound`, `NotRegularFile`, `HashMismatch` (bytes differ from the
   *   manifest, or from the trusted build of this name@version), `UnknownSigner` (key not pinned), `InvalidSignature`,
   *   `SecurityError` (trust entry disagrees with the manifest), `UntrustedPlugin`, `VersionDowngrade`,
   *   `RollbackFloorMissing` (the floor record of a loaded list is gone or no longer authentic), `IoError`.
   */
  async verifyArtifact(artifactPath: string): Promise<VerifiedArtifact> {
    const { manifestPath, manifest, bytes, hash } = await this.verifyIntegrity(artifactPath);
    const name = manifest.name;
    const signerId = manifest.signature.keyId;
    const byHash = this.#entries.find((e) => e.hash === hash);
    let key = this.#pinned.get(signerId);
    if (key === undefined && byHash?.publicKey !== undefined && byHash.keyId === signerId)
      key = fromHex(byHash.publicKey);
    if (key === undefined) {
      throw new PluginError('UnknownSigner', `${name} is signed by key ${signerId}, which is not pinned`, {
        plugin: name,
        details: { keyId: signerId },
      });
    }
    if (!verifyManifestSignature(manifest, key)) {
      throw new PluginError(
        'InvalidSignature',
        `manifest signature of ${name}@${manifest.version} is invalid`,
        {
          plugin: name,
          details: { keyId: signerId },
        },
      );
    }
    const sameVersion = this.#entries.find(
      (e) => e.name === name && PluginVersion.compare(e.version, manifest.version) === 0 && e.hash !== hash,
    );
    if (sameVersion !== undefined && byHash === undefined) {
      throw new PluginError(
        'HashMismatch',
        `${name}@${manifest.version} is trusted with different bytes (hash ${sameVersion.hash.slice(0, 16)}…); this artifact is not that one`,
        { plugin: name },
      );
    }
    if (byHash !== undefined) {
      const mismatch =
        byHash.name !== undefined && byHash.name !== name
          ? 'name'
          : byHash.version !== manifest.version
            ? 'version'
            : byHash.keyId !== undefined && byHash.keyId !== signerId
              ? 'keyId'
              : byHash.signature !== undefined && byHash.signature !== manifest.signature.value
                ? 'signature'
                : undefined;
      if (mismatch !== undefined) {
        throw new PluginError(
          'SecurityError',
          `trust entry for this hash is for ${byHash.name ?? name}@${byHash.version}; the manifest's ${mismatch} differs`,
          { plugin: name, details: { field: mismatch } },
        );
      }
      await this.#refuseRevoked(byHash, name, manifest.version);
    } else if (this.policy.onlyTrusted) {
      throw new PluginError('UntrustedPlugin', `${name}@${manifest.version} is not on the trust list`, {
        plugin: name,
        details: { hash },
      });
    }
    this.#checkDowngrade(name, manifest.version);
    await this.#checkRecordedFloor(name, manifest.version);
    // Only a listed build raises the name's floor: a signed build nobody trusted (dropped beside the trusted one under
    // `onlyTrusted: false`) must not make the trusted one a downgrade.
    if (byHash !== undefined) {
      const v = PluginVersion.parse(manifest.version);
      const prev = this.#seen.get(name);
      if (prev === undefined || v.compare(prev) > 0) this.#seen.set(name, v);
    }
    return {
      manifest,
      bytes,
      hash,
      artifactPath,
      manifestPath,
      // An entry of the reference's shape ({ hash, version, signature }) flows on completed with what was verified.
      ...(byHash === undefined
        ? {}
        : { trustEntry: { name, keyId: signerId, publicKey: toHex(key), ...byHash } }),
    };
  }

  /**
   * Integrity only, for plugins that will run untrusted (in the sandbox): reads the manifest and the artifact once
   * (size-capped) and checks the bytes match the manifest's hash and size. No signature or trust check — the result
   * never carries a `trustEntry` and must never be treated as trusted.
   * @throws PluginError `InvalidManifest`, `NotFound`, `NotRegularFile`, `HashMismatch`, `IoError`.
   */
  async verifyIntegrity(artifactPath: string): Promise<VerifiedArtifact> {
    const manifestPath = manifestPathFor(artifactPath);
    const manifest = await readManifest(artifactPath);
    const bytes = await readFileCapped(artifactPath, this.policy.maxArtifactBytes);
    const hash = hashBytes(bytes);
    if (bytes.length !== manifest.artifact.size || hash !== manifest.artifact.sha3_512) {
      throw new PluginError(
        'HashMismatch',
        `${artifactPath} does not match its manifest (hash or size differs)`,
        {
          plugin: manifest.name,
          // Not the hash found: the artifact may be a symlink to a file only the host can read (a PIN, a password),
          // and its hash would let whoever reads this error brute-force it offline.
          details: { expected: manifest.artifact.sha3_512 },
        },
      );
    }
    return { manifest, bytes, hash, artifactPath, manifestPath };
  }

  #checkDowngrade(name: string, version: string): void {
    if (this.policy.allowDowngrade) return;
    const v = PluginVersion.parse(version);
    let highest = this.#seen.get(name);
    const admitted = this.#admitted.get(name);
    if (admitted !== undefined && (highest === undefined || admitted.compare(highest) > 0))
      highest = admitted;
    for (const e of this.#entries) {
      if (e.name !== name) continue;
      const ev = PluginVersion.parse(e.version);
      if (highest === undefined || ev.compare(highest) > 0) highest = ev;
    }
    if (highest !== undefined && v.compare(highest) < 0) {
      throw new PluginError(
        'VersionDowngrade',
        `${name}@${version} is older than the highest trusted version ${highest.toString()} (policy.allowDowngrade is false)`,
        { plugin: name, details: { version, highest: highest.toString() } },
      );
    }
  }

  /**
   * Refuses an entry removed from the list after this instance loaded it: the list's floor record, as it is now, names
   * the hashes each write removed and the list version that removed them (`plugward trust rm` on a running host). The
   * entry is dropped from this instance too. Loaded plugins are not unloaded here: the host decides.
   */
  async #refuseRevoked(entry: TrustedPluginEntry, name: string, version: string): Promise<void> {
    const floorKey = this.#floorKey;
    if (floorKey === undefined) return;
    const found = await readRevocations(this.policy.trustListPath, floorKey, this.#listOptions());
    if (found === undefined) return;
    if (found.since > this.#version) {
      throw new PluginError(
        'UntrustedPlugin',
        `the trust list was rewritten (version ${found.since}) after this host loaded version ${this.#version}, in a way that does not say what it removed: load the list again before admitting ${name}@${version} as trusted`,
        {
          plugin: name,
          details: {
            hash: entry.hash,
            reason: 'list-rewritten',
            listVersion: found.since,
            loaded: this.#version,
          },
        },
      );
    }
    const at = found.revoked[entry.hash];
    if (at === undefined || at <= this.#version) return;
    this.#entries = this.#entries.filter((e) => e.hash !== entry.hash);
    throw new PluginError(
      'UntrustedPlugin',
      `${name}@${version} was removed from the trust list (list version ${at}) after this host loaded version ${this.#version}`,
      {
        plugin: name,
        details: { hash: entry.hash, reason: 'revoked', listVersion: at, loaded: this.#version },
      },
    );
  }

  /**
   * The name's floor in the list's floor record as it is now (another host may have admitted a newer build since this
   * one loaded the list): a decision that admits nothing (`verifyPlugin`, `verifyArtifact`) refuses what admission
   * would refuse. A higher recorded version raises this instance's floor.
   */
  async #checkRecordedFloor(name: string, version: string): Promise<void> {
    const floorKey = this.#floorKey;
    if (floorKey === undefined) return;
    await this.#floorFromRecord(name, () =>
      checkVersionFloor(this.policy.trustListPath, floorKey, name, version, {
        ...this.#listOptions(),
        allowDowngrade: this.policy.allowDowngrade,
      }),
    );
  }

  /** Runs a floor-record check of `name`, raising this instance's floor to what the record holds (also on a refusal). */
  async #floorFromRecord(name: string, check: () => Promise<string | undefined>): Promise<void> {
    let floor: string | undefined;
    try {
      floor = await check();
    } catch (e) {
      const highest = e instanceof PluginError ? e.details?.highest : undefined;
      if (e instanceof PluginError && e.code === 'VersionDowngrade' && typeof highest === 'string') {
        this.#raiseAdmitted(name, highest);
      }
      throw e;
    }
    if (floor !== undefined) this.#raiseAdmitted(name, floor);
  }

  /**
   * The one admission decision of a Plugward host: whether the artifact at `artifactPath` may run at `trustLevel`, and
   * if so the exact bytes that were checked (load those, never the path again).
   *
   * - `'trusted'` = verified *and* listed: {@link verifyArtifact} must pass and find a trust entry. A signed artifact
   *   that is not on the list (possible under `onlyTrusted: false`) is refused with `UntrustedPlugin`.
   * - `'untrusted'` = the policy allows untrusted plugins (`onlyTrusted: false`) and the bytes match the manifest's
   *   hash and size ({@link verifyIntegrity}); no signature or trust check, no `trustEntry`. Under `onlyTrusted` it is
   *   refused with `UntrustedPlugin` before the artifact is read.
   *
   * The loader (`PluginLoader.load`) and the registry (`loadPlugin`) both admit through this method.
   * @param options - `onlyTrusted` overrides `policy.onlyTrusted` for this call (a registry's own `policy` option).
   * @throws PluginError `UntrustedPlugin`, `InvalidArgument` (unknown trust level), and every code of
   *   {@link verifyArtifact} / {@link verifyIntegrity} (`HashMismatch`, `UnknownSigner`, `InvalidSignature`, …).
   */
  async admit(
    artifactPath: string,
    trustLevel: TrustLevel,
    options: { onlyTrusted?: boolean } = {},
  ): Promise<VerifiedArtifact> {
    if (trustLevel === 'trusted') {
      const verified = await this.#verifyTrusted(artifactPath);
      await this.#recordAdmission(verified.manifest);
      return verified;
    }
    if (trustLevel !== 'untrusted') {
      throw new PluginError('InvalidArgument', `unknown trust level ${JSON.stringify(trustLevel)}`);
    }
    if (options.onlyTrusted ?? this.policy.onlyTrusted) {
      // Only the manifest is read, to name the plugin in the error: the artifact is never opened.
      const claimed = await readManifest(artifactPath).then(
        (m) => m.name,
        () => undefined,
      );
      throw new PluginError(
        'UntrustedPlugin',
        `plugin ${claimed ?? artifactPath} is not trusted and the security policy allows only trusted plugins`,
        claimed === undefined ? {} : { plugin: claimed },
      );
    }
    const verified = await this.verifyIntegrity(artifactPath);
    // The caller checks the name next (isReservedName): names admitted as trusted by another host since this one
    // loaded the list are reserved too.
    await this.#refreshFloors();
    return verified;
  }

  /** Raises this instance's per-name floors from the list's floor record as it is now. */
  async #refreshFloors(): Promise<void> {
    if (this.#floorKey === undefined) return;
    const versions = await readVersionFloors(this.policy.trustListPath, this.#floorKey, this.#listOptions());
    for (const [name, version] of Object.entries(versions ?? {})) this.#raiseAdmitted(name, version);
  }

  /**
   * True when the artifact would be admitted as trusted ({@link admit} with `'trusted'`): hash, signature and trust
   * entry all check out, and its version is not below the name's floor — the one this instance knows and the one in
   * the list's floor record as it is now (so a host that loaded the list before another host admitted a newer build
   * answers as its `admit` would). Records nothing. Never throws for a verification failure.
   */
  async verifyPlugin(artifactPath: string): Promise<boolean> {
    try {
      await this.#verifyTrusted(artifactPath);
      return true;
    } catch {
      return false;
    }
  }

  /** Verified and listed, or `UntrustedPlugin`. */
  async #verifyTrusted(artifactPath: string): Promise<VerifiedArtifact> {
    const verified = await this.verifyArtifact(artifactPath);
    if (verified.trustEntry === undefined) {
      const name = verified.manifest.name;
      throw new PluginError(
        'UntrustedPlugin',
        `plugin ${name} is signed but not on the trust list (load it as untrusted to sandbox it)`,
        { plugin: name },
      );
    }
    return verified;
  }

  /**
   * A trusted admission raises the name's version floor and reserves the name — kept in the list's floor record, so a
   * restarted host still refuses an older build and an untrusted claimant, whether or not the trust entry names the
   * plugin. When the record can't be written the admission fails (`RollbackFloorMissing`, `IoError`); when it holds a
   * newer version of the name (admitted by another host since this one loaded the list) it fails with
   * `VersionDowngrade`, and this instance's floor rises to that version.
   */
  async #recordAdmission(manifest: PluginManifest): Promise<void> {
    const { name, version } = manifest;
    // The record is consulted even when this run already admitted `version`: another host (or another instance on
    // this list) may have admitted a newer build since, and its floor holds here too. The record first: a failed write
    // leaves this run's floor unraised too, so the next admission tries again.
    const floorKey = this.#floorKey;
    if (floorKey !== undefined) {
      await this.#floorFromRecord(name, () =>
        raiseVersionFloor(this.policy.trustListPath, floorKey, name, version, {
          ...this.#listOptions(),
          allowDowngrade: this.policy.allowDowngrade,
        }),
      );
    }
    this.#raiseAdmitted(name, version);
  }
}

/** Builds a trust entry from a signed manifest and the signer's public key (for `trust add`). */
export function trustEntryFromManifest(
  manifest: PluginManifest,
  publicKey: Uint8Array | string,
  note?: string,
): TrustedPluginEntry {
  const key = bytesOrHex(publicKey, 'public key', 32);
  return validateTrustEntry({
    name: manifest.name,
    version: manifest.version,
    hash: manifest.artifact.sha3_512,
    keyId: keyId(key),
    publicKey: toHex(key),
    signature: manifest.signature.value,
    addedAt: new Date().toISOString(),
    ...(note === undefined ? {} : { note }),
  });
}
