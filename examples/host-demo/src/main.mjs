#!/usr/bin/env node
// Plugward demo host: the README's main job. It builds nothing by hand — `pnpm demo` has already built the packages
// and the C example — and then does what a real host does:
//   1. generates a throwaway publisher key, signs four plugins (three trusted, one from a stranger),
//   2. writes an encrypted trust list and loads it,
//   3. scans the plugin directory (manifests only: no plugin code runs), loads the trusted plugins at three tiers,
//   4. routes a stream of requests through the `on_request` hook chain,
//   5. loads the stranger's plugin untrusted — it may only run in the Linux sandbox — watches it blow its memory
//      limit, get killed inside its cgroup and unloaded, while the host keeps serving,
//   6. prints a metrics table and closes everything (no plugin process survives).
// `--json` prints one JSON document instead of the narrative.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  chooseSandboxBackend,
  DEFAULT_RESOURCE_LIMITS,
  PluginRegistry,
  PluginSecurity,
  readManifest,
  saveTrustList,
  trustEntryFromManifest,
} from '@plugward/registry';
import { generateKeyPair, keyId, toHex, writeSignedManifest } from '@plugward/security';

const json = process.argv.includes('--json');
const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.resolve(here, '../../plugins');
const report = { steps: [], requests: [], sandbox: {}, metrics: [] };
const say = (line = '') => {
  if (!json) console.log(line);
};
const step = (title) => {
  report.steps.push(title);
  say(`\n━━ ${title}`);
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-demo-'));
// The trust list lives in `work` and dies with it, so does its rollback-floor record: keep it out of
// ~/.local/state (where it would outlive the run) by pointing the state directory into `work`.
process.env.PLUGWARD_STATE_DIR = path.join(work, 'state');
const pluginDir = path.join(work, 'plugins');
fs.mkdirSync(pluginDir);

const sources = [
  {
    file: 'titlecase.mjs',
    from: 'titlecase-js/src/titlecase.mjs',
    kind: 'js',
    name: 'titlecase',
    version: '1.2.0',
    trusted: true,
    // The signed manifest is what the host enforces: the plugin gets exactly these context keys.
    requirements: {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: ['requests'], write: ['requests'] },
    },
  },
  {
    file: 'libhello.so',
    from: 'hello-c/build/libhello.so',
    kind: 'native',
    name: 'hello-c',
    version: '1.0.0',
    trusted: true,
    requirements: {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: ['greeting'], write: ['hello.calls'] },
    },
  },
  {
    file: 'counter.mjs',
    from: 'counter-js/src/counter.mjs',
    kind: 'js',
    name: 'counter',
    version: '0.3.1',
    trusted: true,
  },
  {
    file: 'memory-hog.mjs',
    from: 'memory-hog-js/src/memory-hog.mjs',
    kind: 'js',
    name: 'memory-hog',
    version: '6.6.6',
    trusted: false,
    limits: { maxHeapBytes: 64 * 1024 * 1024 },
  },
];

