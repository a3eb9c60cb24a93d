import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import {
  MAX_PLUGIN_NAME_LENGTH,
  PLUGIN_NAME_PATTERN,
  PluginError,
  PluginVersion,
  type TrustedPluginEntry,
} from '@plugward/types';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, aeadOpen, aeadSeal } from './aead.js';
import { writeFileAtomic } from './atomic-write.js';
import { bytesOrHex, fromHex } from './bytes.js';
import { assertValidPublicKey, keyId } from './ed25519.js';
import { type HeldLock, withFileLock } from './file-lock.js';
import { readFileCapped } from './regular-file.js';
import {
  defaultRollbackFloorDir,
  FloorKey,
  mergeRevoked,
  type RollbackFloorRecord,
  readFloorRecord,
  removeRollbackFloor,
  rollbackFloorExists,
  writeRollbackFloor,
} from './rollback-floor.js';

/** First 8 bytes of every trust list file: `PWTRUST` and a NUL. */
export const TRUST_LIST_MAGIC = new Uint8Array([0x50, 0x57, 0x54, 0x52, 0x55, 0x53, 0x54, 0x00]);
/** The file format version this package writes and reads. */
export const TRUST_LIST_FORMAT_VERSION = 1;
/** Header size: magic 8, format 2, kdf 1, reserved 1, t 4, m 4, p 4, salt 16, nonce 24. */
export const TRUST_LIST_HEADER_BYTES = 64;
/** Largest trust list file accepted, bytes. */
export const MAX_TRUST_LIST_BYTES = 16 * 1024 * 1024;

const KDF_NONE = 0;
const KDF_ARGON2ID = 1;
const SALT_BYTES = 16;

/** Argon2id cost parameters, stored in the file header. */
export interface Argon2Params {
  /** Iterations. */
  t: number;
  /** Memory, KiB. */
  m: number;
  /** Parallelism. */
  p: number;
}

/**
 * RFC 9106's second recommended option (§4: t = 3, m = 64 MiB, p = 4) for new lists: ≈1.5 s with @noble/hashes on a
 * 2-vCPU CI machine (`bench/security.bench.mjs` prints the measured unlock time).
 */
export const DEFAULT_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({ t: 3, m: 64 * 1024, p: 4 });
/**
 * The most a trust list header may ask for before it is authenticated (a header is read before the key exists, so a
 * forged one could otherwise make every load attempt cost t = 16, m = 1 GiB). Raise it with `maxArgon2` when a host
 * deliberately writes costlier lists.
 */
export const MAX_HEADER_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({ t: 4, m: 64 * 1024, p: 4 });
// Absolute bounds (what a writer may choose, and what `maxArgon2` may raise the header bound to).
const ARGON2_MAX = { t: 16, m: 1024 * 1024, p: 16 } as const;

/**
 * The key of a trust list: 32 raw bytes (or 64 hex digits), or a passphrase stretched with Argon2id (parameters and
 * salt stored in the header; `kdf` picks the cost when saving).
 */
export type TrustListKey =
  | Uint8Array
  | string
  | { key: Uint8Array | string }
  | { passphrase: string; kdf?: Argon2Params };

/** The decrypted content of a trust list file. */
export interface TrustListData {
  /** Monotonically increasing; a loader refuses a list older than the version it already knows (replay). */
  listVersion: number;
  entries: TrustedPluginEntry[];
  /**
   * Random identity of the list (32 hex digits), chosen when it is created and kept by every update; the rollback
   * floor record names it, so another list encrypted under the same key can't stand in for this one.
   */
  listId?: string;
}

/** Why a trust list could not be read, in `PluginError.details.reason`. */
export type TrustListFailure =
  | 'empty'
  | 'truncated'
  | 'too-large'
  | 'bad-magic'
  | 'unsupported-format'
  | 'bad-header'
  | 'wrong-key-type'
  | 'auth-failed'
  | 'bad-plaintext'
  | 'replayed'
  | 'not-newer'
  | 'not-found'
  | 'other-list'
  | 'list-missing'
  | 'floor-missing'
  | 'floor-unauthenticated'
  | 'floor-dir-not-private'
  | 'lock-lost';

function fail(
  reason: TrustListFailure,
  message: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
) {
  return new PluginError('TrustListError', message, {
    details: { reason, ...extra },
    ...(cause === undefined ? {} : { cause }),
  });
}

type NormalKey =
  | { kind: 'raw'; key: Uint8Array }
  | { kind: 'passphrase'; passphrase: string; kdf: Argon2Params };

function normaliseKey(key: TrustListKey): NormalKey {
  if (typeof key === 'string' || key instanceof Uint8Array) {
    return { kind: 'raw', key: bytesOrHex(key, 'trust list key', 32) };
  }
  if (typeof key === 'object' && key !== null && 'passphrase' in key) {
    if (typeof key.passphrase !== 'string' || key.passphrase.length === 0) {
      throw new PluginError('InvalidArgument', 'trust list passphrase must be a non-empty string');
    }
    const kdf = key.kdf ?? DEFAULT_ARGON2_PARAMS;
    checkArgon2(kdf, 'InvalidArgument');
    return { kind: 'passphrase', passphrase: key.passphrase, kdf };
  }
  if (typeof key === 'object' && key !== null && 'key' in key) {
    return { kind: 'raw', key: bytesOrHex(key.key, 'trust list key', 32) };
  }
  throw new PluginError(
    'InvalidArgument',
    'trust list key must be 32 bytes, 64 hex digits or { passphrase }',
  );
}

