// Issue 12's property "host paths do not show in mountinfo" (the kit's exec.mountinfo-host-paths) holds in a warm
// sandbox too: the warm folder is bound at a neutral path, and on root hosts it is a tmpfs of its own, so an untrusted
// plugin loaded from the pool does not read /run/plugward-warm/plugward-warm-<host pid>-… in /proc/self/mountinfo.
// (Failed before: the folder was a bind of the host's directory at its own path.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSandboxSupport, LinuxSandbox, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir } from './helpers.js';

const tmp = tempDir('audit-warm-mountinfo');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: string[] = [];

const spy = (name: string) => `import fs from 'node:fs';
export default {
  name: '${name}', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) {
    h.register('${name}.mounts', 300, () => new TextEncoder().encode(fs.readFileSync('/proc/self/mountinfo', 'utf8')));
  },
};
`;

beforeAll(async () => {
  for (const n of ['spy-a', 'spy-b'])
    files.push(await fx.js(`${n}.mjs`, spy(n), { name: n, kind: 'js', keys: fx.stranger }));
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('audit: a warm sandbox shows no host path in mountinfo', () => {
  it('bubblewrap: neither the cold nor the warm sandbox names the host pid or a host folder of the pool', async () => {
    if (!(await checkSandboxSupport()).supported) {
      console.warn('!!! SKIPPED: bubblewrap is not supported here');
      return;
    }
    const registry = new PluginRegistry({
      security,
      sandbox: new LinuxSandbox(),
      warmPool: { size: 1 },
      grants: {
        plugins: {
          'spy-a': { hooks: [{ name: 'spy-a.mounts' }] },
          'spy-b': { hooks: [{ name: 'spy-b.mounts' }] },
        },
      },
      log: () => {},
    });
    try {
      await registry.loadPlugin(files[0] as string, 'untrusted');
      await registry.warmPool?.settled();
      await registry.loadPlugin(files[1] as string, 'untrusted');
      expect((await registry.warmPool?.stats())?.hits, 'spy-b came from the pool').toBe(1);
      for (const n of ['spy-a', 'spy-b']) {
        const mounts = dec.decode(await registry.hooks.execute(`${n}.mounts`, enc.encode('')));
        const leaks = mounts
          .split('\n')
          .filter((l) => l.includes(`-${process.pid}-`) || l.includes('plugward-warm'));
        expect(leaks, `${n} sees host paths in its mountinfo`).toEqual([]);
      }
    } finally {
      await registry.close();
    }
  });
});
