import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'examples/*', 'scripts'],
    // Sandbox and process tests spawn real children; keep parallelism within the 2-core CI machine.
    maxWorkers: 2,
  },
});
