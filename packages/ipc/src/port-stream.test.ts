import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { messagePortStream } from './port-stream.js';

/** The raw messages the other end of the channel receives. */
function rawEnd() {
  const { port1, port2 } = new MessageChannel();
  const got: { t: string; b?: Uint8Array }[] = [];
  port2.on('message', (m: { t: string; b?: Uint8Array }) => got.push(m));
  const close = () => {
    port1.close();
    port2.close();
  };
  return { stream: messagePortStream(port1), got, close };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('messagePortStream', () => {
  it("a small Buffer (a slice of Node's pool) crosses as exactly its bytes, not the pool", async () => {
    const { stream, got, close } = rawEnd();
    const chunk = Buffer.from('hello');
    expect(chunk.buffer.byteLength).toBeGreaterThan(chunk.length); // the test's premise: a pool slice
    stream.write(chunk);
    await settle();
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.b!).toString()).toBe('hello');
    expect(got[0]!.b!.buffer.byteLength).toBe(5);
    // The writer's bytes are untouched (copied, not moved).
    expect(chunk.toString()).toBe('hello');
    close();
  });

  it('frames written in one tick (corked) cross as one message, in order', async () => {
    const { stream, got, close } = rawEnd();
    stream.cork();
    stream.write(Buffer.from('ab'));
    stream.write(Buffer.from('cd'));
    stream.write(new Uint8Array([101, 102]));
    process.nextTick(() => stream.uncork());
    await settle();
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.b!).toString()).toBe('abcdef');
    close();
  });

  it('a chunk that is its whole buffer stays usable by the writer', async () => {
    const { stream, got, close } = rawEnd();
    const chunk = Buffer.alloc(64 * 1024, 7);
    stream.write(chunk);
    await settle();
    expect(chunk.length).toBe(64 * 1024);
    expect(chunk[100]).toBe(7);
    expect(got[0]!.b!.byteLength).toBe(64 * 1024);
    close();
  });
});
