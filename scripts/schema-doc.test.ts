// The requirements-and-limits guide carries the exact schema of @plugward/types; it must not drift from the source.
import fs from 'node:fs';
import { expect, it } from 'vitest';
// @ts-expect-error — a plain .mjs script without declarations
import { GUIDE, regenerated, schemaBlock } from './schema-doc.mjs';

it('the guide has the schema as generated from packages/types (node scripts/schema-doc.mjs --write)', () => {
  const guide = fs.readFileSync(GUIDE as string, 'utf8');
  expect(guide).toBe((regenerated as (g: string) => string)(guide));
  const block = (schemaBlock as () => string)();
  for (const name of [
    'interface PluginRequirements',
    'type NetworkAccess',
    'interface ResourceLimits',
    'maxHeapBytes',
  ])
    expect(block).toContain(name);
});
