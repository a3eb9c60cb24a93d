/**
 * @plugward/sandbox-landlock — a `SandboxBackend` without namespaces, for containers where bubblewrap can't run:
 * Landlock filesystem/TCP rules and scopes, a libseccomp filter, rlimits, no_new_privs, a leased uid on root hosts.
 * @packageDocumentation
 */

export { defaultLandlockConfig } from './config.js';
export { MAX_KNOWN_LANDLOCK_ABI, MIN_LANDLOCK_ABI } from './landlock-abi.js';
export {
  DEFAULT_SCRATCH_BYTES,
  LANDLOCK_SANDBOX_DIR,
  LandlockSandbox,
  type LandlockSandboxedProcess,
  type LandlockSandboxOptions,
  sweepStaleSandboxDirs,
} from './landlock-sandbox.js';
export { STORE_MAX_IDLE_MS, STORE_PREFIX } from './runtime-store.js';
export { checkLandlockSupport, detectLandlockAbi, type LandlockAbiInfo } from './support.js';
