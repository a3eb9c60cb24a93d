import {
  type Awaitable,
  DEFAULT_MAX_FRAME_BYTES,
  type HookAbortListener,
  type IpcRequest,
  type IpcRequestKind,
  type IpcResponse,
  isThenable,
  PluginError,
  type PluginErrorCode,
  positiveInteger,
  toPluginError,
} from '@plugward/types';
import { ipcError } from './errors.js';
import {
  allocFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FRAME_PREFIX_BYTES,
  type Frame,
  FrameDecoder,
  FrameType,
  ownCopy,
} from './frame.js';
import { type PendingRecord, PendingTable } from './pending-table.js';
import {
  decodeRequest,
  decodeResponse,
  type ExecuteHookRequest,
  encodeRequest,
  encodeResponse,
  HOST_TO_PLUGIN_KINDS,
  PLUGIN_TO_HOST_KINDS,
  RESPONSE_KIND_CODES,
  requestKindOf,
} from './protocol.js';
import { RequestPacer, type RequestRate } from './request-rate.js';
import { type FrameTransport, type IpcTransport, transportOf } from './transport.js';
import { decodedValueNodes } from './values.js';

/**
 * What one decoded value of a peer's request costs of its request byte rate, in bytes: decoding takes ≈ 0.5 µs of CPU
 * per value (a map of small entries), reading and decoding a byte of a string ≈ 4 ns.
 */
const DECODED_NODE_BYTES = 128;

/**
 * Which side of the protocol a channel is: it decides which request kinds the peer may send. A `host` channel accepts
 * plugin→host requests only, a `plugin` channel host→plugin requests only; `peer` accepts both (tests, tools).
 */
export type IpcRole = 'host' | 'plugin' | 'peer';

/** Options of an {@link IpcChannel}. */
export interface IpcChannelOptions {
  /** Default `peer`. */
  role?: IpcRole;
  /** Largest frame accepted or sent (length prefix excluded), bytes. Default `DEFAULT_MAX_FRAME_BYTES` (16 MiB). */
  maxFrameBytes?: number;
  /** Default timeout of `sendRequest`, ms; 0 disables. Default 30 000. */
  requestTimeoutMs?: number;
  /** A frame must complete this long after its first byte arrived, ms. Default 10 000. */
  stallTimeoutMs?: number;
  /** Most requests of this side waiting for a response; more are refused (`SendRefused`). Default 65 536. */
  maxPendingRequests?: number;
  /**
   * Most requests of the peer served at once; later ones wait, in arrival order, in a bounded queue
   * ({@link IpcChannelOptions.maxQueuedRequests}). Default 1024 (`host` role: 256).
   */
  maxConcurrentRequests?: number;
  /**
   * Most requests of the peer waiting to be served beyond `maxConcurrentRequests`. A request past it (or past
   * `maxQueuedRequestBytes`) is answered at once with a `QuotaExceeded` error and reported to `onQuotaExceeded`.
   * Default 65 536 (`host` role: 1024). On the `host` side, a peer that goes on sending past it — more refusals than
   * this number within a second — ends the channel (`TooManyRequests`): each refusal is work the host does at the
   * rate the peer writes.
   */
  maxQueuedRequests?: number;
  /** Most payload bytes of the peer's requests waiting to be served. Default 64 MiB. */
  maxQueuedRequestBytes?: number;
  /**
   * Bytes of the peer's requests (whole frames; the answers to this side's own requests do not count) it may send a
   * second, and at once (`burst`). Past it the channel ends with `TooManyRequests`: every request, refused or dropped
   * ones too, is read, joined and decoded at the peer's pace — a megabyte request costs its sender one write of a
   * buffer it reuses. Default: no limit; the registry sets {@link DEFAULT_REQUEST_BYTE_RATE} for untrusted plugins.
   */
  requestByteRate?: Partial<RequestRate>;
  /**
   * Most bytes of frames waiting for the transport to drain (the peer not reading). Beyond it `sendRequest` is refused
   * (`SendRefused`); a response that would have to wait beyond it ends the channel (`PeerNotReading`): the peer keeps
   * sending requests without reading the answers. Default 64 MiB; always at least one frame can queue.
   */
  maxQueuedBytes?: number;
  /** Called for each request of the peer refused with `QuotaExceeded` (the host records a violation). */
  onQuotaExceeded?: (error: PluginError) => void;
  /** Used in error messages (the plugin name). */
  label?: string;
}

/** Per-call options of {@link IpcChannel.sendRequest}. */
export interface SendRequestOptions {
  /** Overrides the channel's `requestTimeoutMs`; 0 disables. */
  timeoutMs?: number;
  /** Aborting fails the call with `Aborted` and tells the peer (a cancel frame aborts its handler's signal). */
  signal?: AbortSignal;
  /**
   * Where the call's signal comes from when making it costs (a hook call's `HookCallInfo`, whose `signal` getter makes
   * an AbortController and a listener — several µs, a measurable part of an out-of-process call, issue 17). A source
   * with `onAbort` (the hook registry's timed calls) tells the request when it aborts: cancelled then, with nothing
   * per call but that registration. Any other is read only if the request is still pending at the channel's next check
   * (one timer per channel, every 5 ms while such requests are pending): a fast call never makes the signal; a slower
   * one is then cancelled as with `signal` (at once if it was aborted meanwhile — a lazily made signal is born
   * aborted). Ignored when `signal` is given.
   */
  signalSource?: SignalSource;
}

/** A {@link SendRequestOptions.signalSource}: a `HookCallInfo` is one. */
export interface SignalSource {
  readonly signal?: AbortSignal | undefined;
  /** Calls the listener once when `signal` would abort, without making it; false when it can't (see `HookCallInfo`). */
  onAbort?(listener: HookAbortListener): boolean;
}

/** How often a channel reads the {@link SendRequestOptions.signalSource} of its pending requests, ms. */
const SIGNAL_SOURCE_CHECK_MS = 5;

/**
 * The state of one request being served, and its {@link IncomingRequestInfo}: the signal is made on first read (most
 * handlers never look at it, and an AbortController per request is a measurable part of a small call, issue 17); one
 * aborted before that read is born aborted.
 */
