import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// shims give CJS an import.meta.url (libseccomp is found through createRequire).
export default defineConfig(packageBuild({ shims: true }));