function checkArgon2(
  p: Argon2Params,
  code: 'InvalidArgument' | 'TrustListError',
  max: Readonly<Argon2Params> = ARGON2_MAX,
): void {
  const ok =
    Number.isInteger(p.t) &&
    Number.isInteger(p.m) &&
    Number.isInteger(p.p) &&
    p.t >= 1 &&
    p.t <= max.t &&
    p.p >= 1 &&
    p.p <= max.p &&
    p.m >= 8 * p.p &&
    p.m <= max.m;
  if (!ok) {
    const msg = `Argon2id parameters out of range (t 1-${max.t}, p 1-${max.p}, m 8p-${max.m} KiB)`;
    if (code === 'TrustListError') throw fail('bad-header', `trust list header: ${msg}`);
    throw new PluginError('InvalidArgument', msg);
  }
}

async function deriveKey(passphrase: string, salt: Uint8Array, p: Argon2Params): Promise<Uint8Array> {
  return argon2idAsync(new TextEncoder().encode(passphrase.normalize('NFC')), salt, {
    t: p.t,
    m: p.m,
    p: p.p,
    dkLen: 32,
    maxmem: (ARGON2_MAX.m + 64) * 1024,
  });
}

/** Validates one untrusted trust entry. */
export function validateTrustEntry(value: unknown, where = 'trust entry'): TrustedPluginEntry {
  const badEntry = (m: string) => fail('bad-plaintext', `${where}: ${m}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badEntry('must be an object');
  const e = value as Record<string, unknown>;
  const allowed = ['name', 'version', 'hash', 'keyId', 'publicKey', 'signature', 'addedAt', 'note'];
  for (const k of Object.keys(e)) if (!allowed.includes(k)) throw badEntry(`unknown field ${k}`);
  if (
    e.name !== undefined &&
    (typeof e.name !== 'string' ||
      e.name.length > MAX_PLUGIN_NAME_LENGTH ||
      !PLUGIN_NAME_PATTERN.test(e.name))
  ) {
    throw badEntry('name is not a valid plugin name');
  }
  if (typeof e.version !== 'string' || !PluginVersion.isValid(e.version))
    throw badEntry('version is not semver');
  if (typeof e.hash !== 'string' || !/^[0-9a-f]{128}$/.test(e.hash))
    throw badEntry('hash must be SHA3-512 hex');
  if ((e.publicKey === undefined) !== (e.keyId === undefined)) {
    throw badEntry('keyId and publicKey go together (give both or neither)');
  }
  if (e.publicKey !== undefined) {
    if (typeof e.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(e.publicKey)) {
      throw badEntry('publicKey must be 64 hex digits');
    }
    try {
      assertValidPublicKey(e.publicKey);
    } catch (err) {
      throw fail('bad-plaintext', `${where}: ${(err as Error).message}`, {}, err);
    }
    if (e.keyId !== keyId(e.publicKey)) throw badEntry('keyId does not match publicKey');
  }
  if (
    e.signature !== undefined &&
    (typeof e.signature !== 'string' || !/^[0-9a-f]{128}$/.test(e.signature))
  ) {
    throw badEntry('signature must be 128 hex digits');
  }
  if (e.addedAt !== undefined && (typeof e.addedAt !== 'string' || e.addedAt.length > 64))
    throw badEntry('addedAt must be an ISO 8601 string');
  if (e.note !== undefined && (typeof e.note !== 'string' || e.note.length > 4096)) {
    throw badEntry('note must be a string');
  }
  return { ...(e as unknown as TrustedPluginEntry) };
}

function encodePlaintext(data: TrustListData): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      format: 'plugward-trust-list',
      listVersion: data.listVersion,
      ...(data.listId === undefined ? {} : { listId: data.listId }),
      entries: data.entries,
    }),
  );
}

const LIST_ID = /^[0-9a-f]{32}$/;

/** A fresh random list id (32 hex digits). */
function newListId(): string {
  return randomBytes(16).toString('hex');
}

function decodePlaintext(bytes: Uint8Array): TrustListData {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw fail('bad-plaintext', 'trust list plaintext is not valid JSON', {}, e);
  }
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || v.format !== 'plugward-trust-list') {
    throw fail('bad-plaintext', 'trust list plaintext has no plugward-trust-list format tag');
  }
  if (!Number.isSafeInteger(v.listVersion) || (v.listVersion as number) < 0) {
    throw fail('bad-plaintext', 'trust list listVersion must be a non-negative integer');
  }
  if (!Array.isArray(v.entries)) throw fail('bad-plaintext', 'trust list entries must be an array');
  if (v.listId !== undefined && (typeof v.listId !== 'string' || !LIST_ID.test(v.listId))) {
    throw fail('bad-plaintext', 'trust list listId must be 32 hex digits');
  }
  const entries = v.entries.map((e, i) => validateTrustEntry(e, `trust list entry ${i}`));
  return {
    listVersion: v.listVersion as number,
    entries,
    ...(v.listId === undefined ? {} : { listId: v.listId as string }),
  };
}
/** What sealing needs besides the plaintext: the key and the KDF part of the header (bytes 10..40). */
interface SealKey {
  rawKey: Uint8Array;
  kdfHeader: Uint8Array;
  /** What authenticates the list's floor record (derived from `rawKey`). */
  floorKey: FloorKey;
}

function sealKeyOf(rawKey: Uint8Array, kdfHeader: Uint8Array): SealKey {
  return { rawKey, kdfHeader, floorKey: FloorKey.fromListKey(rawKey) };
}

async function newSealKey(key: TrustListKey): Promise<SealKey> {
  const k = normaliseKey(key);
  const kdfHeader = new Uint8Array(30);
  if (k.kind === 'raw') return sealKeyOf(k.key, kdfHeader);
  const view = new DataView(kdfHeader.buffer);
  kdfHeader[0] = KDF_ARGON2ID;
  view.setUint32(2, k.kdf.t, true);
  view.setUint32(6, k.kdf.m, true);
  view.setUint32(10, k.kdf.p, true);
  const salt = randomBytes(SALT_BYTES);
  kdfHeader.set(salt, 14);
  return sealKeyOf(await deriveKey(k.passphrase, salt, k.kdf), kdfHeader);
}

function seal(data: TrustListData, sk: SealKey): Uint8Array {
  if (!Number.isSafeInteger(data.listVersion) || data.listVersion < 0) {
    throw new PluginError('InvalidArgument', 'listVersion must be a non-negative integer');
  }
  if (data.listId !== undefined && !LIST_ID.test(data.listId)) {
    throw new PluginError('InvalidArgument', 'listId must be 32 lowercase hex digits');
  }
  data.entries.forEach((e, i) => {
    try {
      validateTrustEntry(e, `entry ${i}`);
    } catch (err) {
      throw new PluginError('InvalidArgument', (err as Error).message, { cause: err });
    }
  });
  const header = new Uint8Array(TRUST_LIST_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(TRUST_LIST_MAGIC, 0);
  view.setUint16(8, TRUST_LIST_FORMAT_VERSION, true);
  header.set(sk.kdfHeader, 10);
  header.set(randomBytes(AEAD_NONCE_BYTES), 40);
  const sealed = aeadSeal(sk.rawKey, header.subarray(40, 64), encodePlaintext(data), header);
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header, 0);
  out.set(sealed, header.length);
  return out;
}

/**
 * Encrypts a trust list into the file format: header (magic, format version, KDF id and Argon2id parameters, salt,
 * 24-byte random nonce) followed by XChaCha20-Poly1305 of the JSON plaintext, the whole header as associated data.
 */
export async function encryptTrustList(data: TrustListData, key: TrustListKey): Promise<Uint8Array> {
  return seal(data, await newSealKey(key));
}

/** Options of {@link decryptTrustList} and {@link loadTrustList}. */
export interface LoadTrustListOptions {
  /** Refuse a list whose listVersion is below this (`TrustListRollback`); for hosts that pin the version themselves. */
  minListVersion?: number;
  /**
   * Highest Argon2id cost a file header may ask for before it is authenticated (default
   * {@link MAX_HEADER_ARGON2_PARAMS}); a header asking more is refused without running the KDF.
   */
  maxArgon2?: Argon2Params;
  /**
   * Directory of the persistent rollback floor records (default {@link defaultRollbackFloorDir}); `false` turns the
   * persistent floor off (then only `minListVersion` protects against a replayed list). Used by the path-based
   * functions ({@link loadTrustList}, {@link saveTrustList}, {@link updateTrustList}).
   */
  floorDir?: string | false;
  /** How long a load that raises the floor waits for the list lock (default 10 s). */
  floorLockTimeoutMs?: number;
}

interface Opened {
  data: TrustListData;
  sealKey: SealKey;
  /** The list's floor record as checked (absent with the persistent floor off, or for a list just created). */
  floor?: RollbackFloorRecord;
}

async function openFile(file: Uint8Array, key: TrustListKey, options: LoadTrustListOptions): Promise<Opened> {
  if (file.length === 0) throw fail('empty', 'trust list file is empty');
  if (file.length > MAX_TRUST_LIST_BYTES)
    throw fail('too-large', `trust list is over ${MAX_TRUST_LIST_BYTES} bytes`);
  const magicLen = Math.min(file.length, TRUST_LIST_MAGIC.length);
  for (let i = 0; i < magicLen; i++) {
    if (file[i] !== TRUST_LIST_MAGIC[i])
      throw fail('bad-magic', 'not a Plugward trust list (bad magic bytes)');
  }
  if (file.length < TRUST_LIST_HEADER_BYTES + AEAD_TAG_BYTES) {
    throw fail('truncated', `trust list file is truncated (${file.length} bytes)`);
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const format = view.getUint16(8, true);
  if (format !== TRUST_LIST_FORMAT_VERSION) {
    throw fail('unsupported-format', `trust list format version ${format} is not supported (expected 1)`, {
      format,
    });
  }
  const kdf = file[10];
  if (file[11] !== 0) throw fail('bad-header', 'trust list header: reserved byte is not zero');
  const k = normaliseKey(key);
  const header = file.slice(0, TRUST_LIST_HEADER_BYTES);
  let rawKey: Uint8Array;
  if (kdf === KDF_NONE) {
    for (let i = 12; i < 40; i++) {
      if (file[i] !== 0) throw fail('bad-header', 'trust list header: KDF fields must be zero for a raw key');
    }
    if (k.kind !== 'raw') {
      throw fail('wrong-key-type', 'this trust list is encrypted with a 32-byte key, not a passphrase');
    }
    rawKey = k.key;
  } else if (kdf === KDF_ARGON2ID) {
    const params = { t: view.getUint32(12, true), m: view.getUint32(16, true), p: view.getUint32(20, true) };
    const max = options.maxArgon2 ?? MAX_HEADER_ARGON2_PARAMS;
    checkArgon2(max, 'InvalidArgument');
    // Unauthenticated until the KDF ran: bound the cost first.
    checkArgon2(params, 'TrustListError', max);
    if (k.kind !== 'passphrase') {
      throw fail('wrong-key-type', 'this trust list is protected by a passphrase, not a 32-byte key');
    }
    rawKey = await deriveKey(k.passphrase, file.subarray(24, 40), params);
  } else {
    throw fail('bad-header', `trust list header: unknown KDF ${kdf}`);
  }
  let plaintext: Uint8Array;
  try {
    plaintext = aeadOpen(rawKey, file.subarray(40, 64), file.subarray(TRUST_LIST_HEADER_BYTES), header);
  } catch (e) {
    throw fail('auth-failed', 'trust list did not authenticate: wrong key, or the file was modified', {}, e);
  }
  const data = decodePlaintext(plaintext);
  const min = options.minListVersion ?? 0;
  if (data.listVersion < min) throw rollback(data.listVersion, min, 'replayed');
  return { data, sealKey: sealKeyOf(rawKey, header.slice(10, 40)) };
}

function rollback(version: number, floor: number, reason: TrustListFailure, extra = ''): PluginError {
  return new PluginError(
    'TrustListRollback',
    `trust list version ${version} is older than the known version ${floor}: refusing a replayed list${extra}`,
    { details: { reason, listVersion: version, minListVersion: floor } },
  );
}

/**
 * Decrypts and validates a trust list file's bytes. Fails closed with a `TrustListError` whose `details.reason` says
 * why ({@link TrustListFailure}), or `TrustListRollback` below `minListVersion`; never returns entries from a file
 * that did not authenticate. Bytes have no path, so the persistent rollback floor is checked by
 * {@link loadTrustList}, not here.
 */
export async function decryptTrustList(
  file: Uint8Array,
  key: TrustListKey,
  options: LoadTrustListOptions = {},
): Promise<TrustListData> {
  return (await openFile(file, key, options)).data;
}

const FLOOR_HELP = 'plugward trust floor --reset --list <file> <key options>';

function floorDirOf(options: LoadTrustListOptions): string | undefined {
  if (options.floorDir === false) return undefined;
  return options.floorDir ?? defaultRollbackFloorDir();
}

/**
 * Checks an opened list against its persistent floor record, then (when `raise`) raises the floor to this version.
 * Raising takes the list lock and re-reads the record, so a reader can't lower a floor an updater just raised.
 */
async function enforceFloor(
  path: string,
  opened: Opened,
  options: LoadTrustListOptions,
  raise: boolean,
): Promise<RollbackFloorRecord | undefined> {
  const dir = floorDirOf(options);
  if (dir === undefined) return undefined;
  const { data, sealKey } = opened;
  const found = await readFloorRecord(dir, path, sealKey.floorKey);
  if (found.state !== 'ok') {
    const why =
      found.state === 'missing'
        ? 'there is no rollback floor record for it'
        : 'its rollback floor record does not authenticate under this list key (forged, or the list was rekeyed)';
    throw new PluginError(
      'RollbackFloorMissing',
      `trust list ${path}: ${why}, so a replayed older list can't be told apart. If this list is the right one, re-establish the floor with: ${FLOOR_HELP}`,
      {
        details: {
          reason: found.state === 'missing' ? 'floor-missing' : 'floor-unauthenticated',
          floorDir: dir,
        },
      },
    );
  }
  const { record } = found;
  if (record.listId !== (data.listId ?? '')) {
    throw new PluginError(
      'TrustListRollback',
      `trust list ${path} is not the list this host knows (another list was put in its place); if that was intended: ${FLOOR_HELP}`,
      { details: { reason: 'other-list', listVersion: data.listVersion, minListVersion: record.floor } },
    );
  }
  if (data.listVersion < record.floor) {
    throw rollback(data.listVersion, record.floor, 'replayed', ` (rollback floor kept in ${dir})`);
  }
  if (raise && data.listVersion > record.floor) {
    const raiseFloor = async () => {
      const again = await readFloorRecord(dir, path, sealKey.floorKey);
      if (
        again.state === 'ok' &&
        again.record.listId === record.listId &&
        again.record.floor >= data.listVersion
      ) {
        return;
      }
      // No `versions`: the record's current ones are kept (an admission may have raised one since the first read).
      await writeRollbackFloor(
        dir,
        { path, listId: record.listId, floor: data.listVersion },
        sealKey.floorKey,
      );
    };
    await underListLockIfPossible(path, raiseFloor, options.floorLockTimeoutMs);
  }
  return record;
}

