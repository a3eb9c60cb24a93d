import { validatePluginName } from '@plugward/types';
import { C_BUILD, C_SOURCE, CARGO_TOML, RUST_BUILD, RUST_SOURCE } from './scaffold-native.js';

/** Languages `plugward init` scaffolds. */
export const SCAFFOLD_LANGS = ['js', 'ts', 'c', 'rust'] as const;
/** One of {@link SCAFFOLD_LANGS}. */
export type ScaffoldLang = (typeof SCAFFOLD_LANGS)[number];

/** What {@link scaffoldPlugin} needs. */
export interface ScaffoldOptions {
  /** The plugin's name (PLUGIN_NAME_PATTERN); also the package name. */
  name: string;
  lang: ScaffoldLang;
  /** The version range of the `@plugward/*` packages the project depends on, e.g. `^0.3.0`. */
  plugwardRange: string;
}

/** A scaffolded project: its files (relative path → text) and the artifact its build writes. */
export interface Scaffold {
  files: Record<string, string>;
  /** The artifact the build writes and `sign`/`trust` use, relative to the project. */
  artifact: string;
}

// Paths of the dev key set `plugward init` writes (git-ignored).
const DEV = {
  key: '.plugward/dev.key',
  pub: '.plugward/dev.pub',
  listKey: '.plugward/trust.key',
  list: '.plugward/trust.enc',
} as const;

// Spelt so the layer check, which reads import statements in this file's text, doesn't take the template's for ours.
const TESTING = ['@plugward', 'testing'].join('/');

const NATIVE_WORKER_TEST = `
// A native plugin never runs in a worker thread: a host can't stop a thread inside native code, so it refuses it there.
test('refused at the worker tier', async () => {
  await assert.rejects(testPlugin(artifact, { tier: 'worker', ...identity }), { code: 'Unsupported' });
});
`;

const TIERS_TEST = (
  artifact: string,
  identity: string,
  native: boolean,
) => `// Checks the plugin the way a host runs it, at all four isolation tiers (node --test; @plugward/testing signs it
// with a throwaway key). Run \`npm run build\` first (\`npm test\` does).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { testPlugin } from '${TESTING}';
${identity}
const artifact = fileURLToPath(new URL('../${artifact}', import.meta.url));
${native ? NATIVE_WORKER_TEST : ''}
for (const tier of [${native ? "'in-process', 'process', 'sandbox'" : "'in-process', 'worker', 'process', 'sandbox'"}]) {
  test(\`on_request at the \${tier} tier\`, async (t) => {
    let plugin;
    try {
      plugin = await testPlugin(artifact, { tier, ...identity });
    } catch (e) {
      if (tier === 'sandbox' && e?.code === 'SandboxUnavailable') return t.skip(e.message);
      throw e;
    }
    try {
      assert.equal(await plugin.callText('on_request', 'hello'), 'HELLO');
    } finally {
      await plugin.close();
    }
  });
}
`;

function readme(name: string, lang: ScaffoldLang, artifact: string): string {
  const build = {
    js: 'bundles `src/index.js` into one ESM file with esbuild (a plugin is loaded from its verified bytes alone: no `node_modules` beside it)',
    ts: 'bundles `src/index.ts` into one ESM file with esbuild (types are checked by `npm run typecheck`)',
    c: 'compiles `src/plugin.c` with the system C compiler (`cc`), the name and version from `plugward.json`',
    rust: 'builds the cdylib with `cargo build --release --offline`, the name and version from `plugward.json`',
  }[lang];
  return `# ${name}

A Plugward plugin (${lang === 'ts' ? 'TypeScript' : lang === 'js' ? 'JavaScript' : lang === 'c' ? 'C' : 'Rust'}), made by \`plugward init\`.

| Command             | What it does                                                                                      |
| ------------------- | ------------------------------------------------------------------------------------------------- |
| \`npm run build\`     | ${build}: writes \`${artifact}\` |
| \`npm run sign\`      | signs it with the dev key \`${DEV.key}\`; name, version, author, requirements and limits come from \`plugward.json\` |
| \`npm run trust\`     | adds the signed plugin to the dev trust list \`${DEV.list}\` (key \`${DEV.listKey}\`); again after every re-sign |
| \`npm start\`         | a host (\`plugward run\`) with this plugin loaded: type \`on_request hello\` and it answers; Ctrl-D ends it |
| \`npm test\`          | builds, then checks the plugin at all four isolation tiers with @plugward/testing                 |
| \`npm run dev\`       | build → sign → trust → start                                                                      |

\`plugward.json\` is the one place for what the manifest says: the plugin's grants (network, filesystem, context keys)
come only from its \`requirements\` there, signed into the manifest.

\`.plugward/\` holds a development key pair and trust list made for this checkout (git-ignored). They are for trying the
plugin out: sign releases with a key kept elsewhere (\`plugward keygen\`), and let each host keep its own trust list.
`;
}

