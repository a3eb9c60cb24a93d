import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processTierCommand, runtimeExitOf } from './process-namespace.js';

const NODE = ['/usr/bin/node', 'runtime.cjs', 'dir', 'file'];

describe('processTierCommand', () => {
  it('a root host: setpriv arms the parent-death signal, unshare makes the pid namespace, sh is its init', () => {
    const { file, args } = processTierCommand(
      { setpriv: '/usr/bin/setpriv', unshare: '/usr/bin/unshare', userNamespace: false },
      NODE,
    );
    expect(file).toBe('/usr/bin/setpriv');
    expect(args.slice(0, 3)).toEqual(['--pdeathsig', 'KILL', '--']);
    const u = args.indexOf('/usr/bin/unshare');
    expect(u).toBeGreaterThan(2);
    expect(args.slice(u, u + 6)).toEqual([
      '/usr/bin/unshare',
      '--pid',
      '--fork',
      '--kill-child',
      '--',
      '/bin/sh',
    ]);
    expect(args.slice(-NODE.length)).toEqual(NODE);
    expect(args[args.length - NODE.length - 1]).toBe('plugward-init');
  });

  it('a host that is not root: a user namespace keeping its uid, and the runtime in one of its own below it', () => {
    const { args } = processTierCommand(
      { setpriv: '/usr/bin/setpriv', unshare: '/usr/bin/unshare', userNamespace: true },
      NODE,
    );
    const u = args.indexOf('/usr/bin/unshare');
    expect(args.slice(u, u + 4)).toEqual(['/usr/bin/unshare', '--user', '--map-current-user', '--pid']);
    expect(args.slice(-NODE.length - 5)).toEqual([
      'plugward-init',
      '/usr/bin/unshare',
      '--user',
      '--map-current-user',
      '--',
      ...NODE,
    ]);
  });

  it('the fallback: setpriv and the runtime, or the runtime alone without setpriv', () => {
    expect(processTierCommand({ setpriv: '/s', unshare: undefined, userNamespace: false }, NODE)).toEqual({
      file: '/s',
      args: ['--pdeathsig', 'KILL', '--', ...NODE],
    });
    expect(
      processTierCommand({ setpriv: undefined, unshare: undefined, userNamespace: false }, NODE),
    ).toEqual({
      file: NODE[0],
      args: NODE.slice(1),
    });
  });

  it("the init passes on the runtime's status: its exit code, 128 + n for signal n (run for real)", () => {
    const { args } = processTierCommand(
      { setpriv: '/s', unshare: '/u', userNamespace: false },
      ['/bin/sh', '-c', 'kill -SEGV $$'],
      false,
    );
    // The init script alone (no namespace needed): args after '--' of unshare are `/bin/sh -c INIT plugward-init …`.
    const init = args.slice(args.indexOf('/bin/sh'));
    const killed = spawnSync(init[0] as string, init.slice(1));
    expect(runtimeExitOf(killed.status, killed.signal)).toEqual({ code: null, signal: 'SIGSEGV' });
    const exited = spawnSync('/bin/sh', [
      '-c',
      init[2] as string,
      'plugward-init',
      '/bin/sh',
      '-c',
      'exit 3',
    ]);
    expect(runtimeExitOf(exited.status, exited.signal)).toEqual({ code: 3, signal: null });
  });

  it("the quiet chain: unshare's own stderr goes nowhere, the runtime's reaches the host (run for real)", () => {
    const { args } = processTierCommand({ setpriv: '/s', unshare: '/u', userNamespace: false }, [
      '/bin/sh',
      '-c',
      'echo runtime-says >&2; exit 3',
    ]);
    // Everything after setpriv's '--', with a stand-in for unshare that writes to its stderr before and after its child.
    const chain = args.slice(3);
    const u = chain.indexOf('/u');
    const unshare = [
      '/bin/sh',
      '-c',
      'echo unshare-noise >&2; shift 4; "$@"; s=$?; echo unshare-noise >&2; exit $s',
      'u',
    ];
    const run = [...chain.slice(0, u), ...unshare, ...chain.slice(u + 1)];
    const r = spawnSync(run[0] as string, run.slice(1), { encoding: 'utf8' });
    expect(r.stderr).toBe('runtime-says\n');
    expect(r.status).toBe(3);
  });
});

describe('runtimeExitOf', () => {
  it('reads 128 + n as signal n, leaves other codes and real signals alone', () => {
    expect(runtimeExitOf(137, null)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(runtimeExitOf(0, null)).toEqual({ code: 0, signal: null });
    expect(runtimeExitOf(128, null)).toEqual({ code: 128, signal: null });
    expect(runtimeExitOf(255, null)).toEqual({ code: 255, signal: null });
    expect(runtimeExitOf(null, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
