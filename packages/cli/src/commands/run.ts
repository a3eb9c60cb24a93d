import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { PluginRegistry } from '@plugward/registry';
import { checkSandboxSupport, LinuxSandbox } from '@plugward/sandbox-linux';
import { ISOLATION_TIERS, type IsolationTier, isPluginError, PluginError } from '@plugward/types';
import { COMMON_OPTIONS, type Command, required, withUsage } from '../command.js';
import { securityFromOptions, TRUST_KEY_OPTIONS } from '../keys.js';

const usage = `usage: plugward run <dir> --pub <name.pub|HEX> [--pub ...]
                    --list FILE (--key-hex HEX | --key-hex-env VAR | --passphrase-env VAR)
                    [--tier in-process|worker|process|sandbox] [--allow-untrusted] [--http PORT] [--json]

A small host for trying plugins out: scans <dir> for signed manifests, loads every plugin that is on the trust list
(at --tier, default in-process; with --allow-untrusted the others too, in the sandbox only), then reads requests from
stdin, one per line: "<hook> <text>". Each result is printed as one line ("<hook> → <text>", or JSON with --json).
End of input unloads everything and exits.

With --http PORT it serves HTTP on 127.0.0.1 instead (PORT 0 picks a free port; the address is printed on stderr):
  POST /hooks/<hook>   body = the hook's input bytes (at most 1 MiB) → 200 with the output bytes,
                       or a JSON error { code, message } with 400/403/413/500/504
  GET  /plugins        → JSON list of the plugins and their status
SIGINT/SIGTERM unload everything and exit.`;

/** `plugward run <dir>`: a host that serves hooks from stdin lines. */
export const run: Command = {
  name: 'run',
  summary: 'load the trusted plugins of a directory and serve hooks from stdin lines',
  usage,
  async run(argv, io) {
    const { values, positionals } = withUsage(usage, () =>
      parseArgs({
        args: argv,
        options: {
          ...COMMON_OPTIONS,
          pub: { type: 'string', multiple: true },
          tier: { type: 'string' },
          'allow-untrusted': { type: 'boolean' },
          http: { type: 'string' },
          ...TRUST_KEY_OPTIONS,
        },
        allowPositionals: true,
        strict: true,
      }),
    );
    const dir = resolve(io.cwd, required(positionals[0], '<dir>', usage));
    required(values.list, '--list', usage);
    const tier = (values.tier ?? 'in-process') as IsolationTier;
    if (!ISOLATION_TIERS.includes(tier)) {
      throw new PluginError(
        'InvalidArgument',
        `--tier must be one of ${ISOLATION_TIERS.join(', ')}\n\n${usage}`,
      );
    }
    const allowUntrusted = values['allow-untrusted'] === true;
    const { security } = await securityFromOptions(values, io, !allowUntrusted);
    const needSandbox = tier === 'sandbox' || allowUntrusted;
    const sandbox = needSandbox && (await checkSandboxSupport()).supported ? new LinuxSandbox() : undefined;
    const say = (line: string) => io.stderr.write(`${line}\n`);
    const registry = new PluginRegistry({
      security,
      ...(sandbox ? { sandbox } : {}),
      policy: { onlyTrusted: !allowUntrusted },
      defaultTier: tier,
      log: (plugin, level, message) => say(`[${plugin}] ${level}: ${message}`),
    });
    try {
      const found = await registry.scanDirectory(dir);
      say(`found ${found} plugin(s) in ${dir}`);
      const candidates = [
        ...registry.getAvailablePlugins(),
        ...(allowUntrusted ? registry.getUntrustedPlugins() : []),
      ];
      for (const p of candidates) {
        try {
          await registry.loadPluginByName(p.name);
          const info = registry.getPluginInfo(p.name);
          say(`loaded ${p.name}@${p.version} (${info?.trustLevel}) at tier ${info?.tier}`);
        } catch (e) {
          say(`not loaded ${p.name}: ${isPluginError(e) ? `${e.code}: ${e.message}` : String(e)}`);
        }
      }
      for (const p of registry.getUntrustedPlugins()) {
        if (!allowUntrusted) say(`skipped ${p.name}: untrusted (${p.error ?? 'not on the trust list'})`);
      }
      if (values.http !== undefined) {
        const port = Number(values.http);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new PluginError(
            'InvalidArgument',
            `--http must be a port number (0 picks a free one)\n\n${usage}`,
          );
        }
        await serveHttp(registry, port, say);
        return 0;
      }
      const rl = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      for await (const line of rl) {
        if (line.trim() === '') continue;
        const space = line.indexOf(' ');
        const hook = space < 0 ? line : line.slice(0, space);
        const text = space < 0 ? '' : line.slice(space + 1);
        try {
          const out = dec.decode(await registry.hooks.execute(hook, enc.encode(text)));
          io.stdout.write(
            values.json ? `${JSON.stringify({ hook, ok: true, output: out })}\n` : `${hook} → ${out}\n`,
          );
        } catch (e) {
          const error = isPluginError(e)
            ? { code: e.code, message: e.message }
            : { code: 'Error', message: String(e) };
          io.stdout.write(
            values.json
              ? `${JSON.stringify({ hook, ok: false, error })}\n`
              : `${hook} ✗ ${error.code}: ${error.message}\n`,
          );
        }
      }
    } finally {
      await registry.close();
    }
    return 0;
  },
};

const MAX_HTTP_BODY = 1024 * 1024;

function statusFor(code: string): number {
  switch (code) {
    case 'PermissionDenied':
    case 'UntrustedPlugin':
      return 403;
    case 'InvalidArgument':
      return 400;
    case 'HookTimeout':
    case 'Timeout':
      return 504;
    default:
      return 500;
  }
}

/** Serves hooks over HTTP on 127.0.0.1 until SIGINT/SIGTERM. Loopback only: this is a tool for trying plugins out. */
async function serveHttp(registry: PluginRegistry, port: number, say: (line: string) => void): Promise<void> {
  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/plugins') {
      sendJson(
        res,
        200,
        registry.getAllPlugins().map((p) => ({
          name: p.name,
          version: p.version,
          status: p.status,
          tier: p.tier ?? null,
          trustLevel: p.trustLevel,
          error: p.error ?? null,
        })),
      );
      return;
    }
    const m = /^\/hooks\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      sendJson(res, 404, { code: 'NotFound', message: 'use POST /hooks/<hook> or GET /plugins' });
      return;
    }
    const hook = decodeURIComponent(m[1] as string);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_HTTP_BODY) {
      sendJson(res, 413, { code: 'InvalidArgument', message: `body larger than ${MAX_HTTP_BODY} bytes` });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_HTTP_BODY) {
        sendJson(res, 413, { code: 'InvalidArgument', message: `body larger than ${MAX_HTTP_BODY} bytes` });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      registry.hooks.execute(hook, new Uint8Array(Buffer.concat(chunks))).then(
        (out) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
        },
        (e: unknown) => {
          const error = isPluginError(e)
            ? { code: e.code, message: e.message }
            : { code: 'Error', message: String(e) };
          sendJson(res, statusFor(error.code), error);
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new PluginError('IoError', `cannot listen on 127.0.0.1:${port}`, { cause: e })),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  say(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