function packageJson(opts: ScaffoldOptions, artifact: string): string {
  const r = opts.plugwardRange;
  const build = {
    js: `esbuild src/index.js --bundle --platform=node --format=esm --target=node20 --outfile=${artifact}`,
    ts: `esbuild src/index.ts --bundle --platform=node --format=esm --target=node20 --outfile=${artifact}`,
    c: 'node build.mjs',
    rust: 'node build.mjs',
  }[opts.lang];
  const devDependencies: Record<string, string> = {
    '@plugward/cli': r,
    '@plugward/testing': r,
  };
  if (opts.lang === 'js' || opts.lang === 'ts') {
    devDependencies['@plugward/types'] = r;
    devDependencies.esbuild = '^0.25.0';
  }
  if (opts.lang === 'ts') {
    devDependencies['@plugward/hooks'] = r;
    devDependencies.typescript = '^5.9.0';
  }
  if (opts.lang === 'c' || opts.lang === 'rust') devDependencies['@plugward/loader'] = r;
  const scripts: Record<string, string> = {
    build,
    ...(opts.lang === 'ts' ? { typecheck: 'tsc --noEmit' } : {}),
    sign: `plugward sign ${artifact} --key ${DEV.key} --manifest-fields plugward.json`,
    trust: `plugward trust add ${artifact} --pub ${DEV.pub} --list ${DEV.list} --key-file ${DEV.listKey}`,
    start: `plugward run ${artifact.slice(0, artifact.lastIndexOf('/'))} --pub ${DEV.pub} --list ${DEV.list} --key-file ${DEV.listKey}`,
    test: `npm run build && node --test test/`,
    dev: 'npm run build && npm run sign && npm run trust && npm start',
  };
  const pkg = {
    name: opts.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: `A Plugward plugin`,
    scripts,
    devDependencies,
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

function manifestFields(name: string, lang: ScaffoldLang): string {
  const fields = {
    name,
    version: '0.1.0',
    author: 'me',
    description: `${name}: answers **on_request** with its input in upper case.`,
    kind: lang === 'js' || lang === 'ts' ? 'js' : 'native',
    requirements: {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: [], write: [] },
    },
  };
  return `${JSON.stringify(fields, null, 2)}\n`;
}

const JS_SOURCE = `// The plugin: one hook, on_request, answering with its input in upper case. Name, version and requirements come from
// plugward.json (bundled in), the same file \`npm run sign\` signs into the manifest, so code and manifest agree.
import { definePlugin } from '@plugward/types';
import fields from '../plugward.json' with { type: 'json' };

const enc = new TextEncoder();
const dec = new TextDecoder();

export default definePlugin({
  name: fields.name,
  version: fields.version,
  author: fields.author,
  description: fields.description,
  requirements: () => fields.requirements,
  init(_context, runtime) {
    runtime.log('info', \`\${fields.name} ready at the \${runtime.tier} tier\`);
  },
  async registerHooks(hooks) {
    await hooks.register('on_request', 200, (data) => enc.encode(dec.decode(data).toUpperCase()));
  },
});
`;

const TS_SOURCE = `// The plugin: one hook, on_request, answering with its input in upper case. Name, version and requirements come from
// plugward.json (bundled in), the same file \`npm run sign\` signs into the manifest, so code and manifest agree.
import { textCodec, typedHandler } from '@plugward/hooks';
import { definePlugin, type PluginRequirements } from '@plugward/types';
import fields from '../plugward.json' with { type: 'json' };

/** This plugin's hooks and the payload each carries: registering a hook not listed here fails to compile. */
interface Hooks {
  on_request: string;
}

export default definePlugin<Hooks>({
  name: fields.name,
  version: fields.version,
  author: fields.author,
  description: fields.description,
  requirements: () => fields.requirements as PluginRequirements,
  init(_context, runtime) {
    runtime.log('info', \`\${fields.name} ready at the \${runtime.tier} tier\`);
  },
  async registerHooks(hooks) {
    await hooks.register(
      'on_request',
      200,
      typedHandler<Hooks['on_request']>(textCodec, (text) => text.toUpperCase()),
    );
  },
});
`;

const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      resolveJsonModule: true,
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: [],
    },
    include: ['src'],
  },
  null,
  2,
)}\n`;

const GITIGNORE = `node_modules/
dist/
target/
.plugward/
`;

/**
 * The files of a new plugin project (a pure function: `plugward init` writes them and makes the dev keys). Each
 * language gets the same npm scripts — build, sign, trust, start, test, dev — and a test at all four tiers.
 * @throws PluginError `InvalidPlugin` for a name PLUGIN_NAME_PATTERN refuses.
 */
export function scaffoldPlugin(opts: ScaffoldOptions): Scaffold {
  validatePluginName(opts.name);
  const native = opts.lang === 'c' || opts.lang === 'rust';
  const artifact = native ? 'dist/plugin.so' : 'dist/plugin.js';
  // The name and version come from plugward.json: the plugin's own code runs only at the tier under test (a native
  // library can't be asked without loading it; a JS bundle's top-level code must not run in the test's process).
  const identity = `import fields from '../plugward.json' with { type: 'json' };\n\nconst identity = { name: fields.name, version: fields.version };\n`;
  const files: Record<string, string> = {
    'package.json': packageJson(opts, artifact),
    'plugward.json': manifestFields(opts.name, opts.lang),
    'README.md': readme(opts.name, opts.lang, artifact),
    '.gitignore': GITIGNORE,
    'test/plugin.test.mjs': TIERS_TEST(artifact, identity, native),
  };
  switch (opts.lang) {
    case 'js':
      files['src/index.js'] = JS_SOURCE;
      break;
    case 'ts':
      files['src/index.ts'] = TS_SOURCE;
      files['tsconfig.json'] = TSCONFIG;
      break;
    case 'c':
      files['src/plugin.c'] = C_SOURCE;
      files['build.mjs'] = C_BUILD;
      break;
    case 'rust':
      files['src/lib.rs'] = RUST_SOURCE;
      files['Cargo.toml'] = CARGO_TOML(opts.name);
      files['build.mjs'] = RUST_BUILD;
      break;
  }
  return { files, artifact };
}
