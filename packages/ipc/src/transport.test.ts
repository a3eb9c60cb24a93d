import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import { isPluginError } from '@plugward/types';
import { afterEach, describe, expect, it } from 'vitest';
import { socketPair } from '../test/socket-pair.js';
import { IpcChannel } from './channel.js';
import { ipcFailureReason } from './errors.js';
import { type Frame, FrameDecoder } from './frame.js';
import { type TransportSink, transportOf } from './transport.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A port transport and the raw messages its other end receives. */
function rawEnd(maxFrameBytes?: number) {
  const { port1, port2 } = new MessageChannel();
  const got: unknown[] = [];
  port2.on('message', (m: unknown) => got.push(m));
  closers.push(() => {
    port1.close();
    port2.close();
  });
  const transport = transportOf(port1, maxFrameBytes);
  const events: string[] = [];
  const sink: TransportSink = {
    data: () => events.push('data'),
    end: () => events.push('end'),
    error: (e) => events.push(`error:${ipcFailureReason(e)}`),
    close: () => events.push('close'),
    drain: () => events.push('drain'),
  };
  transport.attach(sink);
  return { transport, got, port: port2, events };
}

/** A socket transport writing to one end of a socket pair (`a`), and what the other end received. */
async function writerOnSocket() {
  const [a, b] = await socketPair();
  closers.push(() => {
    a.destroy();
    b.destroy();
  });
  const received: Buffer[] = [];
  b.on('data', (d: Buffer) => received.push(d));
  const t = transportOf(a);
  t.attach({ data: () => {}, end: () => {}, error: () => {}, close: () => {}, drain: () => {} });
  return { a, received, t };
}