// `raise: false` inside updateTrustList, which already holds the lock and writes the floor with the new list.
async function openPath(
  path: string,
  key: TrustListKey,
  options: LoadTrustListOptions,
  raise = true,
): Promise<Opened> {
  const opened = await openFile(await readTrustFile(path), key, options);
  const floor = await enforceFloor(path, opened, options, raise);
  return floor === undefined ? opened : { ...opened, floor };
}
function readTrustFile(path: string): Promise<Uint8Array> {
  return readFileCapped(path, MAX_TRUST_LIST_BYTES, 'trust list', (e) =>
    (e as { code?: unknown }).code === 'ENOENT'
      ? fail('not-found', `trust list not found: ${path}`, {}, e)
      : new PluginError('IoError', `cannot read trust list ${path}: ${(e as Error).message}`, { cause: e }),
  );
}

/** Reads and decrypts a trust list file. See {@link decryptTrustList}. */

/**
 * Reads and decrypts a trust list file (see {@link decryptTrustList}) and checks it against its persistent rollback
 * floor: a list older than the highest version this host has seen, or another list put in its place, is refused
 * (`TrustListRollback`); a missing or forged floor record fails closed (`RollbackFloorMissing`, recover with
 * {@link resetTrustListFloor}). A newer list raises the floor.
 */
