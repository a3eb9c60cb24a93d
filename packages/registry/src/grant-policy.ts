import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { type MountInfoEntry, readMountInfo } from '@plugward/limits';
import { isBlockedAddress, kernelFilesystemProblem } from '@plugward/sandbox-linux';
import { keyId, verifyManifestSignature } from '@plugward/security';
import {
  displayText,
  type FilesystemAccess,
  type GrantDecision,
  type GrantSource,
  type HookGrant,
  HookPriority,
  type HostGrants,
  MINIMAL_REQUIREMENTS,
  type NetworkAccess,
  type NetworkTarget,
  PluginError,
  type PluginGrant,
  type PluginManifest,
  type PluginRequirements,
  type TrustLevel,
} from '@plugward/types';

/** What decides a plugin's grants. */
export interface GrantInput {
  /** The verified manifest's name. */
  name: string;
  trustLevel: TrustLevel;
  /** SHA3-512 of the verified bytes. */
  hash: string;
  /**
   * Key ids whose signature over this manifest was *verified* (a pinned key, or a signer grant's public key). A key id
   * the manifest merely names is not one.
   */
  verifiedSigners: readonly string[];
  /** The manifest's requirements (a request). */
  requested: PluginRequirements | undefined;
  grants: HostGrants;
}

/**
 * The grant input for a verified manifest. `trustedKeyId` is the key of a trust entry that verified it; a signer grant
 * also counts when the manifest's signature verifies under the public key the grant carries (and that key's id is the
 * one the grant is filed under). Any other key id the manifest names proves nothing and counts for nothing.
 */
export function grantInputFor(
  manifest: PluginManifest,
  trustLevel: TrustLevel,
  hash: string,
  trustedKeyId: string | undefined,
  grants: HostGrants,
): GrantInput {
  const verifiedSigners: string[] = trustedKeyId === undefined ? [] : [trustedKeyId];
  const claimed = manifest.signature?.keyId;
  const signerGrant = typeof claimed === 'string' ? own(grants.signers, claimed) : undefined;
  if (signerGrant !== undefined && typeof claimed === 'string' && !verifiedSigners.includes(claimed)) {
    try {
      if (
        keyId(signerGrant.publicKey) === claimed &&
        verifyManifestSignature(manifest, signerGrant.publicKey)
      ) {
        verifiedSigners.push(claimed);
      }
    } catch {
      // A malformed key in the host's grant: the grant does not apply.
    }
  }
  return { name: manifest.name, trustLevel, hash, verifiedSigners, requested: manifest.requirements, grants };
}

/** Earliest priority an untrusted plugin's handler may take when its hook grant sets none. */
export const DEFAULT_UNTRUSTED_MIN_PRIORITY = HookPriority.Low;

/**
 * Who grants what: a trusted plugin gets what its signed manifest requests (intersected with
 * `grants.trustedCap` when the host set one); an untrusted plugin's manifest is only a request, and it gets the
 * intersection of that request with the host's grant for it (its name's grant, else its verified signer's), or the
 * minimal requirements when the host granted nothing. A grant is never a push: what the plugin did not request it
 * does not get. Pure; returns the reason with the result.
 */
export function decideGrants(input: GrantInput): GrantDecision {
  const requested = normalise(input.requested ?? MINIMAL_REQUIREMENTS);
  if (input.trustLevel === 'trusted') {
    const cap = input.grants.trustedCap;
    if (cap === undefined) {
      return {
        requested,
        granted: requested,
        hooks: 'any',
        source: 'signed manifest',
        reason: 'trusted: the signed manifest’s requirements',
      };
    }
    const granted = intersect(requested, cap, false);
    return {
      requested,
      granted,
      hooks: 'any',
      source: 'trusted cap',
      reason: `trusted: the signed manifest’s requirements within the host’s cap${cutNote(requested, granted)}`,
    };
  }
  const found = grantFor(input);
  if (found === undefined) {
    return {
      requested,
      granted: normalise(MINIMAL_REQUIREMENTS),
      hooks: [],
      source: 'none',
      reason: 'untrusted and the host granted nothing: no network, no filesystem, no context, no hooks',
    };
  }
  const granted = intersect(requested, found.grant, true);
  // The host network is the widest grant there is: an untrusted plugin gets it only from a grant naming that plugin,
  // never from a grant to everything its signer publishes.
  const signerFull = found.source === 'signer grant' && granted.network.mode === 'full';
  if (signerFull) granted.network = { mode: 'isolated' };
  return {
    requested,
    granted,
    hooks: (found.grant.hooks ?? []).map((h) => ({ ...h })),
    source: found.source,
    reason: `untrusted: ${found.what} intersected with the request${cutNote(requested, granted)}${
      signerFull ? '; full network needs a grant naming the plugin' : ''
    }`,
  };
}

