import { resolve } from 'node:path';
import readline from 'node:readline';
import { PluginRegistry } from '@plugward/registry';
import { openRegularFile } from '@plugward/security';
import {
  displayText,
  ISOLATION_TIERS,
  type IsolationTier,
  isPluginError,
  PluginError,
  type PluginInfo,
} from '@plugward/types';
import { type CliIo, type Command, parseCommand, required } from '../command.js';
import { describeHooks, describeRequirements, GRANT_SYNTAX, parseGrantFlags } from '../grant-flags.js';
import { bindHttpHost, generateHttpToken, type HttpHost } from '../http-host.js';
import { securityFromOptions, takeSecretFromEnv, VERIFY_KEY_OPTIONS } from '../keys.js';
import { pickSandbox, SANDBOX_OPTION, SANDBOX_SYNTAX } from '../sandbox-choice.js';

const usage = `usage: plugward run <dir> --pub <name.pub|HEX> [--pub ...]
                    --list FILE (--key-file FILE | --key-hex-env VAR | --passphrase-env VAR | --key-hex HEX)
                    [--tier in-process|worker|process|sandbox] [--allow-untrusted [--grant ...]] [--keep-going]
                    [--sandbox auto|bwrap|landlock]
                    [--http PORT [--token-env VAR | --token-file FILE] [--allow-origin ORIGIN ...]] [--json]

A small host for trying plugins out: scans <dir> for signed manifests, loads every plugin that is on the trust list
(at --tier, default in-process; with --allow-untrusted the others too, in the sandbox only), then reads requests from
stdin, one per line: "<hook> <text>". Each result is printed as one line ("<hook> → <text>", or JSON with --json).
End of input unloads everything and exits.

It fails loudly: when no plugin loads, it exits 5; when a plugin fails to load (or a file in <dir> is skipped as
invalid), it unloads the others and exits 5 — unless --keep-going, which serves what loaded. A hook no loaded plugin
handles is an error (NotFound), not an echo of the input.

An untrusted plugin (--allow-untrusted; it runs only in the sandbox) gets nothing its manifest asks for — no network,
no files, no context keys, no hooks — except what a --grant flag names; it gets the intersection of its request and
the grant. For each one, run prints what it requested next to what was granted.
${GRANT_SYNTAX.replace(/^/gm, '  ')}
  e.g. --grant weather:hooks=on_request --grant weather:network=restricted:api.example.com:443

With --http PORT it serves HTTP on 127.0.0.1 instead. The port is bound before any plugin loads (PORT 0 picks a free
one; the address is printed on stderr). Every request needs:
  Authorization: Bearer <token>   the token from --token-env VAR / --token-file FILE, else a random one printed on
                                  stderr at start
  Host: 127.0.0.1:PORT | localhost:PORT | [::1]:PORT   (other names are refused: DNS rebinding)
  no Origin header                requests from a browser page are refused unless --allow-origin names its origin
                                  exactly (e.g. --allow-origin http://localhost:5173), which also enables CORS for it
  POST /hooks/<hook>   body = the hook's input bytes (at most 1 MiB) → 200 with the output bytes,
                       or a JSON error { code, message } with 400/401/403/404/413/421/500/504
                       (404 when no loaded plugin handles <hook>)
  GET  /plugins        → JSON list of the plugins and their status
SIGINT/SIGTERM unload everything and exit.

${SANDBOX_SYNTAX}`;