class ServedRequest implements IncomingRequestInfo {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(readonly id: number) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** The peer cancelled the request or the channel closed. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** What a request handler gets besides the request. */
export interface IncomingRequestInfo {
  /** The peer's request id. */
  id: number;
  /** Aborted when the peer cancels the request or the channel closes. */
  signal: AbortSignal;
}

/**
 * A request of the peer taken with {@link IpcChannel.receiveRequest}, to be answered with
 * {@link IpcChannel.sendResponse} under its `id`.
 */
export interface IncomingRequest extends IncomingRequestInfo {
  request: IpcRequest | ExecuteHookRequest;
}

/** Per-call options of {@link IpcChannel.receiveRequest}. */
export interface ReceiveRequestOptions {
  /** Aborting stops waiting: the call rejects with `Aborted` and no request is taken. */
  signal?: AbortSignal;
}

/** Serves the peer's requests. Throwing (or rejecting) sends an `Error` response with the error's code. */
export type IpcRequestHandler = (
  request: IpcRequest | ExecuteHookRequest,
  info: IncomingRequestInfo,
) => Awaitable<IpcResponse>;

interface Waiter {
  resolve(incoming: IncomingRequest): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** What {@link IpcChannel.call} resolves with: the caller's reading of the response (a throw rejects the call). */
export type AcceptResponse<T, C> = (response: IpcResponse, context: C) => T;
/** What {@link IpcChannel.call} rejects with, given why the call failed. */
export type CallFailure<C> = (error: unknown, context: C) => unknown;

const IDENTITY: AcceptResponse<IpcResponse, unknown> = (response) => response;
const NOOP = (): void => {};

/**
 * One request of this side waiting for its answer: a record of the channel's {@link PendingTable}, given back when the
 * call ends and reused by a later one (no object, closure or Map entry per call beyond the call's promise).
 */
class PendingCall implements PendingRecord {
  id = 0;
  kind: IpcRequestKind = 'Shutdown';
  resolve: (value: unknown) => void = NOOP;
  reject: (error: unknown) => void = NOOP;
  accept: AcceptResponse<unknown, unknown> = IDENTITY;
  fail: CallFailure<unknown> | undefined;
  context: unknown;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The signal listened to (`onAbort`), once one is. */
  signal: AbortSignal | undefined;
  /** Not read yet, or telling this call when it aborts (see `SendRequestOptions.signalSource`). */
  source: SignalSource | undefined;
  /** Why the source aborted (a source that told the call, not through a signal). */
  sourceReason: unknown;
  /**
   * The listener given to a source's `onAbort`, made once per record: a source that fires after its call ended (the
   * record may hold another call by then) is not this call's any more, and changes nothing.
   */
  readonly onSourceAbort: HookAbortListener = (reason, source) => {
    if (this.source !== source || this.id === 0) return;
    this.sourceReason = reason;
    this.onAbort(this);
  };
  /** The promise's executor: made once per record. */
  readonly capture = (resolve: (value: unknown) => void, reject: (error: unknown) => void): void => {
    this.resolve = resolve;
    this.reject = reject;
  };

  constructor(
    /** Cancels the call this record holds now (its signal aborted); made once per record. */
    readonly onAbort: (record: PendingCall) => void,
  ) {}

