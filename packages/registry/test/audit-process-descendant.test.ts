// audit s9 #2: the registry README said "No plugin process outlives its host"; the process tier's guard
// (`setpriv --pdeathsig KILL`) reaches the plugin's runtime only, and a helper the plugin started (child_process) ran on
// after close() (attached or detached) and after a SIGKILLed host. The README now says what holds: the tier is for
// trusted plugins and is not a sandbox; the runtime runs in its own process group, which is ended with it — so a helper
// the plugin starts without detaching it is gone after unloadPlugin() and close(). One that detaches itself (its own
// session) is not tracked at this tier (the sandbox tier's pid namespace ends everything). Failed on 30c2186.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { PluginRegistry } from '../dist/index.js';
import { Fixtures, pidAlive, tempDir } from './helpers.js';

const tmp = tempDir('audit-desc');
const fx = new Fixtures(tmp.dir);
const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  tmp.remove();
});

// The helper writes its own pid to a file the test names, then sleeps; the plugin starts it in init.
function source(marker: string, detached: boolean): string {
  return `import { spawn } from 'node:child_process';
export default {
  name: 'audit-desc', version: '1.0.0', author: 'audit',
  init() {
    const c = spawn('/bin/sh', ['-c', 'echo $$ > ${marker}; exec sleep 600'], { detached: ${detached}, stdio: 'ignore' });
    c.unref();
  },
  registerHooks(h) { h.register('ping', 100, (d) => d); },
};
`;
}

async function pidFrom(marker: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      const n = Number(fs.readFileSync(marker, 'utf8').trim());
      if (n > 0) {
        started.push(n);
        return n;
      }
    } catch {
      // not yet
    }
    await sleep(25);
  }
  throw new Error(`the plugin's helper never wrote ${marker}`);
}

async function gone(pid: number, ms = 3000): Promise<boolean> {
  for (let t = 0; t < ms; t += 50) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}

for (const end of ['close', 'unloadPlugin'] as const) {
  it(`process tier: a helper the plugin started (not detached) does not outlive ${end}()`, async () => {
    const marker = path.join(tmp.dir, `${end}.pid`);
    const file = await fx.js(`${end}.mjs`, source(marker, false), { name: 'audit-desc', kind: 'js' });
    await fx.trust(file);
    const registry = new PluginRegistry({
      security: await fx.security(),
      defaultTier: 'process',
      log: () => {},
    });
    try {
      await registry.loadPlugin(file, 'trusted');
      const helper = await pidFrom(marker);
      expect(pidAlive(helper)).toBe(true);
      if (end === 'unloadPlugin') await registry.unloadPlugin('audit-desc');
      else await registry.close();
      expect({ helperGone: await gone(helper) }).toEqual({ helperGone: true });
    } finally {
      await registry.close();
    }
  }, 30_000);
}
