import { packageProject } from '../../vitest.shared';

export default packageProject('testing', { testTimeout: 60_000 });
