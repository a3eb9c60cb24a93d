import { isUtf8 } from 'node:buffer';
import {
  type FetchRequest,
  type FetchResponse,
  type InitializeConfig,
  type IpcRequest,
  type IpcRequestKind,
  type IpcResponse,
  type IpcResponseKind,
  type LogLevel,
  MAX_HOOK_NAME_BYTES,
  PLUGIN_ERROR_CODES,
  type PluginErrorCode,
  type PluginMetrics,
  type PluginRequirements,
  RESOURCE_LIMIT_FIELDS,
  type ResourceLimits,
} from '@plugward/types';
import { ipcError } from './errors.js';
import { allocFrame, FRAME_PAYLOAD_OFFSET, FrameType } from './frame.js';
import { asUint8Array, packValue, unpackValue } from './values.js';

/*
 * Message layouts. Hook payloads are raw bytes in a fixed layout (the hot path: no MessagePack, no JSON, no base64,
 * one copy into the frame). Everything else is one MessagePack value, a tuple or an object, validated field by field.
 *
 *   ExecuteHook  u16 LE name bytes | u32 LE handler index | name (UTF-8) | data
 *   HookResult   data
 *   Shutdown, GetMetrics, ContextKeys: empty
 *   Success      empty (no value) | value
 *   ContextChanged  [key] (removed) | [key, value] (set)
 */

/** `ExecuteHook` as it travels: `handlerIndex` picks one of several handlers a plugin registered on one hook name. */
export type ExecuteHookRequest = Extract<IpcRequest, { kind: 'ExecuteHook' }> & {
  /** Index, in registration order, among this plugin's handlers of `hookName`; 0 when absent. */
  handlerIndex?: number;
};

/** Wire codes of request kinds. Host→plugin below 16, plugin→host from 16. */
export const REQUEST_KIND_CODES = Object.freeze({
  Initialize: 1,
  Shutdown: 2,
  ExecuteHook: 3,
  GetMetrics: 4,
  ContextChanged: 5,
  RegisterHook: 16,
  ContextGet: 17,
  ContextSet: 18,
  ContextRemove: 19,
  ContextHas: 20,
  ContextKeys: 21,
  Log: 22,
  Fetch: 23,
} satisfies Record<IpcRequestKind, number>);

/** Wire codes of response kinds. */
export const RESPONSE_KIND_CODES = Object.freeze({
  Success: 1,
  Error: 2,
  Metrics: 3,
  HookResult: 4,
  FetchResult: 5,
} satisfies Record<IpcResponseKind, number>);

const REQUEST_KIND_BY_CODE = invert(REQUEST_KIND_CODES);
const RESPONSE_KIND_BY_CODE = invert(RESPONSE_KIND_CODES);

function invert<K extends string>(table: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as number, k as K]));
}

/** Kinds the host sends to a plugin. */
export const HOST_TO_PLUGIN_KINDS: ReadonlySet<IpcRequestKind> = new Set([
  'Initialize',
  'Shutdown',
  'ExecuteHook',
  'GetMetrics',
  'ContextChanged',
]);
/** Kinds a plugin sends to the host. */
export const PLUGIN_TO_HOST_KINDS: ReadonlySet<IpcRequestKind> = new Set([
  'RegisterHook',
  'ContextGet',
  'ContextSet',
  'ContextRemove',
  'ContextHas',
  'ContextKeys',
  'Log',
  'Fetch',
]);

/** Name of a request kind code, or undefined when unknown. */
export function requestKindOf(code: number): IpcRequestKind | undefined {
  return REQUEST_KIND_BY_CODE.get(code);
}

/** Name of a response kind code, or undefined when unknown. */
export function responseKindOf(code: number): IpcResponseKind | undefined {
  return RESPONSE_KIND_BY_CODE.get(code);
}

type Allocate = (bytes: number) => Buffer;

function structuredFrame(
  type: number,
  kind: number,
  id: number,
  value: unknown,
  allocate: Allocate = Buffer.allocUnsafe,
): Buffer {
  const body = packValue(value);
  const frame = allocFrame(type, kind, id, body.length, 0, allocate);
  frame.set(body, FRAME_PAYLOAD_OFFSET);
  return frame;
}

function emptyFrame(type: number, kind: number, id: number, allocate: Allocate = Buffer.allocUnsafe): Buffer {
  return allocFrame(type, kind, id, 0, 0, allocate);
}