/** `plugward run <dir>`: a host that serves hooks from stdin lines or over HTTP on loopback. */
export const run: Command = {
  name: 'run',
  summary: 'load the trusted plugins of a directory and serve hooks from stdin lines or HTTP',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, {
      tier: { type: 'string' },
      'allow-untrusted': { type: 'boolean' },
      'keep-going': { type: 'boolean' },
      grant: { type: 'string', multiple: true },
      http: { type: 'string' },
      'token-env': { type: 'string' },
      'token-file': { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      ...SANDBOX_OPTION,
      ...VERIFY_KEY_OPTIONS,
    });
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
    const httpOnly = ['token-env', 'token-file', 'allow-origin'] as const;
    for (const o of httpOnly) {
      if (values.http === undefined && values[o] !== undefined) {
        throw new PluginError('InvalidArgument', `--${o} applies to --http\n\n${usage}`);
      }
    }
    const allowOrigins = (values['allow-origin'] ?? []).map(parseOrigin);
    const say = (line: string) => io.stderr.write(`${line}\n`);
    // The port is validated and bound before keys are read or plugins load: a busy port fails fast, with the reason.
    let httpHost: HttpHost | undefined;
    let token: { value: string; generated: boolean } | undefined;
    if (values.http !== undefined) {
      const port = parsePort(values.http);
      token = await httpToken(values['token-env'], values['token-file'], io);
      httpHost = await bindHttpHost(port);
    }
    const registryRef: { current?: PluginRegistry } = {};
    try {
      const { security } = await securityFromOptions(values, io, !allowUntrusted);
      const needSandbox = tier === 'sandbox' || allowUntrusted;
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
      registryRef.current = registry;
      const failures: string[] = [];
      const report = await registry.scanDirectoryReport(dir);
      say(`found ${report.found.length} plugin(s) in ${displayText(dir)}`);
      for (const s of report.skipped) {
        failures.push(displayText(s.path));
        say(`skipped ${displayText(s.path)}: ${s.error.code}: ${displayText(s.error.message)}`);
      }
      if (allowUntrusted) for (const p of registry.getUntrustedPlugins()) sayGrants(p, say);
      for (const name of Object.keys(grants.plugins ?? {})) {
        if (!registry.getAllPlugins().some((p) => p.name === name))
          say(`warning: --grant names ${displayText(name)}, which is not in ${displayText(dir)}`);
      }
      const candidates = [
        ...registry.getAvailablePlugins(),
        ...(allowUntrusted ? registry.getUntrustedPlugins() : []),
      ];
      let loaded = 0;
      for (const p of candidates) {
        try {
          await registry.loadPluginByName(p.name);
          const info = registry.getPluginInfo(p.name);
          loaded++;
          say(
            `loaded ${displayText(p.name)}@${displayText(p.version)} (${info?.trustLevel}) at tier ${info?.tier}`,
          );
        } catch (e) {
          failures.push(displayText(p.name));
          say(
            `not loaded ${displayText(p.name)}: ${displayText(isPluginError(e) ? `${e.code}: ${e.message}` : String(e), 600)}`,
          );
        }
      }
      for (const p of registry.getUntrustedPlugins()) {
        if (!allowUntrusted) {
          say(
            `skipped ${displayText(p.name)}: untrusted (${displayText(p.error ?? 'not on the trust list')})`,
          );
        }
      }
      if (loaded === 0) {
        throw new PluginError('LoadError', `no plugin loaded from ${dir}`, {
          details: {
            reason: 'nothing-loaded',
            found: report.found.length,
            failed: failures.length,
            hint:
              report.found.length === 0 && report.skipped.length === 0
                ? 'put signed plugins (<artifact> + <artifact>.plugward.json) in the directory (see plugward sign --help)'
                : 'see the lines above: sign the plugins (plugward sign), add them to the list (plugward trust add), or fix what failed',
          },
        });
      }
      if (failures.length > 0 && values['keep-going'] !== true) {
        throw new PluginError(
          'LoadError',
          `${failures.length} plugin(s) failed to load: ${failures.join(', ')}`,
          {
            details: {
              reason: 'load-failed',
              failed: failures,
              hint: 'fix them (see the lines above), or serve the others with --keep-going',
            },
          },
        );
      }
      if (httpHost !== undefined && token !== undefined) {
        // Loopback is out of every sandbox's reach except through the host network, which only an explicit grant
        // (or a trusted plugin's signed manifest) gives: say so rather than let it pass unnoticed.
        for (const p of registry.getAllPlugins()) {
          if (p.status === 'Active' && p.tier === 'sandbox' && p.grants?.granted.network.mode === 'full') {
            say(
              `warning: ${displayText(p.name)} runs in the sandbox with the host network: it can reach the HTTP port`,
            );
          }
        }
        httpHost.serve(registry, token.value, allowOrigins);
        say(`listening on http://127.0.0.1:${httpHost.port}`);
        if (token.generated) {
          say(`token: ${token.value}`);
          say(
            `  e.g. curl -H "Authorization: Bearer ${token.value}" --data 'text' http://127.0.0.1:${httpHost.port}/hooks/<hook>`,
          );
        }
        const stopped = httpHost.untilStopped();
        httpHost = undefined;
        await stopped;
        return 0;
      }
      await serveStdin(registry, io, values.json === true);
    } finally {
      await httpHost?.close();
      await registryRef.current?.close();
    }
    return 0;
  },
};

