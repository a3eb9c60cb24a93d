// Placeholder until @plugward/sandbox-linux lands: derives a SandboxConfig from requirements and limits.
import type { PluginRequirements, ResourceLimits, SandboxConfig } from '@plugward/types';

export function sandboxConfigFor(_req: PluginRequirements, _limits: ResourceLimits): SandboxConfig {
  throw new Error('not wired yet');
}