/**
 * The host grant that applies to a plugin (the trusted cap for a trusted plugin; for an untrusted one its name's grant,
 * else its verified signer's), or undefined.
 */
export function applicableGrant(
  input: GrantInput,
): Pick<PluginGrant, 'network' | 'filesystem' | 'context'> | undefined {
  return input.trustLevel === 'trusted' ? input.grants.trustedCap : grantFor(input)?.grant;
}

/**
 * The places a host's own safety rests on, which no read-write grant may cover ({@link resolveGrantedPaths}):
 * `private` — folders of the host's state (the trust list's folder, the floor records', the code cache): a grant
 * equal to one or holding one is dropped (whoever writes the folder can put back an older list or an older authentic
 * floor record: a rollback); `sharedTemp` — a temporary folder where the host keeps private
 * entries beside everybody's (`os.tmpdir()` on a host that is not root: private copies of verified plugins, the
 * Landlock runtime store, sandbox and warm folders): a grant equal to it or holding it, or inside one of its
 * `plugward-` entries, is dropped; other folders in it stay grantable.
 */
export interface HostState {
  private: readonly string[];
  sharedTemp: readonly string[];
}

/**
 * Why a read-write grant of `real` would hand a plugin the host's own state (on a host that is not root every sandbox
 * runs as the host's user: what the host keeps "private" by owner and mode is the plugin's to change), or undefined.
 */
function hostStateProblem(
  real: string,
  privateState: readonly string[],
  sharedTemp: readonly string[],
): string | undefined {
  for (const s of privateState) {
    if (within(s, real)) return `read-write over the host's own state ${displayText(s)}`;
  }
  for (const t of sharedTemp) {
    if (within(t, real)) return `read-write over the host's temporary folder ${displayText(t)}`;
    const top = within(real, t) ? path.relative(t, real).split(path.sep)[0] : undefined;
    if (top?.startsWith('plugward-')) {
      return `read-write inside the host's private ${displayText(path.join(t, top))}`;
    }
  }
  return undefined;
}

/**
 * Resolves the granted filesystem paths on disk: each must exist and its real path (symlinks followed) must still lie
 * within the real path of a path the host granted, else it is dropped. The lexical check of {@link decideGrants} can't
 * see a symlink inside a granted directory that points out of it (`/srv/data/link -> /etc`); bwrap would follow it.
 * The real paths are what gets bound.
 *
 * The real paths go to the backend, which opens each once at the sandbox's start without following a symbolic link
 * and hands the sandbox that object (bubblewrap on root hosts: a mount tree of it; Landlock: rules on its handle;
 * bubblewrap elsewhere: the strict preload checks the bind is it): that is what the safety rests on. The ancestor
 * checks stay as a second line. A path is also bound only when nothing a plugin can write lies on the way to it
 * ({@link bindPathProblem}): a plugin that can write inside a read-write grant could swap a directory on that way for
 * a symlink to anywhere (the host's `/proc`, `/tmp`, …) between this check and the sandbox's start. Such a
 * path is replaced by the granted directory that holds it (when that one is safe: the plugin sees the same path,
 * inside a wider bind the host granted anyway), else dropped; the reason says which. `hostGrants` (the registry's
 * whole policy) names every read-write grant, whoever it is for, `otherWriters` the read-write paths other plugins
 * hold outside it (a trusted plugin without a cap); the applicable grant's own read-write paths always count. Two
 * registries don't see each other's grants: on a non-root host (every sandbox is the host's user) give them disjoint
 * trees. A trusted plugin without a cap (no host grant behind the decision) has its paths checked the same way and an
 * unsafe one dropped.
 */
