import {
  type IsolationTier,
  needsOutOfProcessGrants,
  PluginError,
  type PluginKind,
  type PluginRequirements,
  type TrustLevel,
} from '@plugward/types';

/** What decides where a plugin runs. */
export interface PlacementInput {
  name: string;
  trustLevel: TrustLevel;
  /** What the plugin is (its signed manifest's `kind`): a native plugin never runs at the `worker` tier. */
  kind: PluginKind;
  requirements: PluginRequirements;
  /** The host's default tier for trusted plugins. */
  defaultTier: IsolationTier;
  /** A per-plugin override set by the host. */
  override?: IsolationTier;
  /** Whether a sandbox backend is configured. */
  sandboxAvailable: boolean;
}

/** Where a plugin runs, and why. */
export interface Placement {
  tier: IsolationTier;
  reason: string;
}

/**
 * Where a plugin runs: trusted plugins run at the host's default tier (or its per-plugin override); untrusted ones only
 * ever in the sandbox; a plugin that asks for network or filesystem grants gets them only out of process, so an
 * in-process/worker placement is raised to the sandbox (or the process tier when no sandbox is configured).
 *
 * A native plugin never runs at the `worker` tier: a worker thread can't be stopped while it is inside native code
 * (`worker.terminate()` waits for the C call to return, for ever if it spins), and terminating a worker while koffi
 * runs in it aborts the whole host. So a hook timeout, an unload or `close()` could not end it safely. The host's
 * default tier `worker` places a native plugin at the `process` tier instead (a process can be killed wherever its
 * code is); a per-plugin override to `worker` for a native plugin is refused (`Unsupported`), not quietly changed.
 * @throws PluginError `SandboxUnavailable`, `UntrustedPlugin` or `Unsupported` when no tier fits.
 */
export function placePlugin(input: PlacementInput): Placement {
  if (input.trustLevel === 'untrusted') {
    if (!input.sandboxAvailable) {
      throw new PluginError(
        'SandboxUnavailable',
        `plugin ${input.name} is untrusted and may only run in the sandbox, but no sandbox backend is configured`,
        { plugin: input.name },
      );
    }
    if (input.override !== undefined && input.override !== 'sandbox') {
      throw new PluginError(
        'UntrustedPlugin',
        `plugin ${input.name} is untrusted: tier override "${input.override}" refused, untrusted plugins run only in the sandbox`,
        { plugin: input.name },
      );
    }
    return { tier: 'sandbox', reason: 'untrusted plugins run only in the sandbox' };
  }
  if (input.kind === 'native' && input.override === 'worker') {
    throw new PluginError(
      'Unsupported',
      `plugin ${input.name} is native: tier override "worker" refused, a worker thread can't be stopped inside native code (use "process", or "in-process")`,
      { plugin: input.name, details: { tier: 'worker', kind: 'native' } },
    );
  }
  const wanted = input.override ?? input.defaultTier;
  if (wanted === 'sandbox' && !input.sandboxAvailable) {
    throw new PluginError(
      'SandboxUnavailable',
      `plugin ${input.name}: sandbox tier requested but no sandbox backend is configured`,
      {
        plugin: input.name,
      },
    );
  }
  if ((wanted === 'in-process' || wanted === 'worker') && needsOutOfProcessGrants(input.requirements)) {
    const tier = input.sandboxAvailable ? 'sandbox' : 'process';
    return {
      tier,
      reason: `requires ${describeGrants(input.requirements)}, granted only out of process (asked for ${wanted})`,
    };
  }
  if (wanted === 'worker' && input.kind === 'native') {
    return {
      tier: 'process',
      reason: "native code can't be stopped in a worker thread (host default tier worker)",
    };
  }
  return { tier: wanted, reason: input.override === undefined ? 'host default tier' : 'host override' };
}

function describeGrants(req: PluginRequirements): string {
  const parts: string[] = [];
  if (req.network.mode !== 'isolated') parts.push(`network (${req.network.mode})`);
  if (req.filesystem.mode !== 'none') parts.push(`filesystem (${req.filesystem.mode})`);
  return parts.join(' and ');
}
