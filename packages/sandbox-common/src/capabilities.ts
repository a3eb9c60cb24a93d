import { type CapabilitiesConfig, PluginError } from '@plugward/types';

const CAP_NAME = /^CAP_[A-Z_]+$/;

/**
 * The capabilities a sandbox keeps for `config`, checked: every name must look like `CAP_…`, and `dropAll: false`
 * needs `allowedCaps` — it means "keep the listed ones", never "keep what the launching process had". Either way
 * the sandbox keeps nothing the host did not list: a backend drops everything, then adds what this returns.
 * @throws PluginError `InvalidArgument` for a malformed name, or `dropAll: false` without `allowedCaps`.
 */
export function capabilitiesToKeep(config: CapabilitiesConfig): readonly string[] {
  for (const cap of config.allowedCaps) {
    if (typeof cap !== 'string' || !CAP_NAME.test(cap)) {
      throw new PluginError('InvalidArgument', `invalid capability name ${JSON.stringify(cap)}`);
    }
  }
  if (config.dropAll === false && config.allowedCaps.length === 0) {
    throw new PluginError(
      'InvalidArgument',
      'capabilities.dropAll: false needs allowedCaps (the capabilities to keep); the sandbox never keeps unlisted ones',
    );
  }
  return config.allowedCaps;
}