export async function resolveGrantedPaths(
  decision: GrantDecision,
  grant: Pick<PluginGrant, 'filesystem'> | undefined,
  hostGrants: HostGrants = {},
  otherWriters: readonly string[] = [],
  hostState: HostState = { private: [], sharedTemp: [] },
): Promise<GrantDecision> {
  const granted = decision.granted.filesystem;
  if (granted.mode === 'none') return decision;
  const privateState = await Promise.all(hostState.private.map(realPathOrPlanned));
  const sharedTemp = await realPaths(hostState.sharedTemp);
  const writable = await realPaths([
    ...otherWriters,
    ...readWriteGrantPaths(hostGrants),
    ...(grant?.filesystem?.mode === 'readWrite' ? grant.filesystem.paths : []),
  ]);
  const roots =
    grant === undefined
      ? undefined
      : await realPaths(
          grant.filesystem !== undefined && grant.filesystem.mode !== 'none' ? grant.filesystem.paths : [],
        );
  const mounts = readMountInfo();
  const paths: string[] = [];
  const notes: string[] = [];
  // Paths that do not exist or resolve outside the grant (the unsafe ones are named in `notes`).
  let outside = 0;
  const keep = (p: string): void => {
    if (!paths.includes(p)) paths.push(p);
  };
  for (const p of granted.paths) {
    const real = await fs.realpath(p).catch(() => undefined);
    const root = real === undefined ? undefined : roots?.find((r) => within(real, r));
    if (real === undefined || (roots !== undefined && root === undefined)) {
      outside++;
      continue;
    }
    if (granted.mode === 'readWrite') {
      const state = hostStateProblem(real, privateState, sharedTemp);
      if (state !== undefined) {
        notes.push(`dropped ${displayText(p)} (${state})`);
        continue;
      }
    }
    const problem = await bindPathProblem(real, writable, mounts);
    if (problem === undefined) {
      keep(real);
      continue;
    }
    const rootProblem =
      root === undefined || root === real
        ? problem
        : ((granted.mode === 'readWrite' ? hostStateProblem(root, privateState, sharedTemp) : undefined) ??
          (await bindPathProblem(root, writable, mounts)));
    if (root !== undefined && rootProblem === undefined) {
      keep(root);
      notes.push(`bound ${displayText(root)} instead of ${displayText(p)} (${problem})`);
    } else {
      notes.push(`dropped ${displayText(p)} (${rootProblem ?? problem})`);
    }
  }
  if (outside === 0 && notes.length === 0 && paths.every((p, i) => p === granted.paths[i])) return decision;
  return {
    ...decision,
    granted: {
      ...decision.granted,
      filesystem: paths.length === 0 ? { mode: 'none' } : { mode: granted.mode, paths },
    },
    reason: [
      decision.reason,
      ...(outside > 0 ? [`dropped ${outside} path(s) that do not exist or resolve outside the grant`] : []),
      ...notes,
    ].join('; '),
  };
}

/** Every path the host grants read-write, to anyone (plugin grants, signer grants, the trusted cap). */
export function readWriteGrantPaths(grants: HostGrants): string[] {
  const out: string[] = [];
  const add = (g: Pick<PluginGrant, 'filesystem'> | undefined): void => {
    if (g?.filesystem?.mode === 'readWrite') {
      for (const p of g.filesystem.paths) if (typeof p === 'string' && path.isAbsolute(p)) out.push(p);
    }
  };
  for (const g of Object.values(grants.plugins ?? {})) add(g);
  for (const g of Object.values(grants.signers ?? {})) add(g);
  add(grants.trustedCap);
  return out;
}

