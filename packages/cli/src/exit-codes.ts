import type { PluginErrorCode } from '@plugward/types';

/** Exit codes of the `plugward` command. Stable: scripts match on them. */
export const EXIT_CODES = Object.freeze({
  /** Success. */
  Ok: 0,
  /** A check failed: unknown signer, bad signature, hash mismatch, untrusted, downgrade, invalid manifest. */
  VerificationFailed: 1,
  /** Wrong usage: unknown command or option, missing argument, bad value, the wrong kind of key file. */
  Usage: 2,
  /** A file is missing, unreadable/unwritable, or not a regular file (FIFO, socket, device, directory). */
  Io: 3,
  /** The trust list can't be opened: wrong key, tampered, replayed (rollback), floor record missing, locked. */
  TrustList: 4,
  /** `run`: no plugin loaded, or one failed to load (without --keep-going). */
  LoadFailed: 5,
  /** A bug: an unexpected error (please report it). */
  Internal: 70,
});

/**
 * The exit code for a PluginError code; `reason` (the error's `details.reason`) refines it: a trust list that does not
 * exist is a missing file (3), not a list that can't be opened (4).
 */
export function exitCodeFor(code: PluginErrorCode, reason?: unknown): number {
  if (code === 'TrustListError' && reason === 'not-found') return EXIT_CODES.Io;
  switch (code) {
    case 'InvalidArgument':
    case 'InvalidVersion':
      return EXIT_CODES.Usage;
    case 'KeyFileError':
      return EXIT_CODES.Usage;
    case 'NotFound':
    case 'IoError':
    case 'PermissionDenied':
    case 'NotRegularFile':
      return EXIT_CODES.Io;
    case 'LoadError':
    case 'InitializationError':
      return EXIT_CODES.LoadFailed;
    case 'TrustListError':
    case 'TrustListRollback':
    case 'RollbackFloorMissing':
    case 'Timeout':
      return EXIT_CODES.TrustList;
    case 'SecurityError':
    case 'UnknownSigner':
    case 'InvalidSignature':
    case 'HashMismatch':
    case 'UnbundledImport':
    case 'FileTooLarge':
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
