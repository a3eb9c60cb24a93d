import { contextKeyName, PluginError, type TypedContextKey } from '@plugward/types';

const MAX_KEY_LENGTH = 256;

/** The name of `key`, checked. @throws PluginError `InvalidArgument`. */
export function checkedKeyName(key: unknown): string {
  const name =
    typeof key === 'string'
      ? key
      : key !== null && typeof key === 'object' && typeof (key as { name?: unknown }).name === 'string'
        ? contextKeyName(key as TypedContextKey<unknown>)
        : undefined;
  if (name === undefined || name.length === 0 || name.length > MAX_KEY_LENGTH) {
    throw new PluginError(
      'InvalidArgument',
      `context key must be a non-empty string (or typed key) of at most ${MAX_KEY_LENGTH} characters`,
    );
  }
  return name;
}