/**
 * The real path of `p`, or — for one not made yet (a floor folder before its first record) — its nearest real
 * ancestor's with the rest appended.
 */
async function realPathOrPlanned(p: string): Promise<string> {
  const abs = path.resolve(p);
  const real = await fs.realpath(abs).catch(() => undefined);
  if (real !== undefined) return real;
  const parent = path.dirname(abs);
  return parent === abs ? abs : path.join(await realPathOrPlanned(parent), path.basename(abs));
}

async function realPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (typeof p !== 'string' || !path.isAbsolute(p)) continue;
    const real = await fs.realpath(p).catch(() => undefined);
    if (real !== undefined && !out.includes(real)) out.push(real);
  }
  return out;
}

/**
 * Why a real path can't be handed to a sandbox to bind, or undefined when it can: a kernel filesystem of the host (its
 * `/proc`, `/sys`, …) is at, around or below it (`kernelFilesystemProblem` of @plugward/sandbox-linux), or a directory
 * on the way to it (every proper ancestor, from `/`) lies within one of `writable` (a read-write grant: some plugin may
 * rename, remove or replace what is in it) by path or by filesystem identity (a bind mount of a folder inside one),
 * belongs to a user other than root or the host's, or others may write it — unless it is sticky and the entry below it
 * belongs to root or the host's user (then only they may rename it). `mounts`: this process's (`readMountInfo`). The
 * last component itself may be writable: what is inside a bind is shared anyway, and a symlink inside it resolves in
 * the sandbox's own view.
 */
export async function bindPathProblem(
  real: string,
  writable: readonly string[],
  mounts: readonly MountInfoEntry[] = readMountInfo(),
): Promise<string | undefined> {
  // A kernel filesystem inside the bind (bwrap binds recursively: `/` carries the host's /proc and /sys) or around it.
  const kernel = kernelFilesystemProblem(real, mounts);
  if (kernel !== undefined) return kernel;
  const hostUid = process.getuid?.() ?? -1;
  const owners = [0, hostUid];
  // The same folder may be reached by another path (a bind mount of a folder inside a grant): compare where each lies
  // in its filesystem, not only its path.
  const writableIds = writable.map((w) => ({ w, id: fsLocation(w, mounts) }));
  const parts = real.split('/').filter((x) => x !== '');
  let dir = '/';
  for (const part of parts) {
    const id = fsLocation(dir, mounts);
    const inside = writableIds.find(
      (x) => within(dir, x.w) || (id !== undefined && x.id?.device === id.device && within(id.rel, x.id.rel)),
    );
    if (inside !== undefined)
      return `${displayText(dir)} is inside the read-write grant ${displayText(inside.w)}`;
    const st = await fs.lstat(dir).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) return `${displayText(dir)} is not a directory`;
    // Its owner may rename what is in it whatever its mode (a leased uid owns what a plugin made).
    if (!owners.includes(st.uid)) return `${displayText(dir)} belongs to uid ${st.uid}`;
    if ((st.mode & 0o002) !== 0) {
      const entry = await fs.lstat(path.join(dir, part)).catch(() => undefined);
      const sticky = (st.mode & 0o1000) !== 0;
      if (!sticky || entry === undefined || !owners.includes(entry.uid)) {
        return `others may write ${displayText(dir)}`;
      }
    }
    dir = path.join(dir, part);
  }
  return undefined;
}

/** Where a path lies in its filesystem: the device of the mount it is under, and its path from that filesystem's root. */
function fsLocation(
  p: string,
  mounts: readonly MountInfoEntry[],
): { device: string; rel: string } | undefined {
  let best: MountInfoEntry | undefined;
  for (const m of mounts) {
    // Later lines mount over earlier ones at the same point.
    if (within(p, m.mountPoint) && (best === undefined || m.mountPoint.length >= best.mountPoint.length))
      best = m;
  }
  if (best === undefined) return undefined;
  const below = best.mountPoint === '/' ? p : p.slice(best.mountPoint.length);
  return { device: best.device, rel: path.posix.join(best.root, below || '/') };
}

