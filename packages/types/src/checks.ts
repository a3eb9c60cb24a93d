import { PluginError } from './errors.js';

/**
 * Longest hook name, in UTF-8 bytes. One limit for every way a name arrives: `HookRegistry` (a host or in-process
 * plugin), the IPC protocol (an out-of-process plugin) and the C ABI (a native plugin's NUL-terminated string).
 */
export const MAX_HOOK_NAME_BYTES = 256;

/** True for promises and other thenables (anything with a callable `then`). */
export function isThenable<T = unknown>(value: unknown): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Returns `value` when it is a safe integer ≥ 1 (≥ 0 with `allowZero`).
 * @param name - the option or field, named in the error.
 * @throws PluginError `InvalidArgument` (`details.field` is `name`).
 */
export function positiveInteger(value: unknown, name: string, options: { allowZero?: boolean } = {}): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (options.allowZero ? 0 : 1)) {
    throw new PluginError(
      'InvalidArgument',
      `${name} must be a ${options.allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`,
      { details: { field: name } },
    );
  }
  return value;
}

/** Length of `text` in UTF-8 bytes, without encoding it (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8ByteLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Asserts `name` is a valid hook name: a non-empty string of at most {@link MAX_HOOK_NAME_BYTES} UTF-8 bytes.
 * @throws PluginError `InvalidArgument`.
 */
export function checkHookName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || utf8ByteLength(name) > MAX_HOOK_NAME_BYTES) {
    throw new PluginError(
      'InvalidArgument',
      `hook name must be a non-empty string of at most ${MAX_HOOK_NAME_BYTES} UTF-8 bytes`,
    );
  }
}