function bytesFrame(type: number, kind: number, id: number, data: Uint8Array, allocate: Allocate): Buffer {
  if (!(data instanceof Uint8Array)) throw ipcError('SendRefused', 'hook data must be a Uint8Array');
  const frame = allocFrame(type, kind, id, data.length, 0, allocate);
  frame.set(data, FRAME_PAYLOAD_OFFSET);
  return frame;
}

/** Hook names kept encoded on the sending side: a host calls a handful of hooks, each call names one of them. */
const ENCODED_NAMES = 16;
const encodedNames = new Map<string, Uint8Array>();

/**
 * The UTF-8 bytes of hook name `name`, encoded once (issue 17: measuring and writing a name into every call's frame
 * went through two calls into C++, ≈ 1.7 µs of a worker-tier call). Bounded: past {@link ENCODED_NAMES} names the
 * oldest is forgotten.
 */
function encodedHookName(name: string): Uint8Array {
  let bytes = encodedNames.get(name);
  if (bytes === undefined) {
    bytes = new TextEncoder().encode(name);
    // A name too long to send is refused by the caller: not kept.
    if (bytes.length > MAX_HOOK_NAME_BYTES) return bytes;
    if (encodedNames.size >= ENCODED_NAMES) encodedNames.delete(encodedNames.keys().next().value as string);
    encodedNames.set(name, bytes);
  }
  return bytes;
}

/**
 * Encodes a request as a whole frame; an `ExecuteHook` frame's memory comes from `allocate` when given (a transport's
 * pool of send buffers: a large hook call then allocates no new buffer to send, issue 17).
 * @throws PluginError `IpcError` `SendRefused` when a field can't be sent (non-plain value, hook name too long).
 */
export function encodeRequest(id: number, req: IpcRequest | ExecuteHookRequest, allocate?: Allocate): Buffer {
  const code = REQUEST_KIND_CODES[req.kind];
  const T = FrameType.Request;
  switch (req.kind) {
    case 'ExecuteHook': {
      if (typeof req.hookName !== 'string' || req.hookName.length === 0) {
        throw ipcError('SendRefused', 'hook name must be a non-empty string');
      }
      if (!(req.data instanceof Uint8Array)) throw ipcError('SendRefused', 'hook data must be a Uint8Array');
      const name = encodedHookName(req.hookName);
      const nameBytes = name.length;
      if (nameBytes > MAX_HOOK_NAME_BYTES) {
        throw ipcError('SendRefused', `hook name longer than ${MAX_HOOK_NAME_BYTES} bytes`);
      }
      const index = (req as ExecuteHookRequest).handlerIndex ?? 0;
      if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
        throw ipcError('SendRefused', 'handlerIndex must be a 32-bit unsigned integer');
      }
      const frame = allocFrame(T, code, id, 6 + nameBytes + req.data.length, 0, allocate);
      frame.writeUInt16LE(nameBytes, FRAME_PAYLOAD_OFFSET);
      frame.writeUInt32LE(index, FRAME_PAYLOAD_OFFSET + 2);
      frame.set(name, FRAME_PAYLOAD_OFFSET + 6);
      frame.set(req.data, FRAME_PAYLOAD_OFFSET + 6 + nameBytes);
      return frame;
    }
    case 'Shutdown':
    case 'GetMetrics':
    case 'ContextKeys':
      return emptyFrame(T, code, id);
    case 'Initialize':
      return structuredFrame(T, code, id, req.config);
    case 'RegisterHook':
      return structuredFrame(T, code, id, [req.name, req.priority]);
    case 'ContextGet':
    case 'ContextRemove':
    case 'ContextHas':
      return structuredFrame(T, code, id, req.key);
    case 'ContextSet':
      return structuredFrame(T, code, id, [req.key, req.value]);
    case 'Log':
      return structuredFrame(T, code, id, [req.level, req.message]);
    case 'Fetch':
      return structuredFrame(T, code, id, req.request);
    case 'ContextChanged': {
      if (typeof req.key !== 'string' || req.key.length === 0 || req.key.length > 256) {
        throw ipcError('SendRefused', 'context key must be a non-empty string of at most 256 characters');
      }
      // Exactly one shape per meaning: a removal carries no value, a set carries one (undefined is not a value).
      if (req.removed === true) {
        if (req.value !== undefined) throw ipcError('SendRefused', 'a removed context key carries no value');
        return structuredFrame(T, code, id, [req.key]);
      }
      if (req.removed !== false) throw ipcError('SendRefused', 'ContextChanged.removed must be a boolean');
      if (req.value === undefined) throw ipcError('SendRefused', 'a set context key needs a value');
      return structuredFrame(T, code, id, [req.key, req.value]);
    }
  }
}

