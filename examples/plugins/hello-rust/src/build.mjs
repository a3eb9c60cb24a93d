// Builds build/libhello_rust.so with cargo (offline: the crate has no dependencies). Rust is optional for Plugward:
// without cargo this prints why it skipped and succeeds, so `pnpm build` works on machines without a Rust toolchain.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const cargo = process.env.CARGO ?? 'cargo';
const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.warn(
    `hello-rust: SKIPPED — "${cargo}" not found; install Rust (https://rustup.rs) to build this example`,
  );
  process.exit(0);
}
const target = path.join(root, 'build', 'target');
const r = spawnSync(
  cargo,
  [
    'build',
    '--release',
    '--offline',
    '--manifest-path',
    path.join(root, 'Cargo.toml'),
    '--target-dir',
    target,
  ],
  // The Rust binding of plugward.h that @plugward/loader ships (src/lib.rs include!s it).
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      PLUGWARD_RS: path.join(root, '..', '..', '..', 'packages', 'loader', 'native', 'plugward.rs'),
    },
  },
);
if (r.status !== 0) process.exit(r.status ?? 1);
mkdirSync(path.join(root, 'build'), { recursive: true });
copyFileSync(path.join(target, 'release', 'libhello_rust.so'), path.join(root, 'build', 'libhello_rust.so'));
console.log('built build/libhello_rust.so');
