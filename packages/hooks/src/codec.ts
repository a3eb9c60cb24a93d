import { PluginError } from '@plugward/types';

/** Turns values of `T` into the wire bytes of a hook and back. `decode` receives untrusted bytes: validate. */
export interface HookCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** A JSON codec whose methods are generic, so it fits any `HookCodec<T>` (`hooks.define<Req>('x', jsonCodec)`). */
export interface JsonCodec {
  encode<T>(value: T): Uint8Array;
  decode<T>(bytes: Uint8Array): T;
}

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not silently replaced characters.
const decoder = new TextDecoder('utf-8', { fatal: true });

function encodeJson(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new PluginError('InvalidArgument', 'value cannot be encoded as JSON', { cause: e });
  }
  if (text === undefined) {
    throw new PluginError('InvalidArgument', `value of type ${typeof value} cannot be encoded as JSON`);
  }
  return encoder.encode(text);
}

function decodeJson(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new PluginError('InvalidArgument', 'JSON codec expects a Uint8Array');
  }
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new PluginError('InvalidArgument', 'payload is not valid UTF-8 JSON', { cause: e });
  }
}

/**
 * UTF-8 JSON. Decoding does not check the shape: for untrusted payloads use {@link createJsonCodec} with a validator.
 *
 * @example
 * ```ts
 * const onRequest = hooks.define<{ path: string }>('on_request', jsonCodec);
 * ```
 */
export const jsonCodec: JsonCodec = Object.freeze({
  encode: <T>(value: T): Uint8Array => encodeJson(value),
  decode: <T>(bytes: Uint8Array): T => decodeJson(bytes) as T,
});

/**
 * A UTF-8 JSON codec that checks decoded values with `validate` (a type guard) and fails with `InvalidArgument`
 * when the check fails.
 */
export function createJsonCodec<T>(validate: (value: unknown) => value is T): HookCodec<T> {
  if (typeof validate !== 'function') {
    throw new PluginError('InvalidArgument', 'createJsonCodec expects a validator function');
  }
  return Object.freeze({
    encode: (value: T): Uint8Array => encodeJson(value),
    decode: (bytes: Uint8Array): T => {
      const value = decodeJson(bytes);
      if (!validate(value)) {
        throw new PluginError('InvalidArgument', 'JSON payload failed validation');
      }
      return value;
    },
  });
}

/** UTF-8 text. Invalid UTF-8 fails with `InvalidArgument`. */
export const textCodec: HookCodec<string> = Object.freeze({
  encode: (value: string): Uint8Array => {
    if (typeof value !== 'string') throw new PluginError('InvalidArgument', 'text codec expects a string');
    return encoder.encode(value);
  },
  decode: (bytes: Uint8Array): string => {
    try {
      return decoder.decode(bytes);
    } catch (e) {
      throw new PluginError('InvalidArgument', 'payload is not valid UTF-8', { cause: e });
    }
  },
});
