// What a plugin declares in its code is not silently ignored (issue 14): the signed manifest stays authoritative for a
// trusted plugin, and code that asks for more fails the load with RequirementsExceeded naming the difference; limits
// are the smallest of code, manifest and host; an untrusted plugin's code declaration never grants anything. Checked
// in process and at an out-of-process tier (there the plugin runtime reports the declarations with Initialize).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOURCE_LIMITS,
  type IsolationTier,
  MINIMAL_REQUIREMENTS,
  PluginRegistry,
  type PluginSecurity,
  readPluginDeclarations,
} from '../dist/index.js';
import { dec, Fixtures, pidAlive, sandboxOrReason, tempDir } from './helpers.js';

/** A JS plugin whose code declares `requirements` and `limits` (JSON), with one `ping` hook. */
function declaring(name: string, requirements: unknown, limits: unknown, hooks = true): string {
  return `export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 't',
  ${requirements === undefined ? '' : `requirements: () => (${JSON.stringify(requirements)}),`}
  ${limits === undefined ? '' : `resourceLimits: () => (${JSON.stringify(limits)}),`}
  init() {},
  registerHooks(h) { ${hooks ? `h.register('ping-' + ${JSON.stringify(name)}, 200, () => new TextEncoder().encode('pong'));` : ''} },
};\n`;
}

const MANIFEST_REQUIREMENTS = {
  network: { mode: 'isolated' as const },
  filesystem: { mode: 'none' as const },
  context: { read: ['app.config'], write: [] },
};
const MANIFEST_LIMITS = { maxCpuTimeMs: 800, maxHeapBytes: 64 * 1024 * 1024 };

const tmp = tempDir('declarations');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
// Top level, so skipIf sees it at collection time (sandboxOrReason prints why when it is missing).
const { sandbox } = await sandboxOrReason();
const paths: Record<string, string> = {};

async function trusted(key: string, requirements: unknown, limits: unknown): Promise<void> {
  paths[key] = await fx.js(`${key}.mjs`, declaring(key, requirements, limits), {
    name: key,
    kind: 'js',
    requirements: MANIFEST_REQUIREMENTS,
    limits: MANIFEST_LIMITS,
  });
  await fx.trust(paths[key]);
}

