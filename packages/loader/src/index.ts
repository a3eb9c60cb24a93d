/**
 * @plugward/loader — PluginLoader: loads verified JS/ESM plugins and native plugins (C ABI through koffi).
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 2;
