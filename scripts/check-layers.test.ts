import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain .mjs script without types
import { checkLayers } from './check-layers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('check-layers', () => {
  it('passes on the real workspace', () => {
    expect(checkLayers(path.join(here, '..'))).toEqual([]);
  });

  it('passes on a clean fixture', () => {
    expect(checkLayers(path.join(here, 'fixtures/clean'))).toEqual([]);
  });

  it('reports an upward import in source', () => {
    const problems: string[] = checkLayers(path.join(here, 'fixtures/violating'));
    expect(problems).toContainEqual(
      expect.stringMatching(
        /@plugward\/hooks: .*index\.ts imports @plugward\/loader \(layer 1 may not use layer 2\)/,
      ),
    );
    expect(problems.filter((x) => x.includes('may not use layer'))).toHaveLength(1);
  });

  it('reports Node built-ins in the shipped sources of a portable package, not in its tests', () => {
    const problems: string[] = checkLayers(path.join(here, 'fixtures/violating'));
    expect(problems.filter((x) => x.includes('(the package is portable)'))).toEqual([
      '@plugward/context: packages/context/src/index.ts imports Node built-in node:fs (the package is portable)',
      '@plugward/context: packages/context/src/index.ts imports Node built-in path (the package is portable)',
    ]);
    expect(problems).toHaveLength(3);
  });

  it('types, hooks and context are checked as portable, and their sources are seen', async () => {
    const fs = await import('node:fs');
    for (const pkg of ['types', 'hooks', 'context']) {
      const pj = JSON.parse(fs.readFileSync(path.join(here, '..', 'packages', pkg, 'package.json'), 'utf8'));
      expect(pj.plugward.portable, pkg).toBe(true);
    }
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-portable-'));
    fs.mkdirSync(path.join(dir, 'packages/hooks/src'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'packages/hooks/package.json'),
      JSON.stringify({ name: '@plugward/hooks', plugward: { layer: 1, portable: true } }),
    );
    expect(checkLayers(dir)).toEqual([
      '@plugward/hooks: portable, but no source file under src/ was scanned',
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it('fails the command (exit 1) on the violating fixture', () => {
    let status = 0;
    try {
      execFileSync(
        process.execPath,
        [path.join(here, 'check-layers.mjs'), path.join(here, 'fixtures/violating')],
        {
          stdio: 'pipe',
        },
      );
    } catch (e) {
      status = (e as { status: number }).status;
    }
    expect(status).toBe(1);
  });

  it('reports a same-layer dependency declared in package.json', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
    fs.mkdirSync(path.join(dir, 'packages/hooks/src'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'packages/context/src'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'packages/hooks/package.json'),
      JSON.stringify({
        name: '@plugward/hooks',
        plugward: { layer: 1 },
        dependencies: { '@plugward/context': '1' },
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'packages/context/package.json'),
      JSON.stringify({ name: '@plugward/context', plugward: { layer: 1 } }),
    );
    expect(checkLayers(dir)).toEqual([
      '@plugward/hooks: dependencies has @plugward/context (layer 1 may not use layer 1)',
      '@plugward/hooks: dependencies has @plugward/context, but no shipped source (src/, tests excluded) imports it',
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses a declared workspace dependency nothing uses (dependencies: shipped sources; devDependencies: any)', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-unused-'));
    const write = (file: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    };
    for (const name of ['types', 'hooks', 'context', 'limits']) {
      write(
        `packages/${name}/package.json`,
        JSON.stringify({ name: `@plugward/${name}`, plugward: { layer: 0 } }),
      );
    }
    write(
      'packages/loader/package.json',
      JSON.stringify({
        name: '@plugward/loader',
        plugward: { layer: 2 },
        dependencies: { '@plugward/types': '1', '@plugward/hooks': '1', '@plugward/context': '1' },
        devDependencies: { '@plugward/limits': '1' },
      }),
    );
    // types: a type-only import is a use; hooks: only a test imports it; context: nothing does.
    write('packages/loader/src/index.ts', "import type { X } from '@plugward/types';\nexport type Y = X;\n");
    write('packages/loader/src/a.test.ts', "import { h } from '@plugward/hooks';\n");
    write('packages/loader/test/b.test.ts', "import { l } from '@plugward/limits';\n");
    expect(checkLayers(dir)).toEqual([
      '@plugward/loader: dependencies has @plugward/hooks, but no shipped source (src/, tests excluded) imports it',
      '@plugward/loader: dependencies has @plugward/context, but no shipped source (src/, tests excluded) imports it',
    ]);
    fs.rmSync(dir, { recursive: true });
  });
});
