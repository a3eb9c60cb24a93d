/**
 * @plugward/hooks — HookRegistry: priority-ordered, waterfall hook chains over bytes, with typed codecs.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 1;
