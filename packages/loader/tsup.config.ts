import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// shims: import.meta.url in the CJS build (plugwardIncludeDir locates native/plugward.h from it).
export default defineConfig(packageBuild({ shims: true, external: ['koffi'] }));
