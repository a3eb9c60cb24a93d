/**
 * @plugward/ipc — Framed RPC over a Unix socket between the host and plugin processes.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 2;
