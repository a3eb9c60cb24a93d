/**
 * @plugward/ipc — framed, bidirectional RPC between the host and plugin processes over one Unix socket (fd 3 in the
 * child), the protocol of `IpcRequest`/`IpcResponse`, the plugin-side server and the host-side client.
 * @packageDocumentation
 */

export {
  errorResponse,
  expectResponse,
  type IncomingRequestInfo,
  IpcChannel,
  type IpcChannelOptions,
  type IpcRequestHandler,
  type IpcRole,
  type SendRequestOptions,
} from './channel.js';
export { ContextProxy, type ContextProxyOptions } from './context-proxy.js';
export { type IpcFailureReason, ipcError, ipcFailureReason } from './errors.js';
export {
  allocFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FRAME_PAYLOAD_OFFSET,
  FRAME_PREFIX_BYTES,
  type Frame,
  FrameDecoder,
  FrameType,
} from './frame.js';
export { connectToHost, PLUGIN_IPC_FD } from './host-socket.js';
export { DEFAULT_LOG_BUDGET, type LogBudget, LogLimiter, type LogVerdict } from './log-budget.js';
export { MAX_VALUE_CONTAINERS, MAX_VALUE_NODES } from './msgpack-scan.js';
export { processMetrics, type ServePluginOptions, type ServeResult, servePlugin } from './plugin-server.js';
export { messagePortStream } from './port-stream.js';
export {
  type ForwardedHook,
  PluginProcessClient,
  type PluginProcessClientOptions,
  type PluginProcessExit,
  type WatchedProcess,
} from './process-client.js';
export {
  decodeRequest,
  decodeResponse,
  type ExecuteHookRequest,
  encodeRequest,
  encodeResponse,
  HOST_TO_PLUGIN_KINDS,
  PLUGIN_TO_HOST_KINDS,
  REQUEST_KIND_CODES,
  RESPONSE_KIND_CODES,
  requestKindOf,
  responseKindOf,
} from './protocol.js';
export { asUint8Array, MAX_VALUE_DEPTH, packValue, unpackValue } from './values.js';

/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1). */
export const LAYER = 2;
