import fs from 'node:fs';
import { detectCgroupLayout } from '@plugward/limits';
import { findLibSeccomp, loadLibSeccomp } from '@plugward/sandbox-common';
import { isPluginError, type SandboxSupportReport } from '@plugward/types';
import { BWRAP_INSTALL_HINT, findBwrap } from './bubblewrap.js';
import { findLauncherTools, findSetpriv } from './launcher.js';

type Feature = SandboxSupportReport['features'][number];

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function readTrim(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Whether an unprivileged process may create user namespaces. bwrap always runs unprivileged (on root hosts as the
 * sandbox's own uid), so root hosts need this too.
 */
export function userNamespacesAvailable(): boolean {
  if (readTrim('/proc/sys/user/max_user_namespaces') === '0') return false;
  return readTrim('/proc/sys/kernel/unprivileged_userns_clone') !== '0';
}

/**
 * What this machine offers the Linux sandbox: bwrap, user namespaces, seccomp (kernel + libseccomp via koffi),
 * cgroups (version, controllers, write access). `supported` is true when a default sandbox can start.
 *
 * @example
 * ```ts
 * const report = await checkSandboxSupport();
 * for (const f of report.features) if (!f.available) console.log(f.feature, f.detail, f.installHint);
 * ```
 */
export async function checkSandboxSupport(
  options: { bwrapPath?: string; cpus?: number } = {},
): Promise<SandboxSupportReport> {
  const features: Feature[] = [];
  const warnings: string[] = [];
  try {
    const b = findBwrap(options.bwrapPath);
    features.push({ feature: 'bubblewrap', available: true, detail: `${b.path} ${b.version}` });
  } catch (e) {
    features.push({
      feature: 'bubblewrap',
      available: false,
      detail: isPluginError(e) ? e.message : String(e),
      installHint: BWRAP_INSTALL_HINT,
    });
  }
  const root = isRoot();
  const userns = userNamespacesAvailable();
  features.push({
    feature: 'privileges',
    available: root || userns,
    detail: root
      ? 'running as root'
      : userns
        ? 'unprivileged user namespaces allowed'
        : 'neither root nor user namespaces',
    installHint:
      root || userns ? undefined : 'sysctl -w kernel.unprivileged_userns_clone=1 (or run the host as root)',
  });
  features.push({
    feature: 'user-namespaces',
    available: userns,
    detail: userns ? 'available to unprivileged processes' : 'disabled by sysctl',
    installHint: userns
      ? undefined
      : 'sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1',
  });
  if (root) {
    let tools: string;
    let toolsOk = false;
    try {
      const t = findLauncherTools();
      tools = `${t.unshare}, ${t.mount}, ${t.setpriv}`;
      toolsOk = true;
    } catch (e) {
      tools = e instanceof Error ? e.message : String(e);
    }
    features.push({
      feature: 'uid-switch',
      available: toolsOk,
      detail: toolsOk
        ? `plugin code runs as a leased unprivileged uid/gid per sandbox (${tools}); /tmp and /dev/shm noexec`
        : tools,
      installHint: toolsOk ? undefined : 'apt-get install util-linux mount',
    });
  } else {
    try {
      findSetpriv();
    } catch (e) {
      features.push({
        feature: 'launcher',
        available: false,
        detail: e instanceof Error ? e.message : String(e),
        installHint: 'apt-get install util-linux',
      });
    }
    warnings.push(
      "the host is not root: plugin code runs as the host user's own uid (no per-sandbox uid), so it shares that " +
        "user's per-user kernel limits (inotify instances, RLIMIT_NPROC) and /tmp, /dev/shm are not noexec; start " +
        'the host as root for per-sandbox uids',
    );
  }
  const cpus = options.cpus ?? 1;
  features.push({
    feature: 'cpu-quota',
    available: true,
    detail: `every sandbox gets a CPU quota: ${cpus} CPU unless its config sets cgroup.cpuQuotaUs`,
  });
  const kernelSeccomp = /^Seccomp:\s+\d/m.test(readTrim('/proc/self/status') ?? '');
  features.push({
    feature: 'seccomp-kernel',
    available: kernelSeccomp,
    detail: kernelSeccomp ? 'CONFIG_SECCOMP_FILTER present' : 'kernel without seccomp',
    installHint: kernelSeccomp ? undefined : 'use a kernel built with CONFIG_SECCOMP_FILTER=y',
  });
  let libDetail: string;
  let libOk = false;
  try {
    libDetail = loadLibSeccomp().path;
    libOk = true;
  } catch (e) {
    libDetail = `${findLibSeccomp() ?? 'libseccomp.so.2 not found'}: ${e instanceof Error ? e.message : String(e)}`;
  }
  features.push({
    feature: 'libseccomp',
    available: libOk,
    detail: libDetail,
    installHint: libOk ? undefined : 'apt-get install libseccomp2 (and keep the koffi dependency installed)',
  });
  const layout = detectCgroupLayout();
  const needed = layout?.version === 2 ? ['memory', 'cpu', 'pids'] : ['memory', 'cpu', 'cpuacct', 'pids'];
  for (const c of needed) {
    const dir = layout?.mounts[c];
    let writable = false;
    if (dir !== undefined) {
      try {
        fs.accessSync(dir, fs.constants.W_OK);
        writable = true;
      } catch {
        writable = false;
      }
    }
    features.push({
      feature: `cgroup-${c}`,
      available: writable,
      detail:
        dir === undefined
          ? `no cgroup ${c} controller mounted`
          : `cgroup v${layout?.version} at ${dir}${writable ? '' : ' (not writable: root or delegation needed)'}`,
      installHint: writable
        ? undefined
        : layout?.version === 2
          ? `echo +${c} > /sys/fs/cgroup/cgroup.subtree_control, or delegate a subtree to this user`
          : `mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`,
    });
  }
  const supported = features.every((f) => f.available);
  return { supported, features, warnings };
}