beforeAll(async () => {
  for (const tier of ['ip', 'pr']) {
    await trusted(
      `${tier}-more-context`,
      { ...MANIFEST_REQUIREMENTS, context: { read: ['app.config', 'db.password'], write: ['app.config'] } },
      undefined,
    );
    await trusted(`${tier}-more-heap`, undefined, { maxHeapBytes: 512 * 1024 * 1024 });
    await trusted(
      `${tier}-less`,
      { ...MANIFEST_REQUIREMENTS, context: { read: [], write: [] } },
      { maxCpuTimeMs: 300 },
    );
  }
  await trusted('ip-silent', undefined, undefined);
  paths.stranger = await fx.js(
    'stranger.mjs',
    declaring(
      'stranger',
      {
        network: { mode: 'full' },
        filesystem: { mode: 'readWrite', paths: ['/etc'] },
        context: { read: ['*'], write: ['*'] },
      },
      { maxCpuTimeMs: 400 },
      false,
    ),
    { name: 'stranger', kind: 'js', keys: fx.stranger },
  );
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

function registry(tier: IsolationTier, logs: string[] = []): PluginRegistry {
  return new PluginRegistry({
    security,
    defaultTier: tier,
    ...(sandbox ? { sandbox } : {}),
    policy: { onlyTrusted: false },
    log: (_plugin, level, message) => logs.push(`${level} ${message}`),
  });
}

describe.each([
  ['in-process', 'ip'],
  ['process', 'pr'],
] as const)('a trusted plugin at the %s tier', (tier, p) => {
  it('fails with RequirementsExceeded naming the context keys its code asks for beyond the manifest', async () => {
    await using r = registry(tier);
    const err = await r.loadPlugin(paths[`${p}-more-context`]!, 'trusted').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RequirementsExceeded', plugin: `${p}-more-context` });
    expect((err as Error).message).toMatch(/context read "db\.password"/);
    expect((err as Error).message).toMatch(/context write "app\.config"/);
    expect(r.getPluginInfo(`${p}-more-context`)?.status).toBe('Failed');
    expect(r.hooks.has(`ping-${p}-more-context`)).toBe(false);
    const pid = r.getPluginInfo(`${p}-more-context`)?.pid;
    if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
  });

  it('fails with RequirementsExceeded naming a limit its code asks above the manifest', async () => {
    await using r = registry(tier);
    await expect(r.loadPlugin(paths[`${p}-more-heap`]!, 'trusted')).rejects.toMatchObject({
      code: 'RequirementsExceeded',
      message: expect.stringMatching(/maxHeapBytes 536870912 \(the manifest: 67108864\)/),
    });
  });

  it('code that asks for less narrows the limits: the smallest of code, manifest and host', async () => {
    await using r = registry(tier);
    const name = await r.loadPlugin(paths[`${p}-less`]!, 'trusted');
    const limits = r.getPluginInfo(name)?.resourceLimits;
    expect(limits?.maxCpuTimeMs).toBe(300); // code 300 < manifest 800 < host
    expect(limits?.maxHeapBytes).toBe(MANIFEST_LIMITS.maxHeapBytes); // manifest < host, code silent
    expect(limits?.maxThreads).toBe(DEFAULT_RESOURCE_LIMITS.maxThreads); // only the host speaks
    expect(dec.decode(await r.hooks.execute(`ping-${p}-less`, new Uint8Array()))).toBe('pong');
  });
});

describe('a plugin without code declarations', () => {
  it('loads with what its manifest states', async () => {
    await using r = registry('in-process');
    const name = await r.loadPlugin(paths['ip-silent']!, 'trusted');
    expect(r.getPluginInfo(name)?.resourceLimits.maxCpuTimeMs).toBe(MANIFEST_LIMITS.maxCpuTimeMs);
  });
});

describe('an untrusted plugin (sandbox tier)', () => {
  it.skipIf(!sandbox)('whose code declares everything gets nothing more, and the host is told', async () => {
    const logs: string[] = [];
    await using r = registry('in-process', logs);
    const name = await r.loadPlugin(paths.stranger!, 'untrusted');
    const info = r.getPluginInfo(name)!;
    expect(info.tier).toBe('sandbox');
    expect(info.grants?.granted).toEqual(MINIMAL_REQUIREMENTS);
    expect(info.resourceLimits.maxCpuTimeMs).toBe(400); // narrowing still applies
    expect(logs.some((l) => /^warn declares more than it is granted.*network full/.test(l))).toBe(true);
  });
});

describe('readPluginDeclarations: an author declares once, in the code', () => {
  const requirements = {
    network: { mode: 'restricted', allowedTargets: [{ host: 'api.example.com', ports: [443] }] },
    filesystem: { mode: 'none' },
    context: { read: ['locale'], write: [] },
  };
  const limits = { maxCpuTimeMs: 250, maxHeapBytes: 32 * 1024 * 1024 };

  function unsigned(file: string): string {
    const p = path.join(tmp.dir, 'unsigned', file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, declaring('authored', requirements, limits));
    return p;
  }

  it('reads requirements and limits of an unsigned build at the process tier', async () => {
    const file = unsigned('authored.mjs');
    const declared = await readPluginDeclarations(file, {
      name: 'authored',
      version: '1.0.0',
      tier: 'process',
    });
    expect(declared).toEqual({ requirements, limits });
    expect(fs.existsSync(`${file}.plugward.json`)).toBe(false); // nothing written beside it
    await expect(
      readPluginDeclarations(file, { name: 'other-name', version: '1.0.0', tier: 'process' }),
    ).rejects.toMatchObject({ code: 'InvalidPlugin' });
  });

  it.skipIf(!sandbox)('reads them inside the sandbox', async () => {
    const declared = await readPluginDeclarations(unsigned('authored-sbx.mjs'), {
      name: 'authored',
      version: '1.0.0',
      ...(sandbox ? { sandbox } : {}),
    });
    expect(declared).toEqual({ requirements, limits });
  });
});
