/**
 * What {@link LinuxSandbox} preloads (`--require`) into a node command in strict mode: first the check that the host
 * is still there (`exitIfHostGone`: a sandbox whose host is gone runs nothing of its own), then that each bind bwrap
 * resolved by name is the object the host checked (`exitIfBindsSwapped`, non-root hosts), then the lockdown (the
 * in-process filter denying exec and fork).
 * @packageDocumentation
 */
import { exitIfBindsSwapped } from './bind-verify.js';
import { exitIfHostGone } from './host-alive.js';
import { applyLockdown } from './lockdown-steps.js';

exitIfHostGone(3);
exitIfBindsSwapped();
applyLockdown();
