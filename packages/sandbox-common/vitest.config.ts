import { packageProject } from '../../vitest.shared';

export default packageProject('sandbox-common');