let registry;
let failure;
try {
  step('1. Sign the plugins');
  const publisher = generateKeyPair();
  const stranger = generateKeyPair();
  say(`publisher key ${keyId(publisher.publicKey)} (throwaway); stranger key ${keyId(stranger.publicKey)}`);
  const entries = [];
  for (const s of sources) {
    const src = path.join(examples, s.from);
    if (!fs.existsSync(src) && s.kind === 'native') {
      say(
        `  !!! skipping ${s.name}: ${s.from} was not built (no C compiler? apt-get install gcc, then pnpm build)`,
      );
      report.skipped = [...(report.skipped ?? []), s.name];
      continue;
    }
    if (!fs.existsSync(src)) throw new Error(`${src} is missing: run \`pnpm build\` first (pnpm demo does)`);
    const dest = path.join(pluginDir, s.file);
    fs.copyFileSync(src, dest);
    const keys = s.trusted ? publisher : stranger;
    const manifest = await writeSignedManifest(
      {
        artifactPath: dest,
        name: s.name,
        version: s.version,
        author: s.trusted ? 'Plugward examples' : 'someone on the internet',
        kind: s.kind,
        ...(s.limits ? { limits: s.limits } : {}),
        ...(s.requirements ? { requirements: s.requirements } : {}),
      },
      keys.privateKey,
    );
    say(
      `  signed ${s.file.padEnd(15)} ${s.name}@${s.version}  sha3-512 ${manifest.artifact.sha3_512.slice(0, 16)}…`,
    );
    if (s.trusted) entries.push(trustEntryFromManifest(await readManifest(dest), publisher.publicKey));
  }

  step('2. Write the encrypted trust list');
  const trustListPath = path.join(work, 'plugin_trust_list.enc');
  const keyHex = randomBytes(32).toString('hex');
  await saveTrustList(trustListPath, { listVersion: 1, entries }, keyHex);
  say(
    `  ${entries.length} trusted entries → ${trustListPath} (XChaCha20-Poly1305, ${fs.statSync(trustListPath).size} bytes)`,
  );
  const security = new PluginSecurity(
    { onlyTrusted: false, trustListPath },
    [toHex(publisher.publicKey)],
    [],
  );
  await security.loadAndDecryptTrustList(keyHex);

  step('3. Scan and load');
  // The strongest sandbox that works here: bubblewrap, else Landlock (e.g. in a Docker container), else none.
  const choice = await chooseSandboxBackend();
  const sandbox = choice.backend;
  say(`  sandbox: ${choice.id ?? 'none'} — ${choice.reason}`);
  if (!sandbox) say('  !!! no sandbox is available here, so the untrusted plugin will be refused');
  const events = [];
  registry = new PluginRegistry({
    security,
    sandbox,
    policy: { onlyTrusted: false },
    // An untrusted plugin gets nothing its manifest asks for unless the host grants it: memory-hog may register on
    // on_request (at its priority, 200) and nothing else — no network, no files, no context keys.
    grants: { plugins: { 'memory-hog': { hooks: [{ name: 'on_request', minPriority: 200 }] } } },
    tierOverrides: { 'hello-c': 'process', counter: 'worker' },
    // The host's caps: the defaults (50 MiB, 4 threads, …), but hook calls may take up to 5 s instead of 1 s, so that
    // memory-hog's one call hoards until its cgroup's memory limit stops it, even on a loaded machine.
    hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 5000 },
    unmountBehavior: {
      autoUnmount: true,
      gracePeriodMs: 0,
      allowCleanup: false,
      maxCleanupTimeMs: 1000,
      logViolations: false,
      callShutdownHook: false,
    },
    log: (plugin, level, message) => level !== 'debug' && say(`  [${plugin}] ${level}: ${message}`),
  });
  for (const ev of ['loaded', 'unloaded', 'crashed', 'violation', 'failed']) {
    registry.on(ev, (p) => events.push({ event: ev, ...p, error: p.error?.message }));
  }
  const found = await registry.scanDirectory(pluginDir);
  say(`  discovered ${found} plugins (manifests only, no code ran):`);
  for (const p of registry.getAllPlugins())
    say(`    ${p.name.padEnd(11)} ${p.status.padEnd(10)} ${p.kind.padEnd(7)} ${p.error ?? ''}`);
  registry.context.set('greeting', new TextEncoder().encode('Welcome'));
  for (const p of registry.getAvailablePlugins()) {
    await registry.loadPluginByName(p.name);
    const info = registry.getPluginInfo(p.name);
    say(`  loaded ${info.name}@${info.version} at tier ${info.tier}${info.pid ? ` (pid ${info.pid})` : ''}`);
  }

  step('4. Route requests through on_request');
  const serve = async (text) => {
    try {
      const out = new TextDecoder().decode(
        await registry.hooks.execute('on_request', new TextEncoder().encode(text)),
      );
      report.requests.push({ in: text, out });
      say(`  ${JSON.stringify(text).padEnd(22)} → ${out}`);
      return out;
    } catch (e) {
      report.requests.push({ in: text, error: `${e.code}: ${e.message}` });
      say(`  ${JSON.stringify(text).padEnd(22)} ✗ ${e.code}: ${e.message}`);
      return undefined;
    }
  };
  for (const who of ['ada lovelace', '  GRACE hopper', 'alan turing']) await serve(who);
  say(
    `  context "requests" = ${registry.context.has('requests') ? registry.context.get('requests') : 'unset'} (written by titlecase through its permission view)`,
  );

  step('5. An untrusted plugin, in the sandbox');
  if (!sandbox) {
    report.sandbox = { skipped: true, reason: 'sandbox unsupported on this machine' };
    say('  skipped: no sandbox on this machine (see above). Nothing untrusted runs outside it.');
  } else {
    await registry.loadPlugin(path.join(pluginDir, 'memory-hog.mjs'), 'untrusted');
    const hog = registry.getPluginInfo('memory-hog');
    say(
      `  memory-hog@${hog.version} loaded untrusted at tier ${hog.tier} (${choice.id}, pid ${hog.pid}), memory limit ${hog.resourceLimits.maxHeapBytes / 2 ** 20} MiB`,
    );
    const monitor = registry.startResourceMonitor(200);
    const gone = new Promise((resolve) =>
      registry.on('unloaded', (e) => e.name === 'memory-hog' && resolve(e)),
    );
    say('  sending a request; memory-hog starts hoarding memory…');
    await serve('linus torvalds');
    const unloaded = await Promise.race([gone, new Promise((r) => setTimeout(() => r(undefined), 15_000))]);
    monitor.stop();
    const after = registry.getPluginInfo('memory-hog');
    report.sandbox = {
      backend: choice.id,
      status: after.status,
      error: after.error,
      unloaded: unloaded?.reason ?? null,
    };
    say(`  memory-hog is now ${after.status}: ${after.error}`);
    say(`  unloaded: ${unloaded ? `yes (${unloaded.reason})` : 'no'}`);
    say('  the host keeps serving:');
    await serve('margaret hamilton');
  }

  step('6. Metrics');
  for (const info of registry.listLoadedPlugins()) {
    const m = await registry.getMetrics(info.name);
    report.metrics.push({ name: info.name, tier: info.tier, status: info.status, ...m });
  }
  for (const p of registry.getAllPlugins().filter((p) => p.status !== 'Active')) {
    report.metrics.push({
      name: p.name,
      tier: p.tier,
      status: p.status,
      violations: registry.getViolationCount(p.name),
    });
  }
  const mib = (b) => (b === undefined ? '—' : `${(b / 2 ** 20).toFixed(1)} MiB`);
  say('  plugin       tier        status    source     memory       cpu ms   threads  fds');
  for (const m of report.metrics) {
    say(
      `  ${m.name.padEnd(12)} ${String(m.tier ?? '—').padEnd(11)} ${m.status.padEnd(9)} ${String(m.source ?? '—').padEnd(10)} ${mib(m.memoryBytes).padEnd(12)} ${String(m.cpuTimeMs === undefined ? '—' : Math.round(m.cpuTimeMs)).padEnd(8)} ${String(m.threads ?? '—').padEnd(8)} ${m.fileDescriptors ?? '—'}`,
    );
  }
  report.events = events;
} catch (e) {
  failure = e;
  console.error(`\ndemo failed: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`);
} finally {
  if (registry) await registry.close();
  fs.rmSync(work, { recursive: true, force: true });
}
say('\nclosed: every plugin unloaded, no plugin process left.');
if (json) console.log(JSON.stringify(report, null, 2));
const ok =
  failure === undefined &&
  report.requests.filter((r) => r.out !== undefined).length >= 3 &&
  (report.sandbox.skipped ||
    // Contained either way: its cgroup's OOM kill (Failed) or the monitor's unload for memory violations (Inactive),
    // whichever comes first on a busy machine.
    ((report.sandbox.status === 'Failed' || report.sandbox.unloaded === 'violations') &&
      report.requests.at(-1)?.out !== undefined));
process.exit(ok ? 0 : 1);
