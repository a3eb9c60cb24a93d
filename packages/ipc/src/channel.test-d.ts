import type { IpcRequest, IpcResponse, PluginErrorCode } from '@plugward/types';
import { describe, expectTypeOf, it } from 'vitest';
import { expectResponse, type IncomingRequest, type IpcChannel } from './channel.js';
import type { ExecuteHookRequest } from './protocol.js';

describe('IPC request/response unions', () => {
  it('narrow by kind', () => {
    const narrow = (res: IpcResponse) => {
      switch (res.kind) {
        case 'HookResult':
          expectTypeOf(res.data).toEqualTypeOf<Uint8Array>();
          return;
        case 'Error':
          expectTypeOf(res.message).toEqualTypeOf<string>();
          // The code may be left out (a message-only error response).
          expectTypeOf(res.code).toEqualTypeOf<PluginErrorCode | undefined>();
          return;
        case 'Success':
        case 'Metrics':
        case 'FetchResult':
          return;
        default:
          expectTypeOf(res).toBeNever();
      }
    };
    expectTypeOf(narrow).parameter(0).toEqualTypeOf<IpcResponse>();
    expectTypeOf<Extract<IpcRequest, { kind: 'ContextSet' }>>().toEqualTypeOf<{
      kind: 'ContextSet';
      key: string;
      value: unknown;
    }>();
    expectTypeOf<{ kind: 'Error'; message: string }>().toMatchTypeOf<IpcResponse>();
    expectTypeOf<{ kind: 'Bogus' }>().not.toMatchTypeOf<IpcResponse>();
  });

  it('expectResponse returns the member of the kind asked for', () => {
    expectTypeOf(expectResponse<'HookResult'>).returns.toEqualTypeOf<{
      kind: 'HookResult';
      data: Uint8Array;
    }>();
    expectTypeOf(expectResponse<'Metrics'>).returns.toHaveProperty('data');
  });

  it('the pull API hands out typed requests and takes responses', () => {
    expectTypeOf<IpcChannel['receiveRequest']>().returns.resolves.toEqualTypeOf<IncomingRequest>();
    expectTypeOf<IncomingRequest['request']>().toEqualTypeOf<IpcRequest | ExecuteHookRequest>();
    expectTypeOf<IncomingRequest['id']>().toEqualTypeOf<number>();
    expectTypeOf<IpcChannel['sendResponse']>().parameters.toEqualTypeOf<[number, IpcResponse]>();
    expectTypeOf<IpcChannel['sendRequest']>().returns.resolves.toEqualTypeOf<IpcResponse>();
  });
});