  /** The `abort` listener (the record itself: no closure per call). */
  handleEvent(): void {
    this.onAbort(this);
  }
}

/** Ids of requests we gave up on (timeout, abort) whose late response is dropped rather than treated as hostile. */
const MAX_ABANDONED_IDS = 65_536;
/** How long a graceful close waits for buffered writes before destroying the transport. */
const CLOSE_FLUSH_MS = 2000;
/**
 * How long, after the peer's process is gone ({@link IpcChannel.peerGone}), the channel still reads what it wrote
 * before it went: the end of its stream normally comes first.
 */
const PEER_GONE_GRACE_MS = 1000;

const EMPTY = Buffer.alloc(0);
/** Hook results from this size on leave as their own bytes after the frame header (see `FrameTransport.write`). */
const BORROW_MIN_BYTES = 4096;

const ALL_KINDS: ReadonlySet<IpcRequestKind> = new Set([...HOST_TO_PLUGIN_KINDS, ...PLUGIN_TO_HOST_KINDS]);

/**
 * Framed, bidirectional RPC over a Node `Duplex` (the fd-3 Unix socket of a plugin process, a socketpair in tests) or
 * a worker's `MessagePort` (frames as port messages, with the same decoding, limits and flow control). Both sides send
 * requests and serve the other's on the same transport; responses are matched by request id, many in flight at once.
 *
 * Any protocol violation by the peer — truncated, oversize, stalled or garbage frames, unknown kinds, unknown or
 * duplicate ids, `__proto__` keys — ends the channel with a `PluginError` `IpcError` whose `details.reason` says which
 * ({@link IpcFailureReason}); nothing is thrown out of the event loop. Every pending request then fails with it.
 *
 * @example
 * ```ts
 * const channel = new IpcChannel(socket, { role: 'host' });
 * channel.setRequestHandler(async (req) => ({ kind: 'Success' }));
 * const res = await channel.sendRequest({ kind: 'ExecuteHook', hookName: 'on_request', data });
 * ```
 *
 * The peer's requests are served by a handler ({@link IpcChannel.setRequestHandler}) or pulled one at a time
 * ({@link IpcChannel.receiveRequest}, answered by id with {@link IpcChannel.sendResponse}):
 * ```ts
 * for (;;) {
 *   const { id, request } = await channel.receiveRequest();
 *   channel.sendResponse(id, { kind: 'Success' });
 * }
 * ```
 */
export class IpcChannel {
  /** Resolves (never rejects) with the error that ended the channel, once it has ended. */
  readonly closed: Promise<PluginError>;
  readonly maxFrameBytes: number;
  readonly #transport: FrameTransport;
  readonly #accepted: ReadonlySet<IpcRequestKind>;
  readonly #role: IpcRole;
  readonly #decoder: FrameDecoder;
  readonly #requestTimeoutMs: number;
  readonly #stallTimeoutMs: number;
  readonly #maxPending: number;
  readonly #maxConcurrent: number;
  readonly #maxQueuedRequests: number;
  readonly #maxQueuedRequestBytes: number;
  readonly #requestBytes: RequestPacer | undefined;
  readonly #requestByteRate: number;
  readonly #maxQueuedBytes: number;
  readonly #onQuotaExceeded: ((error: PluginError) => void) | undefined;
  #queuedBytes = 0;
  /** Requests of the peer waiting for a serving slot, in arrival order (a Map keeps insertion order). */
  readonly #backlog = new Map<number, { request: IpcRequest | ExecuteHookRequest; bytes: number }>();
  #backlogBytes = 0;
  #pumping = false;
  readonly #label: string;
  readonly #pending = new PendingTable<PendingCall>(() => new PendingCall(this.#onAbort));
  readonly #abandoned = new Set<number>();
  readonly #isAbandoned = (id: number): boolean => this.#abandoned.has(id);
  readonly #onAbort = (record: PendingCall): void => {
    const cause = record.signal === undefined ? record.sourceReason : record.signal.reason;
    this.#abandon(record, new PluginError('Aborted', `${this.#label}: ${record.kind} aborted`, { cause }));
  };
  readonly #serving = new Map<number, ServedRequest>();
  /**
   * Requests whose handler is running now, synchronously (innermost last): served like those of `#serving`, but kept
   * out of the map — a set and a delete per call make V8 grow and shrink its table each time (≈ 150 B of garbage per
   * call, issue 17); one that returns a promise moves to the map.
   */
  readonly #inline: ServedRequest[] = [];
  /**
   * Ids of the peer's requests this side answered, refused or dropped lately (insertion order, bounded): a cancel may
   * cross its answer on the wire, so a cancel of one of these is fine; any other unknown id, from a plugin, is a
   * protocol violation — else cancel frames would be work the host does at whatever rate the plugin writes them.
   */
  readonly #recentlyEnded = new Set<number>();
  /** Refusals the peer may cause (host side, made at the first): `maxQueuedRequests` of them a second. */
  #refusals: RequestPacer | undefined;
  /** Requests handed out by `receiveRequest` that `sendResponse` has not answered yet, with their kind. */
  readonly #pulled = new Map<number, IpcRequestKind>();
  /** `receiveRequest` calls waiting for a request, oldest first. */
  readonly #waiters: Waiter[] = [];
  /** Frames waiting for the transport to drain, bounded by `maxQueuedBytes`. */
  #writeQueue: Uint8Array[] = [];
  /** Those of them that are borrowed (a hook result's own bytes: the transport must not move them). */
  readonly #borrowedFrames = new WeakSet<Uint8Array>();
  /** Index of the next frame to write in `writeQueue` (a head index: `shift()` is O(n) on long queues). */
  #writeHead = 0;
  #handler: IpcRequestHandler | undefined;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #closeError: PluginError | undefined;
  /** Set by `peerGone`: the error the channel ends with once the peer's last bytes are read. */
  #goneError: PluginError | undefined;
  #goneTimer: ReturnType<typeof setTimeout> | undefined;
  /** A graceful close waiting for queued frames to leave (see `close`). */
  #closeFlush: { error: PluginError; timer: ReturnType<typeof setTimeout> } | undefined;
  #resolveClosed!: (error: PluginError) => void;
  readonly #onFrame = (frame: Frame): void => this.#dispatch(frame);
  readonly #allocate = (bytes: number): Buffer => this.#transport.allocate(bytes);
  /**
   * Ids of pending requests whose signal source was not read yet, and the one timer that reads them. An id whose call
   * ended meanwhile is skipped at the check (`get` by whole id): nothing is removed per call.
   */
  readonly #unread: number[] = [];
  #sourceTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #readSources = (): void => {
    this.#sourceTimer = undefined;
    const unread = this.#unread;
    for (let i = 0; i < unread.length; i++) {
      const entry = this.#pending.get(unread[i] as number);
      if (entry?.source !== undefined) this.#listen(entry, entry.source.signal);
    }
    unread.length = 0;
  };