function grantFor(input: GrantInput): { grant: PluginGrant; source: GrantSource; what: string } | undefined {
  const byName = own(input.grants.plugins, input.name);
  if (byName !== undefined && (byName.sha3_512 === undefined || byName.sha3_512 === input.hash)) {
    return { grant: byName, source: 'plugin grant', what: `the host’s grant for plugin ${input.name}` };
  }
  for (const id of input.verifiedSigners) {
    const bySigner = own(input.grants.signers, id);
    if (bySigner !== undefined && (bySigner.sha3_512 === undefined || bySigner.sha3_512 === input.hash)) {
      return { grant: bySigner, source: 'signer grant', what: `the host’s grant for signer ${id}` };
    }
  }
  return undefined;
}

/** A record lookup that never reaches the prototype (`__proto__`, `constructor` are names a plugin can choose). */
function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Whether `priority` is within the hook grant for `hookName`; returns the grant or the reason it is refused. */
export function checkHookGrant(
  hooks: GrantDecision['hooks'],
  plugin: string,
  hookName: string,
  priority: number,
): HookGrant | 'any' {
  if (hooks === 'any') return 'any';
  const grant = hooks.find((h) => h.name === hookName);
  if (grant === undefined) {
    throw new PluginError(
      'GrantDenied',
      `untrusted plugin ${plugin} may not register on hook ${displayText(hookName)}: the host granted it ${
        hooks.length === 0 ? 'no hooks' : `only ${hooks.map((h) => h.name).join(', ')}`
      }`,
      { plugin, details: { hookName, priority } },
    );
  }
  const min = grant.minPriority ?? DEFAULT_UNTRUSTED_MIN_PRIORITY;
  const max = grant.maxPriority ?? Number.POSITIVE_INFINITY;
  if (!Number.isFinite(priority) || priority < min || priority > max) {
    throw new PluginError(
      'GrantDenied',
      `untrusted plugin ${plugin} may register on hook ${displayText(hookName)} only at priorities ${min}–${
        Number.isFinite(max) ? max : '∞'
      }, not ${priority}`,
      { plugin, details: { hookName, priority, minPriority: min, maxPriority: max } },
    );
  }
  return grant;
}

// ---- intersection -------------------------------------------------------------------------------------------------

/**
 * What of `req` lies within `bound` (each aspect narrowed to what both allow): the requirements algebra the grant
 * decision and the check of a plugin's code declarations share.
 */
export function intersectRequirements(
  req: PluginRequirements,
  bound: PluginRequirements,
): PluginRequirements {
  return intersect(normalise(req), bound, false);
}

function normalise(req: PluginRequirements): PluginRequirements {
  return {
    network:
      req.network.mode === 'restricted'
        ? { mode: 'restricted', allowedTargets: req.network.allowedTargets.map((t) => ({ ...t })) }
        : { mode: req.network.mode },
    filesystem:
      req.filesystem.mode === 'none'
        ? { mode: 'none' }
        : { mode: req.filesystem.mode, paths: [...req.filesystem.paths] },
    context: { read: [...req.context.read], write: [...req.context.write] },
  };
}

function intersect(
  req: PluginRequirements,
  grant: Pick<PluginGrant, 'network' | 'filesystem' | 'context'>,
  absentMeansNone: boolean,
): PluginRequirements {
  return {
    network:
      grant.network === undefined
        ? absentMeansNone
          ? { mode: 'isolated' }
          : req.network
        : intersectNetwork(req.network, grant.network),
    filesystem:
      grant.filesystem === undefined
        ? absentMeansNone
          ? { mode: 'none' }
          : req.filesystem
        : intersectFilesystem(req.filesystem, grant.filesystem),
    context:
      grant.context === undefined
        ? absentMeansNone
          ? { read: [], write: [] }
          : req.context
        : {
            read: intersectKeys(req.context.read, grant.context.read),
            write: intersectKeys(req.context.write, grant.context.write),
          },
  };
}

