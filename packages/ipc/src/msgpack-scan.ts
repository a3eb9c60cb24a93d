import { ipcError } from './errors.js';

/** Most values (scalars and containers) in one structured message. */
export const MAX_VALUE_NODES = 1_000_000;
/** Most arrays and maps in one structured message (each costs ≈ 1 µs to build; this bounds one frame's CPU). */
export const MAX_VALUE_CONTAINERS = 50_000;

/**
 * Extension types let through to msgpackr: 0x00 (undefined), 0xff (timestamp → Date), 0x42 (big BigInt). The others
 * (records, structures, Set, Error, RegExp, typed arrays, pointers) are refused before msgpackr runs: some of them
 * read further MessagePack outside their declared length, and none is plain data.
 */
const ALLOWED_EXT = new Set([0x00, 0xff, 0x42]);

/**
 * A pre-pass over untrusted MessagePack, before msgpackr allocates anything: one iterative, allocation-free walk that
 * checks every length against the bytes present, the nesting depth, the node and container counts, the extension
 * types, and that exactly one value fills the buffer. A hostile peer can then neither blow the stack nor make the host
 * build millions of empty maps from a 16 MiB frame. Returns the number of values (scalars and containers) walked.
 * @throws PluginError `IpcError` `MalformedPayload`.
 */
export function scanMsgpack(bytes: Uint8Array, maxDepth: number): number {
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: number[] = [];
  let pos = 0;
  let remaining = 1;
  let nodes = 0;
  let containers = 0;
  const need = (n: number): void => {
    if (pos + n > end)
      throw ipcError('MalformedPayload', 'MessagePack value runs past the end of the payload');
  };
  for (;;) {
    if (remaining === 0) {
      const outer = stack.pop();
      if (outer === undefined) break;
      remaining = outer;
      continue;
    }
    remaining--;
    need(1);
    if (++nodes > MAX_VALUE_NODES) throw ipcError('MalformedPayload', `more than ${MAX_VALUE_NODES} values`);
    const t = bytes[pos++] as number;
    let children = -1;
    let skip = 0;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // fixint, negative fixint, nil, false, true
    } else if (t <= 0x8f) {
      children = (t & 0x0f) * 2;
    } else if (t <= 0x9f) {
      children = t & 0x0f;
    } else if (t <= 0xbf) {
      skip = t & 0x1f;
    } else {
      switch (t) {
        case 0xc4:
        case 0xd9:
          need(1);
          skip = 1 + (bytes[pos] as number);
          break;
        case 0xc5:
        case 0xda:
          need(2);
          skip = 2 + view.getUint16(pos);
          break;
        case 0xc6:
        case 0xdb:
          need(4);
          skip = 4 + view.getUint32(pos);
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const lenBytes = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
          need(lenBytes + 1);
          const len =
            lenBytes === 1
              ? (bytes[pos] as number)
              : lenBytes === 2
                ? view.getUint16(pos)
                : view.getUint32(pos);
          ext(bytes[pos + lenBytes] as number);
          skip = lenBytes + 1 + len;
          break;
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          need(1);
          ext(bytes[pos] as number);
          skip = 1 + (1 << (t - 0xd4));
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc:
          need(2);
          children = view.getUint16(pos);
          skip = 2;
          break;
        case 0xdd:
          need(4);
          children = view.getUint32(pos);
          skip = 4;
          break;
        case 0xde:
          need(2);
          children = view.getUint16(pos) * 2;
          skip = 2;
          break;
        case 0xdf:
          need(4);
          children = view.getUint32(pos) * 2;
          skip = 4;
          break;
        default:
          throw ipcError('MalformedPayload', `invalid MessagePack type byte 0x${t.toString(16)}`);
      }
    }
    need(skip);
    pos += skip;
    if (children >= 0) {
      if (++containers > MAX_VALUE_CONTAINERS) {
        throw ipcError('MalformedPayload', `more than ${MAX_VALUE_CONTAINERS} arrays and maps`);
      }
      // Each child takes at least one byte: a count beyond the bytes left is a lie, refused before anything is built.
      if (children > end - pos) throw ipcError('MalformedPayload', 'container count exceeds the payload');
      if (children > 0) {
        if (stack.length >= maxDepth)
          throw ipcError('MalformedPayload', `value nested deeper than ${maxDepth}`);
        stack.push(remaining);
        remaining = children;
      }
    }
  }
  if (pos !== end) throw ipcError('MalformedPayload', `${end - pos} trailing bytes after the value`);
  return nodes;
}

function ext(type: number): void {
  if (!ALLOWED_EXT.has(type)) {
    throw ipcError('MalformedPayload', `MessagePack extension type 0x${type.toString(16)} is not allowed`);
  }
}
