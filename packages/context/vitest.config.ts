import { packageProject } from '../../vitest.shared';

export default packageProject('context', { typecheck: true });