export async function loadTrustList(
  path: string,
  key: TrustListKey,
  options: LoadTrustListOptions = {},
): Promise<TrustListData> {
  return (await openPath(path, key, options)).data;
}

/**
 * A list opened at a path, with what `PluginSecurity` keeps from it: the per-name version floors of its floor record
 * and the key that authenticates that record (internal to the package).
 */
export interface OpenedTrustList {
  data: TrustListData;
  versions: Readonly<Record<string, string>>;
  /** Authenticates the floor record; derived from the list key, which it can't stand in for. */
  floorKey: FloorKey;
}

function withFloor(o: Opened): OpenedTrustList {
  return { data: o.data, versions: o.floor?.versions ?? {}, floorKey: o.sealKey.floorKey };
}

/** {@link loadTrustList}, keeping the floor record's versions and key (for `PluginSecurity`). */
export async function openTrustList(
  path: string,
  key: TrustListKey,
  options: LoadTrustListOptions = {},
): Promise<OpenedTrustList> {
  return withFloor(await openPath(path, key, options));
}

/**
 * {@link loadTrustList}, also returning the per-name version floors kept in the list's rollback floor record: the
 * highest version of each plugin name admitted as trusted from this list (what `plugward trust floor` shows).
 */
export async function loadTrustListWithFloors(
  path: string,
  key: TrustListKey,
  options: LoadTrustListOptions = {},
): Promise<{ data: TrustListData; versions: Readonly<Record<string, string>> }> {
  const { data, versions } = await openTrustList(path, key, options);
  return { data, versions };
}

