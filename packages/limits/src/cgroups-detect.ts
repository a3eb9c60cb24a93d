import { PluginError } from '@plugward/types';
import { isErrno, parseCount, readCapped, readCappedSync, readOptionalSync } from './read-file.js';

/** A mounted cgroup hierarchy. */
export interface CgroupMount {
  /** Where it is mounted, e.g. `/sys/fs/cgroup/memory`. */
  mountPoint: string;
  /** The cgroup path that is the mount's root (`/` unless in a cgroup namespace or a bind mount). */
  root: string;
}

/** Which cgroup hierarchies this machine has. */
export interface CgroupSupport {
  /** `v2` (unified only), `v1`, `hybrid` (v1 controllers plus a v2 mount) or `none`. */
  version: 'v1' | 'v2' | 'hybrid' | 'none';
  /** v1 controllers (memory, cpu, cpuacct, pids, …) and their mounts. */
  v1: Readonly<Record<string, CgroupMount>>;
  /** The v2 mount and the controllers it offers (`cgroup.controllers`); on hybrid machines often few or none. */
  v2?: CgroupMount & { controllers: readonly string[] };
}

const SELF_MOUNTINFO = '/proc/self/mountinfo';
/** Most bytes of a mountinfo read (thousands of mounts in a busy container host). */
const MOUNTINFO_LIMIT = 4 * 1024 * 1024;

/** Unescapes the octal escapes (`\040` for a space) of /proc/self/mountinfo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** The v1 controllers the kernel knows; mount options such as `xattr`, `noprefix` or `name=systemd` are not. */
const V1_CONTROLLERS = new Set([
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'net_prio',
  'blkio',
  'perf_event',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);

/** One line of `/proc/<pid>/mountinfo`, its paths unescaped. */
export interface MountInfoEntry {
  /** The mount's id (the `mnt_id` of `/proc/<pid>/fdinfo/<fd>` for an fd opened on it). */
  mountId: number;
  /** The filesystem's device (`major:minor`): two mounts of one filesystem share it. */
  device: string;
  /** Where it is mounted. */
  mountPoint: string;
  /** The folder of its filesystem that is mounted there (`/` for the whole filesystem). */
  root: string;
  /** The filesystem type (`proc`, `cgroup`, `ext4`, …). */
  fsType: string;
  /** The filesystem's own options (for a v1 cgroup: its controllers). */
  superOptions: string;
}

/** Parses `/proc/<pid>/mountinfo` (lines it can't read are skipped). */
export function parseMountInfo(mountinfo: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    const root = pre[3];
    const mountPoint = pre[4];
    if (root === undefined || mountPoint === undefined || post[0] === undefined) continue;
    out.push({
      mountId: Number(pre[0]),
      device: pre[2] ?? '',
      mountPoint: unescapeMount(mountPoint),
      root: unescapeMount(root),
      fsType: post[0],
      superOptions: post[2] ?? '',
    });
  }
  return out;
}

/** This process's mounts (`/proc/self/mountinfo`), or none when it can't be read. */
export function readMountInfo(): MountInfoEntry[] {
  const text = readOptionalSync(SELF_MOUNTINFO, MOUNTINFO_LIMIT);
  return text === undefined ? [] : parseMountInfo(Buffer.from(text, 'latin1').toString('utf8'));
}

/** Parses /proc/self/mountinfo into cgroup mounts. */
export function parseCgroupMounts(mountinfo: string): { v1: Record<string, CgroupMount>; v2?: CgroupMount } {
  const v1: Record<string, CgroupMount> = {};
  let v2: CgroupMount | undefined;
  for (const e of parseMountInfo(mountinfo)) {
    const m = { mountPoint: e.mountPoint, root: e.root };
    if (e.fsType === 'cgroup2') {
      v2 ??= m;
    } else if (e.fsType === 'cgroup') {
      for (const opt of e.superOptions.split(',')) {
        if (!V1_CONTROLLERS.has(opt)) continue;
        v1[opt] ??= m;
      }
    }
  }
  return v2 ? { v1, v2 } : { v1 };
}

/**
 * Which cgroup hierarchies are mounted: parses `mountinfo` (default: this process's `/proc/self/mountinfo`) and reads
 * the v2 `cgroup.controllers`. Synchronous: both are procfs/cgroupfs reads of a few KiB, and a sandbox backend needs
 * the answer inside its synchronous `spawn` preparation.
 */
