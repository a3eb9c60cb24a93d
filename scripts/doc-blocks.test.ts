// Every code block of the READMEs and docs/guides runs here, from the Markdown itself (see doc-blocks.mjs for the
// markers). A block that can't run carries a skip marker with its reason; the list is printed.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error — a plain .mjs script without declarations
import { docFiles, extractBlocks, root, runBlock } from './doc-blocks.mjs';

interface Block {
  line: number;
  lang: string;
  code: string;
  skip?: string;
  file?: string;
  stdout?: string[];
}
type Run = (b: Block, o?: { files?: Record<string, string> }) => { ok: boolean; output: string };

const cases: [string, Block, Record<string, string>][] = [];
const skipped: string[] = [];
for (const file of docFiles() as string[]) {
  const files: Record<string, string> = {};
  for (const block of extractBlocks(fs.readFileSync(file, 'utf8')) as Block[]) {
    const where = `${path.relative(root, file)}:${block.line} (${block.lang})`;
    if (block.file !== undefined) files[block.file] = block.code;
    else if (block.skip !== undefined) skipped.push(`${where}: ${block.skip}`);
    else cases.push([where, block, files]);
  }
}

describe('code blocks in the docs', () => {
  it('finds the blocks, and every skipped one says why', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
    console.log(`doc blocks skipped (${skipped.length}):\n  ${skipped.join('\n  ')}`);
    for (const s of skipped) expect(s).toMatch(/: \S.{10,}/);
  });

  it.each(cases)(
    '%s runs',
    (_where, block, files) => {
      const r = (runBlock as Run)(block, { files });
      expect(r.ok, r.output).toBe(true);
    },
    180_000,
  );

  it('the checks can fail: an error, a missing stdout line, an unmarked c block', () => {
    const run = runBlock as Run;
    expect(run({ line: 1, lang: 'js', code: 'throw new Error("x")' }).ok).toBe(false);
    expect(run({ line: 1, lang: 'js', code: 'console.log("a")', stdout: ['b'] }).ok).toBe(false);
    expect(
      run({ line: 1, lang: 'ts', code: 'const a: number = 1; console.log(a + 1)', stdout: ['2'] }).ok,
    ).toBe(true);
    expect(run({ line: 1, lang: 'c', code: 'int x;' }).ok).toBe(false);
    const blocks = extractBlocks(
      '<!-- doc-block: skip: because of a reason -->\n```sh\nexit 1\n```\n```js\nx\n```\n<!-- doc-block: stdout -->\n```\nout\n```\n',
    ) as Block[];
    expect(blocks).toMatchObject([
      { lang: 'sh', skip: 'because of a reason' },
      { lang: 'js', stdout: ['out'] },
    ]);
  }, 60_000);
});