/**
 * The recorded version of `name` when it settles an admission of `version` (equal or higher), undefined when the
 * record must be raised; `VersionDowngrade` when it is higher and downgrades are not allowed.
 */
function settledFloor(
  record: RollbackFloorRecord,
  path: string,
  name: string,
  version: string,
  allowDowngrade: boolean | undefined,
): string | undefined {
  const recorded = record.versions;
  const prev = recorded !== undefined && Object.hasOwn(recorded, name) ? recorded[name] : undefined;
  if (prev === undefined) return undefined;
  const order = PluginVersion.compare(prev, version);
  if (order > 0 && allowDowngrade !== true) {
    throw new PluginError(
      'VersionDowngrade',
      `${name}@${version} is older than the version ${prev} admitted as trusted from trust list ${path} (recorded in its rollback floor record; policy.allowDowngrade is false)`,
      { plugin: name, details: { version, highest: prev } },
    );
  }
  return order >= 0 ? prev : undefined;
}

/**
 * Checks `version` of `name` against the floor record of the list at `path` as it is now, without writing: what
 * {@link raiseVersionFloor} checks before it raises. For decisions that admit nothing (`verifyPlugin`,
 * `verifyArtifact`), so they agree with admission.
 * @returns the recorded version of `name` when it is at least `version`, else undefined (also with the persistent
 *   floor off).
 * @throws PluginError `VersionDowngrade`, `RollbackFloorMissing`, `IoError`, as {@link raiseVersionFloor}.
 */
