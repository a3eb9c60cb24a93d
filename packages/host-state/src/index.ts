/**
 * @plugward/host-state — where a Plugward host keeps state on the machine: whether a place is private to this user
 * (the directory and every directory above it, so nobody else can swap what the host keeps there), and the host tag
 * (`<pid>-<start time>-p<pid namespace>`) in the names of what a host leaves behind, so a sweep tells a dead host's leftovers from a live
 * one's even after the pid was reused. Node-only, no dependencies.
 * @packageDocumentation
 */

export {
  type HostOwner,
  hostGone,
  hostTag,
  ownPidNamespace,
  parseHostTag,
  pidAlive,
  processStartTime,
} from './host-tag.js';
export {
  type PrivateDirectoryProblem,
  privateDirectoryProblem,
  privateFileProblem,
  privateLocationProblem,
} from './private-location.js';