/**
 * Network: `full` only when both sides say `full` (an untrusted plugin gets the host network only through a grant that
 * names it). A restricted side keeps only targets both sides cover. A `full` grant does not list loopback, private or
 * link-local addresses for the broker: such IP targets of the request are dropped (the broker refuses them unless the
 * host's own grant lists them).
 */
function intersectNetwork(req: NetworkAccess, grant: NetworkAccess): NetworkAccess {
  if (req.mode === 'isolated' || grant.mode === 'isolated') return { mode: 'isolated' };
  if (req.mode === 'full' && grant.mode === 'full') return { mode: 'full' };
  const targets =
    req.mode === 'full'
      ? (grant as { allowedTargets: readonly NetworkTarget[] }).allowedTargets.map((t) => ({ ...t }))
      : grant.mode === 'full'
        ? req.allowedTargets.filter(isPublicHostTarget).map((t) => ({ ...t }))
        : intersectTargets(req.allowedTargets, grant.allowedTargets);
  return targets.length === 0 ? { mode: 'isolated' } : { mode: 'restricted', allowedTargets: targets };
}

/** A domain, or one public IP address (never a range, never a blocked address). */
function isPublicHostTarget(t: NetworkTarget): boolean {
  const host = hostOf(t);
  if (host === undefined) return false;
  const [ip, bits] = host.split('/');
  const fam = net.isIP(ip ?? '');
  if (fam === 0) return bits === undefined;
  if (bits !== undefined && Number(bits) !== (fam === 4 ? 32 : 128)) return false;
  return !isBlockedAddress(ip ?? '');
}

function hostOf(t: NetworkTarget): string | undefined {
  if (t === null || typeof t !== 'object' || typeof t.host !== 'string' || t.host.length === 0)
    return undefined;
  return t.host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

function intersectPorts(
  a: readonly number[] | undefined,
  b: readonly number[] | undefined,
): readonly number[] | undefined | null {
  if (a === undefined) return b === undefined ? undefined : [...b];
  if (b === undefined) return [...a];
  const both = a.filter((p) => b.includes(p));
  return both.length === 0 ? null : both;
}

/** The narrower of two targets when one covers the other; undefined when neither does. */
function narrower(r: string, g: string): string | undefined {
  if (r === g) return r;
  const rIp = cidr(r);
  const gIp = cidr(g);
  if (rIp !== undefined || gIp !== undefined) {
    if (rIp === undefined || gIp === undefined || rIp.family !== gIp.family) return undefined;
    if (rIp.bits >= gIp.bits && gIp.list.check(rIp.ip, rIp.family)) return r;
    if (gIp.bits >= rIp.bits && rIp.list.check(gIp.ip, gIp.family)) return g;
    return undefined;
  }
  const covers = (wide: string, narrow: string): boolean =>
    wide.startsWith('*.') && (narrow.endsWith(wide.slice(1)) || narrow === wide);
  if (covers(g, r)) return r;
  if (covers(r, g)) return g;
  return undefined;
}

type Cidr = { ip: string; bits: number; family: 'ipv4' | 'ipv6'; list: net.BlockList };

// A manifest may list up to 1024 targets and a grant as many: every pair is compared, and making a BlockList is most
// of a comparison (≈ 1 s of host CPU for 1024 × 64 unmemoized). Parsed ranges are kept (never changed after), a few
// thousand at most.
const cidrCache = new Map<string, Cidr | undefined>();

function cidr(host: string): Cidr | undefined {
  if (cidrCache.has(host)) return cidrCache.get(host);
  if (cidrCache.size >= 4096) cidrCache.clear();
  const c = parseCidr(host);
  cidrCache.set(host, c);
  return c;
}

function parseCidr(host: string): Cidr | undefined {
  const [ip = '', bitsText] = host.split('/');
  const fam = net.isIP(ip);
  if (fam === 0) return undefined;
  const family = fam === 4 ? 'ipv4' : 'ipv6';
  const bits = bitsText === undefined ? (fam === 4 ? 32 : 128) : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128)) return undefined;
  const list = new net.BlockList();
  list.addSubnet(ip, bits, family);
  return { ip, bits, family, list };
}

