import type { PluginErrorCode } from './errors.js';
import type { PluginMetrics, ResourceLimits } from './limits.js';
import type { LogLevel } from './plugin.js';
import type { PluginRequirements } from './requirements.js';
import type { IsolationTier } from './status.js';

/** Configuration sent to a plugin process with `Initialize`. */
export interface InitializeConfig {
  /** Name the host expects (checked against the loaded plugin). */
  pluginName: string;
  kind: 'native' | 'js';
  /** Path of the verified copy of the artifact, as seen by the plugin process. */
  artifactPath: string;
  tier: IsolationTier;
  limits: ResourceLimits;
  requirements: PluginRequirements;
}

/** A brokered HTTP request (restricted network mode). */
export interface FetchRequest {
  url: string;
  method: string;
  headers: Readonly<Record<string, string>>;
  body?: Uint8Array;
}

/** A brokered HTTP response. */
export interface FetchResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
}

/** Requests from the host to a plugin process. */
export type HostToPluginRequest =
  | { kind: 'Initialize'; config: InitializeConfig }
  | { kind: 'Shutdown' }
  | { kind: 'ExecuteHook'; hookName: string; data: Uint8Array }
  | { kind: 'GetMetrics' }
  | ContextChangedRequest;

/**
 * The host tells a plugin process that a context key it declared readable changed (set to `value`, or `removed`).
 * Native plugins read the context synchronously from a local copy in the plugin process; this keeps that copy current.
 * The host sends it from inside the write that caused it, so any request sent after the write (an `ExecuteHook`)
 * reaches the plugin after it — one ordered stream.
 */
export interface ContextChangedRequest {
  kind: 'ContextChanged';
  key: string;
  /** True when the key was removed (then `value` is absent). */
  removed: boolean;
  /** The new value, when not `removed`. */
  value?: unknown;
}

/** Requests from a plugin process to the host. */
export type PluginToHostRequest =
  | { kind: 'RegisterHook'; name: string; priority: number }
  | { kind: 'ContextGet'; key: string }
  | { kind: 'ContextSet'; key: string; value: unknown }
  | { kind: 'ContextRemove'; key: string }
  | { kind: 'ContextHas'; key: string }
  | { kind: 'ContextKeys' }
  | { kind: 'Log'; level: LogLevel; message: string }
  | { kind: 'Fetch'; request: FetchRequest };

/** Any IPC request, either direction. */
export type IpcRequest = HostToPluginRequest | PluginToHostRequest;

/** Any IPC response, either direction. */
export type IpcResponse =
  | { kind: 'Success'; value?: unknown }
  | {
      kind: 'Error';
      message: string;
      /** The `PluginError` code; may be left out (the reference's error response is a message only). */
      code?: PluginErrorCode;
    }
  | { kind: 'Metrics'; data: PluginMetrics }
  | { kind: 'HookResult'; data: Uint8Array }
  | { kind: 'FetchResult'; response: FetchResponse };

/** Kinds of request, for exhaustive switches and wire tables. */
export type IpcRequestKind = IpcRequest['kind'];
/** Kinds of response. */
export type IpcResponseKind = IpcResponse['kind'];
