// vitest global setup: the plugin runtime's code cache (@plugward/registry) made once, before any test file starts a
// plugin process — in this run's scratch cache folder (vitest.shared.ts), not the user's ~/.cache — so no test sees
// the host's cache maker start in the background. Without a built registry there is nothing to make.
import fs from 'node:fs';

export default async function setup() {
  const entry = new URL('../packages/registry/dist/index.js', import.meta.url);
  if (!fs.existsSync(entry)) return;
  const { prepareRuntimeCodeCache } = await import(entry.href);
  if (!(await prepareRuntimeCodeCache()))
    console.warn('!!! the runtime code cache could not be made: plain starts');
}
