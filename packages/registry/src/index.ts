/**
 * @plugward/registry — PluginRegistry: discovery, trust, isolation tiers, lifecycle and monitoring; re-exports the whole stack.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 3;
