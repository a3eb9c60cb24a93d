import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// wire.ts is the `@plugward/ipc/wire` subpath: the frame and codec internals, kept off the main entry.
export default defineConfig(packageBuild({ entry: ['src/index.ts', 'src/wire.ts'] }));
