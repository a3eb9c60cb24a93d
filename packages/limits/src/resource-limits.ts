import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits as Limits } from '@plugward/types';
import { validateLimits } from './validate-limits.js';

/** Resource limits of one plugin (the interface of @plugward/types), with its associated functions below. */
export type ResourceLimits = Limits;

/**
 * The Rust API reference's `ResourceLimits` associated functions, beside the type of the same name:
 * `ResourceLimits.default()` and `ResourceLimits.validate(limits)`.
 */
export const ResourceLimits = Object.freeze({
  /** A fresh copy of `DEFAULT_RESOURCE_LIMITS` (50 MiB, 1000 ms, 4 threads, 32 fds, 10 connections). */
  default(): ResourceLimits {
    return { ...DEFAULT_RESOURCE_LIMITS };
  },
  /**
   * Checks limits as {@link validateLimits} does (the documented five fields required, the extensions optional) and
   * returns the complete, clean copy; throws `InvalidResourceLimits` naming the field.
   */
  validate(limits: unknown): ResourceLimits {
    return validateLimits(limits);
  },
});
