import { packageProject } from '../../vitest.shared';

export default packageProject('types', { typecheck: true });
