import { packageProject } from '../../vitest.shared';

export default packageProject('hooks', { typecheck: true });
