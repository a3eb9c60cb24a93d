/**
 * Side-effect entry: `node --require @plugward/sandbox-linux/lockdown plugin-runtime.cjs` (or `--import`) installs the
 * in-process seccomp filter (no exec, no fork) before the runtime's first line runs. The strict mode of
 * {@link LinuxSandbox} adds this preload itself (`--require`) when the sandboxed command is node.
 * @packageDocumentation
 */
import { installProcessFilter } from './seccomp.js';

installProcessFilter({ denyExec: true, denyFork: true });
