/**
 * @plugward/sandbox-common — what every Linux sandbox backend of Plugward shares: the capability check,
 * libseccomp through koffi, the seccomp rules every sandbox carries and the filter built from them, the leases of the
 * unprivileged uids plugin code runs as on root hosts, the per-sandbox directories and their stale sweep, the cgroup
 * limits of a spawn, a binary's shared libraries, the sandboxed process with its exit and exit-time cleanup.
 * Per-plugin cgroups (detected, created, measured, removed) live in @plugward/limits. @plugward/sandbox-linux
 * (bubblewrap) and @plugward/sandbox-landlock build on it; it starts no sandbox itself.
 * @packageDocumentation
 */

export * from './capabilities.js';
export * from './cgroup-limits.js';
export * from './denied-syscalls.js';
export * from './host-exit.js';
export { requireKoffi } from './koffi-module.js';
export * from './libseccomp.js';
export * from './mount-calls.js';
export * from './neutral-paths.js';
export * from './path-handle.js';
export * from './private-state.js';
export * from './relocate.js';
export * from './sandbox-dir.js';
export * from './sandbox-exit.js';
export * from './sandbox-lifetime.js';
export * from './sandboxed-child.js';
export * from './seccomp-context.js';
export * from './seccomp-rules.js';
export * from './shared-libraries.js';
export * from './uid-allocator.js';