export async function checkVersionFloor(
  path: string,
  floorKey: FloorKey,
  name: string,
  version: string,
  options: Pick<LoadTrustListOptions, 'floorDir'> & { allowDowngrade?: boolean } = {},
): Promise<string | undefined> {
  const dir = floorDirOf(options);
  if (dir === undefined) return undefined;
  return settledFloor(
    await authenticFloor(dir, path, floorKey, name),
    path,
    name,
    version,
    options.allowDowngrade,
  );
}

/**
 * Raises the version floor of plugin `name` in the floor record of the list at `path` to `version` (never lowers it),
 * under the list's lock, and checks `version` against the record as it is now: another host (or another
 * `PluginSecurity`) may have admitted a newer build since this one read the record. `floorKey` is
 * {@link OpenedTrustList.floorKey}. A record that is missing or does not authenticate fails closed
 * (`RollbackFloorMissing`). No-op with the persistent floor off.
 * @returns the name's floor after the call (the recorded version when higher and `allowDowngrade`), or undefined with
 *   the persistent floor off.
 * @throws PluginError `VersionDowngrade` (details.highest: the recorded version) when the record holds a higher
 *   version of `name` and `allowDowngrade` is not set; `RollbackFloorMissing`, `IoError`.
 */
export async function raiseVersionFloor(
  path: string,
  floorKey: FloorKey,
  name: string,
  version: string,
  options: Pick<LoadTrustListOptions, 'floorDir' | 'floorLockTimeoutMs'> & {
    allowDowngrade?: boolean;
  } = {},
): Promise<string | undefined> {
  const dir = floorDirOf(options);
  if (dir === undefined) return undefined;
  const settled = (record: RollbackFloorRecord) =>
    settledFloor(record, path, name, version, options.allowDowngrade);
  // Records only move up, so one that settles the admission needs no lock: the common case (re-admitting the
  // recorded version) costs a read.
  const first = settled(await authenticFloor(dir, path, floorKey, name));
  if (first !== undefined) return first;
  let floor = version;
  const raise = async () => {
    const found = await authenticFloor(dir, path, floorKey, name);
    const now = settled(found);
    if (now !== undefined) {
      floor = now;
      return;
    }
    const versions = { ...found.versions, [name]: version };
    await writeRollbackFloor(dir, { ...found, versions }, floorKey);
  };
  await underListLockIfPossible(path, raise, options.floorLockTimeoutMs);
  return floor;
}

/** The authentic floor record of the list, or `RollbackFloorMissing` (the version floor of `name` can't be kept). */
async function authenticFloor(
  dir: string,
  path: string,
  floorKey: FloorKey,
  name: string,
): Promise<RollbackFloorRecord> {
  const found = await readFloorRecord(dir, path, floorKey);
  if (found.state === 'ok') return found.record;
  throw new PluginError(
    'RollbackFloorMissing',
    `trust list ${path}: its rollback floor record is ${found.state === 'missing' ? 'gone' : 'no longer authentic'}, so the version floor of ${name} can't be kept. If the list is the right one, re-establish the floor with: ${FLOOR_HELP}`,
    {
      plugin: name,
      details: {
        reason: found.state === 'missing' ? 'floor-missing' : 'floor-unauthenticated',
        floorDir: dir,
      },
    },
  );
}

/**
 * The per-name version floors in the floor record of the list at `path` as it is now (`floorKey` is
 * {@link OpenedTrustList.floorKey}), or undefined with the persistent floor off or a record that is missing or not
 * authentic (nothing to learn from it; trusted admissions fail closed on it in {@link raiseVersionFloor}).
 */
export async function readVersionFloors(
  path: string,
  floorKey: FloorKey,
  options: Pick<LoadTrustListOptions, 'floorDir'> = {},
): Promise<Readonly<Record<string, string>> | undefined> {
  const record = await currentFloorRecord(path, floorKey, options);
  return record === undefined ? undefined : (record.versions ?? {});
}

/** The authentic floor record of the list at `path` as it is now; undefined with the floor off, or none authentic. */
async function currentFloorRecord(
  path: string,
  floorKey: FloorKey,
  options: Pick<LoadTrustListOptions, 'floorDir'>,
): Promise<RollbackFloorRecord | undefined> {
  const dir = floorDirOf(options);
  if (dir === undefined) return undefined;
  const found = await readFloorRecord(dir, path, floorKey);
  return found.state === 'ok' ? found.record : undefined;
}

/**
 * Runs a floor update under the list's lock — or without it for a host that may read the list but not write beside it
 * (it can't take the lock).
 */
async function underListLockIfPossible(
  path: string,
  fn: () => Promise<void>,
  timeoutMs?: number,
): Promise<void> {
  try {
    await withListLock(path, fn, timeoutMs);
  } catch (e) {
    if (!(e instanceof PluginError && e.code === 'IoError')) throw e;
    await fn();
  }
}

