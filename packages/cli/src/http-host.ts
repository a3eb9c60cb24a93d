import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PluginRegistry } from '@plugward/registry';
import { isPluginError, PluginError } from '@plugward/types';

/**
 * Who may talk to `plugward run --http`. Loopback is reachable by every local process and, through the operator's
 * browser, by every web page they visit (a `text/plain` POST needs no CORS preflight; DNS rebinding makes a page
 * "same-origin" with the port). So each request must carry the bearer token, a `Host` naming the bound address (a
 * rebound name is refused), and no browser `Origin` unless the operator allowed it.
 */
export interface HttpGuard {
  /** The bearer token; compared in constant time. */
  token: string;
  /** The bound port, as `Host` must name it. */
  port: number;
  /** Exact `Origin` values (`scheme://host[:port]`) a browser page may call from; empty refuses every browser. */
  allowOrigins: readonly string[];
}

/** The outcome of {@link checkHttpRequest}: allowed (with the CORS origin to echo, if any) or refused with why. */
export type HttpCheck =
  | { ok: true; corsOrigin?: string }
  | { ok: false; status: 401 | 403 | 421; code: 'PermissionDenied'; message: string };

/** A fresh random bearer token (256 bits, base64url). */
export function generateHttpToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The `Host` values that name the bound loopback address. */
export function allowedHosts(port: number): ReadonlySet<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time comparison of a presented token with the expected one (lengths hidden by hashing first). */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Decides whether a request may be served: `Host` first (DNS rebinding), then `Origin`/`Sec-Fetch-Site` (a browser
 * page), then the bearer token. `preflight` is a CORS `OPTIONS` request, which carries no token by design; it passes
 * only for an allowed origin.
 */
export function checkHttpRequest(
  headers: http.IncomingHttpHeaders,
  guard: HttpGuard,
  preflight = false,
): HttpCheck {
  const host = header(headers, 'host')?.toLowerCase();
  if (host === undefined || !allowedHosts(guard.port).has(host)) {
    return {
      ok: false,
      status: 421,
      code: 'PermissionDenied',
      message: `the Host header must name this server (127.0.0.1:${guard.port}, localhost:${guard.port} or [::1]:${guard.port})`,
    };
  }
  const origin = header(headers, 'origin');
  const site = header(headers, 'sec-fetch-site');
  const allowedOrigin = origin !== undefined && guard.allowOrigins.includes(origin);
  if (origin !== undefined && !allowedOrigin) {
    return {
      ok: false,
      status: 403,
      code: 'PermissionDenied',
      message: 'requests from a browser page are refused (allow its origin with --allow-origin)',
    };
  }
  if (!allowedOrigin && site !== undefined && site !== 'none' && site !== 'same-origin') {
    return {
      ok: false,
      status: 403,
      code: 'PermissionDenied',
      message: 'cross-site browser requests are refused',
    };
  }
  if (preflight) {
    return allowedOrigin
      ? { ok: true, corsOrigin: origin }
      : { ok: false, status: 403, code: 'PermissionDenied', message: 'no CORS for this origin' };
  }
  const auth = header(headers, 'authorization') ?? '';
  const m = /^Bearer +(\S+) *$/i.exec(auth);
  if (!m || !tokenMatches(m[1] as string, guard.token)) {
    return {
      ok: false,
      status: 401,
      code: 'PermissionDenied',
      message: 'missing or wrong bearer token (Authorization: Bearer <token>, printed when run started)',
    };
  }
  return allowedOrigin ? { ok: true, corsOrigin: origin } : { ok: true };
}

/** Hints for the OS reasons a listen fails. */
function listenHint(code: string | undefined, port: number): string {
  switch (code) {
    case 'EADDRINUSE':
      return `another process listens on port ${port}: stop it, pick another port, or use --http 0 for a free one`;
    case 'EACCES':
    case 'EPERM':
      return `ports below 1024 need privileges: pick a port from 1024 to 65535, or --http 0`;
    default:
      return 'pick another port, or --http 0 for a free one';
  }
}

const MAX_HTTP_BODY = 1024 * 1024;

