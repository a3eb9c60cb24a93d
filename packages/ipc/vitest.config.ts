import { packageProject } from '../../vitest.shared';

export default packageProject('ipc', { typecheck: true });
