/** A network destination a plugin may reach: a domain (`api.example.com`, `*.example.com`), an IP, or a CIDR. */
export interface NetworkTarget {
  /** Domain name, wildcard domain, IPv4/IPv6 address or CIDR range. */
  host: string;
  /** Allowed ports; all ports when absent. */
  ports?: readonly number[];
}

/**
 * Network access. `isolated`: no network at all (loopback only). `restricted`: no direct network; `fetch` is brokered
 * by the host, which checks `allowedTargets` against the resolved address. `full`: the host network, explicit opt-in.
 */
export type NetworkAccess =
  | { mode: 'isolated' }
  | { mode: 'restricted'; allowedTargets: readonly NetworkTarget[] }
  | { mode: 'full' };

/** Filesystem access a plugin asks for. */
export type FilesystemAccess =
  | { mode: 'none' }
  | { mode: 'readOnly'; paths: readonly string[] }
  | { mode: 'readWrite'; paths: readonly string[] };

/** Context keys a plugin asks to read or write. */
export interface ContextAccess {
  read: readonly string[];
  write: readonly string[];
}

/** What a plugin declares it needs. The registry grants it only at tiers that can enforce it. */
export interface PluginRequirements {
  network: NetworkAccess;
  filesystem: FilesystemAccess;
  context: ContextAccess;
}

/** The minimal requirements: no network, no files, no context keys. */
export const MINIMAL_REQUIREMENTS: Readonly<PluginRequirements> = Object.freeze({
  network: Object.freeze({ mode: 'isolated' as const }),
  filesystem: Object.freeze({ mode: 'none' as const }),
  context: Object.freeze({ read: Object.freeze([] as string[]), write: Object.freeze([] as string[]) }),
});

/** True when the requirements ask for anything beyond {@link MINIMAL_REQUIREMENTS} network or filesystem access. */
export function needsOutOfProcessGrants(req: PluginRequirements): boolean {
  return req.network.mode !== 'isolated' || req.filesystem.mode !== 'none';
}