function statusFor(code: string): number {
  switch (code) {
    case 'PermissionDenied':
    case 'UntrustedPlugin':
      return 403;
    case 'InvalidArgument':
      return 400;
    case 'NotFound':
      return 404;
    case 'HookTimeout':
    case 'Timeout':
      return 504;
    default:
      return 500;
  }
}

/** A bound (not yet serving) HTTP host; {@link HttpHost.serve} attaches the registry once plugins are loaded. */
export interface HttpHost {
  /** The port actually bound (differs from the request when it was 0). */
  readonly port: number;
  /** Starts answering requests from `registry` (before this, every request gets 503). */
  serve(registry: PluginRegistry, token: string, allowOrigins: readonly string[]): void;
  /** Resolves on SIGINT/SIGTERM, after the server closed. */
  untilStopped(): Promise<void>;
  /** Closes the server now. */
  close(): Promise<void>;
}

/**
 * Binds 127.0.0.1:`port` before anything else is done, so a bad or busy port fails fast with the OS reason.
 * @throws PluginError `IoError` with the errno (EADDRINUSE, EACCES…) and a hint.
 */
export async function bindHttpHost(port: number): Promise<HttpHost> {
  let handler: http.RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ code: 'Unavailable', message: 'plugins are still loading' }));
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new PluginError(
          'IoError',
          `cannot listen on 127.0.0.1:${port}: ${e.code ?? 'error'} (${e.message.replace(/^listen \S+ /, '')})`,
          { cause: e, details: { errno: e.code, hint: listenHint(e.code, port) } },
        ),
      ),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    port: bound,
    serve(registry, token, allowOrigins) {
      handler = hookHandler(registry, { token, port: bound, allowOrigins });
    },
    untilStopped: () =>
      new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      }),
    close,
  };
}

function hookHandler(registry: PluginRegistry, guard: HttpGuard): http.RequestListener {
  return (req, res) => {
    const sendJson = (status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra });
      res.end(JSON.stringify(body));
    };
    const preflight = req.method === 'OPTIONS';
    const check = checkHttpRequest(req.headers, guard, preflight);
    if (!check.ok) {
      sendJson(
        check.status,
        { code: check.code, message: check.message },
        check.status === 401 ? { 'www-authenticate': 'Bearer' } : {},
      );
      req.resume();
      return;
    }
    const cors: http.OutgoingHttpHeaders =
      check.corsOrigin === undefined
        ? {}
        : { 'access-control-allow-origin': check.corsOrigin, vary: 'Origin' };
    if (preflight) {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/plugins') {
      sendJson(
        200,
        registry.getAllPlugins().map((p) => ({
          name: p.name,
          version: p.version,
          status: p.status,
          tier: p.tier ?? null,
          trustLevel: p.trustLevel,
          error: p.error ?? null,
        })),
        cors,
      );
      return;
    }
    const m = /^\/hooks\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      sendJson(404, { code: 'NotFound', message: 'use POST /hooks/<hook> or GET /plugins' }, cors);
      req.resume();
      return;
    }
    let hook: string;
    try {
      hook = decodeURIComponent(m[1] as string);
    } catch {
      sendJson(400, { code: 'InvalidArgument', message: 'malformed hook name' }, cors);
      req.resume();
      return;
    }
    if (registry.hooks.getHooks(hook).length === 0) {
      sendJson(404, { code: 'NotFound', message: 'no loaded plugin handles this hook', hook }, cors);
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_HTTP_BODY) {
      sendJson(413, { code: 'InvalidArgument', message: `body larger than ${MAX_HTTP_BODY} bytes` }, cors);
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_HTTP_BODY) {
        sendJson(413, { code: 'InvalidArgument', message: `body larger than ${MAX_HTTP_BODY} bytes` }, cors);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      registry.hooks.execute(hook, new Uint8Array(Buffer.concat(chunks))).then(
        (out) => {
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'cache-control': 'no-store',
            ...cors,
          });
          res.end(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
        },
        (e: unknown) => {
          const error = isPluginError(e)
            ? { code: e.code, message: e.message }
            : { code: 'Error', message: String(e) };
          sendJson(statusFor(error.code), error, cors);
        },
      );
    });
  };
}
