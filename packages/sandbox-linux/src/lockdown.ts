/**
 * Side-effect entry: `node --import @plugward/sandbox-linux/lockdown plugin-runtime.js` installs the in-process seccomp
 * filter (no exec, no fork) before the runtime's first line runs. The strict mode of {@link LinuxSandbox} adds this
 * import itself when the sandboxed command is node.
 * @packageDocumentation
 */
import { installProcessFilter } from './seccomp.js';

installProcessFilter({ denyExec: true, denyFork: true });