/**
 * Encodes a response to request `id` as a whole frame, its memory from `allocate` when given (a transport's: a worker
 * port's frames own their buffer, so the port moves them without a copy, issue 17).
 * @throws PluginError `IpcError` `SendRefused`.
 */
export function encodeResponse(
  id: number,
  res: IpcResponse,
  allocate: Allocate = Buffer.allocUnsafe,
): Buffer {
  const code = RESPONSE_KIND_CODES[res.kind];
  const T = FrameType.Response;
  switch (res.kind) {
    case 'HookResult':
      return bytesFrame(T, code, id, res.data, allocate);
    case 'Success':
      return res.value === undefined
        ? emptyFrame(T, code, id, allocate)
        : structuredFrame(T, code, id, res.value, allocate);
    case 'Error':
      return structuredFrame(T, code, id, [res.code ?? null, res.message], allocate);
    case 'Metrics':
      return structuredFrame(T, code, id, res.data, allocate);
    case 'FetchResult':
      return structuredFrame(T, code, id, res.response, allocate);
  }
}

/**
 * Decodes a request payload of a known kind code.
 * @throws PluginError `IpcError` `UnknownKind` or `MalformedPayload`.
 */
export function decodeRequest(code: number, payload: Buffer): IpcRequest | ExecuteHookRequest {
  const kind = REQUEST_KIND_BY_CODE.get(code);
  switch (kind) {
    case undefined:
      throw ipcError('UnknownKind', `unknown request kind ${code}`);
    case 'ExecuteHook': {
      if (payload.length < 6) throw malformed('ExecuteHook header truncated');
      const nameBytes = payload.readUInt16LE(0);
      const handlerIndex = payload.readUInt32LE(2);
      if (nameBytes === 0 || nameBytes > MAX_HOOK_NAME_BYTES || payload.length < 6 + nameBytes) {
        throw malformed('ExecuteHook name length out of range');
      }
      const hookName = hookNames.decode(payload, 6, nameBytes);
      // One plain view of the bytes after the name (not a Buffer slice, then a view of that).
      const at = 6 + nameBytes;
      const data = new Uint8Array(payload.buffer, payload.byteOffset + at, payload.length - at);
      return handlerIndex === 0 ? { kind, hookName, data } : { kind, hookName, data, handlerIndex };
    }
    case 'Shutdown':
    case 'GetMetrics':
    case 'ContextKeys':
      if (payload.length !== 0) throw malformed(`${kind} carries no payload`);
      return { kind };
    case 'Initialize':
      return { kind, config: initializeConfig(unpackValue(payload)) };
    case 'RegisterHook': {
      const [name, priority] = tuple(unpackValue(payload), 2, kind);
      return { kind, name: hookName(name), priority: finite(priority, 'priority') };
    }
    case 'ContextGet':
    case 'ContextRemove':
    case 'ContextHas':
      return { kind, key: contextKey(unpackValue(payload)) };
    case 'ContextSet': {
      const [key, value] = tuple(unpackValue(payload), 2, kind);
      return { kind, key: contextKey(key), value };
    }
    case 'Log': {
      const [level, message] = tuple(unpackValue(payload), 2, kind);
      return { kind, level: logLevel(level), message: str(message, 'message') };
    }
    case 'Fetch':
      return { kind, request: fetchRequest(unpackValue(payload)) };
    case 'ContextChanged': {
      const fields = unpackValue(payload);
      if (!Array.isArray(fields) || (fields.length !== 1 && fields.length !== 2)) {
        throw malformed('ContextChanged: expected a 1-tuple (removed) or a 2-tuple (set)');
      }
      const key = contextKey(fields[0]);
      if (fields.length === 1) return { kind, key, removed: true };
      // undefined is not a context value (the context refuses it); null is, and stays null.
      if (fields[1] === undefined) throw malformed('ContextChanged: a set key needs a value');
      return { kind, key, removed: false, value: fields[1] };
    }
  }
}

