import {
  type Awaitable,
  type HookCallInfo,
  type HookHandler,
  isThenable,
  PluginError,
} from '@plugward/types';
import type { HookCodec } from './codec.js';
import type { ExecuteOptions, RegisterOptions, Registration } from './hook-registry.js';

/** A handler of typed values: `T` in, `T` out, sync or async. */
export type TypedHookHandler<T> = (value: T, info: HookCallInfo) => Awaitable<T>;

function checkCodec(codec: unknown): void {
  const c = codec as Partial<HookCodec<unknown>> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.encode !== 'function' ||
    typeof c.decode !== 'function'
  ) {
    throw new PluginError('InvalidArgument', 'a hook codec needs encode and decode functions');
  }
}

/**
 * Wraps a typed handler into a bytes handler: decode, call, encode. Sync handlers stay sync. Works with any
 * `HookRegistrar`, e.g. the one a plugin receives: `hooks.register('x', 200, typedHandler(jsonCodec, fn))`.
 */
export function typedHandler<T>(codec: HookCodec<T>, handler: TypedHookHandler<T>): HookHandler {
  checkCodec(codec);
  if (typeof handler !== 'function') {
    throw new PluginError('InvalidArgument', `hook handler must be a function, got ${typeof handler}`);
  }
  return (data, info) => {
    const result = handler(codec.decode(data), info);
    if (isThenable(result)) return Promise.resolve(result).then((value: T) => codec.encode(value));
    return codec.encode(result);
  };
}

type RegisterFn = (
  name: string,
  priority: number,
  handler: HookHandler,
  options?: RegisterOptions,
) => Registration;
type ExecuteFn = (name: string, data: Uint8Array, options?: ExecuteOptions) => Promise<Uint8Array>;

/** A hook whose handlers see values of `T`; made by `HookRegistry.define`. The wire stays `Uint8Array`. */
export class TypedHook<T> {
  readonly #registerFn: RegisterFn;
  readonly #executeFn: ExecuteFn;

  /** @internal use `HookRegistry.define` or `forOwner(...).define`. */
  constructor(
    /** The hook name. */
    readonly name: string,
    /** The codec between `T` and bytes. */
    readonly codec: HookCodec<T>,
    registerFn: RegisterFn,
    executeFn: ExecuteFn,
  ) {
    this.#registerFn = registerFn;
    this.#executeFn = executeFn;
    checkCodec(codec);
  }

  /** Registers a typed handler; same ordering and options as `HookRegistry.register`. */
  register(priority: number, handler: TypedHookHandler<T>, options?: RegisterOptions): Registration {
    return this.#registerFn(this.name, priority, typedHandler(this.codec, handler), options);
  }

  /** Encodes `value`, runs the chain, decodes the result. Encoding/decoding failures reject with `InvalidArgument`. */
  async execute(value: T, options?: ExecuteOptions): Promise<T> {
    const out = await this.#executeFn(this.name, this.codec.encode(value), options);
    return this.codec.decode(out);
  }
}
