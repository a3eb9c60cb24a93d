import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_EXTERNAL_API_MS,
  type FetchRequest,
  type FetchResponse,
  type NetworkTarget,
  PluginError,
} from '@plugward/types';

/** A resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Options of {@link FetchBroker}. */
export interface FetchBrokerOptions {
  /** What the plugin may reach: domains (`api.example.com`, `*.example.com`), IPs and CIDRs, with optional ports. */
  allowedTargets: readonly NetworkTarget[];
  /** Name resolution (default: `dns.promises.lookup` with `all: true`). */
  lookup?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
  /** Largest response body passed back, bytes (default 8 MiB). */
  maxResponseBytes?: number;
  /** Largest request body accepted, bytes (default 8 MiB). */
  maxRequestBytes?: number;
  /** Whole-request timeout (default `DEFAULT_MAX_EXTERNAL_API_MS`). */
  timeoutMs?: number;
  /**
   * Most requests of this broker (one broker serves one plugin) in flight at once; one more is refused with
   * `QuotaExceeded` (`details.resource: 'fetch-requests'`). The registry passes the plugin's `maxConnections`.
   * Default `DEFAULT_MAX_CONNECTIONS` (50).
   */
  maxInFlight?: number;
  /**
   * Most bytes the host holds at once for this broker's requests: request bodies plus the response bodies received so
   * far. A request that would pass it is refused, a response that grows past it is aborted, both with `QuotaExceeded`
   * (`details.resource: 'fetch-bytes'`). Default 32 MiB.
   */
  maxBufferedBytes?: number;
}

/** Default {@link FetchBrokerOptions.maxBufferedBytes}: 32 MiB. */
export const DEFAULT_FETCH_BUFFERED_BYTES = 32 * 1024 * 1024;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_URL_LENGTH = 8192;

/** Loopback, private, link-local (incl. the 169.254.169.254 metadata service), CGNAT, multicast, reserved. */
const BLOCKED = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['100::', 64],
  // Local-use NAT64 (RFC 8215): an operator's own translator, any IPv4 behind it (the metadata service too).
  ['64:ff9b:1::', 48],
] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv6');
}

/** The IPv4 address embedded in an IPv4-mapped/compatible or NAT64 IPv6 address, if any. */
function embeddedIPv4(v6: string): string | undefined {
  const bytes = ipv6Bytes(v6);
  if (bytes === undefined) return undefined;
  const zeros = (from: number, to: number): boolean => bytes.slice(from, to).every((b) => b === 0);
  const mapped = zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff;
  const compat = zeros(0, 12);
  const nat64 = bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12);
  return mapped || compat || nat64 ? bytes.slice(12).join('.') : undefined;
}

/**
 * The IPv4 addresses an IPv6 address of a tunnelling scheme carries to a relay: 6to4 (`2002::/16`, bits 16–47) and
 * Teredo (`2001::/32`: its server, bits 32–63, and its client, the last 32 bits inverted).
 */
function tunnelledIPv4(v6: string): string[] {
  const bytes = ipv6Bytes(v6);
  if (bytes === undefined) return [];
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return [bytes.slice(2, 6).join('.')];
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0 && bytes[3] === 0) {
    return [
      bytes.slice(4, 8).join('.'),
      bytes
        .slice(12)
        .map((b) => b ^ 0xff)
        .join('.'),
    ];
  }
  return [];
}

