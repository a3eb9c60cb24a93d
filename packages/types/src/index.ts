/**
 * @plugward/types — the shared vocabulary of Plugward: the plugin contract, `PluginError` and its codes,
 * `PluginVersion`, limits, requirements, manifests, sandbox and IPC types. No runtime dependencies; runs anywhere.
 * @packageDocumentation
 */

export * from './checks.js';
export * from './constants.js';
export * from './display.js';
export * from './errors.js';
export * from './grants.js';
export * from './instance.js';
export * from './ipc.js';
export * from './limits.js';
export * from './manifest.js';
export * from './plugin.js';
export * from './proc-stat.js';
export * from './requirements.js';
export * from './sandbox.js';
export * from './status.js';
export * from './version.js';
