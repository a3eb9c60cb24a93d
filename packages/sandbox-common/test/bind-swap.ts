import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFixture, tempDir } from './sandbox-run.js';

/**
 * The scene of the bind-swap attacks (audit s9 #3, s9b #5), for a sandbox backend alone: a folder everyone may write
 * (`shared`, 0777: another sandbox's read-write grant) holding the granted directory `shared/x` (with `GRANTED.txt`)
 * and `shared/y`, a symbolic link to `target` (a host-only folder with `HOST-SECRET.txt`, or the host's `/proc`).
 */
export interface SwapScene {
  dir: string;
  shared: string;
  granted: string;
  link: string;
  hostOnly: string;
}

/** Makes the scene; `target` of the link defaults to the host-only folder. */
export function swapScene(prefix: string, target?: string): SwapScene {
  const dir = tempDir(prefix, 0o755);
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
  const granted = path.join(shared, 'x');
  fs.mkdirSync(granted, { mode: 0o755 });
  fs.writeFileSync(path.join(granted, 'GRANTED.txt'), 'granted');
  const hostOnly = path.join(dir, 'host-only');
  fs.mkdirSync(hostOnly, { mode: 0o755 });
  fs.writeFileSync(path.join(hostOnly, 'HOST-SECRET.txt'), 'secret', { mode: 0o644 });
  const link = path.join(shared, 'y');
  fs.symlinkSync(target ?? hostOnly, link);
  return { dir, shared, granted, link, hostOnly };
}

let swapperBinary: string | undefined;

/** The running swapper: `stop()` ends it and resolves with the number of exchanges it made. */
export interface Swapper {
  stop(): Promise<number>;
}

/**
 * Starts the attacker's swapper (fixtures/rename-exchange.c, compiled once) exchanging `scene.granted` and
 * `scene.link` without pause: at any instant the granted name is the directory or the symbolic link, each about half
 * of the time. A backend that resolves the granted path again by name after its check binds the link's target in
 * about half of its starts.
 */
export function startSwapper(scene: SwapScene): Swapper {
  if (swapperBinary === undefined) {
    const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rename-exchange.c');
    swapperBinary = compileFixture(src, path.join(tempDir('pw-swapper-'), 'rename-exchange'), ['-O1']);
  }
  const child: ChildProcess = spawn(swapperBinary, [scene.granted, scene.link], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await done;
      return Number(out.trim().split(' ')[0] ?? 0);
    },
  };
}
