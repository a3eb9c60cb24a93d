import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The package must run in browsers and workers: no Node module may be imported by its shipped sources.
describe('portability', () => {
  it('imports no Node built-in module outside tests', () => {
    const dir = import.meta.dirname;
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const offenders: string[] = [];
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      const text = readFileSync(join(dir, file), 'utf8');
      for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/g)) {
        if (builtins.has(m[1]!) || m[1]!.startsWith('node:')) offenders.push(`${file}: ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
    // The scan itself must see the sources.
    expect(
      readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).length,
    ).toBeGreaterThan(2);
  });
});
