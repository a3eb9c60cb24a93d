/**
 * @plugward/limits — Resource limits, violation tracking, metrics from /proc, cgroups v1/v2 and V8, and a resource monitor.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 1;
