import { resolve } from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { PluginRegistry } from '@plugward/registry';
import { checkSandboxSupport, LinuxSandbox } from '@plugward/sandbox-linux';
import { PluginSecurity } from '@plugward/security';
import { ISOLATION_TIERS, type IsolationTier, isPluginError, PluginError } from '@plugward/types';
import { COMMON_OPTIONS, type Command, required, withUsage } from '../command.js';
import { readPublicKey, TRUST_KEY_OPTIONS, trustListKey } from '../keys.js';

const usage = `usage: plugward run <dir> --pub <name.pub|HEX> [--pub ...]
                    --list FILE (--key-hex HEX | --key-hex-env VAR | --passphrase-env VAR)
                    [--tier in-process|worker|process|sandbox] [--allow-untrusted] [--json]

A small host for trying plugins out: scans <dir> for signed manifests, loads every plugin that is on the trust list
(at --tier, default in-process; with --allow-untrusted the others too, in the sandbox only), then reads requests from
stdin, one per line: "<hook> <text>". Each result is printed as one line ("<hook> → <text>", or JSON with --json).
End of input unloads everything and exits.`;

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
          ...TRUST_KEY_OPTIONS,
        },
        allowPositionals: true,
        strict: true,
      }),
    );
    const dir = resolve(io.cwd, required(positionals[0], '<dir>', usage));
    const listPath = resolve(io.cwd, required(values.list, '--list', usage));
    const tier = (values.tier ?? 'in-process') as IsolationTier;
    if (!ISOLATION_TIERS.includes(tier)) {
      throw new PluginError(
        'InvalidArgument',
        `--tier must be one of ${ISOLATION_TIERS.join(', ')}\n\n${usage}`,
      );
    }
    const keys = await Promise.all((values.pub ?? []).map((p) => readPublicKey(p, io)));
    const allowUntrusted = values['allow-untrusted'] === true;
    const security = new PluginSecurity({ onlyTrusted: !allowUntrusted, trustListPath: listPath }, keys);
    await security.loadAndDecryptTrustList(trustListKey(values, io));
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
