import { PluginError } from '@plugward/types';
import { libc } from './native-abi.js';

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

/** Copies `len` bytes at native address `ptr` into a new JS-owned Uint8Array. */
export function copyFromNative(ptr: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  if (len > 0) libc().memcpy(out, ptr, len);
  return out;
}

/**
 * Reads a NUL-terminated string of at most `max` bytes at `ptr` (never reading past `max`, so an unterminated string
 * can't walk off into unmapped memory). Returns the bytes, or undefined when no NUL was found within `max`.
 */
export function readCBytes(ptr: bigint, max: number): Uint8Array | undefined {
  const len = Number(libc().strnlen(ptr, max));
  if (len >= max) return undefined;
  return copyFromNative(ptr, len);
}

/**
 * A strict UTF-8 C string (metadata, hook names, context keys).
 * @throws PluginError `InvalidPlugin` naming `what` when null, unterminated within `max` bytes, or not UTF-8.
 */
export function readCStringStrict(ptr: bigint | null, max: number, what: string, plugin?: string): string {
  if (ptr === null || ptr === 0n) {
    throw new PluginError('InvalidPlugin', `${what} is a NULL pointer`, { plugin, details: { field: what } });
  }
  const bytes = readCBytes(ptr, max);
  if (bytes === undefined) {
    throw new PluginError('InvalidPlugin', `${what} is not NUL-terminated within ${max} bytes`, {
      plugin,
      details: { field: what },
    });
  }
  try {
    return strict.decode(bytes);
  } catch (e) {
    throw new PluginError('InvalidPlugin', `${what} is not valid UTF-8`, {
      plugin,
      cause: e,
      details: { field: what },
    });
  }
}

/** A C string for diagnostics (log lines, error messages): bounded, invalid UTF-8 replaced, never throws. */
export function readCStringLossy(ptr: bigint | null, max: number): string {
  if (ptr === null || ptr === 0n) return '';
  const len = Number(libc().strnlen(ptr, max));
  return lenient.decode(copyFromNative(ptr, len));
}

/** The NUL-terminated message a plugin wrote into a host-owned error buffer (lossy: diagnostics only). */
export function errorBufferText(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return lenient.decode(buf.subarray(0, end === -1 ? buf.length : end)).trim();
}
