import { MessageChannel } from 'node:worker_threads';
import {
  type HookAbortListener,
  type HookCallInfo,
  type IpcResponse,
  isPluginError,
  PluginError,
} from '@plugward/types';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  expectResponse,
  type IncomingRequestInfo,
  IpcChannel,
  type IpcChannelOptions,
} from '../src/channel.js';
import { ipcFailureReason } from '../src/errors.js';
import { encodeFrame, FrameType } from '../src/frame.js';
import { encodeRequest, encodeResponse, REQUEST_KIND_CODES } from '../src/protocol.js';
import { packValue } from '../src/values.js';
import { delay, portPair, type RawPeer, socketPair, waitFor } from './socket-pair.js';

const opened: IpcChannel[] = [];
const peers: RawPeer[] = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.destroy();
  for (const s of peers.splice(0)) s.destroy();
});

/** The transport the suite runs on: every test runs over a Unix socket and over a worker's MessagePort. */
let kind: 'socket' | 'port' = 'socket';

async function ends() {
  if (kind === 'port') {
    const { port1, port2 } = new MessageChannel();
    return [port1, port2] as const;
  }
  return socketPair();
}

async function channels(
  a: IpcChannelOptions = {},
  b: IpcChannelOptions = {},
): Promise<[IpcChannel, IpcChannel]> {
  const [x, y] = await ends();
  const pair: [IpcChannel, IpcChannel] = [new IpcChannel(x, a), new IpcChannel(y, b)];
  opened.push(...pair);
  return pair;
}

/** A channel facing a raw end the test writes hostile bytes to. */
/**
 * A channel pair whose peer echoes hook calls whose first byte is 1 and holds every other (calling the `onStart`
 * callback); `infos` are the peer's request infos, in order.
 */
async function echoOrHold() {
  const [a, b] = await channels();
  const infos: IncomingRequestInfo[] = [];
  let onStarted: () => void = () => undefined;
  b.setRequestHandler((req, info) => {
    infos.push(info);
    if (req.kind === 'ExecuteHook' && req.data[0] === 1) return echo(req);
    onStarted();
    return new Promise<IpcResponse>(() => undefined);
  });
  return { a, infos, onStart: (f: () => void) => (onStarted = f) };
}

/** `p` failed with `Aborted` caused by the error 'budget', and the peer's handler (the last in `infos`) saw it cancelled. */
async function cancelledWithBudget(p: Promise<unknown>, infos: IncomingRequestInfo[]): Promise<void> {
  const err = await p;
  expect(isPluginError(err, 'Aborted')).toBe(true);
  expect((err as Error).cause).toMatchObject({ message: 'budget' });
  const peerSignal = infos.at(-1)!.signal;
  await new Promise<void>((resolve) => {
    if (peerSignal.aborted) resolve();
    else peerSignal.addEventListener('abort', () => resolve(), { once: true });
  });
  expect(peerSignal.aborted).toBe(true);
}

async function hostile(options: IpcChannelOptions = {}): Promise<{ channel: IpcChannel; raw: RawPeer }> {
  let x: ConstructorParameters<typeof IpcChannel>[0];
  let raw: RawPeer;
  if (kind === 'port') {
    [x, raw] = portPair();
  } else {
    const [a, b] = await socketPair();
    b.on('error', () => undefined);
    b.resume();
    x = a;
    raw = {
      write: (bytes) => b.write(bytes),
      end: (bytes) => (bytes === undefined ? b.end() : b.end(bytes)),
      pause: () => b.pause(),
      destroy: () => b.destroy(),
    };
  }
  peers.push(raw);
  const channel = new IpcChannel(x, options);
  opened.push(channel);
  return { channel, raw };
}

const hook = (data: Uint8Array) => ({ kind: 'ExecuteHook' as const, hookName: 'h', data });
const echo = (req: { kind: string; data?: Uint8Array }): IpcResponse =>
  req.kind === 'ExecuteHook' && req.data !== undefined
    ? { kind: 'HookResult', data: req.data }
    : { kind: 'Success' };

