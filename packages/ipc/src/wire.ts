/**
 * `@plugward/ipc/wire` — the wire format under {@link IpcChannel}: frames (a 4-byte little-endian length, type, kind,
 * request id, payload), the codec of `IpcRequest`/`IpcResponse`, the MessagePack value rules and their limits, and the
 * per-plugin log limiter. For tools that read or write frames themselves (a plugin host in another language, a
 * benchmark, a fuzzer); hosts and plugins use the channel, the plugin server and the process client of
 * `@plugward/ipc` instead.
 * @packageDocumentation
 */

export { type IpcFailureReason, ipcError } from './errors.js';
export * from './frame.js';
export { LogLimiter, type LogVerdict } from './log-budget.js';
export { MAX_VALUE_CONTAINERS, MAX_VALUE_NODES } from './msgpack-scan.js';
export * from './protocol.js';
export * from './values.js';
