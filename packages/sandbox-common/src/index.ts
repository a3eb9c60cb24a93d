/**
 * @plugward/sandbox-common — what every Linux sandbox backend of Plugward shares: per-plugin cgroups (v1 and v2,
 * created, joined race-free by the launcher, read and removed), libseccomp through koffi, and the leases of the
 * unprivileged uids plugin code runs as on root hosts. @plugward/sandbox-linux (bubblewrap) and
 * @plugward/sandbox-landlock build on it; it starts no sandbox itself.
 * @packageDocumentation
 */

export * from './capabilities.js';
export * from './cgroups.js';
export * from './host-exit.js';
export * from './libseccomp.js';
export * from './sandbox-exit.js';
export * from './uid-allocator.js';

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 1;