/** Decodes a response payload. @throws PluginError `IpcError` `UnknownKind` or `MalformedPayload`. */
export function decodeResponse(code: number, payload: Buffer): IpcResponse {
  const kind = RESPONSE_KIND_BY_CODE.get(code);
  switch (kind) {
    case undefined:
      throw ipcError('UnknownKind', `unknown response kind ${code}`);
    case 'HookResult':
      return { kind, data: asUint8Array(payload) };
    case 'Success':
      return payload.length === 0 ? { kind } : { kind, value: unpackValue(payload) };
    case 'Error': {
      const [errCode, message] = tuple(unpackValue(payload), 2, kind);
      // nil: an error response without a code (a message only).
      if (errCode === null) return { kind, message: str(message, 'message') };
      return { kind, code: errorCode(errCode), message: str(message, 'message') };
    }
    case 'Metrics':
      return { kind, data: metrics(unpackValue(payload)) };
    case 'FetchResult':
      return { kind, response: fetchResponse(unpackValue(payload)) };
  }
}

// ---- field validation: untrusted values in, typed values out ----

/** Hook names a plugin keeps decoded: a plugin serves a handful of hooks, each call names one of them. */
const HOOK_NAME_CACHE_SIZE = 16;

/**
 * The hook names of `ExecuteHook` frames, decoded once each: a name whose bytes equal those of a name decoded before
 * (compared byte by byte, a copy of them kept) is that string, without UTF-8 validation and decoding again (issue 17:
 * every call of a hook carries the same name). Bounded: past {@link HOOK_NAME_CACHE_SIZE} names the oldest is
 * forgotten.
 */
class HookNameCache {
  readonly #bytes: Uint8Array[] = [];
  readonly #names: string[] = [];
  #next = 0;

  decode(payload: Buffer, start: number, length: number): string {
    const bytes = this.#bytes;
    for (let i = 0; i < bytes.length; i++) {
      const known = bytes[i] as Uint8Array;
      if (known.length === length && sameBytes(known, payload, start)) return this.#names[i] as string;
    }
    const view = payload.subarray(start, start + length);
    const name = utf8(view, 'hook name');
    const at = this.#next;
    this.#next = (at + 1) % HOOK_NAME_CACHE_SIZE;
    bytes[at] = new Uint8Array(view);
    this.#names[at] = name;
    return name;
  }
}

function sameBytes(known: Uint8Array, payload: Buffer, start: number): boolean {
  for (let j = 0; j < known.length; j++) if (known[j] !== payload[start + j]) return false;
  return true;
}

const hookNames = new HookNameCache();

function malformed(message: string): Error {
  return ipcError('MalformedPayload', message);
}

function utf8(bytes: Buffer, what: string): string {
  // isUtf8 + toString is several times faster than a fatal TextDecoder on short names (the hot path).
  if (!isUtf8(bytes)) throw ipcError('MalformedPayload', `${what} is not valid UTF-8`);
  return bytes.toString('utf8');
}

