import * as nodeCrypto from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { sha3_512 as nobleSha3 } from '@noble/hashes/sha3.js';
import { DEFAULT_MAX_ARTIFACT_BYTES, PluginError } from '@plugward/types';
import { toHex } from './bytes.js';
import { fileTooLarge, openError, openRegularFile } from './regular-file.js';

/** Which SHA3-512 implementation runs: OpenSSL through node:crypto (≈17× faster) or @noble/hashes (portable). */
export type HashBackend = 'node' | 'noble';

function detectNodeSha3(): boolean {
  try {
    return typeof nodeCrypto.createHash === 'function' && nodeCrypto.getHashes().includes('sha3-512');
  } catch {
    return false;
  }
}

const NODE_SHA3 = detectNodeSha3();

/** The backend {@link sha3_512} and {@link calculateHash} use by default here. */
export function defaultHashBackend(): HashBackend {
  return NODE_SHA3 ? 'node' : 'noble';
}

interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

function createSha3(backend: HashBackend): IncrementalHash {
  if (backend === 'node') {
    if (!NODE_SHA3)
      throw new PluginError('Unsupported', 'node:crypto has no sha3-512 here; use the noble backend');
    const h = nodeCrypto.createHash('sha3-512');
    return {
      update: (d) => {
        h.update(d);
      },
      digest: () => new Uint8Array(h.digest()),
    };
  }
  const h = nobleSha3.create();
  return {
    update: (d) => {
      h.update(d);
    },
    digest: () => h.digest(),
  };
}

/** SHA3-512 of `data` (64 bytes). */
export function sha3_512(data: Uint8Array, backend: HashBackend = defaultHashBackend()): Uint8Array {
  const h = createSha3(backend);
  h.update(data);
  return h.digest();
}

/** SHA3-512 of `data` as lowercase hex (128 digits). */
export function hashBytes(data: Uint8Array, backend: HashBackend = defaultHashBackend()): string {
  return toHex(sha3_512(data, backend));
}

/** Options of {@link calculateHash}. */
export interface HashFileOptions {
  /** Refuse files bigger than this many bytes (default DEFAULT_MAX_ARTIFACT_BYTES, 256 MiB). */
  maxBytes?: number;
  /** Called after each chunk with bytes hashed so far and the file size. */
  onProgress?: (hashed: number, total: number) => void;
  /** Cancels the hash. */
  signal?: AbortSignal;
  /** Force an implementation (tests cross-check both). */
  backend?: HashBackend;
}

const CHUNK = 1024 * 1024;

/**
 * SHA3-512 of a file, lowercase hex, streamed in 1 MiB chunks through one open file descriptor, refusing files over
 * `maxBytes` (checked before reading and again while reading, in case the file grows).
 * @throws PluginError `NotFound`, `PermissionDenied`, `IoError`, `NotRegularFile`, `FileTooLarge`, `Aborted`.
 */
export async function calculateHash(path: string, options: HashFileOptions = {}): Promise<string> {
  const max = options.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES;
  const h = createSha3(options.backend ?? defaultHashBackend());
  const fh: FileHandle = await openRegularFile(path, 'file', (e) => openError(path, e));
  try {
    const st = await fh.stat();
    if (st.size > max) throw fileTooLarge(path, st.size, max);
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(st.size, 1)));
    let total = 0;
    for (;;) {
      if (options.signal?.aborted) throw new PluginError('Aborted', `hashing ${path} was aborted`);
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, buf.length, null));
      } catch (e) {
        throw openError(path, e);
      }
      if (n === 0) break;
      total += n;
      if (total > max) throw fileTooLarge(path, total, max);
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      options.onProgress?.(total, st.size);
    }
    return toHex(h.digest());
  } finally {
    await fh.close();
  }
}
