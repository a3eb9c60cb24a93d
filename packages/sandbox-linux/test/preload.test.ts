import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, firstMessage, runScript } from './helpers.js';

afterAll(cleanupDirs);

describe('the strict sandbox preload', () => {
  it("loads koffi's prebuilt binary itself, never koffi's own loader (issue 17: ≈ 6 ms CPU of every start)", async () => {
    const r = await runScript(
      `const { default: Module } = await import('node:module');
       await done({ loaded: Object.keys(Module._cache) });`,
    );
    expect(r.exit.code, r.stderr).toBe(0);
    const loaded = firstMessage(r).loaded as string[];
    // The lockdown ran (it is what needs koffi) from the sandbox's own view of the packages.
    expect(loaded.filter((f) => f.endsWith('/sandbox-preload.cjs'))).toHaveLength(1);
    expect(
      loaded.filter((f) => /\/@koromix\/koffi-linux-[^/]+\/(linux|musl)_[^/]+\/koffi\.node$/.test(f)),
    ).toHaveLength(1);
    // koffi's loader (its index, its platform probe, the platform package's index) never ran.
    expect(loaded.filter((f) => /\/koffi\/|koffi-linux-[^/]+\/index\.js$/.test(f))).toEqual([]);
  });
});
