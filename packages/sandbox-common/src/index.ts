/**
 * @plugward/sandbox-common — what every Linux sandbox backend of Plugward shares: the capability check,
 * libseccomp through koffi, the leases of the unprivileged uids plugin code runs as on root hosts, exit-time cleanup and
 * the exit of a sandboxed process. Per-plugin cgroups (detected, created, measured, removed) live in @plugward/limits. @plugward/sandbox-linux (bubblewrap) and
 * @plugward/sandbox-landlock build on it; it starts no sandbox itself.
 * @packageDocumentation
 */

export * from './capabilities.js';
export * from './host-exit.js';
export * from './libseccomp.js';
export * from './sandbox-exit.js';
export * from './seccomp-rules.js';
export * from './uid-allocator.js';
