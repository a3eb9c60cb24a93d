import type { PluginErrorCode } from '@plugward/types';

/** Exit codes of the `plugward` command. Stable: scripts match on them. */
export const EXIT_CODES = Object.freeze({
  /** Success. */
  Ok: 0,
  /** A check failed: bad signature, hash mismatch, untrusted, downgrade, invalid manifest. */
  VerificationFailed: 1,
  /** Wrong usage: unknown command or option, missing argument, bad value. */
  Usage: 2,
  /** A file is missing or unreadable/unwritable. */
  Io: 3,
  /** The trust list can't be opened: wrong key, tampered, replayed, locked. */
  TrustList: 4,
  /** A bug: an unexpected error (please report it). */
  Internal: 70,
});

/** The exit code for a PluginError code. */
export function exitCodeFor(code: PluginErrorCode): number {
  switch (code) {
    case 'InvalidArgument':
    case 'InvalidVersion':
      return EXIT_CODES.Usage;
    case 'NotFound':
    case 'IoError':
    case 'PermissionDenied':
      return EXIT_CODES.Io;
    case 'TrustListError':
    case 'Timeout':
      return EXIT_CODES.TrustList;
    case 'SecurityError':
    case 'SignatureError':
    case 'UntrustedPlugin':
    case 'VersionDowngrade':
    case 'InvalidManifest':
    case 'InvalidPlugin':
      return EXIT_CODES.VerificationFailed;
    default:
      return EXIT_CODES.Internal;
  }
}