/** Waits until `condition` holds (a loaded machine delivers port messages late), at most 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

describe('the MessagePort transport', () => {
  it('moves a frame that owns its buffer: no copy, the sender keeps nothing', async () => {
    const { transport, got } = rawEnd();
    const frame = Buffer.allocUnsafe(64 * 1024 + 10).fill(7);
    expect(frame.buffer.byteLength).toBe(frame.length); // the premise: not a pool slice
    transport.write(frame);
    await until(() => got.length > 0);
    expect(got).toHaveLength(1);
    expect((got[0] as Uint8Array).byteLength).toBe(64 * 1024 + 10);
    expect((got[0] as Uint8Array)[100]).toBe(7);
    expect(frame.buffer.byteLength).toBe(0); // detached: moved, not cloned
  });

  it("sends a small frame (a slice of Node's pool) as exactly its bytes, not the pool", async () => {
    const { transport, got } = rawEnd();
    const frame = Buffer.from('hello');
    expect(frame.buffer.byteLength).toBeGreaterThan(frame.length); // the premise: a pool slice
    transport.write(frame);
    await until(() => got.length > 0);
    expect(Buffer.from(got[0] as Uint8Array).toString()).toBe('hello');
    expect((got[0] as Uint8Array).buffer.byteLength).toBe(5);
    expect(frame.toString()).toBe('hello'); // the pool was not moved
  });

  it('clones a borrowed frame (a hook result the plugin may still hold): never moved, nothing allocated here', async () => {
    const { transport, got } = rawEnd();
    const header = Buffer.from([1, 2, 3]);
    const result = new Uint8Array(64 * 1024).fill(5);
    // A view of a much larger buffer is sent as exactly its bytes (a clone carries a view's whole buffer).
    const big = new Uint8Array(1024 * 1024).fill(6);
    const slice = big.subarray(1000, 1000 + 8 * 1024);
    transport.write(header);
    transport.write(result, true);
    transport.write(slice, true);
    await until(() => got.length > 0);
    const list = got[0] as Uint8Array[];
    expect(list.map((c) => c.byteLength)).toEqual([3, 64 * 1024, 8 * 1024]);
    expect(result.byteLength).toBe(64 * 1024); // still the plugin's
    expect(result[0]).toBe(5);
    expect(list[1]?.[0]).toBe(5);
    expect(list[2]?.buffer.byteLength).toBe(8 * 1024);
    expect(big.byteLength).toBe(1024 * 1024);
  });

  it('writes a small frame into a reused send buffer of its size, posted as a copy: nothing new allocated, nothing moved', async () => {
    const { transport, got } = rawEnd();
    const first = transport.allocate(74).fill(1);
    transport.write(first);
    await until(() => got.length > 0);
    // The other end got a copy of exactly the frame; the send buffer stayed here, intact, and takes the next frame.
    expect((got[0] as Uint8Array).buffer.byteLength).toBe(74);
    expect((got[0] as Uint8Array)[0]).toBe(1);
    expect(first.buffer.byteLength).toBe(74);
    const second = transport.allocate(74);
    expect(second).toBe(first);
    second.fill(2);
    transport.write(second);
    await until(() => got.length > 1);
    expect((got[1] as Uint8Array)[73]).toBe(2);
    expect((got[0] as Uint8Array)[73]).toBe(1); // what was posted before is the other side's own copy
    // Another size, or a large frame: a buffer of its own (a large one moved as before).
    expect(transport.allocate(75)).not.toBe(first);
    const big = transport.allocate(64 * 1024).fill(3);
    transport.write(big);
    await until(() => got.length > 2);
    expect(big.buffer.byteLength).toBe(0);
  });

  it('never hands out a send buffer whose frame was not posted yet (frames of one tick, frames held back)', async () => {
    const { transport, got } = rawEnd();
    const frames = Array.from({ length: 20 }, (_, i) => transport.allocate(100).fill(i));
    expect(new Set(frames.map((f) => f.buffer)).size).toBe(20);
    for (const f of frames) transport.write(f);
    await until(() => got.length > 0);
    const all = Buffer.from(got[0] as Uint8Array);
    for (let i = 0; i < 20; i++) expect(all[i * 100 + 99]).toBe(i);
    // Posted: all twenty are idle again, at most eight are kept.
    const again = new Set(Array.from({ length: 20 }, () => transport.allocate(100).buffer));
    expect([...again].filter((b) => frames.some((f) => f.buffer === b)).length).toBe(8);
  });

  it('frames written in one tick cross as one message, in order', async () => {
    const { transport, got } = rawEnd();
    transport.write(Buffer.from('ab'));
    transport.write(Buffer.from('cd'));
    transport.write(Buffer.from('ef'));
    await until(() => got.length > 0);
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0] as Uint8Array).toString()).toBe('abcdef');
  });

  it('stops taking frames past its window until the reader acknowledges them', async () => {
    const { transport, port, events } = rawEnd();
    for (let i = 0; i < 17; i++) transport.write(Buffer.allocUnsafe(64 * 1024));
    expect(transport.needDrain).toBe(true);
    port.postMessage(17 * 64 * 1024);
    await until(() => events.includes('drain'));
    expect(transport.needDrain).toBe(false);
    expect(events).toContain('drain');
  });

  it('reports a foreign message, bytes in shared memory or an acknowledgement of bytes never sent as a protocol violation', async () => {
    const a = rawEnd();
    a.port.postMessage({ t: 'd', b: new Uint8Array(4) });
    const b = rawEnd();
    b.transport.write(Buffer.from('abc'));
    b.port.postMessage(1_000_000);
    // Shared memory: the sender could change the bytes while they are checked and decoded.
    const c = rawEnd();
    c.port.postMessage(new Uint8Array(new SharedArrayBuffer(16)));
    await until(() => a.events.length > 0 && b.events.length > 0 && c.events.length > 0);
    expect(a.events).toEqual(['error:MalformedFrame']);
    expect(b.events).toEqual(['error:MalformedFrame']);
    expect(c.events).toEqual(['error:MalformedFrame']);
  });

  it('a channel ends with a StreamError caused by MalformedFrame when its worker posts something else', async () => {
    const { port1, port2 } = new MessageChannel();
    closers.push(() => port2.close());
    const channel = new IpcChannel(port1, { role: 'host' });
    port2.postMessage('hello');
    const reason = await channel.closed;
    expect(isPluginError(reason, 'IpcError')).toBe(true);
    expect(ipcFailureReason(reason)).toBe('StreamError');
    expect(ipcFailureReason(reason.cause)).toBe('MalformedFrame');
  });

  it('ends a writer that ignores its credit: what a reader receives between two credits is bounded', async () => {
    // Code posting on the port itself (a worker plugin) bypasses the writer's window; the port's queue is the
    // reader's memory. Frames of at most 64 KiB here: an honest writer has at most 1 MiB + one frame in flight.
    const { port, events } = rawEnd(64 * 1024);
    // Valid bytes (cancel frames of unknown ids, which a channel ignores): only the amount is wrong.
    const cancels = Buffer.alloc(64 * 1024 - 4);
    for (let at = 0; at + 10 <= cancels.length; at += 10) {
      cancels.writeUInt32LE(6, at);
      cancels[at + 4] = 3;
    }
    for (let i = 0; i < 24; i++) port.postMessage(new Uint8Array(cancels));
    await until(() => events.some((e) => e.startsWith('error')));
    expect(events.filter((e) => e === 'data').length).toBeLessThan(24);
    expect(events.at(-1)).toBe('error:WindowExceeded');
  });

  it('an honest writer never reaches that bound, and its frames all arrive', async () => {
    const { port1, port2 } = new MessageChannel();
    closers.push(() => {
      port1.close();
      port2.close();
    });
    const writer = transportOf(port1, 64 * 1024);
    const reader = transportOf(port2, 64 * 1024);
    let received = 0;
    const errors: unknown[] = [];
    const frames = 200;
    let written = 0;
    const pump = (): void => {
      while (written < frames && !writer.needDrain) {
        writer.write(Buffer.alloc(64 * 1024, 1));
        written++;
      }
    };
    const quiet = { end: () => {}, close: () => {}, data: () => {}, drain: () => {} };
    writer.attach({ ...quiet, error: (e) => errors.push(e), drain: pump });
    reader.attach({ ...quiet, error: (e) => errors.push(e), data: (b) => (received += b.length) });
    pump();
    await until(() => received === frames * 64 * 1024 || errors.length > 0);
    expect(errors).toEqual([]);
    expect(received).toBe(frames * 64 * 1024);
  });

  it('credit rides on the answer: a 64 KiB echo costs one message each way, as a bare postMessage echo does', async () => {
    const { port1, port2 } = new MessageChannel();
    const posted = { host: 0, plugin: 0 };
    for (const [side, port] of [
      ['host', port1],
      ['plugin', port2],
    ] as const) {
      const post = port.postMessage.bind(port);
      port.postMessage = (m: unknown, t?: Parameters<typeof post>[1]) => {
        posted[side]++;
        post(m, t);
      };
    }
    const host = new IpcChannel(port1, { role: 'host' });
    const plugin = new IpcChannel(port2, { role: 'plugin' });
    closers.push(() => {
      host.destroy();
      plugin.destroy();
    });
    plugin.setRequestHandler((req) => ({ kind: 'HookResult', data: (req as { data: Uint8Array }).data }));
    const calls = 40;
    for (let i = 0; i < calls; i++) {
      const res = await host.sendRequest({
        kind: 'ExecuteHook',
        hookName: 'echo',
        data: new Uint8Array(64 * 1024),
      });
      expect(res.kind).toBe('HookResult');
    }
    // One frame each way per call; a credit of its own only where no frame went out before the thread turned.
    expect(posted.host).toBeLessThanOrEqual(calls + 2);
    expect(posted.plugin).toBeLessThanOrEqual(calls + 2);
  });

  it('a socket transport reuses a large send buffer once its write completed, never before; other streams never', async () => {
    const { a, received, t } = await writerOnSocket();
    const first = t.allocate(64 * 1024).fill(1);
    t.write(first);
    const second = t.allocate(64 * 1024).fill(2);
    expect(second.buffer).not.toBe(first.buffer); // the first is still being written
    t.write(second);
    await until(() => received.reduce((n, d) => n + d.length, 0) === 128 * 1024);
    await new Promise((r) => setImmediate(r)); // the writes' callbacks
    const third = t.allocate(64 * 1024);
    expect([first.buffer, second.buffer]).toContain(third.buffer);
    third.fill(3);
    const all = Buffer.concat(received);
    expect(all.subarray(0, 64 * 1024).every((x) => x === 1)).toBe(true);
    expect(all.subarray(64 * 1024).every((x) => x === 2)).toBe(true);
    // An in-memory stream may keep the written buffer itself: never pooled.
    const memory = transportOf(new PassThrough());
    memory.attach({ data: () => {}, end: () => {}, error: () => {}, close: () => {}, drain: () => {} });
    const m1 = memory.allocate(64 * 1024);
    memory.write(m1);
    await new Promise((r) => setImmediate(r));
    expect(memory.allocate(64 * 1024).buffer).not.toBe(m1.buffer);
  });
});

/**
 * What reaches `socket`'s handle from now on: one entry per write syscall Node makes — 1 for a plain write, the number
 * of chunks for a writev.
 */