async function writeList(
  path: string,
  data: TrustListData,
  sk: SealKey,
  options: LoadTrustListOptions,
  removed?: readonly string[],
): Promise<void> {
  await writeFileAtomic(path, seal(data, sk), 0o600);
  const dir = floorDirOf(options);
  // The list first, then its floor: a crash in between leaves a floor below the list (raised at the next load),
  // never one above it.
  if (dir !== undefined) {
    // The hashes this write removed are recorded with its version: a running host that loaded an older version still
    // holds their entries and learns of the revocation here (it does not hold the list key to read the list again).
    // A write that doesn't know what it removed (`removed` undefined: saveTrustList) can't name it: from its version
    // on, the record's revocations are complete, and a host that loaded an older list must load it again.
    const prev = await readFloorRecord(dir, path, sk.floorKey);
    const before = prev.state === 'ok' ? prev.record : undefined;
    const listed = data.entries.map((e) => e.hash);
    const { revoked, evictedUpTo } = mergeRevoked(before?.revoked, removed ?? [], listed, data.listVersion);
    const revokedSince = Math.max(
      removed === undefined || before === undefined ? data.listVersion : 0,
      before?.revokedSince ?? 0,
      evictedUpTo,
    );
    // Every field given (the per-name floors as read): the record is read once.
    await writeRollbackFloor(
      dir,
      {
        path,
        listId: data.listId ?? '',
        floor: data.listVersion,
        versions: before?.versions ?? {},
        revoked,
        revokedSince,
      },
      sk.floorKey,
    );
  }
}

/**
 * The revocations in the floor record of the list at `path` as it is now (hash → the list version that removed it,
 * and the version from which they are complete), or undefined with the persistent floor off or a record that is
 * missing or not authentic.
 */
export async function readRevocations(
  path: string,
  floorKey: FloorKey,
  options: Pick<LoadTrustListOptions, 'floorDir'> = {},
): Promise<{ revoked: Readonly<Record<string, number>>; since: number } | undefined> {
  const record = await currentFloorRecord(path, floorKey, options);
  return record === undefined
    ? undefined
    : { revoked: record.revoked ?? {}, since: record.revokedSince ?? 0 };
}

/**
 * Encrypts and writes a trust list atomically (temp file, fsync, rename), mode 0600, writing `data` as given (a new
 * `listId` is chosen when it has none), and records its version as the list's rollback floor. A list that opens with
 * the same key is replaced only by a higher `listVersion` (`TrustListRollback`, `details.reason: 'not-newer'`), and
 * the hashes it drops are recorded as revoked for running hosts. For changing an existing list use
 * {@link updateTrustList}, which never goes below the floor.
 */
export async function saveTrustList(
  path: string,
  data: TrustListData,
  key: TrustListKey,
  options: Pick<LoadTrustListOptions, 'floorDir'> = {},
): Promise<void> {
  normaliseKey(key);
  const withId = { ...data, listId: data.listId ?? newListId() };
  // What this write removes, when the list it replaces opens with the same key (a running host learns of it from the
  // floor record); otherwise unknown (a new key, no list yet), and hosts that loaded an older list must load it again.
  let removed: string[] | undefined;
  const current = await readTrustFile(path)
    .then((file) => openFile(file, key, {}))
    .catch(() => undefined);
  if (current !== undefined) {
    // A list saved over the one it replaces must be newer: a revocation recorded at a version a running host already
    // loaded would read as seen, and the list's floor would go down.
    if (withId.listVersion <= current.data.listVersion) {
      throw new PluginError(
        'TrustListRollback',
        `trust list ${path} holds version ${current.data.listVersion}: a list saved over it needs a higher listVersion (got ${withId.listVersion})`,
        {
          details: {
            reason: 'not-newer',
            listVersion: withId.listVersion,
            minListVersion: current.data.listVersion + 1,
          },
        },
      );
    }
    const kept = new Set(withId.entries.map((e) => e.hash));
    removed = current.data.entries.map((e) => e.hash).filter((h) => !kept.has(h));
  }
  await writeList(path, withId, await newSealKey(key), options, removed);
}

/** Options of {@link updateTrustList}. */
export interface UpdateTrustListOptions extends LoadTrustListOptions {
  /** Start from an empty list when the file does not exist yet (default true). */
  create?: boolean;
  /** How long to wait for another process's lock (default 10 s). */
  lockTimeoutMs?: number;
}

/** Changes the entries of a list in place, or returns the new entries. */
// biome-ignore lint/suspicious/noConfusingVoidType: a mutator may edit the array in place and return nothing.
type TrustListMutator = (entries: TrustedPluginEntry[]) => TrustedPluginEntry[] | undefined | void;

/**
 * Read-modify-write of a trust list file under an exclusive lock (`<path>.lock`): loads the file as it is on disk now
 * (checked against the rollback floor), lets `mutate` change those entries, saves with listVersion + 1 under the same
 * key, salt and list id. Concurrent updaters in different processes therefore never lose each other's changes.
 * A missing list is created (unless `create: false`) — but not when a floor record says it existed: a deleted list is
 * refused (`TrustListRollback`, reason `list-missing`) rather than silently restarted at version 1.
 * @returns the saved list.
 */