function tuple(value: unknown, length: number, what: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length)
    throw malformed(`${what}: expected a ${length}-tuple`);
  return value;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(`${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function str(value: unknown, what: string, max = 16 * 1024 * 1024): string {
  if (typeof value !== 'string' || value.length > max) throw malformed(`${what} must be a string`);
  return value;
}

function finite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw malformed(`${what} must be a finite number`);
  return value;
}

function optionalFinite(value: unknown, what: string): number | undefined {
  return value === undefined ? undefined : finite(value, what);
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} must be bytes`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw malformed(`${what} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function hookName(value: unknown): string {
  const name = str(value, 'hook name', MAX_HOOK_NAME_BYTES);
  if (name.length === 0 || Buffer.byteLength(name) > MAX_HOOK_NAME_BYTES)
    throw malformed('hook name length out of range');
  return name;
}

function contextKey(value: unknown): string {
  const key = str(value, 'context key', 256);
  if (key.length === 0) throw malformed('context key must not be empty');
  return key;
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
function logLevel(value: unknown): LogLevel {
  return oneOf(value, LOG_LEVELS, 'log level');
}

function errorCode(value: unknown): PluginErrorCode {
  return oneOf(value, PLUGIN_ERROR_CODES, 'error code');
}

function headers(value: unknown, what: string): Record<string, string> {
  const h = record(value, what);
  for (const v of Object.values(h))
    if (typeof v !== 'string') throw malformed(`${what} values must be strings`);
  return h as Record<string, string>;
}

function fetchRequest(value: unknown): FetchRequest {
  const r = record(value, 'fetch request');
  const out: FetchRequest = {
    url: str(r.url, 'url', 64 * 1024),
    method: str(r.method, 'method', 32),
    headers: headers(r.headers, 'headers'),
  };
  if (r.body !== undefined) out.body = bytes(r.body, 'body');
  return out;
}

function fetchResponse(value: unknown): FetchResponse {
  const r = record(value, 'fetch response');
  const status = finite(r.status, 'status');
  if (!Number.isInteger(status) || status < 100 || status > 999) throw malformed('status out of range');
  return { status, headers: headers(r.headers, 'headers'), body: bytes(r.body, 'body') };
}

const METRIC_SOURCES: readonly PluginMetrics['source'][] = [
  'procfs',
  'cgroup-v1',
  'cgroup-v2',
  'v8',
  'host',
  'plugin',
];
const METRIC_NUMBERS = [
  'pid',
  'memoryBytes',
  'peakMemoryBytes',
  'cpuTimeMs',
  'threads',
  'fileDescriptors',
  'connections',
  'oomKills',
  'throttledPeriods',
  'heapLimitBytes',
] as const;

function metrics(value: unknown): PluginMetrics {
  const r = record(value, 'metrics');
  const out: PluginMetrics = {
    timestamp: finite(r.timestamp, 'timestamp'),
    source: oneOf(r.source, METRIC_SOURCES, 'source'),
  };
  for (const field of METRIC_NUMBERS) {
    const v = optionalFinite(r[field], field);
    if (v !== undefined) out[field] = v;
  }
  if (r.exited !== undefined) {
    if (typeof r.exited !== 'boolean') throw malformed('exited must be a boolean');
    out.exited = r.exited;
  }
  return out;
}

const TIERS: readonly InitializeConfig['tier'][] = ['in-process', 'worker', 'process', 'sandbox'];

function initializeConfig(value: unknown): InitializeConfig {
  const r = record(value, 'config');
  const limitsIn = record(r.limits, 'limits');
  const limits = {} as ResourceLimits;
  for (const field of RESOURCE_LIMIT_FIELDS) limits[field] = finite(limitsIn[field], `limits.${field}`);
  return {
    pluginName: str(r.pluginName, 'pluginName', 214),
    kind: oneOf(r.kind, ['native', 'js'] as const, 'kind'),
    artifactPath: str(r.artifactPath, 'artifactPath', 4096),
    tier: oneOf(r.tier, TIERS, 'tier'),
    limits,
    requirements: requirements(r.requirements),
  };
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw malformed(`${what} must be an array`);
  return value.map((v) => str(v, what, 4096));
}

function requirements(value: unknown): PluginRequirements {
  const r = record(value, 'requirements');
  const net = record(r.network, 'requirements.network');
  let network: PluginRequirements['network'];
  const netMode = oneOf(net.mode, ['isolated', 'restricted', 'full'] as const, 'network.mode');
  if (netMode === 'restricted') {
    if (!Array.isArray(net.allowedTargets)) throw malformed('network.allowedTargets must be an array');
    const allowedTargets = net.allowedTargets.map((t) => {
      const target = record(t, 'network target');
      const host = str(target.host, 'network target host', 1024);
      if (target.ports === undefined) return { host };
      if (!Array.isArray(target.ports)) throw malformed('network target ports must be an array');
      return { host, ports: target.ports.map((p) => finite(p, 'port')) };
    });
    network = { mode: 'restricted', allowedTargets };
  } else {
    network = { mode: netMode };
  }
  const fs = record(r.filesystem, 'requirements.filesystem');
  const fsMode = oneOf(fs.mode, ['none', 'readOnly', 'readWrite'] as const, 'filesystem.mode');
  const filesystem: PluginRequirements['filesystem'] =
    fsMode === 'none' ? { mode: 'none' } : { mode: fsMode, paths: stringList(fs.paths, 'filesystem.paths') };
  const ctx = record(r.context, 'requirements.context');
  return {
    network,
    filesystem,
    context: { read: stringList(ctx.read, 'context.read'), write: stringList(ctx.write, 'context.write') },
  };
}
