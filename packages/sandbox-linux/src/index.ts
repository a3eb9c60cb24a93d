/**
 * @plugward/sandbox-linux — a Linux `SandboxBackend`: bubblewrap namespaces, libseccomp filters (through koffi),
 * cgroups v1/v2, dropped capabilities, a minimal read-only filesystem, and a host-side fetch broker for the
 * `restricted` network mode.
 * @packageDocumentation
 */

export {
  DANGEROUS_SYSCALLS,
  DEFAULT_UID_LOCK_DIR,
  DEFAULT_UID_RANGE,
  type UidRange,
} from '@plugward/sandbox-common';
export {
  type BwrapInfo,
  DEFAULT_MASK_PATHS,
  findBwrap,
  MIN_BWRAP_VERSION,
} from './bubblewrap.js';
export {
  DEFAULT_CPU_PERIOD_US,
  DEFAULT_TMPFS_BYTES,
  defaultSandboxConfig,
  MIN_FILE_DESCRIPTORS,
  RUNTIME_MEMORY_HEADROOM_BYTES,
} from './config.js';
export {
  DEFAULT_FETCH_BUFFERED_BYTES,
  FetchBroker,
  type FetchBrokerOptions,
  isBlockedAddress,
} from './fetch-broker.js';
export { KERNEL_FILESYSTEMS, kernelFilesystemProblem } from './kernel-mounts.js';
export { findLauncherTools, findSetpriv, type LauncherTools } from './launcher.js';
export {
  LinuxSandbox,
  type LinuxSandboxedProcess,
  type LinuxSandboxOptions,
  NEUTRAL_ROOT,
  ROOT_SANDBOX_DIR,
} from './linux-sandbox.js';
export { packageReadOnlyPaths } from './package-paths.js';
export { buildSeccompFilter, installProcessFilter, type ProcessFilterOptions } from './seccomp.js';
export { NODE_ALLOW_LIST } from './seccomp-profiles.js';
export { checkSandboxSupport } from './support.js';
export { type CpuBudgetWatch, enforceCpuBudget, exitViolation } from './violations.js';
