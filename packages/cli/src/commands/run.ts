import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { PluginRegistry } from '@plugward/registry';
import {
  displayText,
  ISOLATION_TIERS,
  type IsolationTier,
  isPluginError,
  PluginError,
  type PluginInfo,
} from '@plugward/types';
import { COMMON_OPTIONS, type Command, required, withUsage } from '../command.js';
import { describeHooks, describeRequirements, GRANT_SYNTAX, parseGrantFlags } from '../grant-flags.js';
import { securityFromOptions, TRUST_KEY_OPTIONS } from '../keys.js';
import { pickSandbox, SANDBOX_OPTION, SANDBOX_SYNTAX } from '../sandbox-choice.js';

const usage = `usage: plugward run <dir> --pub <name.pub|HEX> [--pub ...]
                    --list FILE (--key-hex HEX | --key-hex-env VAR | --passphrase-env VAR)
                    [--tier in-process|worker|process|sandbox] [--allow-untrusted [--grant ...]]
                    [--sandbox auto|bwrap|landlock] [--http PORT] [--json]

A small host for trying plugins out: scans <dir> for signed manifests, loads every plugin that is on the trust list
(at --tier, default in-process; with --allow-untrusted the others too, in the sandbox only), then reads requests from
stdin, one per line: "<hook> <text>". Each result is printed as one line ("<hook> → <text>", or JSON with --json).
End of input unloads everything and exits.

An untrusted plugin (--allow-untrusted; it runs only in the sandbox) gets nothing its manifest asks for — no network,
no files, no context keys, no hooks — except what a --grant flag names; it gets the intersection of its request and
the grant. For each one, run prints what it requested next to what was granted.
${GRANT_SYNTAX.replace(/^/gm, '  ')}
  e.g. --grant weather:hooks=on_request --grant weather:network=restricted:api.example.com:443

With --http PORT it serves HTTP on 127.0.0.1 instead (PORT 0 picks a free port; the address is printed on stderr):
  POST /hooks/<hook>   body = the hook's input bytes (at most 1 MiB) → 200 with the output bytes,
                       or a JSON error { code, message } with 400/403/413/500/504
  GET  /plugins        → JSON list of the plugins and their status
SIGINT/SIGTERM unload everything and exit.

${SANDBOX_SYNTAX}`;

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
          grant: { type: 'string', multiple: true },
          http: { type: 'string' },
          ...SANDBOX_OPTION,
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
    const grants = parseGrantFlags(values.grant ?? []);
    if (!allowUntrusted && (values.grant?.length ?? 0) > 0) {
      throw new PluginError(
        'InvalidArgument',
        `--grant applies to untrusted plugins: add --allow-untrusted\n\n${usage}`,
      );
    }
    const { security } = await securityFromOptions(values, io, !allowUntrusted);
    const needSandbox = tier === 'sandbox' || allowUntrusted;
    const say = (line: string) => io.stderr.write(`${line}\n`);
    const sandbox = needSandbox ? (await pickSandbox(values.sandbox, say)).backend : undefined;
    const registry = new PluginRegistry({
      security,
      ...(sandbox ? { sandbox } : {}),
      policy: { onlyTrusted: !allowUntrusted },
      defaultTier: tier,
      grants,
      log: (plugin, level, message) =>
        say(`[${displayText(plugin)}] ${displayText(level, 16)}: ${displayText(message, 2000)}`),
    });
    try {
      const report = await registry.scanDirectoryReport(dir);
      say(`found ${report.found.length} plugin(s) in ${dir}`);
      for (const s of report.skipped)
        say(`skipped ${displayText(s.path)}: ${s.error.code}: ${displayText(s.error.message)}`);
      if (allowUntrusted) for (const p of registry.getUntrustedPlugins()) sayGrants(p, say);
      for (const name of Object.keys(grants.plugins ?? {})) {
        if (!registry.getPluginInfo(name))
          say(`warning: --grant names ${displayText(name)}, which is not in ${dir}`);
      }
      const candidates = [
        ...registry.getAvailablePlugins(),
        ...(allowUntrusted ? registry.getUntrustedPlugins() : []),
      ];
      for (const p of candidates) {
        try {
          await registry.loadPluginByName(p.name);
          const info = registry.getPluginInfo(p.name);
          say(`loaded ${p.name}@${displayText(p.version)} (${info?.trustLevel}) at tier ${info?.tier}`);
        } catch (e) {
          say(
            `not loaded ${p.name}: ${displayText(isPluginError(e) ? `${e.code}: ${e.message}` : String(e), 600)}`,
          );
        }
      }
      for (const p of registry.getUntrustedPlugins()) {
        if (!allowUntrusted) {
          say(`skipped ${p.name}: untrusted (${displayText(p.error ?? 'not on the trust list')})`);
        }
      }
      if (values.http !== undefined) {
        const port = Number(values.http);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new PluginError(
            'InvalidArgument',
            `--http must be a port number (0 picks a free one)\n\n${usage}`,
          );
        }
        // Loopback is out of every sandbox's reach except through the host network, which only an explicit grant
        // (or a trusted plugin's signed manifest) gives: say so rather than let it pass unnoticed.
        for (const p of registry.getAllPlugins()) {
          if (p.status === 'Active' && p.tier === 'sandbox' && p.grants?.granted.network.mode === 'full') {
            say(`warning: ${p.name} runs in the sandbox with the host network: it can reach the HTTP port`);
          }
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
              : `${displayText(hook)} ✗ ${error.code}: ${displayText(error.message, 600)}\n`,
          );
        }
      }
    } finally {
      await registry.close();
    }
    return 0;
  },
};

/** Prints an untrusted plugin's request next to what the host's --grant flags give it. */
function sayGrants(p: PluginInfo, say: (line: string) => void): void {
  const g = p.grants;
  if (!g) return;
  say(`untrusted ${p.name}: requested ${describeRequirements(g.requested)}`);
  say(`untrusted ${p.name}: granted   ${describeRequirements(g.granted)}; hooks ${describeHooks(g.hooks)}`);
}

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
