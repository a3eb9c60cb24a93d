import { packageProject } from '../../vitest.shared';

export default packageProject('sandbox-landlock', { testTimeout: 60_000 });
