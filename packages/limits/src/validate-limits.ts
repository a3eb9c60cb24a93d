import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import {
  DEFAULT_RESOURCE_LIMITS,
  MIN_THREADS_FOR_NODE,
  PluginError,
  RESOURCE_LIMIT_FIELDS,
  type ResourceLimits,
} from '@plugward/types';

/**
 * The five fields the Rust API reference documents (`max_heap_bytes`, `max_cpu_time_ms`, `max_threads`,
 * `max_file_descriptors`, `max_network_connections`): required in complete limits. The others are Plugward's
 * extensions and take their defaults when absent.
 */
export const DOCUMENTED_LIMIT_FIELDS = Object.freeze([
  'maxHeapBytes',
  'maxCpuTimeMs',
  'maxThreads',
  'maxFileDescriptors',
  'maxConnections',
] as const satisfies readonly (keyof ResourceLimits)[]);

/** The reference's spelling of `maxConnections` (`max_network_connections`), accepted in input. */
const NETWORK_CONNECTIONS_ALIAS = 'maxNetworkConnections';

/** Inclusive bounds of one {@link ResourceLimits} field. */
export interface LimitBound {
  min: number;
  max: number;
  unit: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const KNOWN_FIELDS: ReadonlySet<string> = new Set([...RESOURCE_LIMIT_FIELDS, NETWORK_CONNECTIONS_ALIAS]);
const REQUIRED_FIELDS: ReadonlySet<string> = new Set(DOCUMENTED_LIMIT_FIELDS);

function kernelMax(path: string, fallback: number): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

interface MachineCeilings {
  memoryBytes: number;
  fdMax: number;
  threadsMax: number;
}

let machineCeilings: MachineCeilings | undefined;

/**
 * The machine's memory, the kernel's per-process fd ceiling and its thread ceiling, read once per process: they are
 * machine-wide (sysctl settings, the installed memory), the same for every plugin, and reading them — three /proc
 * files (`os.totalmem()` reads /proc/meminfo) — cost ≈ 35 µs of every validation. A host that changes them (sysctl,
 * memory hot-plug) sees the new values after a restart.
 */
function machineLimits(): MachineCeilings {
  machineCeilings ??= {
    memoryBytes: totalmem(),
    fdMax: kernelMax('/proc/sys/fs/nr_open', 1_048_576),
    threadsMax: kernelMax('/proc/sys/kernel/threads-max', 4_194_304),
  };
  return machineCeilings;
}

/**
 * The documented bounds of every limit on this machine:
 * - `maxHeapBytes`: 1 MiB … the machine's total memory (`os.totalmem()`);
 * - `maxCpuTimeMs`, `maxDbQueryMs`, `maxExternalApiMs`: 1 ms … 24 h;
 * - `maxFileDescriptors`, `maxConnections`: 1 … `/proc/sys/fs/nr_open` (the kernel's per-process fd ceiling;
 *   1 048 576 when unreadable);
 * - `maxThreads`: 1 … `/proc/sys/kernel/threads-max` (4 194 304 when unreadable).
 * Every value must be a safe integer. Zero is refused: a limit of 0 would make the plugin violate at once. The
 * machine's memory and the two kernel ceilings are read once per process (machine-wide; a change by sysctl or memory
 * hot-plug is seen after a restart).
 */
export function limitBounds(): Readonly<Record<keyof ResourceLimits, LimitBound>> {
  const { memoryBytes, fdMax, threadsMax } = machineLimits();
  return {
    maxHeapBytes: { min: 1024 * 1024, max: memoryBytes, unit: 'bytes' },
    maxCpuTimeMs: { min: 1, max: DAY_MS, unit: 'ms' },
    maxFileDescriptors: { min: 1, max: fdMax, unit: 'fds' },
    maxThreads: { min: 1, max: threadsMax, unit: 'threads' },
    maxConnections: { min: 1, max: fdMax, unit: 'connections' },
    maxDbQueryMs: { min: 1, max: DAY_MS, unit: 'ms' },
    maxExternalApiMs: { min: 1, max: DAY_MS, unit: 'ms' },
  };
}

/** Options of {@link validateLimits}. */
export interface ValidateLimitsOptions {
  /**
   * Accept a subset of the fields (a plugin's declaration); missing fields stay missing. Default false: the
   * documented five ({@link DOCUMENTED_LIMIT_FIELDS}) are required and the extensions take their defaults.
   */
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
 * {@link limitBounds} and returns a clean copy. Complete limits need the documented five fields; `maxDbQueryMs` and
 * `maxExternalApiMs` default to {@link DEFAULT_RESOURCE_LIMITS}'s. `maxNetworkConnections` (the reference's name) is
 * accepted for `maxConnections`. Unknown or missing fields, non-integers, zero, negatives and absurd values (more
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
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) throw invalid(key, 'unknown resource limit field', key);
  }
  const record = { ...(input as Record<string, unknown>) };
  if (record[NETWORK_CONNECTIONS_ALIAS] !== undefined) {
    const alias = record[NETWORK_CONNECTIONS_ALIAS];
    if (record.maxConnections !== undefined && record.maxConnections !== alias) {
      throw invalid(NETWORK_CONNECTIONS_ALIAS, 'differs from maxConnections (two names of one limit)', alias);
    }
    record.maxConnections = alias;
  }
  const bounds = limitBounds();
  const out: Partial<ResourceLimits> = {};
  for (const field of RESOURCE_LIMIT_FIELDS) {
    let value = record[field];
    if (value === undefined) {
      if (options.partial) continue;
      if (REQUIRED_FIELDS.has(field)) throw invalid(field, 'is missing', value);
      value = DEFAULT_RESOURCE_LIMITS[field];
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
