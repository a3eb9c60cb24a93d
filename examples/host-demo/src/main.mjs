#!/usr/bin/env node
// Plugward demo host. Until the registry lands (issue: registry) it shows what is built: each package, its layer and
// version, and a live check of the shared types. `--json` prints the same for machines.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { definePlugin, isPluginError, PluginVersion } from '@plugward/types';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const json = process.argv.includes('--json');
const packages = fs
  .readdirSync(path.join(root, 'packages'))
  .map((d) => JSON.parse(fs.readFileSync(path.join(root, 'packages', d, 'package.json'), 'utf8')))
  .map((pj) => ({
    name: pj.name,
    version: pj.version,
    layer: pj.plugward.layer,
    built: fs.existsSync(path.join(root, 'packages', pj.name.split('/')[1], 'dist', 'index.js')),
  }))
  .sort((a, b) => a.layer - b.layer || a.name.localeCompare(b.name));

const plugin = definePlugin({
  name: 'demo',
  version: '1.0.0',
  author: 'plugward',
  init() {},
  registerHooks() {},
});
let refused;
try {
  definePlugin({ ...plugin, version: 'v1' });
} catch (e) {
  refused = isPluginError(e) ? `${e.code}: ${e.message}` : String(e);
}
const result = {
  packages,
  checks: {
    definedPlugin: `${plugin.name}@${PluginVersion.parse(plugin.version)}`,
    badVersionRefused: refused,
  },
};
if (json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log('Plugward demo host (scaffold: the full demo arrives with @plugward/registry)\n');
  console.log('layer  package                   version  built');
  for (const p of packages)
    console.log(`L${p.layer}     ${p.name.padEnd(25)} ${p.version.padEnd(8)} ${p.built ? 'yes' : 'no'}`);
  console.log(`\ndefinePlugin: ${result.checks.definedPlugin}`);
  console.log(`bad version refused: ${refused}`);
}
if (!packages.every((p) => p.built) || refused === undefined) process.exit(1);
