import { PluginError } from '@plugward/types';

/** Filesystem access rights (`LANDLOCK_ACCESS_FS_*`, linux/landlock.h) and the ABI that introduced each. */
export const FS = Object.freeze({
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  /** ABI 2. */
  REFER: 1 << 13,
  /** ABI 3. */
  TRUNCATE: 1 << 14,
  /** ABI 5. */
  IOCTL_DEV: 1 << 15,
});

/** Network access rights (`LANDLOCK_ACCESS_NET_*`, ABI 4). */
export const NET = Object.freeze({ BIND_TCP: 1 << 0, CONNECT_TCP: 1 << 1 });

/** IPC scopes (`LANDLOCK_SCOPE_*`, ABI 6). */
export const SCOPE = Object.freeze({ ABSTRACT_UNIX_SOCKET: 1 << 0, SIGNAL: 1 << 1 });

/** Rights that apply to a file (a rule on a non-directory may only hold these). */
export const FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

/** Every filesystem right the given ABI knows (what a ruleset handles, so nothing is left allowed by default). */
export function handledFsRights(abi: number): number {
  let rights = (1 << 13) - 1; // ABI 1: EXECUTE … MAKE_SYM
  if (abi >= 2) rights |= FS.REFER;
  if (abi >= 3) rights |= FS.TRUNCATE;
  if (abi >= 5) rights |= FS.IOCTL_DEV;
  return rights;
}

/** Network rights the given ABI knows (none before ABI 4). */
export function handledNetRights(abi: number): number {
  return abi >= 4 ? NET.BIND_TCP | NET.CONNECT_TCP : 0;
}

/** Scopes the given ABI knows (none before ABI 6). */
export function knownScopes(abi: number): number {
  return abi >= 6 ? SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL : 0;
}

/** `struct landlock_ruleset_attr` size for an ABI: the kernel rejects fields it does not know. */
export function rulesetAttrSize(abi: number): number {
  return abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
}

/** Syscall numbers (the same on x86_64 and arm64: Landlock came after the generic table was unified). */
export const SYS = Object.freeze({
  landlock_create_ruleset: 444,
  landlock_add_rule: 445,
  landlock_restrict_self: 446,
});

/** `LANDLOCK_CREATE_RULESET_VERSION`. */
export const CREATE_RULESET_VERSION = 1 << 0;
/** `LANDLOCK_RULE_PATH_BENEATH`. */
export const RULE_PATH_BENEATH = 1;
/** `LANDLOCK_RULE_NET_PORT`. */
export const RULE_NET_PORT = 2;

/** Lowest ABI this backend runs on: 3 (truncate is a right), so a plugin can't truncate the files it may only read. */
export const MIN_LANDLOCK_ABI = 3;

/** The ABIs the backend was written against; a newer kernel is used at this level (Landlock is backward compatible). */
export const MAX_KNOWN_LANDLOCK_ABI = 7;

/** What each ABI level adds, for reports. */
export const ABI_FEATURES: readonly { abi: number; feature: string }[] = [
  { abi: 1, feature: 'filesystem rules' },
  { abi: 2, feature: 'refer (rename/link across directories)' },
  { abi: 3, feature: 'truncate' },
  { abi: 4, feature: 'TCP bind/connect rules' },
  { abi: 5, feature: 'device ioctl' },
  { abi: 6, feature: 'scopes: abstract unix sockets, signals' },
  { abi: 7, feature: 'audit logging flags' },
];

/** Throws `Unsupported` outside x64/arm64 (the syscall numbers above are theirs). */
export function assertLandlockArch(): void {
  if (process.arch !== 'x64' && process.arch !== 'arm64') {
    throw new PluginError('Unsupported', `the Landlock backend supports x64 and arm64, not ${process.arch}`);
  }
}