describe.each(['socket', 'port'] as const)('over a %s', (transport) => {
  beforeEach(() => {
    kind = transport;
  });

  describe('IpcChannel round trips', () => {
    it('answers requests in both directions on one socket', async () => {
      const [host, plugin] = await channels({ role: 'host' }, { role: 'plugin' });
      plugin.setRequestHandler((req) => echo(req as { kind: string; data?: Uint8Array }));
      host.setRequestHandler((req) =>
        req.kind === 'ContextGet' ? { kind: 'Success', value: `value of ${req.key}` } : { kind: 'Success' },
      );
      const res = await host.sendRequest(hook(new Uint8Array([1, 2, 3])));
      expect(res).toEqual({ kind: 'HookResult', data: new Uint8Array([1, 2, 3]) });
      expect(await plugin.sendRequest({ kind: 'ContextGet', key: 'Configuration' })).toEqual({
        kind: 'Success',
        value: 'value of Configuration',
      });
    });

    it('matches 2000 concurrent requests answered out of order', async () => {
      const [a, b] = await channels();
      b.setRequestHandler(async (req) => {
        const data = (req as { data: Uint8Array }).data;
        await delay((data[0] as number) % 7);
        return { kind: 'HookResult', data: Uint8Array.from(data, (x) => x ^ 0xff) };
      });
      const calls = Array.from({ length: 2000 }, (_, i) => {
        const data = new Uint8Array([i & 0xff, i >> 8]);
        return a.sendRequest(hook(data)).then((res) => {
          expect(res).toEqual({
            kind: 'HookResult',
            data: new Uint8Array([(i & 0xff) ^ 0xff, (i >> 8) ^ 0xff]),
          });
        });
      });
      await Promise.all(calls);
      expect(a.pendingCount).toBe(0);
    });

    it('answers pipelined requests of mixed sizes from a synchronous handler in order, each intact', async () => {
      // Answers written while a chunk is handled leave together right after it; past 16 KiB of them, at once: either
      // way in request order, and none torn, aliased or lost.
      const [a, b] = await channels();
      let served = 0;
      b.setRequestHandler((req) => {
        served++;
        return echo(req as { kind: string; data?: Uint8Array });
      });
      const sizes = [1, 5000, 20_000, 3, 17_000, 100, 4096, 0, 70_000, 15_000, 2, 4095, 16_384, 9];
      const calls = [];
      for (let round = 0; round < 20; round++) {
        for (const [i, size] of sizes.entries()) {
          const data = new Uint8Array(size).fill((round * 31 + i) & 0xff);
          calls.push(a.sendRequest(hook(data)).then((res) => ({ res, data })));
        }
      }
      for (const { res, data } of await Promise.all(calls)) {
        expect(res.kind).toBe('HookResult');
        expect(res.kind === 'HookResult' && Buffer.compare(res.data, data)).toBe(0);
      }
      expect(served).toBe(calls.length);
      expect(a.isClosed || b.isClosed).toBe(false);
    });

    it('moves an 8 MiB payload and refuses one over maxFrameBytes before sending', async () => {
      const [a, b] = await channels({ maxFrameBytes: 9 * 1024 * 1024 });
      b.setRequestHandler((req) => echo(req as { kind: string; data?: Uint8Array }));
      const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251);
      const res = await a.sendRequest(hook(big));
      expect(res.kind === 'HookResult' && Buffer.compare(res.data, big)).toBe(0);
      const err = await a.sendRequest(hook(new Uint8Array(10 * 1024 * 1024))).catch((e: unknown) => e);
      expect(ipcFailureReason(err)).toBe('SendRefused');
      expect(a.isClosed).toBe(false);
    });

    it('sends handler errors back with their code', async () => {
      const [a, b] = await channels();
      b.setRequestHandler(() => {
        throw new PluginError('PermissionDenied', 'no');
      });
      expect(await a.sendRequest({ kind: 'ContextGet', key: 'x' })).toEqual({
        kind: 'Error',
        code: 'PermissionDenied',
        message: 'no',
      });
      b.setRequestHandler(async () => {
        throw new Error('plain');
      });
      const res = await a.sendRequest(hook(new Uint8Array()));
      expect(res).toMatchObject({ kind: 'Error', code: 'HookError' });
    });
  });

  describe('IpcChannel pull API (receiveRequest / sendResponse)', () => {
    it('receives the next request and answers it by id', async () => {
      const [a, b] = await channels();
      const call = a.sendRequest(hook(new Uint8Array([7])));
      const incoming = await b.receiveRequest();
      expect(incoming.request).toEqual(hook(new Uint8Array([7])));
      expect(incoming.signal.aborted).toBe(false);
      b.sendResponse(incoming.id, { kind: 'HookResult', data: new Uint8Array([8]) });
      expect(await call).toEqual({ kind: 'HookResult', data: new Uint8Array([8]) });
    });

    it('keeps requests that arrive before anyone asks, in arrival order, and answers out of order', async () => {
      const [a, b] = await channels();
      const calls = [1, 2, 3].map((n) => a.sendRequest(hook(new Uint8Array([n]))));
      expect(await waitFor(() => b.queuedRequestCount === 3)).toBe(true);
      const taken = [await b.receiveRequest(), await b.receiveRequest(), await b.receiveRequest()];
      expect(taken.map((t) => (t.request as { data: Uint8Array }).data[0])).toEqual([1, 2, 3]);
      for (const t of [...taken].reverse()) {
        const data = (t.request as { data: Uint8Array }).data;
        b.sendResponse(t.id, { kind: 'HookResult', data: Uint8Array.from(data, (x) => x * 10) });
      }
      expect(await Promise.all(calls)).toEqual(
        [10, 20, 30].map((n) => ({ kind: 'HookResult', data: new Uint8Array([n]) })),
      );
    });

    it('hands waiting requests to a handler set later, and back to receiveRequest when it is removed', async () => {
      const [a, b] = await channels();
      const early = a.sendRequest(hook(new Uint8Array([1])));
      expect(await waitFor(() => b.queuedRequestCount === 1)).toBe(true);
      b.setRequestHandler((req) => echo(req as { kind: string; data?: Uint8Array }));
      expect(await early).toEqual({ kind: 'HookResult', data: new Uint8Array([1]) });
      b.setRequestHandler(undefined);
      const late = a.sendRequest(hook(new Uint8Array([2])));
      const incoming = await b.receiveRequest();
      b.sendResponse(incoming.id, { kind: 'Success' });
      expect(await late).toEqual({ kind: 'Success' });
    });

    it('refuses requests past the bounded queue with QuotaExceeded and keeps the channel', async () => {
      const refused: PluginError[] = [];
      const [a, b] = await channels(
        {},
        { maxConcurrentRequests: 1, maxQueuedRequests: 2, onQuotaExceeded: (e) => refused.push(e) },
      );
      const calls = [1, 2, 3, 4].map((n) => a.sendRequest(hook(new Uint8Array([n]))));
      const first = await b.receiveRequest();
      // One slot: the others wait (2 queued) or are refused (1).
      const fourth = await calls[3];
      expect(fourth).toMatchObject({ kind: 'Error', code: 'QuotaExceeded' });
      expect(refused).toHaveLength(1);
      b.sendResponse(first.id, { kind: 'Success' });
      const second = await b.receiveRequest();
      expect((second.request as { data: Uint8Array }).data[0]).toBe(2);
      b.sendResponse(second.id, { kind: 'Success' });
      const third = await b.receiveRequest();
      b.sendResponse(third.id, { kind: 'Success' });
      expect(await Promise.all(calls.slice(0, 3))).toEqual([
        { kind: 'Success' },
        { kind: 'Success' },
        { kind: 'Success' },
      ]);
      expect(b.isClosed).toBe(false);
    });

    it('refuses an id that was not taken or is already answered (InvalidArgument), channel unharmed', async () => {
      const [a, b] = await channels();
      expect(() => b.sendResponse(12345, { kind: 'Success' })).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
      const call = a.sendRequest({ kind: 'GetMetrics' });
      const incoming = await b.receiveRequest();
      b.sendResponse(incoming.id, { kind: 'Success' });
      expect(() => b.sendResponse(incoming.id, { kind: 'Success' })).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
      expect(await call).toEqual({ kind: 'Success' });
      b.setRequestHandler(() => ({ kind: 'Success' }));
      let servedId = -1;
      b.setRequestHandler((_req, info) => {
        servedId = info.id;
        return new Promise<IpcResponse>((resolve) => setTimeout(() => resolve({ kind: 'Success' }), 50));
      });
      const handled = a.sendRequest({ kind: 'GetMetrics' });
      expect(await waitFor(() => servedId !== -1)).toBe(true);
      expect(() => b.sendResponse(servedId, { kind: 'Success' })).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
      expect(await handled).toEqual({ kind: 'Success' });
    });

    it('aborts a wait with Aborted, fails waiters with the close reason, and aborts a taken request on cancel', async () => {
      const [a, b] = await channels();
      const controller = new AbortController();
      const waiting = b.receiveRequest({ signal: controller.signal });
      controller.abort();
      expect(await waiting.catch((e: unknown) => e)).toMatchObject({ code: 'Aborted' });

      const cancel = new AbortController();
      const call = a.sendRequest(hook(new Uint8Array([1])), { signal: cancel.signal });
      const incoming = await b.receiveRequest();
      cancel.abort();
      expect(await call.catch((e: unknown) => e)).toMatchObject({ code: 'Aborted' });
      expect(await waitFor(() => incoming.signal.aborted)).toBe(true);

      const pending = b.receiveRequest();
      await a.close();
      const err = await pending.catch((e: unknown) => e);
      expect(isPluginError(err, 'IpcError')).toBe(true);
      expect(ipcFailureReason(err)).toBe('PeerClosed');
      expect(await b.receiveRequest().catch((e: unknown) => ipcFailureReason(e))).toBe('PeerClosed');
    });

    it('delivers an Error response without a code with its message, and the channel stays usable', async () => {
      const [a, b] = await channels();
      const call = a.sendRequest({ kind: 'ContextGet', key: 'k' });
      const incoming = await b.receiveRequest();
      b.sendResponse(incoming.id, { kind: 'Error', message: 'no such key here' });
      const res = await call;
      expect(res).toEqual({ kind: 'Error', message: 'no such key here' });
      expect(() => expectResponse(res, 'Success')).toThrow(
        expect.objectContaining({ code: 'IpcError', message: 'no such key here' }),
      );
      // The same through a handler, then a normal round trip on the same channel.
      b.setRequestHandler((req) =>
        req.kind === 'GetMetrics' ? { kind: 'Error', message: 'handler said no' } : { kind: 'Success' },
      );
      expect(await a.sendRequest({ kind: 'GetMetrics' })).toEqual({
        kind: 'Error',
        message: 'handler said no',
      });
      expect(await a.sendRequest({ kind: 'ContextKeys' })).toEqual({ kind: 'Success' });
      expect(a.isClosed || b.isClosed).toBe(false);
    });
  });

  describe('IpcChannel timeouts, abort and close', () => {
    it("a late answer to a timed-out id is dropped even while a newer call holds that id's record", async () => {
      const [a, b] = await channels();
      let releaseLate!: () => void;
      const lateGate = new Promise<void>((r) => {
        releaseLate = r;
      });
      let releaseNew!: () => void;
      const newGate = new Promise<void>((r) => {
        releaseNew = r;
      });
      let lateSent = false;
      b.setRequestHandler(async (req) => {
        if (req.kind !== 'ExecuteHook') return { kind: 'Success' };
        if (req.data[0] === 1) {
          await lateGate;
          lateSent = true;
          return { kind: 'HookResult', data: new Uint8Array([1]) };
        }
        if (req.data[0] === 2) await newGate;
        return { kind: 'HookResult', data: req.data };
      });
      const err = await a.sendRequest(hook(new Uint8Array([1])), { timeoutMs: 20 }).catch((e: unknown) => e);
      expect(isPluginError(err, 'Timeout')).toBe(true);
      // The timed-out call had id 1. After 1023 more calls the next id is 1025: it takes id 1's slot in any table of up
      // to 1024 slots (the pending table starts with 64, one record each, reused), and 16 held calls don't grow it.
      for (let i = 0; i < 1023; i++) await a.sendRequest(hook(new Uint8Array([0])));
      const held = Array.from({ length: 16 }, () => a.sendRequest(hook(new Uint8Array([2]))));
      releaseLate();
      expect(await waitFor(() => lateSent)).toBe(true);
      await delay(20);
      releaseNew();
      for (const res of await Promise.all(held)) {
        expect(res).toEqual({ kind: 'HookResult', data: new Uint8Array([2]) });
      }
      expect(a.isClosed).toBe(false);
    });

    it('times out one request, cancels it at the peer and drops its late response', async () => {
      const [a, b] = await channels();
      let peerSignal: AbortSignal | undefined;
      let lateAnswered = false;
      b.setRequestHandler(async (req, info) => {
        if (req.kind === 'ExecuteHook' && req.data[0] === 1) {
          peerSignal = info.signal;
          await delay(150);
          lateAnswered = true;
        }
        return { kind: 'Success' };
      });
      const slow = a.sendRequest(hook(new Uint8Array([1])), { timeoutMs: 30 }).catch((e: unknown) => e);
      const err = await slow;
      expect(isPluginError(err, 'Timeout')).toBe(true);
      expect(await waitFor(() => peerSignal?.aborted === true)).toBe(true);
      expect(await waitFor(() => lateAnswered)).toBe(true);
      // The late response was written before this request's answer: one ordered stream, so it has been dropped.
      expect(await a.sendRequest(hook(new Uint8Array([2])))).toEqual({ kind: 'Success' });
      expect(a.isClosed).toBe(false);
    });

    it('a handler that reads its signal only after the peer cancelled, or after the channel closed, finds it aborted', async () => {
      const [a, b] = await channels();
      const infos: { signal: AbortSignal }[] = [];
      b.setRequestHandler((_req, info) => {
        infos.push(info);
        return new Promise<IpcResponse>(() => undefined);
      });
      const ac = new AbortController();
      const p = a.sendRequest(hook(new Uint8Array([1])), { signal: ac.signal }).catch((e: unknown) => e);
      await waitFor(() => infos.length === 1);
      ac.abort();
      expect(isPluginError(await p, 'Aborted')).toBe(true);
      // The cancel frame arrives; the handler looks only now.
      await delay(30);
      expect(infos[0]!.signal.aborted).toBe(true);
      expect(infos[0]!.signal.reason).toMatchObject({ code: 'Aborted' });
      void a.sendRequest(hook(new Uint8Array([2]))).catch(() => undefined);
      await waitFor(() => infos.length === 2);
      b.destroy();
      expect(infos[1]!.signal.aborted).toBe(true);
    });

    it('a synchronous handler is counted as served while it runs, and finds its signal aborted once it ends the channel', async () => {
      const [a, b] = await channels();
      const seen: { serving: number; abortedBefore: boolean; abortedAfter: boolean }[] = [];
      b.setRequestHandler((req, info) => {
        const serving = b.servingCount;
        const abortedBefore = info.signal.aborted;
        if (req.kind === 'ExecuteHook' && req.data[0] === 2) b.destroy();
        seen.push({ serving, abortedBefore, abortedAfter: info.signal.aborted });
        return { kind: 'Success' };
      });
      expect(await a.sendRequest(hook(new Uint8Array([1])))).toEqual({ kind: 'Success' });
      expect(b.servingCount).toBe(0);
      const ended = await a.sendRequest(hook(new Uint8Array([2]))).catch((e: unknown) => e);
      expect(isPluginError(ended, 'IpcError')).toBe(true);
      expect(seen).toEqual([
        { serving: 1, abortedBefore: false, abortedAfter: false },
        { serving: 1, abortedBefore: false, abortedAfter: true },
      ]);
      expect(b.servingCount).toBe(0);
    });

    it('reads a signal source only for a call still pending at its next check, and then cancels as with a signal', async () => {
      const { a, infos, onStart } = await echoOrHold();
      let started: () => void = () => undefined;
      onStart(() => started());
      let reads = 0;
      const ac = new AbortController();
      const source = {
        get signal() {
          reads++;
          return ac.signal;
        },
      };
      // The channel's check is a timer: faked, so the test decides when it runs (no timing in the assertions).
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        // Answered before the check: the source is never read (no signal made for a fast call).
        for (let i = 0; i < 20; i++) await a.sendRequest(hook(new Uint8Array([1])), { signalSource: source });
        vi.advanceTimersByTime(10);
        expect(reads).toBe(0);
        // Still pending at the check: read once, and its abort cancels the call at the peer.
        const reached = new Promise<void>((resolve) => {
          started = resolve;
        });
        const p = a.sendRequest(hook(new Uint8Array([2])), { signalSource: source }).catch((e: unknown) => e);
        await reached;
        vi.advanceTimersByTime(10);
        expect(reads).toBe(1);
        ac.abort(new Error('budget'));
        await cancelledWithBudget(p, infos);
        // A source already aborted when it is read: the call fails at the check.
        const late = a
          .sendRequest(hook(new Uint8Array([3])), { signalSource: { signal: AbortSignal.abort() } })
          .catch((e: unknown) => e);
        vi.advanceTimersByTime(10);
        expect(isPluginError(await late, 'Aborted')).toBe(true);
        expect(a.pendingCount).toBe(0);
      } finally {
        vi.useRealTimers();
      }
    });

    it('a signal source that tells the call when it aborts: cancelled then, never read, no check of its own', async () => {
      const { a, infos, onStart } = await echoOrHold();
      let started: () => void = () => undefined;
      onStart(() => started());
      /** A source as the hook registry's timed calls are: one listener, told once. */
      const source = () => {
        const s = {
          reads: 0,
          listener: undefined as HookAbortListener | undefined,
          get signal(): AbortSignal | undefined {
            s.reads++;
            return undefined;
          },
          onAbort(listener: HookAbortListener) {
            s.listener = listener;
            return true;
          },
          fire(reason: unknown) {
            s.listener?.(reason, s as unknown as HookCallInfo);
          },
        };
        return s;
      };
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        // Fast calls: never read, and no check armed for them.
        const fast = Array.from({ length: 20 }, source);
        for (const s of fast) await a.sendRequest(hook(new Uint8Array([1])), { signalSource: s });
        expect(vi.getTimerCount()).toBe(0);
        // A source firing after its call ended (its record now holds another call) changes nothing.
        const reached = new Promise<void>((resolve) => {
          started = resolve;
        });
        const slow = source();
        const p = a.sendRequest(hook(new Uint8Array([2])), { signalSource: slow }).catch((e: unknown) => e);
        await reached;
        for (const s of fast) s.fire(new Error('late'));
        expect(a.pendingCount).toBe(1);
        // Its own source fires: cancelled at once, at the peer too, with the reason as the cause.
        slow.fire(new Error('budget'));
        await cancelledWithBudget(p, infos);
        expect([...fast, slow].reduce((n, s) => n + s.reads, 0)).toBe(0);
        expect(a.pendingCount).toBe(0);
        // A source that can't tell (onAbort false) is read at the check, as any other.
        const cannot = { ...source(), onAbort: () => false, signal: AbortSignal.abort(new Error('early')) };
        const late = a
          .sendRequest(hook(new Uint8Array([3])), { signalSource: cannot })
          .catch((e: unknown) => e);
        vi.advanceTimersByTime(10);
        expect(isPluginError(await late, 'Aborted')).toBe(true);
      } finally {
        vi.useRealTimers();
      }
    });

    it('aborts with an AbortSignal', async () => {
      const [a, b] = await channels();
      b.setRequestHandler(() => new Promise<IpcResponse>(() => undefined));
      const ac = new AbortController();
      const p = a.sendRequest(hook(new Uint8Array()), { signal: ac.signal }).catch((e: unknown) => e);
      ac.abort();
      expect(isPluginError(await p, 'Aborted')).toBe(true);
      const pre = await a
        .sendRequest(hook(new Uint8Array()), { signal: AbortSignal.abort() })
        .catch((e: unknown) => e);
      expect(isPluginError(pre, 'Aborted')).toBe(true);
      expect(a.pendingCount).toBe(0);
    });

    it('close() fails every pending request with IpcError and the peer sees PeerClosed', async () => {
      const [a, b] = await channels();
      b.setRequestHandler(() => new Promise<IpcResponse>(() => undefined));
      const pending = Array.from({ length: 10 }, () =>
        a.sendRequest(hook(new Uint8Array())).catch((e: unknown) => e),
      );
      await delay(10);
      await a.close();
      for (const err of await Promise.all(pending)) {
        expect(isPluginError(err, 'IpcError')).toBe(true);
        expect(ipcFailureReason(err)).toBe('ChannelClosed');
      }
      expect(ipcFailureReason(await b.closed)).toBe('PeerClosed');
      const after = await a.sendRequest({ kind: 'Shutdown' }).catch((e: unknown) => e);
      expect(ipcFailureReason(after)).toBe('ChannelClosed');
    });

    it('close() lets what this side already wrote leave first, then ends', async () => {
      const [a, b] = await channels();
      const received: number[] = [];
      b.setRequestHandler((req) => {
        if (req.kind === 'ContextSet') received.push((req.value as Uint8Array).length);
        return { kind: 'Success' };
      });
      // 8 MiB written at once: past the port's window and the socket's buffers, most of it waits in the channel.
      const sent = Array.from({ length: 16 }, (_, i) =>
        a
          .sendRequest({ kind: 'ContextSet', key: `k${i}`, value: new Uint8Array(512 * 1024) })
          .catch((e) => e),
      );
      await a.close();
      const late = await a.sendRequest({ kind: 'Shutdown' }).catch((e: unknown) => e);
      expect(ipcFailureReason(late)).toBe('ChannelClosed');
      await b.closed;
      expect(received).toEqual(Array.from({ length: 16 }, () => 512 * 1024));
      for (const r of await Promise.all(sent)) {
        // Each was delivered; its answer may or may not have beaten the close.
        expect(r.kind === 'Success' || ipcFailureReason(r) === 'ChannelClosed').toBe(true);
      }
    });

    it('peerGone: what the gone peer wrote is still read, then the channel ends with the given error', async () => {
      const [a, b] = await channels({ role: 'host' }, { role: 'plugin' });
      const lines: string[] = [];
      a.setRequestHandler((req) => {
        if (req.kind === 'Log') lines.push(req.message);
        return { kind: 'Success' };
      });
      b.setRequestHandler(() => new Promise<IpcResponse>(() => undefined));
      const pending = a.sendRequest({ kind: 'GetMetrics' }).catch((e: unknown) => e);
      for (let i = 0; i < 50; i++) {
        void b.sendRequest({ kind: 'Log', level: 'info', message: `line ${i}` }).catch(() => undefined);
      }
      await new Promise((r) => process.nextTick(r)); // b's lines have left b (this thread has not read them yet)
      const gone = new PluginError('IpcError', 'plugin x process exited (SIGKILL)', {
        details: { reason: 'PeerClosed' },
      });
      a.peerGone(gone); // learnt before the lines were read
      expect(a.isClosed).toBe(false);
      b.destroy(); // the peer's end goes: after its last bytes
      expect(await a.closed).toBe(gone);
      expect(await pending).toBe(gone);
      expect(lines).toHaveLength(50);
    });

    it('peerGone: from then on the channel only reads — no new calls out, no requests served but log lines', async () => {
      const [a, b] = await channels({ role: 'host' }, { role: 'plugin' });
      const served: string[] = [];
      a.setRequestHandler((req) => {
        served.push(req.kind);
        return { kind: 'Success' };
      });
      b.setRequestHandler(() => ({ kind: 'Success' }));
      const gone = new PluginError('IpcError', 'plugin x process exited (code 0)', {
        details: { reason: 'PeerClosed' },
      });
      a.peerGone(gone, 60_000);
      // Whatever still holds the gone process's end (a descendant) gets no answer and acts on nothing.
      const set = b
        .sendRequest({ kind: 'ContextSet', key: 'k', value: 1 }, { timeoutMs: 300 })
        .catch((e) => e);
      void b.sendRequest({ kind: 'Log', level: 'info', message: 'last words' }).catch(() => undefined);
      expect(isPluginError(await set, 'Timeout')).toBe(true);
      expect(served).toEqual(['Log']);
      expect(() => a.trySendRequest(hook(new Uint8Array()))).toThrow(gone);
      await expect(a.sendRequest(hook(new Uint8Array()))).rejects.toBe(gone);
    });

    it('peerGone: a stream someone else holds open ends after the grace period', async () => {
      const [a] = await channels({ role: 'host' });
      const gone = new PluginError('IpcError', 'plugin x process exited (code 0)', {
        details: { reason: 'PeerClosed' },
      });
      const started = Date.now();
      a.peerGone(gone, 50);
      expect(await a.closed).toBe(gone);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('serves at most maxConcurrentRequests at once; later requests wait in arrival order', async () => {
      const [a, b] = await channels({}, { maxConcurrentRequests: 4 });
      const order: number[] = [];
      const release: (() => void)[] = [];
      b.setRequestHandler((req) => {
        order.push((req as { data: Uint8Array }).data[0] as number);
        return new Promise<IpcResponse>((resolve) => release.push(() => resolve({ kind: 'Success' })));
      });
      const calls: Promise<IpcResponse>[] = [];
      for (let i = 0; i < 40; i++) calls.push(a.sendRequest(hook(new Uint8Array([i]))));
      await waitFor(() => b.queuedRequestCount === 36);
      expect(b.servingCount).toBe(4);
      expect(order).toEqual([0, 1, 2, 3]);
      while (order.length < 40 || release.length > 0) {
        for (const r of release.splice(0)) r();
        await delay(2);
      }
      expect(order).toEqual([...Array(40).keys()]);
      expect((await Promise.all(calls)).length).toBe(40);
    });

    it('refuses requests past the waiting queue with QuotaExceeded, and keeps serving', async () => {
      const refused: PluginError[] = [];
      const [a, b] = await channels(
        {},
        { maxConcurrentRequests: 2, maxQueuedRequests: 3, onQuotaExceeded: (e) => refused.push(e) },
      );
      const release: (() => void)[] = [];
      b.setRequestHandler(
        () => new Promise<IpcResponse>((resolve) => release.push(() => resolve({ kind: 'Success' }))),
      );
      const calls = Array.from({ length: 10 }, (_, i) => a.sendRequest(hook(new Uint8Array([i]))));
      await waitFor(() => refused.length === 5);
      expect(refused[0]?.code).toBe('QuotaExceeded');
      expect(refused[0]?.details).toMatchObject({ resource: 'ipc-requests', limit: 5 });
      while (release.length > 0 || b.queuedRequestCount > 0) {
        for (const r of release.splice(0)) r();
        await delay(2);
      }
      const results = await Promise.all(calls);
      expect(results.filter((r) => r.kind === 'Success')).toHaveLength(5);
      expect(results.filter((r) => r.kind === 'Error' && r.code === 'QuotaExceeded')).toHaveLength(5);
      expect(b.isClosed).toBe(false);
      const again = a.sendRequest(hook(new Uint8Array([1])));
      await waitFor(() => release.length === 1);
      for (const r of release.splice(0)) r();
      expect(await again).toEqual({ kind: 'Success' });
    });

    it('does not deadlock when both ends are busy serving requests that call back (the log-from-a-hook case)', async () => {
      // The plugin end serves few requests at once; each handler makes 20 calls back to the host (as a hook that logs)
      // and answers only when they are answered. The host has 3000 calls queued to the plugin.
      const [host, plugin] = await channels(
        { role: 'host', maxConcurrentRequests: 4, maxQueuedRequests: 100_000 },
        { role: 'plugin', maxConcurrentRequests: 8 },
      );
      host.setRequestHandler(() => ({ kind: 'Success' }));
      plugin.setRequestHandler(async (req) => {
        const logs: Promise<IpcResponse>[] = [];
        for (let i = 0; i < 20; i++)
          logs.push(plugin.sendRequest({ kind: 'Log', level: 'info', message: 'x'.repeat(200) }));
        await Promise.all(logs);
        return echo(req as { kind: string; data?: Uint8Array });
      });
      const calls = Array.from({ length: 3000 }, (_, i) =>
        host.sendRequest(hook(new Uint8Array([i & 0xff])), { timeoutMs: 20_000 }),
      );
      const results = await Promise.all(calls);
      expect(results.every((r) => r.kind === 'HookResult')).toBe(true);
      expect(host.isClosed || plugin.isClosed).toBe(false);
    }, 30_000);

    it('ends the channel when the peer keeps asking without reading the answers (PeerNotReading)', async () => {
      const { channel, raw } = await hostile({ maxQueuedBytes: 64 * 1024 });
      raw.pause(); // never reads what the channel answers
      channel.setRequestHandler(() => ({ kind: 'Success', value: 'y'.repeat(16 * 1024) }));
      const frame = encodeRequest(1, { kind: 'ContextGet', key: 'k' });
      for (let id = 1; id <= 2000 && !channel.isClosed; id++) {
        frame.writeUInt32LE(id, 6);
        raw.write(Buffer.from(frame));
        if (id % 50 === 0) await delay(1);
      }
      const err = await channel.closed;
      expect(ipcFailureReason(err)).toBe('PeerNotReading');
    });
  });

  describe('IpcChannel against a hostile peer', () => {
    async function endsWith(write: (raw: RawPeer) => void, reason: string, options: IpcChannelOptions = {}) {
      const { channel, raw } = await hostile(options);
      const pending = channel.sendRequest({ kind: 'GetMetrics' }).catch((e: unknown) => e);
      write(raw);
      const err = await channel.closed;
      expect(isPluginError(err, 'IpcError')).toBe(true);
      expect(ipcFailureReason(err)).toBe(reason);
      const failed = await pending;
      expect(failed).toBe(err);
    }

    it('requests past requestByteRate end the channel (TooManyRequests); answers to its own requests never count', async () => {
      const rate = { perSecond: 1024, burst: 64 * 1024 };
      // Answers: the host asks for 64 KiB echoes 8 times (512 KiB, 8× the burst): nothing ends.
      const [host, plugin] = await channels({ role: 'host', requestByteRate: rate }, { role: 'plugin' });
      plugin.setRequestHandler(echo);
      for (let i = 0; i < 8; i++) await host.sendRequest(hook(new Uint8Array(64 * 1024)));
      expect(host.isClosed).toBe(false);
      // Requests of the peer: 16 KiB log lines, answered at once, until the burst is spent.
      host.setRequestHandler(() => ({ kind: 'Success' }));
      let sent = 0;
      while (sent < 20 && !host.isClosed) {
        await plugin
          .sendRequest({ kind: 'Log', level: 'info', message: 'x'.repeat(16 * 1024) })
          .catch(() => undefined);
        sent++;
      }
      expect(ipcFailureReason(await host.closed)).toBe('TooManyRequests');
      expect(sent).toBeLessThanOrEqual(5);
    });

    it('under requestByteRate a request pays for its decode: a map of small entries costs far more than its bytes', async () => {
      // 20 000 entries: ≈ 100 KiB on the wire, 40 001 values decoded ≈ 4.9 MiB of the rate — past a 1 MiB burst at once.
      const rate = { perSecond: 1024, burst: 1024 * 1024 };
      const [host, plugin] = await channels({ role: 'host', requestByteRate: rate }, { role: 'plugin' });
      host.setRequestHandler(() => ({ kind: 'Success' }));
      const value = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
      // The same bytes as one string: within the burst, served.
      const flat = 'x'.repeat(packValue(value).length);
      await plugin.sendRequest({ kind: 'ContextSet', key: 'flat', value: flat });
      expect(host.isClosed).toBe(false);
      await plugin.sendRequest({ kind: 'ContextSet', key: 'map', value }).catch(() => undefined);
      expect(ipcFailureReason(await host.closed)).toBe('TooManyRequests');
    });

    it('a truncated frame then EOF', () =>
      endsWith(
        (raw) => raw.end(encodeFrame(FrameType.Response, 1, 1, Buffer.alloc(100)).subarray(0, 50)),
        'TruncatedFrame',
      ));

    it('a length of 0xFFFFFFFF', () =>
      endsWith((raw) => raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff])), 'FrameTooLarge'));

    it('a length one over the cap', () => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(4097);
      return endsWith((raw) => raw.write(prefix), 'FrameTooLarge', { maxFrameBytes: 4096 });
    });

    it('a stalled half frame', () =>
      endsWith(
        (raw) => raw.write(encodeFrame(FrameType.Request, 3, 1, Buffer.alloc(64)).subarray(0, 20)),
        'StalledFrame',
        {
          stallTimeoutMs: 100,
        },
      ));

    it('garbage bytes', () =>
      endsWith((raw) => raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'FrameTooLarge'));

    it('a frame of unknown type', () =>
      endsWith((raw) => raw.write(encodeFrame(9, 1, 1)), 'UnknownFrameType'));

    it('an unknown message kind', () =>
      endsWith((raw) => raw.write(encodeFrame(FrameType.Request, 200, 1)), 'UnknownKind'));

    it('a request kind this side does not accept', () =>
      endsWith((raw) => raw.write(encodeRequest(1, { kind: 'Shutdown' })), 'UnexpectedKind', {
        role: 'host',
      }));

    it('a response to an unknown request id', () =>
      endsWith((raw) => raw.write(encodeResponse(777, { kind: 'Success' })), 'UnknownRequestId'));

    it('a cancel of a request id it never sent (the host side: cancels are not free work)', () =>
      endsWith((raw) => raw.write(encodeFrame(FrameType.Cancel, 0, 4242)), 'UnknownRequestId', {
        role: 'host',
      }));

    it('a cancel that crosses the answer on the wire is fine once; a replay of it ends the channel', async () => {
      const { channel, raw } = await hostile({ role: 'host' });
      let served = 0;
      channel.setRequestHandler(() => {
        served++;
        return { kind: 'Success', value: 1 };
      });
      raw.write(encodeRequest(7, { kind: 'ContextHas', key: 'k' }));
      expect(await waitFor(() => served === 1 && channel.servingCount === 0)).toBe(true);
      raw.write(encodeFrame(FrameType.Cancel, 0, 7));
      // Still open: a request after the cancel is served.
      raw.write(encodeRequest(8, { kind: 'ContextHas', key: 'k' }));
      expect(await waitFor(() => served === 2)).toBe(true);
      expect(channel.isClosed).toBe(false);
      // The same cancel again is no crossing: free work for the host if it were ignored (audit).
      raw.write(encodeFrame(FrameType.Cancel, 0, 7));
      expect(ipcFailureReason(await channel.closed)).toBe('UnknownRequestId');
    });

    it('requests past the queue at more than the queue a second (the host side: refusals are work too)', async () => {
      const { channel, raw } = await hostile({
        role: 'host',
        maxConcurrentRequests: 1,
        maxQueuedRequests: 3,
      });
      channel.setRequestHandler(() => new Promise<IpcResponse>(() => undefined));
      // 1 served, 3 queued, then 3 refusals are within the bucket; the 4th refusal in the same second ends it.
      for (let id = 1; id <= 8; id++) raw.write(encodeRequest(id, { kind: 'ContextHas', key: 'k' }));
      expect(ipcFailureReason(await channel.closed)).toBe('TooManyRequests');
    });

    it('a duplicate request id', async () => {
      const { channel, raw } = await hostile();
      channel.setRequestHandler(() => new Promise<IpcResponse>(() => undefined));
      raw.write(encodeRequest(5, { kind: 'GetMetrics' }));
      raw.write(encodeRequest(5, { kind: 'GetMetrics' }));
      expect(ipcFailureReason(await channel.closed)).toBe('DuplicateRequestId');
    });

    it('__proto__ keys', () => {
      const evil = Buffer.concat([
        Buffer.from([0x92, 0xa1, 0x6b, 0x81, 0xa9]),
        Buffer.from('__proto__'),
        Buffer.from([0x81, 0xa1, 0x78, 0x01]),
      ]);
      return endsWith(
        (raw) => raw.write(encodeFrame(FrameType.Request, REQUEST_KIND_CODES.ContextSet, 1, evil)),
        'MalformedPayload',
      );
    });

    it('wrong field types', () =>
      endsWith(
        (raw) =>
          raw.write(encodeFrame(FrameType.Request, REQUEST_KIND_CODES.RegisterHook, 1, packValue([1, 'x']))),
        'MalformedPayload',
      ));

    it('the peer closing its end', () => endsWith((raw) => raw.end(), 'PeerClosed'));

    it('never lets a hostile frame reach a handler', async () => {
      const { channel, raw } = await hostile();
      let called = 0;
      channel.setRequestHandler(() => {
        called++;
        return { kind: 'Success' };
      });
      raw.write(
        Buffer.concat([encodeRequest(1, { kind: 'GetMetrics' }), encodeFrame(FrameType.Request, 250, 2)]),
      );
      await channel.closed;
      expect(called).toBeLessThanOrEqual(1);
      expect(ipcFailureReason(channel.closeReason)).toBe('UnknownKind');
    });
  });
});
