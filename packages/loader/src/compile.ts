import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PluginError } from '@plugward/types';
import { plugwardIncludeDir } from './header.js';

const run = promisify(execFile);

/** Options of {@link compileNativePlugin}. */
export interface CompileNativeOptions {
  /** C source files. */
  sources: readonly string[];
  /** Path of the shared library to write. */
  output: string;
  /** The compiler; `$CC`, else `cc`. */
  compiler?: string;
  /** Extra flags (defines, warnings, libraries). */
  flags?: readonly string[];
}

/**
 * Builds a native plugin with the system C compiler: `cc -shared -fPIC -O2 -Wall -I<plugward.h dir> -o output sources`.
 * Used by the example plugins' build scripts and the tests (no binaries are committed).
 * @throws PluginError `Unsupported` when no compiler is installed, `InvalidPlugin` with the compiler output otherwise.
 */
export async function compileNativePlugin(options: CompileNativeOptions): Promise<string> {
  const compiler = options.compiler ?? process.env.CC ?? 'cc';
  await mkdir(path.dirname(path.resolve(options.output)), { recursive: true });
  const args = [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    ...(options.flags ?? []),
    `-I${plugwardIncludeDir()}`,
    '-o',
    options.output,
    ...options.sources,
  ];
  try {
    await run(compiler, args, { maxBuffer: 4 * 1024 * 1024 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') {
      throw new PluginError(
        'Unsupported',
        `no C compiler "${compiler}" found: install one (Debian: apt-get install gcc) or set $CC`,
        { cause: e },
      );
    }
    throw new PluginError(
      'InvalidPlugin',
      `compiling ${options.sources.join(' ')} failed:\n${err.stderr ?? err.message}`,
      {
        cause: e,
      },
    );
  }
  return options.output;
}
