import net from 'node:net';
import { PluginError } from '@plugward/types';
import { IpcChannel, type IpcChannelOptions } from './channel.js';

/**
 * The fd of the host's socket in a plugin process (the `process` and `sandbox` tiers): the host spawns the child with
 * `stdio: ['ignore', 'inherit', 'inherit', 'pipe']`, which makes fd 3 one end of a Unix socketpair.
 */
export const PLUGIN_IPC_FD = 3;

/** Bytes one read of the host's socket may take: a 64 KiB hook call arrives in one read, not two (issue 17). */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Opens fd 3. Reads land in one buffer reused for every read, not in a new 64 KiB buffer per read (with the join of a
 * frame split across two reads, three allocations per large call: a garbage-collection tail, issue 17). Reused means
 * each read is copied out, to exactly its bytes, before anything sees it — what the channel decodes (a hook's input,
 * MessagePack binaries) are views of those bytes — and handed on as the socket's `data`, which is all the channel's
 * transport listens for.
 */
function openHostSocket(): net.Socket {
  // `onread` is a constructor option of net.Socket too (the Node docs), typed only on connect options.
  const options: net.SocketConstructorOpts & Pick<net.ConnectOpts, 'onread'> = {
    fd: PLUGIN_IPC_FD,
    readable: true,
    writable: true,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        socket.emit('data', Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    },
  };
  const socket = new net.Socket(options);
  return socket;
}

/**
 * In a plugin process: opens fd 3 and returns the `plugin`-role channel to the host.
 * @throws PluginError `IpcError` when fd 3 is missing or not a socket (the process was not started by a Plugward host).
 */
export function connectToHost(options: Omit<IpcChannelOptions, 'role'> = {}): IpcChannel {
  let socket: net.Socket;
  try {
    socket = openHostSocket();
  } catch (e) {
    throw new PluginError(
      'IpcError',
      `fd ${PLUGIN_IPC_FD} is not the host's socket (${e instanceof Error ? e.message : String(e)}): ` +
        "start plugin processes with stdio ['ignore', 'inherit', 'inherit', 'pipe']",
      { cause: e, details: { reason: 'StreamError' } },
    );
  }
  return new IpcChannel(socket, { ...options, role: 'plugin' });
}
