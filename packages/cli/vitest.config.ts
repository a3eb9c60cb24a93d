import { packageProject } from '../../vitest.shared';

// The CLI's tests run the built `plugward` as a child process, dozens of times in one test: a loaded 2-core machine
// (the CI's) stretches each start to seconds.
export default packageProject('cli', { testTimeout: 120_000 });