export async function updateTrustList(
  path: string,
  key: TrustListKey,
  mutate: TrustListMutator,
  options: UpdateTrustListOptions = {},
): Promise<TrustListData> {
  return (await updateOpenTrustList(path, key, mutate, options)).data;
}

/** {@link updateTrustList}, keeping the floor record's versions and key (for `PluginSecurity`). */
export async function updateOpenTrustList(
  path: string,
  key: TrustListKey,
  mutate: TrustListMutator,
  options: UpdateTrustListOptions = {},
): Promise<OpenedTrustList> {
  normaliseKey(key);
  return withListLock(
    path,
    async (lock) => {
      const read = await fileIdentity(path);
      let current: Opened;
      try {
        current = await openPath(path, key, options, false);
      } catch (e) {
        const missing = e instanceof PluginError && e.details?.reason === 'not-found';
        if (!missing || options.create === false) throw e;
        const dir = floorDirOf(options);
        if (dir !== undefined && (await rollbackFloorExists(dir, path))) {
          throw new PluginError(
            'TrustListRollback',
            `trust list ${path} is missing, but its rollback floor record says it existed: restore the file, or start a new list with: ${FLOOR_HELP}`,
            { details: { reason: 'list-missing', floorDir: dir } },
          );
        }
        current = {
          data: { listVersion: 0, entries: [], listId: newListId() },
          sealKey: await newSealKey(key),
        };
      }
      const before = current.data.entries.map((e) => e.hash);
      const entries = [...current.data.entries];
      const replaced = mutate(entries);
      const next: TrustListData = {
        listVersion: current.data.listVersion + 1,
        entries: replaced ?? entries,
        listId: current.data.listId ?? newListId(),
      };
      const kept = new Set(next.entries.map((e) => e.hash));
      // A holder stopped past the lock's stale time (SIGSTOP, a frozen container, a starved event loop) was broken by
      // another writer, which may have written since: writing now would undo that write — a revocation coming back.
      if (!(await lock.held()) || (await fileIdentity(path)) !== read) {
        throw new PluginError(
          'TrustListError',
          `trust list ${path} changed or its lock was taken over while this update waited (longer than the lock's stale time): nothing was written; run the update again`,
          { details: { reason: 'lock-lost' } },
        );
      }
      await writeList(
        path,
        next,
        current.sealKey,
        options,
        before.filter((h) => !kept.has(h)),
      );
      return withFloor({ ...current, data: next });
    },
    options.lockTimeoutMs,
  );
}

/**
 * Operator recovery of the rollback floor (what `plugward trust floor --reset` runs). Needs the list key: opens the
 * list at `path` (authenticating it, without the floor check) and records its current version as the floor — so run
 * it only with a list you know is the latest. When the list is gone for good, removes the record so a new list can be
 * started. @returns the new floor, or undefined when the record was removed.
 */
export async function resetTrustListFloor(
  path: string,
  key: TrustListKey,
  options: Pick<LoadTrustListOptions, 'floorDir' | 'maxArgon2' | 'minListVersion'> & {
    /**
     * Also drop the per-name version floors (what hosts admitted as trusted), so an older version of a plugin may be
     * loaded again — a deliberate downgrade. Default false: they are kept.
     */
    forgetVersions?: boolean;
  } = {},
): Promise<number | undefined> {
  const dir = floorDirOf(options) ?? defaultRollbackFloorDir();
  return withListLock(path, async () => {
    let opened: Opened;
    try {
      opened = await openFile(await readTrustFile(path), key, options);
    } catch (e) {
      if (e instanceof PluginError && e.details?.reason === 'not-found') {
        await removeRollbackFloor(dir, path);
        return undefined;
      }
      throw e;
    }
    // Without an authentic record to carry over, what earlier writes removed is unknown: revocations are complete
    // from this version on (a host that loaded an older list must load it again).
    const prev = await readFloorRecord(dir, path, opened.sealKey.floorKey);
    const kept = prev.state === 'ok' ? prev.record : undefined;
    // Every field given (what the authentic record held): the record is read once.
    await writeRollbackFloor(
      dir,
      {
        path,
        listId: opened.data.listId ?? '',
        floor: opened.data.listVersion,
        versions: options.forgetVersions === true ? {} : (kept?.versions ?? {}),
        revoked: kept?.revoked ?? {},
        revokedSince: kept === undefined ? opened.data.listVersion : (kept.revokedSince ?? 0),
      },
      opened.sealKey.floorKey,
    );
    return opened.data.listVersion;
  });
}

/** The list file's identity and times (`missing` when there is none), to see whether it changed. */
async function fileIdentity(path: string): Promise<string> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

/** Runs `fn` holding the trust list's lock file `<path>.lock` (shared by every updater of that list). */
export function withListLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T>,
  timeoutMs?: number,
): Promise<T> {
  return withFileLock(`${path}.lock`, fn, timeoutMs === undefined ? {} : { timeoutMs });
}

/** Parses a 64-hex-digit trust list key. */
export function parseTrustListKeyHex(hex: string): Uint8Array {
  return fromHex(hex, 'trust list key', 32);
}