function ipv6Bytes(v6: string): number[] | undefined {
  let s = v6.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4?.[1] !== undefined) {
    const parts = v4[1].split('.').map(Number);
    s = `${s.slice(0, -v4[1].length)}${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  const out: number[] = [];
  for (const g of groups) {
    const n = Number.parseInt(g, 16);
    if (!/^[0-9a-f]{1,4}$/.test(g) || Number.isNaN(n)) return undefined;
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

/**
 * True for addresses a brokered fetch must not reach unless explicitly listed: loopback, private (RFC 1918, ULA),
 * link-local (169.254/16 with the cloud metadata service, fe80::/10), CGNAT, multicast, unspecified and reserved,
 * including those ranges hidden in IPv4-mapped, IPv4-compatible, NAT64 (and the whole local-use NAT64 prefix), 6to4 and
 * Teredo IPv6 forms. Non-IP input counts as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIPv4(address);
    if (v4 !== undefined) return BLOCKED.check(v4, 'ipv4');
    if (tunnelledIPv4(address).some((a) => BLOCKED.check(a, 'ipv4'))) return true;
    return BLOCKED.check(address.split('%')[0] ?? address, 'ipv6');
  }
  return true;
}

interface CompiledTarget {
  kind: 'domain' | 'wildcard' | 'ip';
  host: string;
  ips?: net.BlockList;
  /**
   * True when this IP target names blocked space on purpose (`127.0.0.1`, `10.0.0.0/8`): its network is itself a
   * blocked address and the prefix is narrow. A wide range (`0.0.0.0/0`, `::/0`, `96.0.0.0/3`) lists public space and
   * never unblocks loopback, private or metadata addresses that happen to fall inside it.
   */
  namesBlocked?: boolean;
  ports?: ReadonlySet<number>;
}

function compileTarget(t: NetworkTarget): CompiledTarget {
  if (typeof t.host !== 'string' || t.host.length === 0 || t.host.length > 253) {
    throw new PluginError('InvalidArgument', `invalid network target ${JSON.stringify(t.host)}`);
  }
  const ports = t.ports === undefined ? undefined : new Set(t.ports);
  for (const p of ports ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new PluginError('InvalidArgument', `invalid port ${p}`);
  }
  const host = t.host.toLowerCase().replace(/^\[|\]$/g, '');
  const [ip, bitsText] = host.split('/');
  const fam = net.isIP(ip ?? '');
  if (fam !== 0) {
    const bits = bitsText === undefined ? (fam === 4 ? 32 : 128) : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128)) {
      throw new PluginError('InvalidArgument', `invalid CIDR ${t.host}`);
    }
    const list = new net.BlockList();
    list.addSubnet(ip ?? '', bits, fam === 4 ? 'ipv4' : 'ipv6');
    const mapped = fam === 6 ? embeddedIPv4(ip ?? '') : undefined;
    const v4bits = mapped !== undefined ? bits - 96 : fam === 4 ? bits : -1;
    const namesBlocked = isBlockedAddress(ip ?? '') && (v4bits >= 0 ? v4bits >= 8 : bits >= 7);
    return { kind: 'ip', host, ips: list, namesBlocked, ports };
  }
  if (!/^(\*\.)?([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}\.?$/.test(host)) {
    throw new PluginError('InvalidArgument', `invalid network target ${JSON.stringify(t.host)}`);
  }
  const clean = host.replace(/\.$/, '');
  return clean.startsWith('*.')
    ? { kind: 'wildcard', host: clean.slice(1), ports }
    : { kind: 'domain', host: clean, ports };
}

function ipListed(t: CompiledTarget, address: string): boolean {
  if (t.ips === undefined) return false;
  const fam = net.isIP(address);
  if (fam === 6) {
    const v4 = embeddedIPv4(address);
    if (v4 !== undefined && t.ips.check(v4, 'ipv4')) return true;
  }
  return fam !== 0 && t.ips.check(address, fam === 4 ? 'ipv4' : 'ipv6');
}

const defaultLookup = async (hostname: string): Promise<readonly ResolvedAddress[]> =>
  (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/**
 * The host side of the `restricted` network mode: serves a sandboxed plugin's `Fetch` requests (which arrive over
 * IPC, since the sandbox has no network) after checking the URL against the allow-list *and* every resolved address
 * against the blocked ranges, then connects to exactly the address it checked (no second lookup, so DNS rebinding
 * can't swap it). Redirects are returned to the plugin, not followed.
 *
 * @example
 * ```ts
 * const broker = new FetchBroker({ allowedTargets: [{ host: 'api.example.com', ports: [443] }] });
 * const res = await broker.fetch({ url: 'https://api.example.com/v1', method: 'GET', headers: {} });
 * ```
 */
export class FetchBroker {
  readonly #targets: readonly CompiledTarget[];
  readonly #lookup: (hostname: string) => Promise<readonly ResolvedAddress[]>;
  readonly #maxResponse: number;
  readonly #maxRequest: number;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #maxBuffered: number;
  #inFlight = 0;
  #buffered = 0;

  constructor(options: FetchBrokerOptions) {
    this.#targets = options.allowedTargets.map(compileTarget);
    this.#lookup = options.lookup ?? defaultLookup;
    this.#maxResponse = options.maxResponseBytes ?? 8 * 1024 * 1024;
    this.#maxRequest = options.maxRequestBytes ?? 8 * 1024 * 1024;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_MAX_EXTERNAL_API_MS;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_CONNECTIONS;
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_FETCH_BUFFERED_BYTES;
    for (const [name, v] of [
      ['maxInFlight', this.#maxInFlight],
      ['maxBufferedBytes', this.#maxBuffered],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new PluginError('InvalidArgument', `fetch broker ${name} must be a positive integer`);
      }
    }
  }

  /** Requests in flight now (0 once every request has settled). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Bytes of request and response bodies held now (0 once every request has settled). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  #quota(resource: 'fetch-requests' | 'fetch-bytes', used: number, limit: number): PluginError {
    return new PluginError(
      'QuotaExceeded',
      resource === 'fetch-requests'
        ? `too many brokered requests in flight (limit ${limit})`
        : `brokered request and response bodies would hold ${used} bytes (limit ${limit})`,
      { details: { resource, used, limit } },
    );
  }

  /**
   * Validates `url` and resolves it to the one address a request would use. Throws `PermissionDenied` when the URL
   * or any resolved address is not allowed, `InvalidArgument` for a malformed URL.
   */
  async check(rawUrl: string): Promise<{ url: URL; port: number } & ResolvedAddress> {
    if (typeof rawUrl !== 'string' || rawUrl.length > MAX_URL_LENGTH) {
      throw new PluginError('InvalidArgument', 'fetch URL must be a string of at most 8 KiB');
    }
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch (cause) {
      throw new PluginError('InvalidArgument', 'fetch URL is malformed', { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PluginError('PermissionDenied', `fetch allows http and https only, not ${url.protocol}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new PluginError('InvalidArgument', 'fetch URLs must not carry credentials');
    }
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    const host = url.hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
    const portOk = (t: CompiledTarget): boolean => t.ports === undefined || t.ports.has(port);
    const deny = (why: string): PluginError =>
      new PluginError('PermissionDenied', `fetch to ${url.host} refused: ${why}`, {
        details: { host, port },
      });

    let addresses: readonly ResolvedAddress[];
    if (net.isIP(host) !== 0) {
      if (
        !this.#targets.some(
          (t) => portOk(t) && (ipListed(t, host) || (t.kind === 'domain' && t.host === host)),
        )
      ) {
        throw deny('address not in the allow-list');
      }
      addresses = [{ address: host, family: net.isIP(host) === 6 ? 6 : 4 }];
    } else {
      const named = this.#targets.some(
        (t) =>
          portOk(t) &&
          ((t.kind === 'domain' && t.host === host) || (t.kind === 'wildcard' && host.endsWith(t.host))),
      );
      if (!named) throw deny('host not in the allow-list');
      try {
        addresses = await this.#lookup(host);
      } catch (cause) {
        throw new PluginError('IoError', `cannot resolve ${host}`, { cause });
      }
      if (addresses.length === 0) throw new PluginError('IoError', `${host} resolved to no address`);
    }
    // Every answer must pass: a mixed answer is how rebinding attacks slip a private address in.
    for (const a of addresses) {
      const listed = this.#targets.some(
        (t) => portOk(t) && t.namesBlocked === true && ipListed(t, a.address),
      );
      if (isBlockedAddress(a.address) && !listed) {
        throw deny(`${a.address} is a loopback, private, link-local or reserved address`);
      }
    }
    const first = addresses[0] as ResolvedAddress;
    return { url, port, address: first.address, family: first.family };
  }

  /** Performs a brokered request; see {@link FetchBroker.check} for what is refused. */
  async fetch(request: FetchRequest, signal?: AbortSignal): Promise<FetchResponse> {
    const method = typeof request.method === 'string' ? request.method.toUpperCase() : '';
    if (!METHODS.has(method))
      throw new PluginError('InvalidArgument', `fetch method ${String(request.method)} not allowed`);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers ?? {})) {
      if (!TOKEN.test(k) || typeof v !== 'string' || /[\r\n\0]/.test(v)) {
        throw new PluginError('InvalidArgument', `invalid fetch header ${JSON.stringify(k)}`);
      }
      if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
    }
    const body = request.body;
    if (body !== undefined && (!(body instanceof Uint8Array) || body.byteLength > this.#maxRequest)) {
      throw new PluginError(
        'InvalidArgument',
        `fetch body must be a Uint8Array of at most ${this.#maxRequest} bytes`,
      );
    }
    if (this.#inFlight >= this.#maxInFlight) {
      throw this.#quota('fetch-requests', this.#inFlight + 1, this.#maxInFlight);
    }
    const bodyBytes = body?.byteLength ?? 0;
    if (this.#buffered + bodyBytes > this.#maxBuffered) {
      throw this.#quota('fetch-bytes', this.#buffered + bodyBytes, this.#maxBuffered);
    }
    // Counted from here to the end, whatever happens: a refused, failed or aborted request frees what it held.
    this.#inFlight++;
    this.#buffered += bodyBytes;
    const held = { bytes: bodyBytes };
    try {
      return await this.#perform(request.url, method, headers, body, held, signal);
    } finally {
      this.#inFlight--;
      this.#buffered -= held.bytes;
    }
  }

  async #perform(
    rawUrl: string,
    method: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    held: { bytes: number },
    signal: AbortSignal | undefined,
  ): Promise<FetchResponse> {
    const target = await this.check(rawUrl);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const abort = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const mod = target.url.protocol === 'https:' ? https : http;
    return new Promise<FetchResponse>((resolve, reject) => {
      const req = mod.request(
        {
          protocol: target.url.protocol,
          hostname: target.url.hostname.replace(/^\[|\]$/g, ''),
          port: target.port,
          path: `${target.url.pathname}${target.url.search}`,
          method,
          headers: {
            ...headers,
            ...(body === undefined ? {} : { 'content-length': String(body.byteLength) }),
          },
          signal: abort,
          // A connection of its own, closed with the response: no pooled socket outlives the request (or the plugin),
          // so the plugin's sockets are exactly its requests in flight (capped by maxInFlight).
          agent: false,
          // Connect to the address that was checked, never to a second answer from DNS.
          lookup: (_host, opts, cb) => {
            if ((opts as { all?: boolean }).all === true) {
              (cb as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [
                { address: target.address, family: target.family },
              ]);
            } else cb(null, target.address, target.family);
          },
        },
        (res) => {
          let chunks: Buffer[] = [];
          let size = 0;
          let tooBig = false;
          const refuse = (error: PluginError): void => {
            tooBig = true;
            chunks = [];
            reject(error);
            res.destroy();
            req.destroy();
          };
          res.on('data', (c: Buffer) => {
            if (tooBig) return;
            size += c.byteLength;
            if (size > this.#maxResponse) {
              refuse(new PluginError('IoError', `response larger than ${this.#maxResponse} bytes`));
              return;
            }
            if (this.#buffered + c.byteLength > this.#maxBuffered) {
              refuse(this.#quota('fetch-bytes', this.#buffered + c.byteLength, this.#maxBuffered));
              return;
            }
            this.#buffered += c.byteLength;
            held.bytes += c.byteLength;
            chunks.push(c);
          });
          res.on('error', (e) => {
            if (!tooBig)
              reject(
                new PluginError('IoError', `fetch ${target.url.host} failed: ${e.message}`, { cause: e }),
              );
          });
          res.on('close', () => {
            // Ended without 'end' (aborted, reset): settle, so the request's count and bytes are released.
            if (!res.complete && !tooBig) {
              chunks = [];
              reject(
                abort.aborted
                  ? new PluginError('Timeout', `fetch ${target.url.host} aborted or timed out`)
                  : new PluginError('IoError', `fetch ${target.url.host}: the response was cut off`),
              );
            }
          });
          res.on('end', () => {
            if (tooBig) return;
            const out: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: out,
              body: new Uint8Array(Buffer.concat(chunks)),
            });
          });
        },
      );
      req.on('error', (e) =>
        reject(
          e instanceof PluginError
            ? e
            : abort.aborted
              ? new PluginError('Timeout', `fetch ${target.url.host} aborted or timed out`, { cause: e })
              : new PluginError('IoError', `fetch ${target.url.host} failed: ${e.message}`, { cause: e }),
        ),
      );
      req.end(body === undefined ? undefined : Buffer.from(body));
    });
  }
}
