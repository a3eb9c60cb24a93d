/**
 * Every error code a Plugward package can raise. Stable: users match on these strings.
 *
 * The first twelve are the Rust API reference's `PluginError` variants (see docs/api-reference-mapping.md); the rest are
 * Plugward's own.
 */
export const PLUGIN_ERROR_CODES = [
  'LoadError',
  'InitializationError',
  'HookError',
  'SecurityError',
  'UntrustedPlugin',
  'AlreadyLoaded',
  'NotFound',
  'ContextError',
  'InvalidResourceLimits',
  'ResourceViolation',
  'IpcError',
  'IoError',
  // Additions of the TypeScript design.
  'SymbolNotFound',
  'AbiIncompatible',
  'SignatureError',
  'InvalidManifest',
  'InvalidVersion',
  'InvalidPlugin',
  'VersionDowngrade',
  'HookTimeout',
  'Aborted',
  'SandboxUnavailable',
  'SandboxError',
  'PermissionDenied',
  'InvalidArgument',
  'TrustListError',
  'Timeout',
  'Unsupported',
  // Containment and trust.
  'QuotaExceeded',
  'ProtocolViolation',
  'NameConflict',
  'GrantDenied',
  'RequirementsExceeded',
  'UnknownSigner',
  'InvalidSignature',
  'HashMismatch',
  'TrustListRollback',
  'RollbackFloorMissing',
  'KeyFileError',
  'NotRegularFile',
  'UnbundledImport',
  // One home per concept (third round).
  'FileTooLarge',
] as const;

/** A stable error code; see {@link PLUGIN_ERROR_CODES}. */
export type PluginErrorCode = (typeof PLUGIN_ERROR_CODES)[number];

/** Options of {@link PluginError}. */
export interface PluginErrorOptions {
  /** The underlying error, kept for diagnostics. */
  cause?: unknown;
  /** The plugin the error concerns, when known. */
  plugin?: string;
  /** Structured details (hook name, field name, limit values…) that tools can read without parsing the message. */
  details?: Readonly<Record<string, unknown>>;
}

const CODE_SET: ReadonlySet<string> = new Set(PLUGIN_ERROR_CODES);

/**
 * The one error class of Plugward. Every failure a host can react to is a `PluginError` with a {@link PluginErrorCode}.
 *
 * @example
 * ```ts
 * try { await registry.loadPlugin(path, 'trusted'); }
 * catch (e) { if (isPluginError(e, 'UntrustedPlugin')) console.warn(e.message); else throw e; }
 * ```
 */
export class PluginError extends Error {
  /** The stable code to match on. */
  readonly code: PluginErrorCode;
  /** The plugin concerned, if known. */
  readonly plugin: string | undefined;
  /** Structured details; never secret material. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: PluginErrorCode, message: string, options: PluginErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!CODE_SET.has(code)) {
      throw new TypeError(`unknown PluginError code: ${String(code)}`);
    }
    this.name = 'PluginError';
    this.code = code;
    this.plugin = options.plugin;
    this.details = options.details;
  }

  /** `PluginError [Code] (plugin): message` followed by the chain of causes. */
  override toString(): string {
    const who = this.plugin === undefined ? '' : ` (${this.plugin})`;
    let out = `PluginError [${this.code}]${who}: ${this.message}`;
    let cause: unknown = this.cause;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      out += `\n  caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    return out;
  }

  /** A plain object for logs and `--json` output. */
  toJSON(): {
    name: 'PluginError';
    code: PluginErrorCode;
    message: string;
    plugin?: string;
    details?: unknown;
  } {
    return {
      name: 'PluginError',
      code: this.code,
      message: this.message,
      ...(this.plugin === undefined ? {} : { plugin: this.plugin }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/**
 * True when `value` is a {@link PluginError}, optionally of the given code. Works across package copies (duck-typed on
 * name and code), since a host may end up with two installed versions of @plugward/types.
 */
export function isPluginError(value: unknown, code?: PluginErrorCode): value is PluginError {
  if (!(value instanceof Error)) return false;
  const candidate = value as Partial<PluginError>;
  if (value.name !== 'PluginError' || typeof candidate.code !== 'string' || !CODE_SET.has(candidate.code)) {
    return false;
  }
  return code === undefined || candidate.code === code;
}

/** Wraps any thrown value into a PluginError of `code` unless it already is one. */
export function toPluginError(
  value: unknown,
  code: PluginErrorCode,
  message: string,
  options: Omit<PluginErrorOptions, 'cause'> = {},
): PluginError {
  if (isPluginError(value)) return value;
  const reason = value instanceof Error ? value.message : String(value);
  return new PluginError(code, `${message}: ${reason}`, { ...options, cause: value });
}
