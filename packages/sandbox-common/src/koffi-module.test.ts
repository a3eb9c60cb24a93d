import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { koffiModule as requireKoffi } from './koffi-module.js';

describe('requireKoffi', () => {
  it("is koffi's prebuilt native module of the installed version, and it calls into C", () => {
    const koffi = requireKoffi();
    expect(requireKoffi()).toBe(koffi);
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(
      fs.readFileSync(path.join(path.dirname(require.resolve('koffi')), 'package.json'), 'utf8'),
    ) as { version: string };
    expect((koffi as { version?: string }).version).toBe(pkg.version);
    // Not koffi's wrapped export object: the binary's own, which koffi's loader wraps.
    expect(koffi).not.toBe(require('koffi'));
    const getpid = koffi.load('libc.so.6').func('int getpid(void)') as () => number;
    expect(getpid()).toBe(process.pid);
  });
});