async function serveStdin(registry: PluginRegistry, io: CliIo, json: boolean): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  for await (const line of rl) {
    if (line.trim() === '') continue;
    const space = line.indexOf(' ');
    const hook = space < 0 ? line : line.slice(0, space);
    const text = space < 0 ? '' : line.slice(space + 1);
    try {
      if (registry.hooks.getHooks(hook).length === 0) {
        throw new PluginError('NotFound', 'no loaded plugin handles this hook');
      }
      const out = dec.decode(await registry.hooks.execute(hook, enc.encode(text)));
      io.stdout.write(json ? `${JSON.stringify({ hook, ok: true, output: out })}\n` : `${hook} → ${out}\n`);
    } catch (e) {
      const error = isPluginError(e)
        ? { code: e.code, message: e.message }
        : { code: 'Error', message: String(e) };
      io.stdout.write(
        json
          ? `${JSON.stringify({ hook, ok: false, error })}\n`
          : `${displayText(hook)} ✗ ${error.code}: ${displayText(error.message, 600)}\n`,
      );
    }
  }
}

function parsePort(value: string): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PluginError(
      'InvalidArgument',
      `--http must be a port number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(value)}\n\n${usage}`,
    );
  }
  return port;
}

function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PluginError('InvalidArgument', `--allow-origin must be an origin like http://localhost:5173`);
  }
  if (url.origin === 'null' || url.origin !== value) {
    throw new PluginError(
      'InvalidArgument',
      `--allow-origin must be exactly an origin (scheme://host[:port], no path or trailing slash), e.g. ${url.origin}`,
    );
  }
  return value;
}

const MIN_TOKEN_LENGTH = 16;

/** The bearer token: from an env variable (removed once read), a file, or freshly generated. */
async function httpToken(
  env: string | undefined,
  file: string | undefined,
  io: CliIo,
): Promise<{ value: string; generated: boolean }> {
  if (env !== undefined && file !== undefined) {
    throw new PluginError('InvalidArgument', 'give at most one of --token-env and --token-file');
  }
  let value: string;
  if (env !== undefined) value = takeSecretFromEnv(env, io).trim();
  else if (file !== undefined) {
    const path = resolve(io.cwd, file);
    const fh = await openRegularFile(path, 'token file', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      return new PluginError(
        code === 'ENOENT' ? 'NotFound' : 'IoError',
        `cannot read --token-file ${path}: ${code}`,
        {
          cause: e,
        },
      );
    });
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      value = buf.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await fh.close();
    }
  } else return { value: generateHttpToken(), generated: true };
  if (value.length < MIN_TOKEN_LENGTH || /\s/.test(value)) {
    throw new PluginError(
      'InvalidArgument',
      `the HTTP token must be at least ${MIN_TOKEN_LENGTH} characters with no spaces (e.g. openssl rand -hex 32)`,
    );
  }
  return { value, generated: false };
}

/** Prints an untrusted plugin's request next to what the host's --grant flags give it. */
function sayGrants(p: PluginInfo, say: (line: string) => void): void {
  const g = p.grants;
  if (!g) return;
  say(`untrusted ${displayText(p.name)}: requested ${describeRequirements(g.requested)}`);
  say(
    `untrusted ${displayText(p.name)}: granted   ${describeRequirements(g.granted)}; hooks ${describeHooks(g.hooks)}`,
  );
}
