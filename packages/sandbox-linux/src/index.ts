/**
 * @plugward/sandbox-linux — A Linux SandboxBackend: bubblewrap namespaces, libseccomp filters, cgroups v1/v2 and dropped capabilities.
 *
 * Not implemented yet: see the open issue for this package.
 * @packageDocumentation
 */

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 2;
