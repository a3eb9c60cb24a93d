import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type PrivateDirectoryProblem, privateDirectoryProblem } from '@plugward/host-state';
import { PluginError } from '@plugward/types';
import { writeFileAtomic } from './atomic-write.js';

/**
 * The rollback floor of a trust list: the highest list version this host has seen for the list at a path, kept in a
 * small record *outside* the list's directory (an attacker who can replace the list can usually replace what sits
 * beside it) and authenticated with HMAC-SHA-256 under a key derived (HKDF) from the list's own key, so nobody without
 * the trust-list key can write a lower floor. See the README ("Rollback floor").
 */
export interface RollbackFloorRecord {
  /** Absolute path of the list this record guards. */
  path: string;
  /** The `listId` of the list (random, chosen when the list was created); '' for a list written before list ids. */
  listId: string;
  /** Lowest acceptable listVersion. */
  floor: number;
  /**
   * The highest version admitted as trusted, per plugin name (from the signed manifest, whether or not the trust entry
   * names the plugin): the name's downgrade floor, and the names an untrusted plugin may not take. Absent when none.
   */
  versions?: Readonly<Record<string, string>>;
  /**
   * Hashes (SHA3-512, lowercase hex) removed from the list, each with the list version that removed it: a host that
   * loaded an older version of the list still holds their entries, and refuses them by this record. A hash put back
   * on the list leaves it. At most {@link MAX_REVOKED}, the newest kept. Absent when none.
   */
  revoked?: Readonly<Record<string, number>>;
  /**
   * The list version from which `revoked` is complete. A write that can't say what it removed (`saveTrustList`, a floor
   * re-established without an authentic record, revocations beyond {@link MAX_REVOKED} let go) raises it to its own
   * version: a host that loaded an older version can't tell what it still holds was removed, and admits nothing as
   * trusted until it loads the list again. Absent: 0.
   */
  revokedSince?: number;
}

/** Most revocations one floor record keeps (the newest by list version): ≈ 140 bytes each. */
export const MAX_REVOKED = 4096;

const FORMAT = 'plugward-trust-floor';
const HKDF_INFO = 'plugward trust-list rollback floor v1';

/**
 * Where floor records live unless the policy says otherwise: `$PLUGWARD_STATE_DIR`, else
 * `$XDG_STATE_HOME/plugward/trust-floors`, else `~/.local/state/plugward/trust-floors`.
 */
export function defaultRollbackFloorDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLUGWARD_STATE_DIR) return resolve(env.PLUGWARD_STATE_DIR, 'trust-floors');
  const base = env.XDG_STATE_HOME ? resolve(env.XDG_STATE_HOME) : join(homedir(), '.local', 'state');
  return join(base, 'plugward', 'trust-floors');
}

/** The record file of the list at `listPath` (one per absolute list path). */
export function rollbackFloorPath(floorDir: string, listPath: string): string {
  const id = createHash('sha256').update(resolve(listPath)).digest('hex').slice(0, 32);
  return join(floorDir, `${id}.floor.json`);
}

/**
 * The key that authenticates a list's floor records: HKDF-SHA-256 of the list key under a label of its own. It can
 * neither open nor re-seal the list, so what a host keeps in memory to record admissions is this key, never the list
 * key (a heap dump or a debugger of the host then yields no way to read or rewrite the list). Records written before
 * this type existed were authenticated under the same derivation, so they verify unchanged.
 */
export class FloorKey {
  readonly #macKey: Buffer;

  private constructor(macKey: Buffer) {
    this.#macKey = macKey;
  }

  /**
   * The floor key of a list key: the 32-byte key the list is sealed with (for a passphrase list, the Argon2id-derived
   * one). Derive it where the list key is at hand, then drop the list key.
   */
  static fromListKey(listKey: Uint8Array): FloorKey {
    return new FloorKey(Buffer.from(hkdfSync('sha256', listKey, new Uint8Array(0), HKDF_INFO, 32)));
  }

