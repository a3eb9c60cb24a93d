/**
 * @plugward/hooks — HookRegistry: priority-ordered, waterfall hook chains over bytes, with typed codecs. No Node
 * imports: runs in Node, browsers and workers.
 * @packageDocumentation
 */

export type { HookCallInfo, HookHandler, HookRegistrar } from '@plugward/types';
export { DEFAULT_HOOK_PRIORITY, HookPriority, priorityBand } from '@plugward/types';
export { createJsonCodec, type HookCodec, type JsonCodec, jsonCodec, textCodec } from './codec.js';
export { type Deadline, DeadlineQueue } from './deadline-queue.js';
export type { HandlerStats } from './hook-chain.js';
export { ExecutionTimeout, HandlerTimeout } from './hook-errors.js';
export {
  type ExecuteOptions,
  type HookConfig,
  type HookFailure,
  type HookFailureListener,
  HookRegistry,
  type HookRegistryOptions,
  type OwnerHookRegistrar,
  type RegisteredHook,
  type RegisterOptions,
  type Registration,
} from './hook-registry.js';
export { TypedHook, type TypedHookHandler, typedHandler } from './typed-hook.js';
