import { packageProject } from '../../vitest.shared';

// The whole kit is one test per attack; the slowest (a spinning init) waits out today's 30 s init timeout.
export default packageProject('sandbox-testkit', { testTimeout: 120_000 });
