/**
 * @plugward/ipc — framed, bidirectional RPC between the host and plugin processes over one Unix socket (fd 3 in the
 * child): `IpcChannel` (requests both ways, served by a handler or pulled with `receiveRequest`), the plugin-side
 * server and the host-side client. The wire format itself (frames, codec, value limits) is `@plugward/ipc/wire`.
 * @packageDocumentation
 */

export {
  errorResponse,
  expectResponse,
  type IncomingRequest,
  type IncomingRequestInfo,
  IpcChannel,
  type IpcChannelOptions,
  type IpcRequestHandler,
  type IpcRole,
  type ReceiveRequestOptions,
  type SendRequestOptions,
  type SignalSource,
} from './channel.js';
export { ContextProxy, type ContextProxyOptions } from './context-proxy.js';
export { type IpcFailureReason, ipcFailureReason } from './errors.js';
export { connectToHost, PLUGIN_IPC_FD } from './host-socket.js';
export { DEFAULT_LOG_BUDGET, type LogBudget } from './log-budget.js';
export { processMetrics, type ServePluginOptions, type ServeResult, servePlugin } from './plugin-server.js';
export {
  DEFAULT_DROPPED_LOG_RATE,
  type ForwardedHook,
  PluginProcessClient,
  type PluginProcessClientOptions,
  type PluginProcessExit,
  type WatchedProcess,
} from './process-client.js';
export type { ExecuteHookRequest } from './protocol.js';
export { DEFAULT_REQUEST_BYTE_RATE, DEFAULT_REQUEST_RATE, type RequestRate } from './request-rate.js';
export type { IpcTransport } from './transport.js';