export function readCgroupSupport(mountinfo?: string): CgroupSupport {
  // readCappedSync decodes latin1: back to the bytes, then UTF-8 (mount points may have non-ASCII names).
  const text =
    mountinfo ?? Buffer.from(readCappedSync(SELF_MOUNTINFO, MOUNTINFO_LIMIT), 'latin1').toString('utf8');
  const { v1, v2 } = parseCgroupMounts(text);
  const hasV1 = Object.keys(v1).length > 0;
  let v2Full: CgroupSupport['v2'];
  if (v2) {
    const text = readOptionalSync(`${v2.mountPoint}/cgroup.controllers`) ?? '';
    v2Full = { ...v2, controllers: text.trim().split(/\s+/).filter(Boolean) };
  }
  const version = hasV1 ? (v2 ? 'hybrid' : 'v1') : v2 ? 'v2' : 'none';
  return v2Full ? { version, v1, v2: v2Full } : { version, v1 };
}

/** Finds which cgroup versions are mounted ({@link readCgroupSupport} of this process). */
export async function detectCgroupVersion(): Promise<CgroupSupport> {
  return readCgroupSupport();
}

/** The hierarchy a per-process cgroup is created in. */
export type CgroupVersion = 1 | 2;

/** Where to create per-process cgroups: one hierarchy and the directory of each controller in it. */
export interface CgroupLayout {
  version: CgroupVersion;
  /** v1: controller → mount directory; v2: every enabled controller → the unified mount. */
  mounts: Readonly<Record<string, string>>;
}

/** The v1 controllers a per-process cgroup uses (blkio only for an I/O weight). */
const LAYOUT_V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'blkio'] as const;

/**
 * The {@link CgroupLayout} of `support`: the unified hierarchy when it is the only one (`v2`), else the v1 controllers
 * (`v1`, and `hybrid` machines, whose v2 mount usually offers few controllers); `undefined` when there is none.
 */
export function cgroupLayout(support: CgroupSupport): CgroupLayout | undefined {
  if (support.version === 'v2' && support.v2 !== undefined) {
    const root = support.v2.mountPoint;
    return { version: 2, mounts: Object.fromEntries(support.v2.controllers.map((c) => [c, root])) };
  }
  const mounts: Record<string, string> = {};
  for (const c of LAYOUT_V1_CONTROLLERS) {
    const m = support.v1[c];
    if (m !== undefined) mounts[c] = m.mountPoint;
  }
  return Object.keys(mounts).length > 0 ? { version: 1, mounts } : undefined;
}

/** {@link cgroupLayout} of this machine ({@link readCgroupSupport}); `undefined` when none is usable or readable. */
export function detectCgroupLayout(mountinfo?: string): CgroupLayout | undefined {
  try {
    return cgroupLayout(readCgroupSupport(mountinfo));
  } catch {
    return undefined;
  }
}

/** Directories of one cgroup membership: per v1 controller, and the v2 directory. */
export interface CgroupPaths {
  v1?: { memory?: string; cpu?: string; cpuacct?: string; pids?: string };
  v2?: string;
}

/**
 * The directory of the cgroup `cgroupPath` (as `/proc/<pid>/cgroup` names it, relative to the hierarchy's root) under
 * mount `m`; `undefined` when it lies outside what the mount shows.
 */
export function cgroupDirUnder(m: CgroupMount, cgroupPath: string): string | undefined {
  if (m.root !== '/' && cgroupPath !== m.root && !cgroupPath.startsWith(`${m.root}/`)) return undefined;
  try {
    return join(m, cgroupPath);
  } catch {
    return undefined;
  }
}

function join(m: CgroupMount, cgroupPath: string): string {
  // The path in /proc/<pid>/cgroup is relative to the hierarchy root; strip the part the mount hides.
  let rel = cgroupPath;
  if (m.root !== '/' && (rel === m.root || rel.startsWith(`${m.root}/`))) rel = rel.slice(m.root.length);
  if (rel.includes('/../') || rel.endsWith('/..'))
    throw new PluginError('IoError', `suspicious cgroup path ${cgroupPath}`);
  return `${m.mountPoint}${rel === '/' ? '' : rel}`;
}

/** The cgroup directories `pid` belongs to (from `/proc/<pid>/cgroup`); `undefined` when the process is gone. */
export async function cgroupPathsForPid(
  pid: number,
  support?: CgroupSupport,
): Promise<CgroupPaths | undefined> {
  const s = support ?? (await detectCgroupVersion());
  let text: string;
  try {
    text = await readCapped(`/proc/${pid}/cgroup`);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ESRCH')) return undefined;
    throw e;
  }
  const out: CgroupPaths = {};
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') {
      if (s.v2) out.v2 = join(s.v2, path);
      continue;
    }
    for (const c of controllers.split(',')) {
      if (c !== 'memory' && c !== 'cpu' && c !== 'cpuacct' && c !== 'pids') continue;
      const m = s.v1[c];
      if (m) {
        out.v1 ??= {};
        out.v1[c] = join(m, path);
      }
    }
  }
  return out;
}

/** Parses a cgroup value that may be the word `max` (v2) into bytes/count; `max` → `undefined`. */
export function parseLimitValue(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === 'max') return undefined;
  return parseCount(text);
}