// Bases of the ranges the broker blocks (see @plugward/sandbox-linux `isBlockedAddress`), and of the IPv6 forms that
// embed IPv4 addresses: a range containing one of them overlaps blocked space.
const BLOCKED_BASES = {
  ipv4: [
    '0.0.0.0',
    '10.0.0.0',
    '100.64.0.0',
    '127.0.0.0',
    '169.254.0.0',
    '172.16.0.0',
    '192.0.0.0',
    '192.0.2.0',
    '192.168.0.0',
    '198.18.0.0',
    '198.51.100.0',
    '203.0.113.0',
    '224.0.0.0',
    '240.0.0.0',
  ],
  ipv6: [
    '::',
    '::1',
    'fc00::',
    'fe80::',
    'fec0::',
    'ff00::',
    '2001:db8::',
    '100::',
    '::ffff:0:0',
    '64:ff9b::',
  ],
} as const;

/** True when an IP target lies in, or contains part of, the loopback/private/link-local/reserved space. */
function touchesBlocked(host: string): boolean {
  const c = cidr(host);
  if (c === undefined) return false;
  if (isBlockedAddress(c.ip)) return true;
  return BLOCKED_BASES[c.family].some((base) => c.list.check(base, c.family));
}

function intersectTargets(req: readonly NetworkTarget[], grant: readonly NetworkTarget[]): NetworkTarget[] {
  const out: NetworkTarget[] = [];
  const seen = new Set<string>();
  for (const r of req) {
    const rh = hostOf(r);
    if (rh === undefined) continue;
    for (const g of grant) {
      const gh = hostOf(g);
      if (gh === undefined) continue;
      const host = narrower(rh, gh);
      if (host === undefined) continue;
      // The plugin's own range inside a wide grant (0.0.0.0/0, ::/0) must not pick loopback or private space out of
      // it: such addresses are reachable only when the host's grant names them itself.
      if (host !== gh && touchesBlocked(host)) continue;
      const ports = intersectPorts(r.ports, g.ports);
      if (ports === null) continue;
      const key = `${host}|${ports?.join(',') ?? '*'}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(ports === undefined ? { host } : { host, ports });
    }
  }
  return out;
}

/**
 * Filesystem: a requested path is granted when it is a granted path or lies under one (or, when the request is wider,
 * the granted path under it); read-write only when both sides say read-write. Relative paths are never granted.
 */
function intersectFilesystem(req: FilesystemAccess, grant: FilesystemAccess): FilesystemAccess {
  if (req.mode === 'none' || grant.mode === 'none') return { mode: 'none' };
  const paths: string[] = [];
  for (const rp of req.paths) {
    if (typeof rp !== 'string' || !path.isAbsolute(rp)) continue;
    const r = path.resolve(rp);
    for (const gp of grant.paths) {
      if (typeof gp !== 'string' || !path.isAbsolute(gp)) continue;
      const g = path.resolve(gp);
      const p = within(r, g) ? r : within(g, r) ? g : undefined;
      if (p !== undefined && !paths.includes(p)) paths.push(p);
    }
  }
  if (paths.length === 0) return { mode: 'none' };
  return { mode: req.mode === 'readWrite' && grant.mode === 'readWrite' ? 'readWrite' : 'readOnly', paths };
}

/** True when `p` is `dir` or below it. */
export function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Context keys: `'*'` on one side yields the other side's keys; otherwise the keys both name. */
function intersectKeys(req: readonly string[], grant: readonly string[]): string[] {
  if (grant.includes('*')) return [...new Set(req)];
  if (req.includes('*')) return [...new Set(grant)];
  return [...new Set(req.filter((k) => grant.includes(k)))];
}

function cutNote(requested: PluginRequirements, granted: PluginRequirements): string {
  return JSON.stringify(requested) === JSON.stringify(granted)
    ? ''
    : ' (part of the request was not granted)';
}
