/**
 * @plugward/cli — The `plugward` command: keygen, hash, sign, verify, trust, inspect, run, doctor.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 4;
