import { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';

/**
 * A byte stream over a worker `MessagePort`, so the worker tier speaks the same framed IPC as the process tiers.
 * Chunks are transferred, not copied, when they own their whole ArrayBuffer.
 */
export function portDuplex(port: MessagePort): Duplex {
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      try {
        const copy = new Uint8Array(chunk.byteLength);
        copy.set(chunk);
        port.postMessage(copy, [copy.buffer]);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    final(done) {
      port.close();
      done();
    },
    destroy(err, done) {
      port.close();
      done(err);
    },
  });
  port.on('message', (msg: unknown) => {
    if (msg instanceof Uint8Array) duplex.push(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
    else duplex.destroy(new Error('unexpected message on plugin port'));
  });
  port.on('close', () => duplex.push(null));
  return duplex;
}
