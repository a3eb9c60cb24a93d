/**
 * @plugward/context — PluginContext: a typed key/value store shared with plugins, with per-plugin permissions.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 1;
