import { packageProject } from '../../vitest.shared';

export default packageProject('host-state');
