import fs from 'node:fs';
import { detectCgroupLayout } from '@plugward/limits';
import { findLibSeccomp } from '@plugward/sandbox-common';
import { PluginError, type SandboxSupportReport } from '@plugward/types';
import { ABI_FEATURES, MAX_KNOWN_LANDLOCK_ABI, MIN_LANDLOCK_ABI } from './landlock-abi.js';
import { loadLibc } from './libc.js';

/** The Landlock ABI the kernel offers (0 when Landlock is absent or disabled), and why when it is 0. */
export interface LandlockAbiInfo {
  abi: number;
  reason?: string;
}

let abiCache: LandlockAbiInfo | undefined;

/**
 * Asks the kernel for its Landlock ABI: `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`. The
 * answer is the best ABI (1–7 today); ENOSYS means a kernel without Landlock, EOPNOTSUPP one booted without
 * `lsm=…,landlock`, EPERM a seccomp filter (a container profile) that denies the call.
 */
export function detectLandlockAbi(): LandlockAbiInfo {
  if (abiCache !== undefined) return abiCache;
  let info: LandlockAbiInfo;
  try {
    const { abi, errno } = loadLibc().landlockAbi();
    if (abi > 0) info = { abi };
    else {
      const why: Record<number, string> = {
        38: 'the kernel has no Landlock (ENOSYS; Linux ≥ 5.13 with CONFIG_SECURITY_LANDLOCK)',
        95: 'Landlock is built but not enabled (EOPNOTSUPP): boot with lsm=…,landlock',
        1: 'a seccomp filter denies the Landlock syscalls (EPERM)',
      };
      info = { abi: 0, reason: why[errno] ?? `landlock_create_ruleset failed: errno ${errno}` };
    }
  } catch (e) {
    info = { abi: 0, reason: e instanceof Error ? e.message : String(e) };
  }
  abiCache = info;
  return info;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether a cgroup directory can be made under the first controller of the detected layout. */
export function cgroupWritable(): { ok: boolean; detail: string } {
  const layout = detectCgroupLayout();
  if (layout === undefined) return { ok: false, detail: 'no cgroup hierarchy under /sys/fs/cgroup' };
  const dir = Object.values(layout.mounts)[0];
  if (dir === undefined) return { ok: false, detail: 'no cgroup controller mounted' };
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return { ok: true, detail: `cgroup v${layout.version} at ${dir}` };
  } catch {
    return {
      ok: false,
      detail: `cgroup v${layout.version} at ${dir} is not writable (no delegated subtree)`,
    };
  }
}

/**
 * What the Landlock backend finds on this machine: the ABI and what it brings, libseccomp, koffi, cgroups, whether
 * uids can be switched. `supported` is false when a sandbox can't start; `warnings` name what a sandbox started here
 * will not guarantee (no cgroup: no CPU quota; no root: the host user's uid).
 */
export async function checkLandlockSupport(): Promise<SandboxSupportReport> {
  const features: { feature: string; available: boolean; detail: string; installHint?: string }[] = [];
  const warnings: string[] = [];
  const { abi, reason } = detectLandlockAbi();
  features.push({
    feature: 'landlock',
    available: abi >= MIN_LANDLOCK_ABI,
    detail:
      abi === 0
        ? (reason ?? 'unavailable')
        : `ABI ${abi}${abi > MAX_KNOWN_LANDLOCK_ABI ? ` (used as ${MAX_KNOWN_LANDLOCK_ABI})` : ''}: ${ABI_FEATURES.filter(
            (f) => f.abi <= abi,
          )
            .map((f) => f.feature)
            .join(', ')}`,
    installHint:
      abi >= MIN_LANDLOCK_ABI ? undefined : `a kernel with Landlock ABI ≥ ${MIN_LANDLOCK_ABI} (Linux ≥ 6.2)`,
  });
  features.push({
    feature: 'landlock-network',
    available: abi >= 4,
    detail:
      abi >= 4
        ? 'TCP bind/connect rules'
        : 'none before ABI 4: TCP is denied by seccomp (socket families) alone',
  });
  features.push({
    feature: 'landlock-scopes',
    available: abi >= 6,
    detail: abi >= 6 ? 'abstract unix sockets and signals scoped to the sandbox' : 'none before ABI 6',
  });
  const lib = findLibSeccomp();
  features.push({
    feature: 'libseccomp',
    available: lib !== undefined,
    detail: lib ?? 'libseccomp.so.2 not found',
    installHint: lib === undefined ? 'apt-get install libseccomp2' : undefined,
  });
  const cg = cgroupWritable();
  features.push({ feature: 'cgroup', available: cg.ok, detail: cg.detail });
  if (!cg.ok) {
    warnings.push(
      `no writable cgroup (${cg.detail}): no CPU quota and no cgroup memory/pids limits; rlimits only (RLIMIT_DATA, RLIMIT_CPU total, RLIMIT_NOFILE, no fork)`,
    );
  }
  const root = isRoot();
  features.push({
    feature: 'uid-switch',
    available: root,
    detail: root ? 'root: each sandbox leases its own uid' : 'not root: plugins run as the host user',
  });
  if (!root) {
    warnings.push(
      'not root: the plugin runs as the host user’s uid (Landlock still denies its files; signals are scoped)',
    );
    if (abi > 0 && abi < 6) {
      features.push({
        feature: 'signal-scope',
        available: false,
        detail: 'not root and Landlock ABI < 6: a plugin could signal the host user’s processes',
        installHint: 'run the host as root, or use a kernel with Landlock ABI ≥ 6 (Linux ≥ 6.12)',
      });
    }
  }
  const supported = features.every(
    (f) => f.available || ['landlock-network', 'landlock-scopes', 'cgroup', 'uid-switch'].includes(f.feature),
  );
  return { supported, features, warnings };
}

/** Throws `SandboxUnavailable` with the report's missing features when a sandbox can't start here. */
export function unavailableError(report: SandboxSupportReport): PluginError {
  const missing = report.features.filter((f) => !f.available && f.installHint !== undefined);
  return new PluginError(
    'SandboxUnavailable',
    `the Landlock sandbox can't run here: ${missing.map((f) => `${f.feature}: ${f.detail}`).join('; ')}`,
    { details: { missing: missing.map((f) => f.feature) } },
  );
}
