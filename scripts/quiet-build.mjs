// Builds through turbo with its output held back: shown only when the build fails, so `pnpm demo` and
// `pnpm plugward` print what the user asked for, not build logs (turbo replays them even from its cache).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs `turbo run build` (limited to `filter` and its dependencies when given). On failure prints the captured
 * output (errors only) on stderr and exits with turbo's code.
 */
export function quietBuild(filter) {
  const turbo = path.join(root, 'node_modules', '.bin', 'turbo');
  const r = spawnSync(
    turbo,
    ['run', 'build', '--output-logs=errors-only', ...(filter ? [`--filter=${filter}...`] : [])],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
    },
  );
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    process.stderr.write(
      `build failed (${r.error ? r.error.message : `exit ${r.status}`}): run pnpm build for details\n`,
    );
    process.exit(r.status || 1);
  }
}
