/**
 * Side-effect entry: `node --require @plugward/sandbox-linux/lockdown plugin-runtime.cjs` (or `--import`) installs the
 * in-process seccomp filter (no exec, no fork) before the runtime's first line runs. The strict mode of
 * {@link LinuxSandbox} preloads the same lockdown itself (`--require`, after a check that its host is still there)
 * when the sandboxed command is node.
 * @packageDocumentation
 */
import { applyLockdown } from './lockdown-steps.js';

applyLockdown();
