// A plugin's stdout/stderr are pipes the host reads with a budget, never the host's own fds: the attacks of issue 12
// (reopen /proc/self/fd/1 to read/truncate/fill the host's log, flood it, forge log lines with newlines and ANSI
// escapes) tried from the plugin side at the process and sandbox tiers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LinuxSandbox, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, sandboxOrReason, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

const LOUD = `
import fs from 'node:fs';
const enc = new TextEncoder();
export default {
  name: 'loud', version: '1.0.0', author: 'attacker',
  async init() {
    fs.writeSync(1, 'hello\\n[registry] plugin trusted-one loaded OK\\x1b[2J\\x1b[31mred\\u202eevil\\n');
    // 50 MiB in 1 MiB writes; each blocks until the host drained the pipe.
    const chunk = Buffer.alloc(1048576, 'x'.charCodeAt(0));
    for (let i = 0; i < 50; i++) fs.writeSync(1, chunk);
    fs.writeSync(2, 'on stderr\\n');
  },
  async registerHooks(h) {
    await h.register('probe', 100, async () => {
      const out = {};
      try { out.fd1 = fs.readlinkSync('/proc/self/fd/1'); } catch (e) { out.fd1 = e.code; }
      try { fs.ftruncateSync(1, 0); out.truncate = 'ok'; } catch (e) { out.truncate = e.code; }
      try { const fd = fs.openSync('/proc/self/fd/1', 'r+'); fs.ftruncateSync(fd, 0); out.reopen = 'truncated'; } catch (e) { out.reopen = e.code; }
      return enc.encode(JSON.stringify(out));
    });
  },
  shutdown() {},
};
`;

const tmp = tempDir('output');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let loud: string;
let sandbox: LinuxSandbox | undefined;
let sandboxReason: string | undefined;

beforeAll(async () => {
  loud = await fx.js('loud.mjs', LOUD, { name: 'loud', kind: 'js' });
  await fx.trust(loud);
  security = await fx.security();
  ({ sandbox, reason: sandboxReason } = await sandboxOrReason());
});
afterAll(() => tmp.remove());

describe('plugin stdout/stderr', () => {
  for (const tier of ['process', 'sandbox'] as const) {
    it(`tier ${tier}: output is a pipe with a budget, escaped line by line; the host's fds are out of reach`, async (ctx) => {
      if (tier === 'sandbox' && !sandbox) return ctx.skip(`no sandbox here: ${sandboxReason}`);
      const lines: { plugin: string; level: string; message: string }[] = [];
      const rss0 = process.memoryUsage().rss;
      await using registry = new PluginRegistry({
        security,
        defaultTier: tier,
        sandbox,
        log: (plugin, level, message) => lines.push({ plugin, level, message }),
      });
      const violations: string[] = [];
      registry.on('violation', (v) =>
        violations.push(v.violation.type === 'Quota' ? v.violation.resource : v.violation.type),
      );
      await registry.loadPlugin(loud, 'trusted');
      const probe = JSON.parse(dec.decode(await registry.hooks.execute('probe', enc.encode('')))) as Record<
        string,
        string
      >;
      // fd 1 is a pipe (Node makes a socket pair): nothing of the host's log to read, truncate or fill.
      expect(probe.fd1).toMatch(/^(pipe|socket):\[/);
      expect(probe.truncate).not.toBe('ok');
      expect(probe.reopen).not.toBe('truncated');
      const fromPlugin = lines.filter((l) => l.plugin === 'loud');
      // The forged line arrives as one escaped line of the plugin's, never as a line of the registry's.
      const forged = fromPlugin.find((l) => l.message.includes('[registry]'));
      expect(forged?.message.startsWith('stdout: ')).toBe(true);
      for (const l of fromPlugin) {
        for (const bad of ['\u001b', '\n', '\r', '\u202e']) expect(l.message.includes(bad)).toBe(false);
      }
      expect(lines.some((l) => l.plugin !== 'loud' && l.message.includes('trusted-one loaded OK'))).toBe(
        false,
      );
      // 50 MiB written: at most the budget (1 MiB) was passed on, then one "suppressed" line.
      const passed = fromPlugin.reduce((n, l) => n + l.message.length, 0);
      expect(passed).toBeLessThan(1.2 * MiB);
      expect(fromPlugin.filter((l) => l.message.includes('output suppressed'))).toHaveLength(1);
      // …and going over it is counted against the plugin.
      expect(violations).toContain('stdout');
      expect(process.memoryUsage().rss - rss0).toBeLessThan(96 * MiB);
      // The host still serves.
      expect(registry.getPluginInfo('loud')?.status).toBe('Active');
    }, 60_000);
  }
});
