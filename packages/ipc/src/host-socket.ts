import net from 'node:net';
import { PluginError } from '@plugward/types';
import { IpcChannel, type IpcChannelOptions } from './channel.js';

/**
 * The fd of the host's socket in a plugin process (the `process` and `sandbox` tiers): the host spawns the child with
 * `stdio: ['ignore', 'inherit', 'inherit', 'pipe']`, which makes fd 3 one end of a Unix socketpair.
 */
export const PLUGIN_IPC_FD = 3;

/**
 * Opens fd 3. Its channel's transport makes the socket read into one buffer reused for every read (not a new 64 KiB
 * buffer per read: a garbage-collection tail, issue 17), as it does for the host's end.
 */
function openHostSocket(): net.Socket {
  return new net.Socket({ fd: PLUGIN_IPC_FD, readable: true, writable: true });
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