function handleWritesOf(socket: Socket): number[] {
  const writes: number[] = [];
  type Gathered = { _writev: (chunks: unknown[], cb: () => void) => void };
  const plain = socket._write.bind(socket);
  const gathered = (socket as unknown as Gathered)._writev.bind(socket);
  socket._write = (chunk, encoding, cb) => {
    writes.push(1);
    plain(chunk, encoding, cb);
  };
  (socket as unknown as Gathered)._writev = (chunks, cb) => {
    writes.push(chunks.length);
    gathered(chunks, cb);
  };
  return writes;
}

describe('the socket transport', () => {
  it("reads a child's fd 3 (the socket child_process made) into one reused buffer; every frame decoded owns its bytes", async () => {
    // 48 frames of 64 KiB, each filled with its index: a frame left as a view of the reused buffer would show a later
    // frame's bytes by the end.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
         for (let i = 0; i < 48; i++) {
           const f = Buffer.alloc(10 + 65536, i);
           f.writeUInt32LE(6 + 65536, 0); f[4] = 2; f[5] = 4; f.writeUInt32LE(i, 6);
           s.write(f);
         }
         s.end();`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] },
    );
    closers.push(() => child.kill('SIGKILL'));
    const transport = transportOf(child.stdio[3] as Socket) as ReturnType<typeof transportOf> & {
      reusesReadBuffer: boolean;
    };
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const kinds = new Set<string>();
    const ended = new Promise<void>((resolve, reject) => {
      transport.attach({
        data: (chunk, borrowed) => {
          kinds.add(borrowed === true ? 'borrowed' : 'owned');
          if (borrowed === true) decoder.pushBorrowed(chunk, (f) => frames.push(f));
          else decoder.push(chunk, (f) => frames.push(f));
        },
        end: resolve,
        error: reject,
        close: () => undefined,
        drain: () => undefined,
      });
    });
    // This Node's sockets can lend their reads (if a Node upgrade takes that away, this says so here).
    expect(transport.reusesReadBuffer).toBe(true);
    await ended;
    expect(kinds).toEqual(new Set(['borrowed']));
    expect(frames.map((f) => f.id)).toEqual([...Array(48).keys()]);
    for (const f of frames) {
      expect(f.payload.length).toBe(65536);
      expect(f.payload.every((b) => b === f.id)).toBe(true);
    }
  });

  it('writes a lone frame at once (no cork until the next tick); a burst of one tick costs two writes, in order', async () => {
    const { a, received, t } = await writerOnSocket();
    const handleWrites = handleWritesOf(a);
    const frame = (i: number) => Buffer.from([i, i, i, i]);
    t.write(frame(0));
    // Already with the kernel: nothing corked or buffered in the stream, no tick waited for.
    expect(a.writableCorked).toBe(0);
    expect(a.writableLength).toBe(0);
    expect(handleWrites).toEqual([1]);
    await until(() => received.reduce((n, d) => n + d.length, 0) === 4);
    // A burst (the second frame before the next read): the rest of the tick leaves in one writev.
    handleWrites.length = 0;
    for (let i = 1; i <= 100; i++) t.write(frame(i));
    await until(() => received.reduce((n, d) => n + d.length, 0) === 4 * 101);
    expect(handleWrites.length).toBeLessThanOrEqual(2);
    expect(handleWrites.reduce((n, x) => n + x, 0)).toBe(100);
    const all = Buffer.concat(received);
    for (let i = 0; i <= 100; i++) expect([...all.subarray(4 * i, 4 * i + 4)]).toEqual([i, i, i, i]);
  });

  it("a large hook result answered later leaves with its header in one write, not as a lone header's own", async () => {
    const [a, b] = await socketPair();
    closers.push(() => {
      a.destroy();
      b.destroy();
    });
    const handleWrites = handleWritesOf(b);
    const host = new IpcChannel(a, { role: 'host' });
    const plugin = new IpcChannel(b, { role: 'plugin' });
    closers.push(() => {
      host.destroy();
      plugin.destroy();
    });
    const result = new Uint8Array(64 * 1024).fill(9);
    plugin.setRequestHandler(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return { kind: 'HookResult', data: result };
    });
    const res = await host.sendRequest({ kind: 'ExecuteHook', hookName: 'h', data: new Uint8Array(8) });
    expect(res.kind === 'HookResult' && res.data.length).toBe(64 * 1024);
    // Header and result, one writev.
    expect(handleWrites).toEqual([2]);
  });

  it('a socket made with its own onread buffer is left to its owner', async () => {
    const [a, b] = await socketPair();
    closers.push(() => {
      a.destroy();
      b.destroy();
    });
    const { Socket: NetSocket } = await import('node:net');
    const own = transportOf(a) as ReturnType<typeof transportOf> & { reusesReadBuffer: boolean };
    own.attach({ data: () => {}, end: () => {}, error: () => {}, close: () => {}, drain: () => {} });
    expect(own.reusesReadBuffer).toBe(true);
    const withOnread = new NetSocket({
      onread: { buffer: Buffer.alloc(16), callback: () => true },
    } as ConstructorParameters<typeof NetSocket>[0]);
    const other = transportOf(withOnread) as ReturnType<typeof transportOf> & { reusesReadBuffer: boolean };
    other.attach({ data: () => {}, end: () => {}, error: () => {}, close: () => {}, drain: () => {} });
    expect(other.reusesReadBuffer).toBe(false);
    withOnread.destroy();
  });
});
