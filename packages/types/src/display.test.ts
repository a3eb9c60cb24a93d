import { describe, expect, it } from 'vitest';
import { displayText } from './display.js';

describe('displayText', () => {
  it('escapes newlines and terminal escapes so no line can be forged', () => {
    const out = displayText('evil\n[registry] info: all good \u001b[2J\r');
    expect(out).toBe('evil\\n[registry] info: all good \\x1b[2J\\r');
    expect([...out].some((c) => (c.codePointAt(0) ?? 0) < 0x20)).toBe(false);
  });
  it('escapes bidi overrides, line separators and C1 controls', () => {
    expect(displayText('a\u202eb\u2028c\u009bd')).toBe('a\\u202eb\\u2028c\\x9bd');
  });
  it('cuts long text with an ellipsis, also when escaping made it longer', () => {
    expect(displayText('x'.repeat(500), 10)).toBe(`${'x'.repeat(10)}…`);
    expect(displayText('\n'.repeat(10), 5)).toBe('\\n\\n\\…');
    expect(displayText('short')).toBe('short');
  });
  it('replaces lone surrogates and stringifies non-strings', () => {
    expect(displayText('a\ud800b')).toBe('a\ufffdb');
    expect(displayText(42)).toBe('42');
  });
});