  /** HMAC-SHA-256 of a record's authenticated fields. */
  mac(r: RollbackFloorRecord): Buffer {
    const fields: unknown[] = [FORMAT, resolve(r.path), r.listId, r.floor];
    // A record without versions authenticates as records did before versions existed.
    const versions = sortedByKey(r.versions);
    if (versions.length > 0) fields.push(versions);
    const revoked = sortedByKey(r.revoked);
    if (revoked.length > 0) fields.push(['revoked', revoked]);
    if ((r.revokedSince ?? 0) > 0) fields.push(['revokedSince', r.revokedSince]);
    return createHmac('sha256', this.#macKey).update(JSON.stringify(fields)).digest();
  }
}

/** A record map's entries in key order (how they are authenticated and written). */
function sortedByKey<V>(map: Readonly<Record<string, V>> | undefined): [string, V][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The `revoked` field as read from a record file, or undefined when it is not a hash → list version map. */
function parseRevoked(value: unknown): Record<string, number> | undefined {
  if (value === undefined) return Object.create(null);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  if (entries.length > MAX_REVOKED) return undefined;
  const out: Record<string, number> = Object.create(null);
  for (const [hash, version] of entries) {
    if (!/^[0-9a-f]{128}$/.test(hash) || !Number.isSafeInteger(version) || (version as number) < 0)
      return undefined;
    out[hash] = version as number;
  }
  return out;
}

/**
 * The revocations of a record after a list write: the previous ones, those `removed` now (at `listVersion`), minus
 * every hash the list holds again; the newest {@link MAX_REVOKED} kept, and the newest version of those let go.
 */
export function mergeRevoked(
  previous: RollbackFloorRecord['revoked'],
  removed: Iterable<string>,
  listed: Iterable<string>,
  listVersion: number,
): { revoked: Record<string, number>; evictedUpTo: number } {
  const out: Record<string, number> = Object.create(null);
  for (const [hash, version] of Object.entries(previous ?? {})) out[hash] = version;
  for (const hash of removed) out[hash.toLowerCase()] = listVersion;
  for (const hash of listed) delete out[hash.toLowerCase()];
  const all = Object.entries(out);
  if (all.length <= MAX_REVOKED) return { revoked: out, evictedUpTo: 0 };
  all.sort((a, b) => b[1] - a[1]);
  const kept: Record<string, number> = Object.create(null);
  for (const [hash, version] of all.slice(0, MAX_REVOKED)) kept[hash] = version;
  // The newest revocation let go: a host that loaded a version below it may hold an entry the record no longer names.
  const evictedUpTo = Math.max(...all.slice(MAX_REVOKED).map(([, version]) => version));
  return { revoked: kept, evictedUpTo };
}

/**
 * The `versions` field as read from a record file, or undefined when it is not a string → string map. The map has no
 * prototype: plugin names (`constructor`, `__proto__`, …) are its keys, and must neither read nor set `Object.prototype`.
 */
function parseVersions(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return Object.create(null);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string> = Object.create(null);
  for (const [name, version] of Object.entries(value)) {
    if (typeof version !== 'string') return undefined;
    out[name] = version;
  }
  return out;
}

/** What {@link readRollbackFloor} found. */
export type FloorLookup =
  | { state: 'missing' }
  | { state: 'unauthenticated' }
  | { state: 'ok'; record: RollbackFloorRecord };

/**
 * Reads and authenticates the floor record of a list. `listKey` is the 32-byte key the list is encrypted with (for a
 * passphrase list, the Argon2id-derived key).
 */
export function readRollbackFloor(
  floorDir: string,
  listPath: string,
  listKey: Uint8Array,
): Promise<FloorLookup> {
  return readFloorRecord(floorDir, listPath, FloorKey.fromListKey(listKey));
}

/** {@link readRollbackFloor} with the key derived from the list key (internal to the package). */
export async function readFloorRecord(
  floorDir: string,
  listPath: string,
  key: FloorKey,
): Promise<FloorLookup> {
  await assertPrivateFloorDir(floorDir);
  let text: string;
  try {
    text = await readFile(rollbackFloorPath(floorDir, listPath), 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return { state: 'missing' };
    throw new PluginError('IoError', `cannot read the rollback floor record of ${listPath}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (
      v.format !== FORMAT ||
      typeof v.listId !== 'string' ||
      !Number.isSafeInteger(v.floor) ||
      typeof v.mac !== 'string'
    ) {
      return { state: 'unauthenticated' };
    }
    const versions = parseVersions(v.versions);
    const revoked = parseRevoked(v.revoked);
    const revokedSince = v.revokedSince ?? 0;
    if (
      versions === undefined ||
      revoked === undefined ||
      !Number.isSafeInteger(revokedSince) ||
      (revokedSince as number) < 0
    ) {
      return { state: 'unauthenticated' };
    }
    const record: RollbackFloorRecord = {
      path: resolve(listPath),
      listId: v.listId,
      floor: v.floor as number,
    };
    if (Object.keys(versions).length > 0) record.versions = versions;
    if (Object.keys(revoked).length > 0) record.revoked = revoked;
    if ((revokedSince as number) > 0) record.revokedSince = revokedSince as number;
    const given = Buffer.from(v.mac, 'hex');
    const want = key.mac(record);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return { state: 'unauthenticated' };
    return { state: 'ok', record };
  } catch {
    return { state: 'unauthenticated' };
  }
}

/** True when a floor record file exists for the list (authentic or not). */
export async function rollbackFloorExists(floorDir: string, listPath: string): Promise<boolean> {
  try {
    await readFile(rollbackFloorPath(floorDir, listPath));
    return true;
  } catch {
    return false;
  }
}

/**
 * The floor directory must be this user's own and writable by nobody else, and so must be every directory above it
 * (unless sticky, as /tmp is): whoever can write the directory — or rename it away from its parent — can put back an
 * older authentic record of a list (an older floor) next to an older copy of the list, the rollback the floor exists
 * to stop. A missing directory is judged by the ancestors it would be created in (it is created 0700 on the first
 * write).
 */
async function assertPrivateFloorDir(floorDir: string): Promise<void> {
  let found: PrivateDirectoryProblem | undefined;
  try {
    found = privateDirectoryProblem(floorDir);
  } catch (e) {
    throw new PluginError('IoError', `cannot inspect the rollback floor directory ${floorDir}`, { cause: e });
  }
  if (found === undefined) return;
  const fix =
    found.path === resolve(floorDir)
      ? `chown $(id -u) ${floorDir} && chmod 700 ${floorDir}`
      : `chmod go-w ${found.path} (or chmod +t), chown it to root or this user`;
  throw new PluginError(
    'TrustListError',
    `the rollback floor directory ${floorDir} must be a directory owned by this user, and it and every directory above ` +
      `it writable by nobody else (anyone who can write them could restore an older floor): ${found.message}`,
    {
      details: {
        reason: 'floor-dir-not-private',
        path: found.path,
        problem: found.reason,
        hint: `${fix}, or set PLUGWARD_STATE_DIR to a private directory`,
      },
    },
  );
}

/**
 * Writes (atomically, 0600, in a 0700 directory) the floor record of a list. A record given without `versions` (or
 * `revoked`, `revokedSince`) keeps those of the authentic record it replaces: the per-name floors outlive a new list
 * version, a re-established list floor and another list put at the same path (pass `versions: {}` to drop them).
 */
export async function writeRollbackFloor(
  floorDir: string,
  record: RollbackFloorRecord,
  key: FloorKey,
): Promise<void> {
  await assertPrivateFloorDir(floorDir);
  await mkdir(floorDir, { recursive: true, mode: 0o700 });
  await assertPrivateFloorDir(floorDir);
  const r: RollbackFloorRecord = { ...record, path: resolve(record.path) };
  if (r.versions === undefined || r.revoked === undefined || r.revokedSince === undefined) {
    const prev = await readFloorRecord(floorDir, r.path, key);
    if (prev.state === 'ok') {
      if (r.versions === undefined && prev.record.versions !== undefined) r.versions = prev.record.versions;
      if (r.revoked === undefined && prev.record.revoked !== undefined) r.revoked = prev.record.revoked;
      if (r.revokedSince === undefined && prev.record.revokedSince !== undefined)
        r.revokedSince = prev.record.revokedSince;
    }
  }
  const versions = sortedByKey(r.versions);
  const revoked = sortedByKey(r.revoked);
  const text = JSON.stringify({
    format: FORMAT,
    path: r.path,
    listId: r.listId,
    floor: r.floor,
    ...(versions.length > 0 ? { versions: Object.fromEntries(versions) } : {}),
    ...(revoked.length > 0 ? { revoked: Object.fromEntries(revoked) } : {}),
    ...((r.revokedSince ?? 0) > 0 ? { revokedSince: r.revokedSince } : {}),
    mac: key.mac(r).toString('hex'),
  });
  await writeFileAtomic(rollbackFloorPath(floorDir, r.path), new TextEncoder().encode(`${text}\n`), 0o600);
}

/** Removes the floor record of a list (operator recovery for a list that is gone for good). */
export async function removeRollbackFloor(floorDir: string, listPath: string): Promise<void> {
  await unlink(rollbackFloorPath(floorDir, listPath)).catch((e: unknown) => {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
  });
}
