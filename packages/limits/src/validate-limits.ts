import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import {
  MIN_THREADS_FOR_NODE,
  PluginError,
  RESOURCE_LIMIT_FIELDS,
  type ResourceLimits,
} from '@plugward/types';

/** Inclusive bounds of one {@link ResourceLimits} field. */
export interface LimitBound {
  min: number;
  max: number;
  unit: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function kernelMax(path: string, fallback: number): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/**
 * The documented bounds of every limit on this machine:
 * - `maxHeapBytes`: 1 MiB … the machine's total memory (`os.totalmem()`);
 * - `maxCpuTimeMs`, `maxDbQueryMs`, `maxExternalApiMs`: 1 ms … 24 h;
 * - `maxFileDescriptors`, `maxConnections`: 1 … `/proc/sys/fs/nr_open` (the kernel's per-process fd ceiling;
 *   1 048 576 when unreadable);
 * - `maxThreads`: 1 … `/proc/sys/kernel/threads-max` (4 194 304 when unreadable).
 * Every value must be a safe integer. Zero is refused: a limit of 0 would make the plugin violate at once.
 */
export function limitBounds(): Readonly<Record<keyof ResourceLimits, LimitBound>> {
  const fdMax = kernelMax('/proc/sys/fs/nr_open', 1_048_576);
  return {
    maxHeapBytes: { min: 1024 * 1024, max: totalmem(), unit: 'bytes' },
    maxCpuTimeMs: { min: 1, max: DAY_MS, unit: 'ms' },
    maxFileDescriptors: { min: 1, max: fdMax, unit: 'fds' },
    maxThreads: { min: 1, max: kernelMax('/proc/sys/kernel/threads-max', 4_194_304), unit: 'threads' },
    maxConnections: { min: 1, max: fdMax, unit: 'connections' },
    maxDbQueryMs: { min: 1, max: DAY_MS, unit: 'ms' },
    maxExternalApiMs: { min: 1, max: DAY_MS, unit: 'ms' },
  };
}

/** Options of {@link validateLimits}. */
export interface ValidateLimitsOptions {
  /** Accept a subset of the fields (a plugin's declaration); missing fields stay missing. Default false. */
  partial?: boolean;
  /**
   * The limits are for a plugin running in its own Node process (process/sandbox tier): `maxThreads` must then be at
   * least {@link MIN_THREADS_FOR_NODE}, since Node can't start with fewer.
   */
  nodeProcess?: boolean;
}

function invalid(field: string, message: string, value: unknown): PluginError {
  return new PluginError('InvalidResourceLimits', `${field}: ${message}`, {
    details: { field, value: typeof value === 'number' ? value : String(value) },
  });
}

/**
 * Checks untrusted limits (a manifest, a plugin's `resourceLimits()`, host configuration) against
 * {@link limitBounds} and returns a clean copy. Unknown fields, non-integers, zero, negatives and absurd values (more
 * memory than the machine has) throw a `PluginError` `InvalidResourceLimits` whose message and `details.field` name
 * the field.
 */
export function validateLimits(
  input: unknown,
  options: { partial: true; nodeProcess?: boolean },
): Partial<ResourceLimits>;
export function validateLimits(input: unknown, options?: ValidateLimitsOptions): ResourceLimits;
export function validateLimits(input: unknown, options: ValidateLimitsOptions = {}): Partial<ResourceLimits> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new PluginError('InvalidResourceLimits', 'resource limits must be an object', {
      details: { field: '(root)' },
    });
  }
  const known: ReadonlySet<string> = new Set(RESOURCE_LIMIT_FIELDS);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw invalid(key, 'unknown resource limit field', key);
  }
  const bounds = limitBounds();
  const record = input as Record<string, unknown>;
  const out: Partial<ResourceLimits> = {};
  for (const field of RESOURCE_LIMIT_FIELDS) {
    const value = record[field];
    if (value === undefined) {
      if (options.partial) continue;
      throw invalid(field, 'is missing', value);
    }
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw invalid(field, 'must be a finite number', value);
    if (!Number.isSafeInteger(value)) throw invalid(field, 'must be an integer', value);
    const b = bounds[field];
    if (value < b.min) throw invalid(field, `${value} is below the minimum ${b.min} ${b.unit}`, value);
    if (value > b.max)
      throw invalid(field, `${value} exceeds the maximum ${b.max} ${b.unit} on this machine`, value);
    if (field === 'maxThreads' && options.nodeProcess && value < MIN_THREADS_FOR_NODE) {
      throw invalid(
        field,
        `${value} is below ${MIN_THREADS_FOR_NODE}, the threads a Node process needs`,
        value,
      );
    }
    out[field] = value;
  }
  return out;
}

/**
 * Combines what a plugin declared with the host's caps: each field is the smaller of the two, and a field the plugin
 * did not declare takes the cap. The host's cap always wins — a plugin can ask for less, never more. Both sides are
 * validated (the declaration as partial).
 */
export function mergeLimits(
  declared: unknown,
  hostCaps: ResourceLimits,
  options: ValidateLimitsOptions = {},
): ResourceLimits {
  const caps = validateLimits(hostCaps, { nodeProcess: options.nodeProcess ?? false });
  const asked = declared === undefined ? {} : validateLimits(declared, { partial: true });
  const out = { ...caps };
  for (const field of RESOURCE_LIMIT_FIELDS) {
    const v = asked[field];
    if (v !== undefined && v < caps[field]) out[field] = v;
  }
  if (options.nodeProcess && out.maxThreads < MIN_THREADS_FOR_NODE) {
    throw invalid(
      'maxThreads',
      `${out.maxThreads} is below ${MIN_THREADS_FOR_NODE}, the threads a Node process needs`,
      out.maxThreads,
    );
  }
  return out;
}