  /**
   * @param io A byte stream (the fd-3 Unix socket of a plugin process, a socket in tests) or one end of a worker's
   *   `MessageChannel` — frames then travel as port messages, their buffers moved, with no stream on either thread
   *   (both ends must use the port itself).
   */
  constructor(io: IpcTransport, options: IpcChannelOptions = {}) {
    const role = options.role ?? 'peer';
    this.#role = role;
    this.#accepted =
      role === 'host' ? PLUGIN_TO_HOST_KINDS : role === 'plugin' ? HOST_TO_PLUGIN_KINDS : ALL_KINDS;
    this.maxFrameBytes = positiveInteger(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 'maxFrameBytes');
    this.#decoder = new FrameDecoder(this.maxFrameBytes);
    const transport = transportOf(io, this.maxFrameBytes);
    this.#transport = transport;
    this.#requestTimeoutMs = positiveInteger(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs', {
      allowZero: true,
    });
    this.#stallTimeoutMs = positiveInteger(options.stallTimeoutMs ?? 10_000, 'stallTimeoutMs');
    this.#maxPending = positiveInteger(options.maxPendingRequests ?? 65_536, 'maxPendingRequests');
    this.#maxConcurrent = positiveInteger(
      options.maxConcurrentRequests ?? (role === 'host' ? 256 : 1024),
      'maxConcurrentRequests',
    );
    this.#maxQueuedRequests = positiveInteger(
      options.maxQueuedRequests ?? (role === 'host' ? 1024 : 65_536),
      'maxQueuedRequests',
      { allowZero: true },
    );
    this.#maxQueuedRequestBytes = positiveInteger(
      options.maxQueuedRequestBytes ?? 64 * 1024 * 1024,
      'maxQueuedRequestBytes',
      { allowZero: true },
    );
    this.#maxQueuedBytes = positiveInteger(options.maxQueuedBytes ?? 64 * 1024 * 1024, 'maxQueuedBytes');
    this.#requestBytes = options.requestByteRate && new RequestPacer(options.requestByteRate);
    this.#requestByteRate = options.requestByteRate?.perSecond ?? 0;
    this.#onQuotaExceeded = options.onQuotaExceeded;
    this.#label = options.label ?? 'ipc';
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    transport.attach({
      data: (chunk, borrowed) => this.#receive(chunk, borrowed === true),
      end: () => {
        const buffered = this.#decoder.bufferedBytes;
        this.#fail(
          // A process that died inside a frame (killed, out of memory) broke no protocol: it is gone.
          this.#goneError ??
            (buffered > 0
              ? ipcError('TruncatedFrame', `${this.#label}: stream ended inside a frame (${buffered} bytes)`)
              : ipcError('PeerClosed', `${this.#label}: the peer closed the channel`)),
        );
      },
      error: (err) => {
        this.#fail(
          this.#goneError ??
            ipcError(
              'StreamError',
              `${this.#label}: stream error: ${err instanceof Error ? err.message : String(err)}`,
              err,
            ),
        );
      },
      close: () => this.#fail(this.#goneError ?? ipcError('PeerClosed', `${this.#label}: the stream closed`)),
      drain: () => this.#flushQueue(),
    });
    if (transport.destroyed) {
      this.#fail(ipcError('PeerClosed', `${this.#label}: the stream is already destroyed`));
    }
  }

  /** True once the channel has ended (locally or by a failure). */
  get isClosed(): boolean {
    return this.#closeError !== undefined;
  }

  /** The error that ended the channel, if it has ended. */
  get closeReason(): PluginError | undefined {
    return this.#closeError;
  }

  /** Requests of this side waiting for a response. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Bytes of frames waiting for the transport to drain (bounded by `maxQueuedBytes` plus one frame). */
  get queuedWriteBytes(): number {
    return this.#queuedBytes;
  }

  get #queuedFrames(): number {
    return this.#writeQueue.length - this.#writeHead;
  }

  /** Requests of the peer being served now. */
  get servingCount(): number {
    return this.#serving.size + this.#inline.length;
  }

  /** Requests of the peer waiting for a serving slot. */
  get queuedRequestCount(): number {
    return this.#backlog.size;
  }

  /**
   * Sets the handler of the peer's requests (`undefined` removes it). While no handler is set, requests wait in the
   * channel's bounded queue for {@link IpcChannel.receiveRequest}; setting a handler serves the waiting ones, in
   * arrival order, so switching between the two never loses a request.
   */
  setRequestHandler(handler: IpcRequestHandler | undefined): void {
    this.#handler = handler;
    this.#pump();
  }

  /**
   * Takes the next request of the peer (the pull counterpart of {@link IpcChannel.setRequestHandler}; requests go to
   * the handler while one is set). Answer it with {@link IpcChannel.sendResponse} under its `id`. A taken request
   * holds one of the `maxConcurrentRequests` slots until it is answered; requests beyond the slots wait in the bounded
   * queue (`maxQueuedRequests`, `maxQueuedRequestBytes`), and the peer's requests past the queue get `QuotaExceeded`.
   * `signal` of the result is aborted when the peer cancels the request or the channel ends.
   * @throws PluginError `IpcError` when the channel has ended or ends while waiting (its reason), `Aborted` when
   *   `options.signal` aborts first.
   */
  receiveRequest(options: ReceiveRequestOptions = {}): Promise<IncomingRequest> {
    if (this.#closeError !== undefined) return Promise.reject(this.#closeError);
    const { signal } = options;
    if (signal?.aborted) {
      return Promise.reject(
        new PluginError('Aborted', `${this.#label}: receiveRequest aborted`, { cause: signal.reason }),
      );
    }
    return new Promise<IncomingRequest>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(
            new PluginError('Aborted', `${this.#label}: receiveRequest aborted`, { cause: signal.reason }),
          );
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /**
   * Answers request `id` taken with {@link IpcChannel.receiveRequest}. An `Error` response may leave out `code`; the
   * peer then gets the message alone. A response that can't be encoded or exceeds `maxFrameBytes` is replaced by an
   * `Error` response saying so. Once the channel has ended the response is dropped.
   * @throws PluginError `InvalidArgument` when `id` is not a taken request waiting for its answer (never taken,
   *   served by the handler, or already answered).
   */
  sendResponse(id: number, response: IpcResponse): void {
    const kind = this.#pulled.get(id);
    if (kind === undefined) {
      if (this.#closeError !== undefined) return;
      throw new PluginError(
        'InvalidArgument',
        `${this.#label}: request ${id} was not taken with receiveRequest or is already answered`,
      );
    }
    this.#pulled.delete(id);
    this.#respond(id, response, kind);
  }

  /**
   * Sends a request and resolves with the peer's response (an `Error` response is a response: use
   * {@link expectResponse} to turn it into a throw).
   * @throws PluginError `IpcError` when the channel ends first (its reason), `Timeout`, `Aborted`, or `IpcError`
   *   `SendRefused` when the message is too large or too many requests are pending.
   */
  sendRequest(
    request: IpcRequest | ExecuteHookRequest,
    options: SendRequestOptions = {},
  ): Promise<IpcResponse> {
    try {
      return this.trySendRequest(request, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Like {@link sendRequest}, but a request that is refused before it is written (channel ended, aborted, too many
   * pending, can't be encoded, too large, peer not reading) throws at once instead of rejecting later — so the caller
   * knows, before it does anything else, whether the frame is on the stream ahead of whatever it sends next.
   * @throws PluginError as `sendRequest` rejects; the returned promise rejects only for what happens after the write.
   */
  trySendRequest(
    request: IpcRequest | ExecuteHookRequest,
    options: SendRequestOptions = {},
  ): Promise<IpcResponse> {
    return this.#send(request, options, IDENTITY, undefined, undefined);
  }

  /**
   * Sends a request and resolves with `accept(response, context)` — the caller's reading of the answer runs inside the
   * call's own promise (one promise per call, no `.then` and no closure of the caller's per call: issue 17). Every
   * failure (refused before the write, timed out, aborted, the channel ended, or `accept` threw) rejects with
   * `fail(error, context)` when `fail` is given, else with the error itself.
   */
  call<T, C>(
    request: IpcRequest | ExecuteHookRequest,
    options: SendRequestOptions,
    accept: AcceptResponse<T, C>,
    context: C,
    fail?: CallFailure<C>,
  ): Promise<T> {
    try {
      return this.#send(request, options, accept, context, fail);
    } catch (e) {
      return Promise.reject(fail === undefined ? e : fail(e, context));
    }
  }

  /** Writes the request; throws what refuses it before the write (see {@link trySendRequest}). */
  #send<T, C>(
    request: IpcRequest | ExecuteHookRequest,
    options: SendRequestOptions,
    accept: AcceptResponse<T, C>,
    context: C,
    fail: CallFailure<C> | undefined,
  ): Promise<T> {
    if (this.#closeError !== undefined) throw this.#closeError;
    if (this.#closeFlush !== undefined) throw this.#closeFlush.error;
    // The peer's process is gone: nothing new goes to whatever still holds its end.
    if (this.#goneError !== undefined) throw this.#goneError;
    const { signal } = options;
    if (signal?.aborted) {
      throw new PluginError('Aborted', `${this.#label}: ${request.kind} aborted`, { cause: signal.reason });
    }
    if (this.#pending.size >= this.#maxPending) {
      throw ipcError('SendRefused', `${this.#label}: ${this.#pending.size} requests already pending`);
    }
    const entry = this.#pending.take(this.#isAbandoned);
    const id = entry.id;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, request, this.#allocate);
      if (frame.length - FRAME_PREFIX_BYTES > this.maxFrameBytes) {
        throw ipcError(
          'SendRefused',
          `${this.#label}: ${request.kind} of ${frame.length} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`,
        );
      }
      if (this.#queuedFrames > 0 && this.#queuedBytes + frame.length > this.#maxQueuedBytes) {
        throw ipcError(
          'SendRefused',
          `${this.#label}: the peer is not reading (${this.#queuedBytes} bytes queued)`,
        );
      }
    } catch (e) {
      this.#pending.free(entry);
      throw toPluginError(e, 'IpcError', `${this.#label}: cannot encode ${request.kind}`);
    }
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    const kind = request.kind;
    entry.kind = kind;
    entry.accept = accept as AcceptResponse<unknown, unknown>;
    entry.context = context;
    entry.fail = fail as CallFailure<unknown> | undefined;
    const promise = new Promise<T>(entry.capture as (resolve: (value: T) => void) => void);
    if (timeoutMs > 0) {
      entry.timer = setTimeout(() => {
        const timedOut = this.#pending.get(id);
        if (timedOut === undefined) return;
        this.#abandon(
          timedOut,
          new PluginError('Timeout', `${this.#label}: ${kind} timed out after ${timeoutMs} ms`),
        );
      }, timeoutMs);
    }
    if (signal !== undefined) {
      this.#listen(entry, signal);
    } else if (options.signalSource !== undefined) {
      const source = options.signalSource;
      entry.source = source;
      // A source that tells the call when it aborts: no check of its own (the hook registry's deadline is the only one).
      if (source.onAbort?.(entry.onSourceAbort) === true) {
        this.#write(frame);
        return promise;
      }
      this.#unread.push(id);
      if (this.#sourceTimer === undefined) {
        this.#sourceTimer = setTimeout(this.#readSources, SIGNAL_SOURCE_CHECK_MS);
        this.#sourceTimer.unref?.();
      }
    }
    this.#write(frame);
    return promise;
  }

  /**
   * Ends the channel: what this side already wrote leaves first (frames waiting for the peer to read, up to 2 s), then
   * pending requests fail with `IpcError` `ChannelClosed`, running handlers are aborted and the stream is ended (the
   * peer sees EOF). Idempotent.
   */
  close(): Promise<void> {
    const error = ipcError('ChannelClosed', `${this.#label}: channel closed`);
    if (this.#closeError === undefined && this.#closeFlush === undefined) {
      if (this.#queuedFrames > 0 && !this.#transport.destroyed) {
        const timer = setTimeout(() => this.#shutdown(error, false), CLOSE_FLUSH_MS);
        this.#closeFlush = { error, timer };
      } else {
        this.#shutdown(error, false);
      }
    }
    return this.closed.then(() => undefined);
  }

  /**
   * The peer's process is gone (it exited, or was killed): fail what is pending with `error` once the channel has
   * read what the peer wrote before it went — its answers and log lines are not lost to the order in which the host
   * learns of the exit and of the data (a worker's `exit` event can come before its port's last messages; a child's,
   * before its socket's last bytes). From now on the channel only reads: new requests to the peer fail with `error` at
   * once, and the peer's requests other than log lines are dropped unanswered (a descendant that inherited the stream
   * must not act for the gone process). The channel ends with `error` at the end of the peer's stream, or after
   * `graceMs`. Idempotent; a no-op once the channel has ended.
   */
  peerGone(error: PluginError, graceMs = PEER_GONE_GRACE_MS): void {
    if (this.#closeError !== undefined || this.#goneError !== undefined) return;
    this.#goneError = error;
    if (this.#transport.destroyed) {
      this.#fail(error);
      return;
    }
    this.#goneTimer = setTimeout(() => this.#fail(error), graceMs);
  }

  /** Ends the channel with `error` at once (the stream is destroyed). Idempotent: the first error wins. */
  destroy(error: PluginError = ipcError('ChannelClosed', `${this.#label}: channel destroyed`)): void {
    this.#shutdown(error, true);
  }

  /** `await using channel = new IpcChannel(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----

  #fail(error: PluginError): void {
    this.#shutdown(error, true);
  }

  /** Listens to `signal` for the call `entry` holds (cancelled now if it already aborted). */
  #listen(entry: PendingCall, signal: AbortSignal | undefined): void {
    entry.source = undefined;
    if (signal === undefined) return;
    entry.signal = signal;
    if (signal.aborted) {
      entry.handleEvent();
      return;
    }
    signal.addEventListener('abort', entry, { once: true });
  }

  /** Ends the wait of `entry`'s call (timer, listener) and gives its record back; the caller read what it needs. */
  #release(entry: PendingCall): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    if (entry.signal !== undefined) entry.signal.removeEventListener('abort', entry);
    entry.timer = undefined;
    entry.signal = undefined;
    entry.source = undefined;
    entry.sourceReason = undefined;
    entry.resolve = NOOP;
    entry.reject = NOOP;
    entry.accept = IDENTITY;
    entry.fail = undefined;
    entry.context = undefined;
    this.#pending.free(entry);
  }

  /** The peer answered the call `entry` holds. */
  #answered(entry: PendingCall, res: IpcResponse): void {
    const { resolve, reject, accept, fail, context } = entry;
    this.#release(entry);
    let value: unknown;
    try {
      value = accept(res, context);
    } catch (e) {
      reject(fail === undefined ? e : fail(e, context));
      return;
    }
    resolve(value);
  }

  /** The call `entry` holds failed with `error`. */
  #reject(entry: PendingCall, error: unknown): void {
    const { reject, fail, context } = entry;
    this.#release(entry);
    reject(fail === undefined ? error : fail(error, context));
  }

  #abandon(entry: PendingCall, error: PluginError): void {
    const id = entry.id;
    if (id === 0) return;
    this.#abandoned.add(id);
    if (this.#abandoned.size > MAX_ABANDONED_IDS) {
      const oldest = this.#abandoned.values().next().value;
      if (oldest !== undefined) this.#abandoned.delete(oldest);
    }
    this.#write(encodeFrame(FrameType.Cancel, 0, id));
    this.#reject(entry, error);
  }

  /**
   * Writes a frame the channel made and never touches again (the transport may move its buffer), or — `borrowed` — a
   * hook result's bytes after their header, which the transport only reads.
   */
  #write(frame: Uint8Array, isResponse = false, borrowed = false, more = false): void {
    if (this.#closeError !== undefined) return;
    if (this.#queuedFrames > 0 || this.#transport.needDrain) {
      // Bounded: requests of this side are refused past maxQueuedBytes (trySendRequest); a response past it means
      // the peer keeps asking without reading the answers. Reading never stops for this: the peer's answers to our
      // own requests must always get through, or two busy ends would wait on each other forever.
      // Not in a plugin: its peer is the host, whose reads may only lag (its answers then queue in the plugin's own,
      // capped memory).
      if (isResponse && this.#role !== 'plugin' && this.#queuedBytes + frame.length > this.#maxQueuedBytes) {
        this.#fail(
          ipcError(
            'PeerNotReading',
            `${this.#label}: the peer does not read its responses (${this.#queuedBytes} bytes queued)`,
          ),
        );
        return;
      }
      this.#writeQueue.push(frame);
      if (borrowed) this.#borrowedFrames.add(frame);
      this.#queuedBytes += frame.length;
      return;
    }
    this.#transport.write(frame, borrowed, more);
  }

  /** Writes queued frames while the transport takes them (it batches what is written in one tick). */
  #flushQueue(): void {
    while (this.#queuedFrames > 0 && !this.#transport.needDrain && this.#closeError === undefined) {
      const frame = this.#writeQueue[this.#writeHead] as Uint8Array;
      this.#writeQueue[this.#writeHead++] = EMPTY;
      if (this.#writeHead === this.#writeQueue.length) {
        this.#writeQueue = [];
        this.#writeHead = 0;
      } else if (this.#writeHead >= 1024 && this.#writeHead * 2 >= this.#writeQueue.length) {
        this.#writeQueue = this.#writeQueue.slice(this.#writeHead);
        this.#writeHead = 0;
      }
      this.#queuedBytes -= frame.length;
      this.#transport.write(frame, this.#borrowedFrames.has(frame), this.#queuedFrames > 0);
    }
    // A graceful close was waiting for these frames: they are with the transport now, which ends after them.
    if (this.#closeFlush !== undefined && this.#queuedFrames === 0) {
      this.#shutdown(this.#closeFlush.error, false);
    }
  }

  #receive(chunk: Buffer, borrowed: boolean): void {
    if (this.#closeError !== undefined) return;
    try {
      // A borrowed chunk (a reused read buffer) is copied frame by frame: nothing decoded from it aliases the buffer.
      const frames = borrowed
        ? this.#decoder.pushBorrowed(chunk, this.#onFrame)
        : this.#decoder.push(chunk, this.#onFrame);
      if (this.#closeError !== undefined) return;
      if (this.#decoder.bufferedBytes === 0) {
        if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
        this.#stallTimer = undefined;
        return;
      }
      if (frames > 0 && this.#stallTimer !== undefined) {
        clearTimeout(this.#stallTimer);
        this.#stallTimer = undefined;
      }
      if (this.#stallTimer === undefined) {
        this.#stallTimer = setTimeout(() => {
          this.#fail(
            ipcError(
              'StalledFrame',
              `${this.#label}: frame incomplete after ${this.#stallTimeoutMs} ms (${this.#decoder.bufferedBytes} bytes)`,
            ),
          );
        }, this.#stallTimeoutMs);
        this.#stallTimer.unref?.();
      }
    } catch (e) {
      this.#fail(toPluginError(e, 'IpcError', `${this.#label}: bad frame`));
    }
  }

  /** Handles one frame; throws an IpcError for anything the peer should not have sent. */
  #dispatch(frame: Frame): void {
    if (this.#closeError !== undefined) return;
    switch (frame.type) {
      case FrameType.Response: {
        const res = decodeResponse(frame.kind, frame.payload);
        const entry = this.#pending.get(frame.id);
        if (entry !== undefined) {
          this.#answered(entry, res);
        } else if (!this.#abandoned.delete(frame.id)) {
          throw ipcError('UnknownRequestId', `${this.#label}: response to unknown request id ${frame.id}`);
        }
        return;
      }
      case FrameType.Request: {
        const kind = requestKindOf(frame.kind);
        if (kind === undefined)
          throw ipcError('UnknownKind', `${this.#label}: unknown request kind ${frame.kind}`);
        if (!this.#accepted.has(kind)) {
          throw ipcError('UnexpectedKind', `${this.#label}: the peer may not send ${kind}`);
        }
        if (this.#requestBytes !== undefined) {
          this.#requestBytes.debit(FRAME_PREFIX_BYTES + FRAME_HEADER_BYTES + frame.payload.length - 1);
          if (this.#requestBytes.take() > 0) {
            throw ipcError(
              'TooManyRequests',
              `${this.#label}: the peer sends requests faster than ${this.#requestByteRate} bytes a second`,
            );
          }
        }
        // The peer's process is gone: only its last log lines are still taken. Whatever still holds its end (a
        // descendant that inherited it) does not act with the plugin's grants.
        if (this.#goneError !== undefined && kind !== 'Log') return;
        if (this.#servedRequest(frame.id) !== undefined || this.#backlog.has(frame.id)) {
          throw ipcError(
            'DuplicateRequestId',
            `${this.#label}: request id ${frame.id} is already being served`,
          );
        }
        // Served in arrival order: a request waits while earlier ones wait (ContextChanged before a later hook).
        if (this.#backlog.size === 0 && this.#canServe()) {
          this.#serve(frame.id, this.#decodeRequest(frame.kind, frame.payload));
          return;
        }
        const bytes = frame.payload.length;
        if (
          this.#backlog.size >= this.#maxQueuedRequests ||
          this.#backlogBytes + bytes > this.#maxQueuedRequestBytes
        ) {
          this.#refuse(frame.id, kind, bytes);
          return;
        }
        // Decoded from a copy: a waiting request must not keep the whole received chunk alive — a copy of its own, not a
        // slice of Node's shared pool (a queued ContextSet's value would share a slab with the host's other bytes).
        const request = this.#decodeRequest(frame.kind, ownCopy(frame.payload));
        this.#backlog.set(frame.id, { request, bytes });
        this.#backlogBytes += bytes;
        return;
      }
      case FrameType.Cancel:
        if (frame.kind !== 0 || frame.payload.length !== 0) {
          throw ipcError('MalformedPayload', `${this.#label}: cancel frame with a kind or payload`);
        }
        {
          const served = this.#servedRequest(frame.id);
          if (served !== undefined) {
            served.abort(new PluginError('Aborted', `${this.#label}: request cancelled by the peer`));
            return;
          }
          const waiting = this.#backlog.get(frame.id);
          if (waiting !== undefined) {
            // Never started: dropped without an answer (the peer gave up on it).
            this.#backlog.delete(frame.id);
            this.#backlogBytes -= waiting.bytes;
            return;
          }
          // A cancel may cross our answer on the wire: fine once for an id answered lately. The host trusts no other
          // (and no second cancel of the same id: replaying one would be free work again).
          if (this.#role === 'host' && !this.#recentlyEnded.delete(frame.id)) {
            throw ipcError('UnknownRequestId', `${this.#label}: cancel of unknown request id ${frame.id}`);
          }
        }
        return;
      default:
        throw ipcError('UnknownFrameType', `${this.#label}: unknown frame type ${frame.type}`);
    }
  }

  /**
   * Decodes a request of the peer. Under a request byte rate its decode is paid for too: each value decoded costs
   * {@link DECODED_NODE_BYTES} bytes of the rate (a map of a million small entries is ≈ 0.5 s of the host's CPU in
   * 3 MB; past the rate the channel ends as for bytes).
   */
  #decodeRequest(kind: number, payload: Buffer): IpcRequest | ExecuteHookRequest {
    const pacer = this.#requestBytes;
    if (pacer === undefined) return decodeRequest(kind, payload);
    const before = decodedValueNodes();
    const request = decodeRequest(kind, payload);
    pacer.debit((decodedValueNodes() - before) * DECODED_NODE_BYTES);
    if (pacer.take() > 0) {
      throw ipcError(
        'TooManyRequests',
        `${this.#label}: the peer's requests cost more to decode than ${this.#requestByteRate} bytes a second`,
      );
    }
    return request;
  }

  /** Answers a request over the peer's quota with `QuotaExceeded`, without running it. */
  #refuse(id: number, kind: IpcRequestKind, bytes: number): void {
    if (this.#role === 'host') {
      const cap = this.#maxQueuedRequests;
      this.#refusals ??= new RequestPacer({ perSecond: cap, burst: cap });
      // A refusal past the bucket would have to wait: this peer is flooding, not waiting for answers.
      if (this.#refusals.take() > 0) {
        throw ipcError(
          'TooManyRequests',
          `${this.#label}: the peer keeps sending requests past its queue (${cap} refused within a second)`,
        );
      }
    }
    const queued = this.#backlog.size;
    const error = new PluginError(
      'QuotaExceeded',
      `${this.#label}: too many requests in flight (${this.servingCount} served, ${queued} waiting, ${this.#backlogBytes + bytes} bytes); ${kind} refused`,
      {
        details: {
          resource: 'ipc-requests',
          used: this.servingCount + queued + 1,
          limit: this.#maxConcurrent + this.#maxQueuedRequests,
        },
      },
    );
    try {
      this.#onQuotaExceeded?.(error);
    } catch {
      // the host's observer must not break the channel
    }
    this.#ended(id);
    this.#write(encodeResponse(id, errorResponse(error, kind)), true);
  }

  /** A free serving slot and someone to serve with it: the handler, or a waiting `receiveRequest`. */
  #canServe(): boolean {
    return (
      this.servingCount < this.#maxConcurrent && (this.#handler !== undefined || this.#waiters.length > 0)
    );
  }

  /** The request of the peer being served under `id`, if one is. */
  #servedRequest(id: number): ServedRequest | undefined {
    const served = this.#serving.get(id);
    if (served !== undefined) return served;
    for (const running of this.#inline) if (running.id === id) return running;
    return undefined;
  }

  /** Starts serving a request; only called when {@link #canServe}. */
  #serve(id: number, req: IpcRequest | ExecuteHookRequest): void {
    const served = new ServedRequest(id);
    const handler = this.#handler;
    if (handler === undefined) {
      this.#serving.set(id, served);
      const waiter = this.#waiters.shift() as Waiter;
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#pulled.set(id, req.kind);
      waiter.resolve({ id, request: req, signal: served.signal });
      return;
    }
    let result: Awaitable<IpcResponse>;
    const inline = this.#inline;
    inline.push(served);
    try {
      result = handler(req, served);
    } catch (e) {
      result = errorResponse(e, req.kind);
    } finally {
      inline.pop();
    }
    if (isThenable<IpcResponse>(result)) {
      // Still served once the handler returned: in the map, unless the channel ended meanwhile (it aborted `served`).
      if (this.#closeError === undefined) this.#serving.set(id, served);
      result.then(
        (res) => this.#respond(id, res, req.kind),
        (e: unknown) => this.#respond(id, errorResponse(e, req.kind), req.kind),
      );
    } else {
      this.#served(id, result, req.kind);
    }
  }

  #respond(id: number, res: IpcResponse, kind: IpcRequestKind): void {
    this.#serving.delete(id);
    this.#served(id, res, kind);
  }

  /** Answers request `id`, no longer served, and serves what waits. */
  #served(id: number, res: IpcResponse, kind: IpcRequestKind): void {
    if (this.#closeError !== undefined) return;
    this.#answer(id, res, kind);
    this.#pump();
  }

  /** Starts waiting requests while slots are free; a loop, not recursion, as synchronous handlers answer at once. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#backlog.size > 0 && this.#canServe() && this.#closeError === undefined) {
        const [nextId, waiting] = this.#backlog.entries().next().value as [
          number,
          { request: IpcRequest | ExecuteHookRequest; bytes: number },
        ];
        this.#backlog.delete(nextId);
        this.#backlogBytes -= waiting.bytes;
        this.#serve(nextId, waiting.request);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Remembers that the peer's request `id` ended here (answered, refused or dropped); the host side only. */
  #ended(id: number): void {
    if (this.#role !== 'host') return;
    const ended = this.#recentlyEnded;
    ended.add(id);
    // Enough for every request the peer may have in flight at once, twice over.
    if (ended.size > 2 * (this.#maxConcurrent + this.#maxQueuedRequests)) {
      ended.delete(ended.values().next().value as number);
    }
  }

  #answer(id: number, res: IpcResponse, kind: IpcRequestKind): void {
    this.#ended(id);
    if (
      res.kind === 'HookResult' &&
      res.data instanceof Uint8Array &&
      res.data.length >= BORROW_MIN_BYTES &&
      FRAME_HEADER_BYTES + res.data.length <= this.maxFrameBytes
    ) {
      // A large hook result leaves as it is, after its header (no copy into a frame: over a socket one writev, over a
      // port cloned by postMessage — never moved, the handler may still hold it).
      this.#write(
        allocFrame(FrameType.Response, RESPONSE_KIND_CODES.HookResult, id, 0, res.data.length),
        true,
        false,
        true,
      );
      this.#write(res.data, true, true);
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeResponse(id, res, this.#allocate);
      if (frame.length - FRAME_PREFIX_BYTES > this.maxFrameBytes) {
        throw ipcError('SendRefused', `${kind} response of ${frame.length} bytes exceeds maxFrameBytes`);
      }
    } catch (e) {
      frame = encodeResponse(id, errorResponse(e, kind));
    }
    this.#write(frame, true);
  }

  #shutdown(error: PluginError, destroyNow: boolean): void {
    if (this.#closeError !== undefined) return;
    this.#closeError = error;
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (this.#sourceTimer !== undefined) clearTimeout(this.#sourceTimer);
    this.#sourceTimer = undefined;
    if (this.#goneTimer !== undefined) clearTimeout(this.#goneTimer);
    this.#goneTimer = undefined;
    if (this.#closeFlush !== undefined) clearTimeout(this.#closeFlush.timer);
    this.#closeFlush = undefined;
    this.#transport.detach();
    for (const entry of this.#pending.inUse()) this.#reject(entry, error);
    for (const served of this.#serving.values()) served.abort(error);
    for (const served of this.#inline) served.abort(error);
    this.#serving.clear();
    this.#pulled.clear();
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(error);
    }
    this.#backlog.clear();
    this.#backlogBytes = 0;
    this.#writeQueue = [];
    this.#writeHead = 0;
    this.#queuedBytes = 0;
    this.#abandoned.clear();
    if (destroyNow) this.#transport.destroy();
    else this.#transport.end(CLOSE_FLUSH_MS);
    this.#resolveClosed(error);
  }
}

function defaultErrorCode(kind: IpcRequestKind): PluginErrorCode {
  if (kind === 'ExecuteHook') return 'HookError';
  if (kind.startsWith('Context')) return 'ContextError';
  if (kind === 'Initialize') return 'InitializationError';
  return 'IpcError';
}

/** The `Error` response for a thrown value: a PluginError keeps its code, anything else gets one by request kind. */
export function errorResponse(error: unknown, kind: IpcRequestKind): IpcResponse {
  const e = toPluginError(error, defaultErrorCode(kind), `${kind} failed`);
  return { kind: 'Error', code: e.code, message: e.message };
}

/**
 * Returns `res` when it is of `kind`; throws the remote error of an `Error` response (its code kept — `IpcError` when
 * it has none —, `details.remote` true, `plugin` set when given) and an `IpcError` `MalformedPayload` for any other
 * kind.
 */
export function expectResponse<K extends IpcResponse['kind']>(
  res: IpcResponse,
  kind: K,
  label = 'ipc',
  plugin?: string,
): Extract<IpcResponse, { kind: K }> {
  if (res.kind === kind) return res as Extract<IpcResponse, { kind: K }>;
  if (res.kind === 'Error') {
    throw new PluginError(res.code ?? 'IpcError', res.message, {
      details: { remote: true },
      ...(plugin === undefined ? {} : { plugin }),
    });
  }
  throw ipcError('MalformedPayload', `${label}: expected a ${kind} response, got ${res.kind}`);
}
