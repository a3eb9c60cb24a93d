import { PluginError } from '@plugward/types';
import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JCS) canonical JSON of `value`: keys sorted by UTF-16 code units, no whitespace, ECMAScript number
 * formatting. Uses the `canonicalize` package (by an RFC 8785 co-author). Rejects NaN/Infinity, lone surrogates and
 * cycles with a PluginError instead of producing bytes that another implementation would encode differently.
 */
export function canonicalJson(value: unknown): string {
  let out: string | undefined;
  try {
    out = canonicalize(value);
  } catch (e) {
    throw new PluginError(
      'InvalidArgument',
      `value cannot be canonicalised (RFC 8785): ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (typeof out !== 'string') {
    throw new PluginError(
      'InvalidArgument',
      'value cannot be canonicalised (RFC 8785): not JSON-serialisable',
    );
  }
  return out;
}
