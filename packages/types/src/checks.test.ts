import { describe, expect, it } from 'vitest';
import { checkHookName, isThenable, MAX_HOOK_NAME_BYTES, positiveInteger, utf8ByteLength } from './checks.js';

describe('shared checks', () => {
  it('isThenable: promises and objects or functions with a callable then, nothing else', () => {
    // Built with defineProperty: an object literal with a `then` key is itself what the lint rule warns about.
    const withThen = <T extends object>(target: T, then: unknown): T =>
      Object.defineProperty(target, 'then', { value: then });
    const thenables = [
      Promise.resolve(1),
      withThen({}, () => undefined),
      withThen(
        () => 1,
        () => undefined,
      ),
    ];
    for (const v of thenables) expect(isThenable(v)).toBe(true);
    for (const v of [null, undefined, 1, 'then', withThen({}, 1), () => 1]) expect(isThenable(v)).toBe(false);
  });

  it('positiveInteger: safe integers from 1 (0 with allowZero), InvalidArgument naming the field otherwise', () => {
    expect(positiveInteger(1, 'n')).toBe(1);
    expect(positiveInteger(0, 'n', { allowZero: true })).toBe(0);
    for (const v of [0, -1, 1.5, Number.NaN, 2 ** 53, '3', undefined]) {
      expect(() => positiveInteger(v, 'maxThing')).toThrow(
        expect.objectContaining({ code: 'InvalidArgument', details: { field: 'maxThing' } }),
      );
    }
  });

  it('hook names: one limit of 256 UTF-8 bytes, counted in bytes, not characters', () => {
    expect(MAX_HOOK_NAME_BYTES).toBe(256);
    expect(utf8ByteLength('aé€😀')).toBe(new TextEncoder().encode('aé€😀').length);
    expect(utf8ByteLength('\ud800x')).toBe(new TextEncoder().encode('\ud800x').length);
    expect(() => checkHookName('x'.repeat(256))).not.toThrow();
    expect(() => checkHookName('x'.repeat(257))).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    // 100 characters, 300 bytes: fits a character count of 256, not the byte limit the IPC and C ABI carry.
    expect(() => checkHookName('€'.repeat(100))).toThrow(/256 UTF-8 bytes/);
    expect(() => checkHookName('')).toThrow();
    expect(() => checkHookName(7)).toThrow();
  });
});
