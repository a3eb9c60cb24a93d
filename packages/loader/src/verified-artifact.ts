import type { TrustLevel } from '@plugward/types';

/**
 * An artifact whose hash, signature and trust entry were checked, with the exact bytes that were checked (the type of
 * @plugward/security, re-exported so loader users need no second import).
 */
export type { VerifiedArtifact } from '@plugward/security';

import type { VerifiedArtifact } from '@plugward/security';

/**
 * What the loader needs from @plugward/security: `PluginSecurity` satisfies it. `admit` is the admission decision
 * (`PluginSecurity.admit`); it must throw a PluginError on any failure.
 */
export interface ArtifactVerifier {
  admit(artifactPath: string, trustLevel: TrustLevel): Promise<VerifiedArtifact>;
}
