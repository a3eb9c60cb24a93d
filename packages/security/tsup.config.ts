import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// canonicalize@4 is ESM-only with an import-only exports map, so the CJS build can't require() it: inline it (≈60
// lines, Apache-2.0) into both builds.
export default defineConfig(packageBuild({ noExternal: ['canonicalize'] }));
